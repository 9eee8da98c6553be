/* SPDX-License-Identifier: MIT */
/*
 * Running one command for the agent: exact argv (no shell), stdin from
 * /dev/null, its own process group, stdout and stderr captured at the same
 * time with a cap each, and a timeout that ends the whole group.
 */
#ifndef AG_RUN_H
#define AG_RUN_H

#include <stddef.h>

#include "af-buf.h"

/* Largest capture cap per stream; bigger requests are clamped to it. */
#define AG_RUN_MAX_CAP (1024 * 1024)
/* Grace between SIGTERM and SIGKILL of a timed-out group. */
#define AG_RUN_KILL_GRACE_MS 2000

struct ag_run_result {
    int rc;        /* exit status, or 128 + signal */
    int sig;       /* terminating signal or 0 */
    int timed_out; /* 1 if the timeout fired */
    long long duration_ms;
    struct af_buf out; /* first cap bytes of stdout */
    struct af_buf err; /* first cap bytes of stderr */
    size_t out_total;  /* bytes the command wrote to stdout */
    size_t err_total;
};

/*
 * Run argv[0] (looked up with ag_find_tool under root, falling back to the
 * real root) with argv, for at most timeout_s seconds (0 = no limit),
 * keeping at most cap bytes of each stream. A command that cannot be
 * started yields rc 127 and the reason on its stderr. Returns 0, or a
 * negative errno when the agent itself could not fork or make pipes; res
 * must be released with ag_run_result_free either way.
 */
int ag_run(const char *root,
           char *const argv[],
           int timeout_s,
           size_t cap,
           struct ag_run_result *res);
void ag_run_result_free(struct ag_run_result *res);

/*
 * Receives every piece of the command's output as it is read, whole and
 * uncapped (stream 1: stdout, 2: stderr), p/n borrowed for the call.
 */
typedef void (*ag_run_tee_fn)(void *data, int stream, const char *p, size_t n);

/*
 * As ag_run, and every byte read is also passed to tee (when not NULL) at
 * once, so a caller can stream the whole output while only cap bytes of
 * each stream are kept in res.
 */
int ag_run_tee(const char *root,
               char *const argv[],
               int timeout_s,
               size_t cap,
               ag_run_tee_fn tee,
               void *tee_data,
               struct ag_run_result *res);

#endif /* AG_RUN_H */
