/* SPDX-License-Identifier: MIT */
/*
 * The copy engine (pdcp, clush --copy): put local files on every selected
 * node through its agent, content-addressed and atomic.
 *
 * Every source is hashed once (push.h). On each node, a file whose target
 * already holds the same SHA-256 with the same mode is left alone and
 * costs no payload byte; any other is pushed with the agent's "put"
 * (written beside the target, verified, renamed into place, so a reader
 * never sees half a file) with the source's permission bits. The file
 * belongs to the user the agent runs as (root, or the login user).
 *
 * Targets: with one source and a DEST that is a directory on the node (or
 * ends with '/'), the file goes to DEST/<basename>; with several sources
 * DEST is always a directory (created 0700 if missing, as put does).
 * Nothing here prints: per-node results come back, events go to the sink.
 */
#ifndef AF_COPY_H
#define AF_COPY_H

#include <stddef.h>
#include <stdint.h>

#include "af-err.h"
#include "ev.h"

struct fleet;

enum copy_status {
    COPY_PENDING, /* never started */
    COPY_OK,
    COPY_FAILED, /* reached, but a file could not be put */
    COPY_UNREACHABLE,
    COPY_TIMEOUT,
};

/* Lower-case word of s ("ok", "failed", ...; the EV_* words). */
const char *copy_status_str(enum copy_status s);

struct copy_opts {
    const char *const *srcs; /* local regular files */
    size_t nsrcs;
    const char *dest; /* absolute node path */
    int fanout;
    uint64_t timeout_ms; /* per agent request; 0 = the agent client's */
};

struct copy_result {
    const char *name;    /* borrowed from the inventory */
    const char *address; /* borrowed */
    enum copy_status status;
    size_t sent;    /* files pushed */
    size_t same;    /* files the node already held */
    uint64_t bytes; /* payload bytes sent */
    int64_t duration_ms;
    char error[AF_ERR_MSG_LEN]; /* why it failed, or "" */
};

struct copy_run;

/*
 * Copy o->srcs to o->dest on every selected node of f. Events: EV_NODE_END
 * per node (action "copy") to sink (may be NULL). Returns 0 and *out (free
 * with copy_run_free), or a negative code with e filled when the run could
 * not be set up (AF_EINPUT: a source cannot be read, DEST is not absolute).
 */
int copy_run(struct fleet *f,
             const struct copy_opts *o,
             const struct ev_sink *sink,
             struct copy_run **out,
             struct af_err *e);
size_t copy_run_count(const struct copy_run *r);
const struct copy_result *copy_run_result(const struct copy_run *r, size_t i);
void copy_run_free(struct copy_run *r);

#endif /* AF_COPY_H */
