/* SPDX-License-Identifier: MIT */
/*
 * A plain TCP connect to a node's SSH port, nothing more: no handshake, no
 * authentication, no process on the node. Used to wait for a rebooting
 * node cheaply (a full SSH session per attempt costs the node a fork, a key
 * exchange and an agent start, and a session that lands on a node in the
 * middle of going down can hang until its handshake timeout). The caller
 * opens its SSH session once the port accepts.
 *
 * Only for nodes reached directly at a numeric address: a node behind a
 * jump host is not reachable from here, and a name would need the
 * resolver (probe_possible says whether a probe can be made).
 */
#ifndef AF_PROBE_H
#define AF_PROBE_H

#include <stdint.h>

#include <uv.h>

#include "conn.h"

/*
 * status: 0 the port accepted the connection (closed again at once),
 * AF_EUNREACH refused or unreachable, AF_ETIMEOUT no answer in time.
 */
typedef void (*probe_cb)(void *data, int status);

/* 1 when o's node can be probed (numeric address, no jump host). */
int probe_possible(const struct conn_opts *o);

/*
 * Connect to o->host:o->port with a timeout. cb runs exactly once, later
 * (never from inside this call), after every handle of the probe is closed:
 * nothing of it is left on the loop then. Returns 0, or AF_EINPUT when the
 * node cannot be probed (cb does not run).
 */
int probe_tcp(uv_loop_t *loop,
              const struct conn_opts *o,
              uint64_t timeout_ms,
              probe_cb cb,
              void *data);

#endif /* AF_PROBE_H */
