/* SPDX-License-Identifier: MIT */
/*
 * The exec engine: run one shell command on every selected node through the
 * scheduler (bare SSH sessions, no agent) and return one result per node.
 * Nothing here prints: progress goes to the caller's event sink.
 *
 * Output is binary-safe end to end (pointer + length). Each distinct output
 * is kept once: results point into a store of blobs keyed by SHA-256, so
 * 10,000 nodes with the same 1 KiB answer hold one copy.
 */
#ifndef AF_EXEC_H
#define AF_EXEC_H

#include <stddef.h>
#include <stdint.h>

#include "ev.h"

struct fleet;
struct af_err;

#define EXEC_MAX_OUTPUT_MIN     1
#define EXEC_MAX_OUTPUT_MAX     (64u * 1024 * 1024)
#define EXEC_MAX_OUTPUT_DEFAULT (1024u * 1024)

enum exec_status {
    EXEC_PENDING, /* never started (run stopped) */
    EXEC_OK,
    EXEC_FAILED, /* ran, exit code not 0 (or killed by a signal) */
    EXEC_UNREACHABLE,
    EXEC_TIMEOUT,
};

/* Lower-case word of s ("ok", "failed", ...). */
const char *exec_status_str(enum exec_status s);

/* One distinct output (shared by every node that printed it). */
struct exec_blob {
    char *data; /* NUL-terminated for convenience; may hold NULs */
    size_t len;
    size_t id; /* index in the store, for folding */
};

struct exec_result {
    const char *name;    /* borrowed from the inventory */
    const char *address; /* borrowed */
    enum exec_status status;
    int exit_code; /* -1 unless the command ran to its end */
    char *signal;  /* signal name if killed by one, else NULL */
    const struct exec_blob *out, *err; /* never NULL once ended */
    int truncated;                     /* some output exceeded max_output */
    char *msg;                         /* why it failed, or NULL */
    int64_t duration_ms;
};

struct exec_opts {
    const char *command;
    size_t max_output; /* per stream and node, EXEC_MAX_OUTPUT_MIN..MAX */
    int fanout;
    int timeout_s; /* 0: each node's command_timeout */
    /* Sent to every node's stdin, then EOF; NULL: EOF at once. */
    const void *stdin_data;
    size_t stdin_len;
    int lines; /* emit one EV_OUTPUT per complete line as output arrives */
};

struct exec_run;

/*
 * Run o->command on every selected node of f. Events: EV_OUTPUT per line
 * (with o->lines) and EV_NODE_END per node, to sink (may be NULL). Returns
 * 0 and *out (free with exec_run_free), or a negative code with e filled
 * when the run could not be set up.
 */
int exec_run(struct fleet *f,
             const struct exec_opts *o,
             const struct ev_sink *sink,
             struct exec_run **out,
             struct af_err *e);
size_t exec_run_count(const struct exec_run *r);
const struct exec_result *exec_run_result(const struct exec_run *r, size_t i);
/* How many distinct outputs the run keeps. */
size_t exec_run_blobs(const struct exec_run *r);
void exec_run_free(struct exec_run *r);

#endif /* AF_EXEC_H */
