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

struct facts_result {
    const char *name;    /* borrowed from the inventory */
    const char *address; /* borrowed */
    int status;          /* 0, or the negative code of the failure */
    int timed_out;
    int pushed;         /* the agent had to be pushed */
    char host_key[128]; /* "SHA256:..." of the node's host key, or "" */
    char error[256];
    struct af_kv facts;
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
/* Store the answered nodes' facts in one transaction, each set stamped
 * with the address and host key it came from (st_facts_set_ident). */
int facts_store(struct st *st,
                const struct facts_result *res,
                size_t n,
                struct af_err *e);
void facts_results_free(struct facts_result *res, size_t n);

#endif /* AF_FACTS_H */
