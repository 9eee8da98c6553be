/* SPDX-License-Identifier: MIT */
/*
 * Integration test harness: run the ascend-fleet binary and the simulated
 * rack script (tests/rack/rack.sh) against the shared rack in AF_RACK_DIR,
 * capture what they print and read files off the rack's nodes. Used by
 * every tests/integration/test_*.c; AF_BIN, AF_RACK_DIR and AF_SOURCE_DIR
 * come from tests/CMakeLists.txt.
 */
#ifndef TH_HARNESS_H
#define TH_HARNESS_H

#include <stddef.h>

/* What one command did. out and err are NUL-terminated, never NULL after a
 * successful th_run, and owned by the result (th_result_free). */
struct th_result {
    int status;    /* exit code; -1 if killed by a signal or timed out */
    int timed_out; /* 1 if the harness killed it at the timeout */
    char *out;     /* everything it wrote to stdout */
    char *err;     /* everything it wrote to stderr */
};

/*
 * Run argv (argv[0] is looked up in PATH, argv ends with NULL) with stdin
 * from /dev/null, capturing stdout and stderr whatever their size. The
 * command runs in its own process group; after timeout_s seconds the whole
 * group is killed with SIGKILL, r->timed_out is set and r->status is -1.
 * Returns 0 once the command has ended and r is filled (r must be released
 * with th_result_free), or -errno if it could not be started (r is then
 * zeroed and needs no freeing).
 */
int th_run(struct th_result *r, int timeout_s, const char *const *argv);

/*
 * Run AF_BIN with the words of fmt (printf-formatted, split on spaces; a
 * 'single-quoted phrase' stays one word) and "-i AF_RACK_DIR/inventory.yaml"
 * inserted right after the leading subcommand words (those before the first
 * word that starts with '-'): th_fleet(&r, 30, "exec -f 8 -- uname -n")
 * runs {AF_BIN, "exec", "-i", ".../inventory.yaml", "-f", "8", "--",
 * "uname", "-n"}. Returns as th_run.
 */
int th_fleet(struct th_result *r, int timeout_s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Run AF_SOURCE_DIR/tests/rack/rack.sh with the words of fmt (split as in
 * th_fleet) and "--dir AF_RACK_DIR" inserted after the first word (the
 * subcommand), with a 300 s bound. Returns its exit status, or -1 if it
 * could not be run, was killed or timed out. Its stderr goes to the test's
 * stderr.
 */
int th_rack(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* As th_rack, but returns what the command printed on stdout (the caller
 * frees it), or NULL if it could not be run or did not exit with 0. */
char *th_rack_out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Contents of the file at path (absolute, as seen inside the node) on node:
 * read from AF_RACK_DIR/nodes/<node>/ctl/ for paths under /var/lib/fleet-sim/
 * and from AF_RACK_DIR/nodes/<node>/upper/ otherwise (so only files the node
 * wrote or that the rack put there are found). Returns a new NUL-terminated
 * string the caller frees, or NULL if the file is missing or unreadable.
 */
char *th_node_file(const char *node, const char *path);

/* Free out and err and zero r. Accepts a zeroed result. */
/*
 * The whole content of a file on the machine running the tests (the caller
 * frees it; NUL-terminated), its length in *len if len is not NULL; NULL
 * when it cannot be read.
 */
char *th_slurp(const char *path, size_t *len);

void th_result_free(struct th_result *r);

#endif /* TH_HARNESS_H */
