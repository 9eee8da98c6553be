/* SPDX-License-Identifier: MIT */
/*
 * The gather engine (rpdcp, clush --rcopy): fetch one file from every
 * selected node through its agent ("get", af-proto.h) into a local
 * directory, as LOCALDIR/<basename of REMOTE>.<node name>.
 *
 * The file streams to disk as it arrives (never whole in memory), into a
 * hidden temp file beside its final name; only once its size and SHA-256
 * match what the node's agent read is it fsync'd, given the node file's
 * permission bits and renamed into place, so a name that exists holds a
 * whole, verified copy. A node whose file is larger than max_size sends
 * nothing (the agent refuses it), so nodes cannot fill the operator's disk
 * beyond nodes x max_size. Nothing here prints.
 */
#ifndef AF_GATHER_H
#define AF_GATHER_H

#include <stddef.h>
#include <stdint.h>

#include "af-err.h"
#include "copy.h"
#include "ev.h"

struct fleet;

#define GATHER_MAX_DEFAULT (1024ULL * 1024 * 1024)

struct gather_opts {
    const char *remote;   /* absolute node path */
    const char *localdir; /* existing local directory */
    uint64_t max_size;    /* largest file accepted from a node */
    int fanout;
    uint64_t timeout_ms; /* per request, and idle time while a file flows */
};

struct gather_result {
    const char *name;        /* borrowed from the inventory */
    const char *address;     /* borrowed */
    enum copy_status status; /* the same words as copy */
    uint64_t bytes;          /* size of the file fetched */
    char sha256[65];         /* of the file fetched, or "" */
    char *path;              /* the local file, or NULL when none */
    int64_t duration_ms;
    char error[AF_ERR_MSG_LEN];
};

struct gather_run;

/*
 * Fetch o->remote from every selected node of f. Events: EV_NODE_END per
 * node (action "gather"). Returns 0 and *out (gather_run_free), or a
 * negative code with e filled when the run could not be set up
 * (AF_EINPUT: REMOTE not absolute, LOCALDIR not a writable directory).
 */
int gather_run(struct fleet *f,
               const struct gather_opts *o,
               const struct ev_sink *sink,
               struct gather_run **out,
               struct af_err *e);
size_t gather_run_count(const struct gather_run *r);
const struct gather_result *gather_run_result(const struct gather_run *r,
                                              size_t i);
void gather_run_free(struct gather_run *r);

#endif /* AF_GATHER_H */
