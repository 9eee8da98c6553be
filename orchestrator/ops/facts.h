/* SPDX-License-Identifier: MIT */
/*
 * Gathering facts from many nodes through their agents (used by the facts
 * subcommand, the rollout planner and hccn). Runs the loop until every
 * selected node answered or failed.
 */
#ifndef AF_FACTS_H
#define AF_FACTS_H

#include <stddef.h>
#include <stdint.h>

#include "af-proto.h"

struct fleet;
struct st;
struct af_err;
struct ev_sink;
struct sess;

struct facts_result {
    const char *name;    /* borrowed from the inventory */
    const char *address; /* borrowed */
    int status;          /* 0, or the negative code of the failure */
    int timed_out;
    int pushed; /* the agent had to be pushed */
    char error[256];
    struct af_kv facts;
    struct sess *kept; /* facts_gather_keep: the node's session, or NULL */
};

/*
 * Gather facts on every selected node of f with at most fanout sessions in
 * flight; timeout_ms bounds the facts request. Returns an array of
 * f->nsel results in selection order; free with facts_results_free.
 */
struct facts_result *
facts_gather(struct fleet *f, int fanout, uint64_t timeout_ms);
/*
 * As facts_gather, and emit one EV_NODE_END per node (action "facts";
 * status ok, unreachable or timeout; duration; bytes of facts; reason) to
 * sink (may be NULL).
 */
struct facts_result *facts_gather_ev(struct fleet *f,
                                     int fanout,
                                     uint64_t timeout_ms,
                                     const struct ev_sink *sink);
/*
 * As facts_gather, and keep the agent sessions of up to max_keep nodes
 * that answered (res[i].kept, first answers first) instead of closing
 * them, for work that follows on the same nodes. The caller owns them:
 * sess_rebind, then hand them to jobs (sched_job_ops.take) or sess_close
 * them; facts_results_free does not.
 */
struct facts_result *facts_gather_keep(struct fleet *f,
                                       int fanout,
                                       uint64_t timeout_ms,
                                       size_t max_keep);
/* Store the answered nodes' facts in one transaction. */
int facts_store(struct st *st,
                const struct facts_result *res,
                size_t n,
                struct af_err *e);
void facts_results_free(struct facts_result *res, size_t n);

#endif /* AF_FACTS_H */
