/* SPDX-License-Identifier: MIT */
/*
 * Sessions ready before their batch starts. Opening an agent session
 * (TCP, key exchange, authentication, the agent's probe and start) takes
 * the node a few processes and the orchestrator a round trip or five; done
 * at the start of a batch it delayed every node's first step, and done for
 * the facts it was thrown away and done again for batch 1. So the facts
 * sessions of the first two batches are kept, and while batch b runs the
 * sessions of batch b + 1 are opened, never more at once than the window
 * (--fanout) minus the batch in flight. A batch's job adopts its node's
 * session (sched_job_ops.take) when it is still good, else opens a fresh
 * one as before. Sessions left over (a stopped run) are closed at the end.
 */
#include "ro-int.h"

#include <stdlib.h>

#include "af-mem.h"
#include "facts.h"
#include "fleet.h"
#include "sess.h"

static void
ro_pre_ready(struct sess *s, int status)
{
    struct nj *j = sess_data(s);

    if (status == 0)
        return;
    /* Not reachable now: its batch opens a fresh session and reports. */
    j->ro->pre[j->i] = NULL;
    sess_close(s, NULL);
}

/* Sessions held for later batches (not batch cur, whose jobs run). */
static size_t
ro_pre_count(const struct ro *ro, int cur)
{
    size_t i, k = 0;

    for (i = 0; i < ro->n; i++)
        k += ro->pre[i] != NULL && ro->nj[i].batch != cur;
    return k;
}

/* Behind a jump host a held session would hold the jump's (jump.h). */
static int
ro_pre_direct(const struct ro *ro, const struct nj *j)
{
    struct conn_opts o;

    fleet_conn_opts(&ro->fleet, j->node, &o);
    return o.via == NULL;
}

void
ro_pre_adopt_facts(struct ro *ro, struct facts_result *res)
{
    size_t i;

    if (ro->pre == NULL)
        ro->pre = af_calloc(ro->n ? ro->n : 1, sizeof(*ro->pre));
    for (i = 0; i < ro->n; i++) {
        if (res[i].kept == NULL)
            continue;
        ro->pre[i] = res[i].kept;
        res[i].kept = NULL;
        sess_rebind(ro->pre[i], ro_pre_ready, &ro->nj[i]);
    }
}

void
ro_pre_trim(struct ro *ro, int first_batch)
{
    size_t i, k = 0, cap = (size_t)ro->eff.fanout;

    for (i = 0; ro->pre != NULL && i < ro->n; i++) {
        const struct nj *j = &ro->nj[i];
        int b = j->batch;

        if (ro->pre[i] == NULL)
            continue;
        if (j->reachable && j->needs_work &&
            (b == first_batch || b == first_batch + 1) && k < cap) {
            k++;
            continue;
        }
        sess_close(ro->pre[i], NULL);
        ro->pre[i] = NULL;
    }
}

void
ro_pre_open(struct ro *ro, int batch, size_t running)
{
    size_t i, open, cap = (size_t)ro->eff.fanout;

    if (ro->pre == NULL || ro_halted(ro))
        return;
    open = ro_pre_count(ro, batch - 1) + running;
    for (i = 0; i < ro->n && open < cap; i++) {
        struct nj *j = &ro->nj[i];

        if (j->batch != batch || ro->pre[i] != NULL || !j->reachable ||
            !j->needs_work || !ro_pre_direct(ro, j))
            continue;
        ro->pre[i] = fleet_sess_open(&ro->fleet, j->node, ro_pre_ready, j);
        /* Idle until its batch: the loop may run dry without it. */
        sess_set_ref(ro->pre[i], 0);
        open++;
    }
}

struct sess *
ro_pre_take(void *data, size_t k)
{
    struct ro *ro = data;
    size_t i = ro->batch_nodes[k];
    struct sess *s;

    if (ro->pre == NULL || (s = ro->pre[i]) == NULL)
        return NULL;
    ro->pre[i] = NULL;
    if (sess_reported(s) && !sess_usable(s)) {
        sess_close(s, NULL); /* died while it waited */
        return NULL;
    }
    return s;
}

void
ro_pre_close_all(struct ro *ro)
{
    size_t i;

    for (i = 0; ro->pre != NULL && i < ro->n; i++) {
        if (ro->pre[i] != NULL)
            sess_close(ro->pre[i], NULL);
        ro->pre[i] = NULL;
    }
    free(ro->pre);
    ro->pre = NULL;
}
