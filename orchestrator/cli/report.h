/* SPDX-License-Identifier: MIT */
/*
 * The reporter: the one place that turns engine results and events into
 * what the operator sees. It owns terminal escaping (node-provided bytes
 * never reach the terminal raw), folded blocks (clush -b style, via fold.h),
 * the pdsh-style "node: line" stream, and JSON Lines (one object per line,
 * each with "v": REPORT_JSON_VERSION and a "type").
 */
#ifndef AF_REPORT_H
#define AF_REPORT_H

#include <stddef.h>
#include <stdio.h>

#include "af-buf.h"
#include "af-json.h"
#include "ev.h"

struct fold;

#define REPORT_JSON_VERSION 1

struct report {
    const char *cmd; /* "exec", "facts", ... for messages */
    FILE *out, *err;
    int json;  /* JSON Lines on out */
    int lines; /* EV_OUTPUT events print as "node: line" */
    struct ev_sink sink;
};

/* Set up r for cmd writing to stdout/stderr. */
void report_init(struct report *r, const char *cmd, int json, int lines);
/* The sink to hand to engines (renders EV_OUTPUT and EV_NOTICE events). */
const struct ev_sink *report_sink(struct report *r);

/*
 * Append n bytes at p to b so that a terminal shows them and nothing else:
 * printable ASCII and valid UTF-8 pass (newlines and tabs too when
 * keep_nl), every other byte (NUL, ESC, other controls, DEL, C1 controls,
 * invalid UTF-8) becomes \xNN.
 */
void report_escape(struct af_buf *b, const char *p, size_t n, int keep_nl);
/* Escaped copy of a NUL-terminated string, one line (the caller frees). */
char *report_safe(const char *s);

/* "ascend-fleet CMD: message" on stderr, escaped. */
void report_error(struct report *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * One folded block: separator, "NODES HEAD", separator, then body (escaped,
 * newlines kept, a final newline added when missing).
 */
void report_block(struct report *r,
                  const char *nodes,
                  const char *head,
                  const char *body,
                  size_t len);

/*
 * Errors fold like outputs: nodes whose messages are equal once their own
 * name is dropped from the front print as one line "NODES: message".
 */
struct report_errs {
    struct fold *f;
};
void report_errs_init(struct report_errs *e);
void report_errs_add(struct report_errs *e, const char *node, const char *msg);
/* One escaped line per distinct message, largest group first. */
void report_errs_print(struct report_errs *e, FILE *out);
void report_errs_free(struct report_errs *e);
/* msg without a leading "node: " (borrowed from msg). */
const char *report_strip_node(const char *msg, const char *node);
/*
 * As report_errs_add, for a node at address: the message folds with the
 * same failure on other nodes although it names each node's own address
 * or host key (see report_err_key). msg is borrowed until report_errs_print
 * (a group of one prints it as it is).
 */
void report_errs_add_at(struct report_errs *e,
                        const char *node,
                        const char *address,
                        const char *msg);

/*
 * The fold key of a node's failure message: msg without a leading
 * "node: ", with the node's own address (address may be NULL) and name
 * replaced by "<address>" and "<node>" where they stand as words, and host
 * key fingerprints ("SHA256:...") by "SHA256:<fingerprint>". So 500 nodes
 * refusing connections give one key: "connect to <address> port 22:
 * Connection refused". The caller frees the result.
 */
char *report_err_key(const char *msg, const char *node, const char *address);

/*
 * Per-node results folded into blocks (clush -b) and counted by status,
 * for exec, copy and gather. Each node is added with its status (an index
 * into words), a key (equal keys print one block) and the caller's item
 * (borrowed until report_fold_free), which is what a block prints from.
 */
struct report_fold {
    struct fold *blocks;
    struct fold **by; /* nodes per status */
    const char *const *words;
    size_t nwords;
};
void report_fold_init(struct report_fold *rf,
                      const char *const *words,
                      size_t nwords);
void report_fold_add(struct report_fold *rf,
                     size_t status,
                     const char *key,
                     const char *node,
                     const void *item);
/* Sort the blocks, largest first; returns how many there are. */
size_t report_fold_sort(struct report_fold *rf);
/* Block g: its first node's item, size, folded node set (caller frees). */
const void *report_fold_item(const struct report_fold *rf, size_t g);
size_t report_fold_size(const struct report_fold *rf, size_t g);
char *report_fold_nodes(const struct report_fold *rf, size_t g);
/*
 * The tally line: "4 ok, 1 failed: npu003, 0 unreachable" -- every status
 * below `optional` always, the others only when some node has them; the
 * node set for every status but the first.
 */
void report_fold_tally(struct report *r,
                       const struct report_fold *rf,
                       size_t optional);
void report_fold_free(struct report_fold *rf);

/* JSON Lines: begin an object with "v" and "type"; end writes the line. */
void report_json_begin(struct report *r,
                       struct af_json *j,
                       struct af_buf *b,
                       const char *type);
void report_json_end(struct report *r, struct af_json *j, struct af_buf *b);

#endif /* AF_REPORT_H */
