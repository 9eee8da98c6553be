/* SPDX-License-Identifier: MIT */
/*
 * Rack gateways for package pushes (inventory `gateway:`, docs/scale.md).
 *
 * Before the per-node pushes of a run, relay_prepare opens a session to
 * every gateway that has selected nodes behind it, pushes each package
 * once to it (net/push.h: streamed, resumable, verified on the gateway),
 * and asks its agent to serve the verified copy to the group over a plain
 * TCP port with a one-time random token ("relay", agent/ag-relay.h). Then
 * relay_deliver gives a node its package: a node behind a serving gateway
 * has its own agent "fetch" it from the gateway (SHA-256 checked on the
 * node against the orchestrator's hash; nothing else is installed), any
 * other node, and any node whose fetch fails, gets today's direct push.
 * The orchestrator's egress is thus one copy per gateway plus the
 * fallbacks.
 *
 * A gateway only stores bytes: it receives the packages for its own
 * architecture; members of another architecture are pushed directly.
 * Nothing here prints; gateway pushes are reported through a callback.
 */
#ifndef AF_RELAY_H
#define AF_RELAY_H

#include <stddef.h>
#include <stdint.h>

#include "af-err.h"

struct agc;
struct fleet;
struct push_result;
struct push_src;
struct relay;

/* Architectures a package is for (bits). */
#define RELAY_ARCH_X86_64  1u
#define RELAY_ARCH_AARCH64 2u

struct relay_opts {
    const char *dir;    /* node directory of the packages (dest = dir/name) */
    int fanout;         /* gateway sessions at once */
    int max_conc;       /* members one gateway serves at once (0 = 16) */
    unsigned idle_s;    /* a relay with no member for this long ends (0=120) */
    unsigned timeout_s; /* a relay ends after this in any case (0=3600) */
};

/* One gateway push, reported as it ends (strings borrowed). */
struct relay_gw_item {
    const char *node;    /* the gateway */
    const char *package; /* NULL when its session failed */
    int status;          /* 0 or a negative AF_E* code */
    int already;         /* it held the package */
    uint64_t size, sent, offset, duration_ms;
    const char *error; /* "" on success */
};
typedef void (*relay_gw_cb)(const struct relay_gw_item *it, void *data);

/* How one node got a package (strings borrowed for the callback). */
struct relay_result {
    const char *via;         /* the gateway it was fetched from, or NULL */
    const char *relay_error; /* why a fetch failed before a direct push */
    uint64_t received;       /* bytes the node took from its gateway */
};
/*
 * Called once per relay_deliver: status and r as push_done_cb (r->sent
 * counts only bytes the orchestrator sent), rr says which way it went.
 */
typedef void (*relay_done_cb)(int status,
                              const struct push_result *r,
                              const struct relay_result *rr,
                              void *data);

/*
 * A relay plan for the nodes selected in f (which must outlive it).
 * Returns NULL when no selected node is behind a gateway.
 */
struct relay *relay_new(struct fleet *f, const struct relay_opts *o);
/* Register package k (in call order from 0): its name, source and arches. */
void relay_add(struct relay *rl,
               const char *name,
               struct push_src *src,
               unsigned arches);
/* Gateways in the plan. */
size_t relay_gateways(const struct relay *rl);
/*
 * Push every package to every gateway and start their relays (runs f's
 * loop until done). Gateways that fail are reported through cb and their
 * members get direct pushes later; *sent adds the bytes pushed. Returns 0,
 * or a negative code with e filled when the run could not be set up.
 */
int relay_prepare(struct relay *rl,
                  relay_gw_cb cb,
                  void *data,
                  uint64_t *sent,
                  struct af_err *e);
/* 1 when selected node i is behind a gateway that serves package k. */
int relay_serves(const struct relay *rl, size_t i, size_t k);
/*
 * Give selected node i package k (relay_serves said yes) through agent a,
 * a serving session to that node: fetched from its gateway, or pushed
 * directly when the fetch fails (rr->relay_error says why). cb runs
 * exactly once, later.
 */
void relay_deliver(struct relay *rl,
                   size_t i,
                   size_t k,
                   struct agc *a,
                   uint64_t timeout_ms,
                   relay_done_cb cb,
                   void *data);
void relay_free(struct relay *rl);

#endif /* AF_RELAY_H */
