/* SPDX-License-Identifier: MIT */
/*
 * Typed events from the engines (exec, facts, hccn, rollout) to whoever
 * reports them. Engines never print: they fill a struct ev and pass it to
 * the sink the caller gave them; the CLI's reporter (cli/report.h) renders
 * events as folded text, a live line, or JSON Lines. Every pointer in an
 * event is borrowed for the duration of the emit call only.
 */
#ifndef AF_EV_H
#define AF_EV_H

#include <stddef.h>
#include <stdint.h>

enum ev_kind {
    EV_NODE_START, /* a node's job started (session opening) */
    EV_STEP,       /* a step of a node changed status (rollout, hccn) */
    EV_OUTPUT,     /* bytes of a node's output arrived (exec --lines) */
    EV_NODE_END,   /* a node's job ended, with its final status */
    EV_NOTICE,     /* a run-wide message (node NULL), e.g. a clamped window */
};

/* Status words shared by every engine and by the JSON schema. */
#define EV_OK          "ok"
#define EV_FAILED      "failed"
#define EV_UNREACHABLE "unreachable"
#define EV_TIMEOUT     "timeout"
#define EV_SKIPPED     "skipped"
#define EV_RUNNING     "running"
#define EV_CANCELED    "canceled"

struct ev {
    enum ev_kind kind;
    const char *node;    /* node name; NULL for run-wide events */
    const char *step;    /* step name, or NULL */
    const char *action;  /* what was done: "exec", "facts", "install", ... */
    const char *status;  /* one of the EV_* words, or NULL */
    int exit_code;       /* remote exit code, -1 if none */
    int64_t duration_ms; /* -1 if not measured */
    uint64_t bytes;      /* bytes of output / payload, 0 if none */
    const char *reason;  /* why (a failure message), or NULL */
    int stream;          /* EV_OUTPUT: 0 stdout, 1 stderr */
    const char *data;    /* EV_OUTPUT: the bytes (binary-safe) */
    size_t len;
};

typedef void (*ev_emit_fn)(void *ctx, const struct ev *e);

/* Where an engine sends its events; a NULL emit drops them. */
struct ev_sink {
    ev_emit_fn emit;
    void *ctx;
};

/* An event of kind for node with every other field "none". */
void ev_init(struct ev *e, enum ev_kind kind, const char *node);
/* Send e to sink (NULL sink or emit: nothing). */
void ev_emit(const struct ev_sink *sink, const struct ev *e);

#endif /* AF_EV_H */
