/* SPDX-License-Identifier: MIT */
/*
 * Package pushes over an agent session, streamed and resumable.
 *
 * A push_src is a package file opened once per run: it is hashed once by
 * reading it (never mapped, so a file changed under us is an error, not a
 * SIGBUS) and then read again in chunks by every push, with pread, as each
 * node's channel drains. The orchestrator thus holds a bounded amount of
 * any package per node whatever its size: the agent client's queue (about
 * 640 KiB) and what libssh buffers, at most one SSH window.
 *
 * A push asks the node's agent where a previous attempt of the same package
 * stopped ("partial": the last checkpoint of <dest>.partial), sends
 * only the rest ("put ... <offset>"), and the agent verifies the SHA-256 as
 * the bytes arrive and renames the file into place. A file that changed
 * since it was hashed (size, mtime or content) fails the push with a clear
 * message naming it.
 */
#ifndef AF_PUSH_H
#define AF_PUSH_H

#include <stddef.h>
#include <stdint.h>

#include "af-err.h"

struct agc;
struct push_src;
struct rate;

/*
 * Open and hash the file at path. Returns 0 and *out (push_src_free), or
 * a negative AF_E* code with e filled (unreadable, changed while hashed).
 */
int push_src_open(const char *path, struct push_src **out, struct af_err *e);
void push_src_free(struct push_src *s);
/* Lowercase hex SHA-256 of the content; borrowed. */
const char *push_src_sha(const struct push_src *s);
uint64_t push_src_size(const struct push_src *s);
const char *push_src_path(const struct push_src *s);

/* What one push did; strings borrowed for the callback only. */
struct push_result {
    uint64_t size;   /* bytes of the package */
    uint64_t offset; /* the node already held this many (resumed) */
    uint64_t sent;   /* payload bytes sent by this push */
    uint64_t duration_ms;
    const char *error; /* "" on success */
};

/*
 * Called once, later, when the push ended: status 0 when the node holds
 * the package at dest, verified; AF_EREMOTE when the agent refused or the
 * hash did not match; AF_EINPUT when the local file changed during the
 * run; another negative code when the session failed.
 */
typedef void (*push_done_cb)(int status,
                             const struct push_result *r,
                             void *data);

/*
 * Progress of a push, for callers that show or record it: called once when
 * the node said where the push starts (r->offset known, r->sent 0), then
 * after each chunk handed to the channel (r->sent so far; r->error ""). Return
 * 0 to go on, or a negative AF_E* code to abandon the push: the session then
 * fails with that code and the done callback runs with it.
 */
typedef int (*push_progress_cb)(const struct push_result *r, void *data);

/* Optional parts of a push; NULL or zeroed fields mean none. */
struct push_opts {
    struct rate *rate;         /* an aggregate cap shared with other pushes */
    push_progress_cb progress; /* called with the push's data */
};

/*
 * Push src to dest (absolute node path) with the given mode through a
 * serving agent session. src must outlive the push. timeout_ms bounds each
 * of the two requests (0 = agc's default). done_cb runs exactly once, also
 * when the session fails; the push frees itself after it.
 */
void push_start(struct agc *a,
                struct push_src *src,
                const char *dest,
                unsigned mode,
                uint64_t timeout_ms,
                push_done_cb cb,
                void *data);
/* As push_start, with the options of po (may be NULL). */
void push_start_opt(struct agc *a,
                    struct push_src *src,
                    const char *dest,
                    unsigned mode,
                    uint64_t timeout_ms,
                    const struct push_opts *po,
                    push_done_cb cb,
                    void *data);

#endif /* AF_PUSH_H */
