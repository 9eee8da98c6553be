/* SPDX-License-Identifier: MIT */
/*
 * One commit per burst of state writes. With synchronous = FULL every
 * commit waits for the disk (an fdatasync of the WAL, 5-10 ms on a busy
 * machine), and the loop waits with it: a node's transition wrote three to
 * six rows, each its own commit, so 16 nodes of a batch moving at once kept
 * the loop blocked for whole seconds. A callback of the node machine now
 * opens a transaction (ro_tx_enter), every write of the callback joins it
 * (each still its own savepoint, so a failed write is reported as before),
 * and ro_tx_leave commits once. Where the next action needs its record
 * durable first (a step about to run, a reboot about to be sent), the
 * caller commits at that point with ro_tx_flush and acts only if it
 * succeeded: the write-ahead order is unchanged. Nothing here runs while no
 * run is recorded.
 */
#include "ro-int.h"

#include "st.h"

static void
ro_tx_open(struct ro *ro)
{
    if (ro->tx_open || ro->st == NULL || ro->run <= 0 || ro->write_error)
        return;
    /* No transaction (another batch is open): each write commits alone. */
    ro->tx_open = st_begin(ro->st, NULL) == 0;
}

void
ro_tx_enter(struct ro *ro)
{
    if (ro->tx_depth++ == 0)
        ro_tx_open(ro);
}

int
ro_tx_flush(struct ro *ro)
{
    struct af_err e;
    int r;

    if (!ro->tx_open)
        return ro->write_error ? -1 : 0;
    ro->tx_open = 0;
    r = ro_wrote(ro, st_commit(ro->st, &e), &e, "a batch of state writes");
    if (r == 0 && ro->tx_depth > 0)
        ro_tx_open(ro);
    return r;
}

void
ro_tx_leave(struct ro *ro)
{
    if (ro->tx_depth > 0 && --ro->tx_depth == 0)
        (void)ro_tx_flush(ro);
}
