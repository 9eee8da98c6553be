/* SPDX-License-Identifier: MIT */
/*
 * Pre-staging: copy the packages the given stages use to every selected
 * node ahead of a rollout, to the same content-addressed place the rollout
 * reads them from (so a later rollout finds them and pushes nothing). Each
 * package is hashed once; pushes stream and resume (net/push.h). A node
 * already holding a package with the right hash costs one "stat".
 *
 * All pushes of a run share one aggregate bandwidth cap (net/rate.h) when
 * a rate is given. Every package on every node is recorded in the state
 * file (state/st-stage.h) as the node reports it: staged when the node
 * holds it with the right hash, partial with the bytes its verified
 * partial holds (the node's answer when a push starts, then a lower bound
 * while it runs, so the record never claims more than the node has), or
 * failed. The engine prints nothing: it reports one item per node and
 * package through a callback.
 */
#ifndef AF_STAGE_H
#define AF_STAGE_H

#include <stddef.h>
#include <stdint.h>

#include "af-err.h"

struct fleet;
struct st;

/* Where the rollout reads packages on a node: <dir>/<package name>. */
#define STAGE_REMOTE_DIR "/var/lib/ascend-fleet/packages"

struct stage_opts {
    const char *packages; /* local directory of vendor packages */
    const char *stages;   /* "cann" or "npu,cann"; NULL = every stage */
    const char *playbook; /* NULL = the rollout's default */
    int fanout;           /* nodes in flight */
    uint64_t rate;        /* aggregate cap in bytes per second, 0 = none */
    struct st *st;        /* where to record, NULL = nowhere */
};

/* One package on one node (strings borrowed for the callback). */
struct stage_item {
    const char *node;
    const char *package; /* NULL when the node failed before any package */
    uint64_t size;
    uint64_t sent;    /* bytes sent now (0 when it was already staged) */
    uint64_t offset;  /* bytes a previous attempt had left on the node */
    int64_t recorded; /* bytes the state file said it held, -1 no record */
    uint64_t duration_ms;
    int already; /* the node held it with the right hash */
    int status;  /* 0 or a negative AF_E* code */
    const char *error;
    /* Rack gateways (ops/relay.h): */
    int gateway;             /* this is a push to a gateway for its group */
    const char *via;         /* fetched from this gateway, or NULL */
    const char *relay_error; /* a failed fetch, then pushed directly */
    uint64_t received;       /* bytes fetched from the gateway */
};

typedef void (*stage_item_cb)(const struct stage_item *it, void *data);

struct stage_summary {
    size_t nodes, nodes_failed, packages;
    uint64_t bytes_sent; /* by the orchestrator, gateways included */
    uint64_t wall_ms;
    size_t gateways;        /* rack gateways used */
    uint64_t bytes_relayed; /* fetched by nodes from their gateway */
};

/*
 * Stage on every node selected in f (f->loop is run until done). Returns 0
 * when every node holds every package it needs, AF_EREMOTE when some node
 * failed (see the items), or AF_EINPUT with e filled when the playbook,
 * the stages or the packages directory are unusable (nothing was sent).
 */
int stage_run(struct fleet *f,
              const struct stage_opts *o,
              stage_item_cb cb,
              void *data,
              struct stage_summary *sum,
              struct af_err *e);

#endif /* AF_STAGE_H */
