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

#include <stdlib.h>

#include "af-mem.h"
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

void
ro_tx_after(struct ro *ro, struct nj *j)
{
    if (!ro->tx_open) {
        nj_step_go(j);
        return;
    }
    if (ro->nafter == ro->cap_after) {
        ro->cap_after = ro->cap_after ? 2 * ro->cap_after : 16;
        ro->after = af_realloc(ro->after, ro->cap_after * sizeof(*ro->after));
    }
    ro->after[ro->nafter++] = j;
}

int
ro_tx_flush(struct ro *ro)
{
    struct af_err e;
    struct nj **after = ro->after;
    size_t n = ro->nafter, k;
    int r;

    if (!ro->tx_open)
        return ro->write_error ? -1 : 0;
    ro->tx_open = 0;
    r = ro_wrote(ro, st_commit(ro->st, &e), &e, "a batch of state writes");
    if (r == 0 && ro->tx_depth > 0)
        ro_tx_open(ro);
    /* The committed steps go now (their failures join the next commit). */
    ro->after = NULL;
    ro->nafter = ro->cap_after = 0;
    for (k = 0; k < n; k++) {
        if (r == 0)
            nj_step_go(after[k]);
        else
            nj_fail(after[k], RO_F_STEP, "cannot record its step: %s",
                    ro->write_msg);
    }
    free(after);
    return r;
}

void
ro_tx_burst(void *data, int begin)
{
    struct ro *ro = data;

    if (begin)
        ro_tx_enter(ro);
    else
        ro_tx_leave(ro);
}

void
ro_tx_leave(struct ro *ro)
{
    if (ro->tx_depth > 0 && --ro->tx_depth == 0)
        (void)ro_tx_flush(ro);
}
