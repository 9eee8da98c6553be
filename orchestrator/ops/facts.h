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
    /*
     * The node was reached (its SSH session came up) before it failed: the
     * agent refused the node, could not start, or the facts request failed.
     */
    int reached;
    int64_t duration_ms; /* from the session's start to the answer */
    int pushed;          /* the agent had to be pushed */
    char host_key[128];  /* "SHA256:..." of the node's host key, or "" */
    char error[256];
    struct af_kv facts;
    struct af_kv staged; /* facts_gather_staged: file name -> sha256 */
    struct sess *kept;   /* facts_gather_staged: the kept session, or NULL */
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
 * status ok, failed (reached), unreachable or timeout; duration; bytes of
 * facts; reason) to sink (may be NULL).
 */
struct facts_result *facts_gather_ev(struct fleet *f,
                                     int fanout,
                                     uint64_t timeout_ms,
                                     const struct ev_sink *sink);
/*
 * As facts_gather, and in the same session ask each node's agent which
 * packages of the node directory dir (NULL: do not ask) it holds verified
 * ("staged": from the marks puts left, without reading the files):
 * res[i].staged maps each such file name to its SHA-256 (empty when the
 * node holds none or could not tell; that alone never fails a node).
 * Also keep the agent sessions of up to max_keep nodes that answered
 * (res[i].kept, first answers first) instead of closing them, for work that
 * follows on the same nodes. The caller owns them: sess_rebind, then hand
 * them to jobs (sched_job_ops.take) or sess_close them; facts_results_free
 * does not.
 */
struct facts_result *facts_gather_staged(struct fleet *f,
                                         int fanout,
                                         uint64_t timeout_ms,
                                         const char *dir,
                                         size_t max_keep);
/* Store the answered nodes' facts in one transaction, each set stamped
 * with the address and host key it came from (st_facts_set_ident). */
int facts_store(struct st *st,
                const struct facts_result *res,
                size_t n,
                struct af_err *e);
void facts_results_free(struct facts_result *res, size_t n);

#endif /* AF_FACTS_H */
