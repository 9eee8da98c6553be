/* SPDX-License-Identifier: MIT */
/*
 * Jump hosts (ProxyJump / bastions). A pool keeps one SSH session per jump
 * chain; every node behind it gets a direct-tcpip channel on that session,
 * pumped through a socketpair whose other end is the node session's
 * socket (SSH_OPTIONS_FD), so 500 nodes behind one login node cost one
 * connection to it. A chain of several hops nests: the session to hop k
 * runs through a channel of the session to hop k-1. A jump session is
 * opened when its first tunnel is and closed shortly after its last one
 * ends, so the loop runs dry when the work is done. Everything runs on the
 * loop thread.
 */
#ifndef AF_JUMP_H
#define AF_JUMP_H

#include <stddef.h>

#include <uv.h>

#include "conn.h"

struct jump;
struct jump_pool;

/* A new, empty pool. Never fails (aborts on OOM). */
struct jump_pool *jump_pool_new(uv_loop_t *loop);

/*
 * Free the pool. Call only once the loop ran dry (no jump session open);
 * accepts NULL.
 */
void jump_pool_free(struct jump_pool *p);

/*
 * The jump for the chain hops[0] .. hops[n-1] (hops[0] is reached
 * directly, each next one through the previous), created on first use and
 * shared by every later caller with the same hop names. The conn_opts and
 * their strings are borrowed and must outlive the pool (they come from the
 * inventory); their via fields are ignored. Pass the result as
 * conn_opts.via. n must be at least 1.
 */
struct jump *
jump_get(struct jump_pool *p, const struct conn_opts *hops, size_t n);

/* How many SSH sessions to jump hosts the pool has opened so far. */
size_t jump_pool_sessions(const struct jump_pool *p);

#endif /* AF_JUMP_H */
