/* SPDX-License-Identifier: MIT */
/*
 * A node session: one conn, plus (with SESS_AGENT) the agent client on it.
 * The owner gets one ready callback (connected and, with SESS_AGENT, agent
 * serving; or failed with a message that names the node and the phase),
 * opens channels on sess_conn() or issues agent requests on sess_agc(), and
 * ends with exactly one sess_close. Memory is released after the conn's
 * handles are closed; the closed callback is the last thing that touches it.
 *
 * The async rule (the same in af-sched.h, which most callers go through):
 *  - Every callback runs on the loop thread, never from inside the call that
 *    registered it (sess_open, agc_request, chan_exec).
 *  - Every agent request's callback, and every channel's done callback,
 *    fires exactly once: ok (0), error (negative AF_E*), or cancelled
 *    (AF_ECANCELED, when the session closes first).
 *  - sess_close may be called from the ready callback or from code that is
 *    not running inside one of this session's conn/chan/agc callbacks. From
 *    inside a channel or request callback, do not close: end the job with
 *    sched_job_done() (af-sched.h), which closes on the next loop turn.
 *  - After sess_close no ready callback runs; pending request and channel
 *    callbacks still fire once, with AF_ECANCELED.
 */
#ifndef AF_SESS_H
#define AF_SESS_H

#include <uv.h>

#include "agc.h"
#include "conn.h"

struct sess;

/* sess_open flags */
#define SESS_AGENT 0x1 /* start the agent; ready means "agent serving" */

typedef void (*sess_ready_cb)(struct sess *s, int status);
typedef void (*sess_closed_cb)(struct sess *s, void *data);

/*
 * Open a session to the node described by o (strings copied). node is the
 * caller's opaque node pointer, returned by sess_node. Never fails
 * synchronously: cb runs later with 0 or a negative AF_E* code.
 */
struct sess *sess_open(uv_loop_t *loop,
                       const struct conn_opts *o,
                       unsigned flags,
                       const void *node,
                       sess_ready_cb cb,
                       void *data);
void sess_close(struct sess *s, sess_closed_cb cb);

struct conn *sess_conn(const struct sess *s);
/* The agent client (NULL without SESS_AGENT or before the conn was up). */
struct agc *sess_agc(const struct sess *s);
void *sess_data(const struct sess *s);
void sess_set_data(struct sess *s, void *data);
const void *sess_node(const struct sess *s);
/* The node's name from the connection options. Borrowed. */
const char *sess_name(const struct sess *s);
/* 1 once the ready callback reported 0 and the session is not closing. */
int sess_ready(const struct sess *s);
/*
 * 1 when the session is ready and still good: its connection up and, with
 * SESS_AGENT, its agent serving (an idle session kept for later may have
 * died since its ready callback).
 */
int sess_usable(const struct sess *s);
/* 1 once the ready callback ran (or sess_close was called). */
int sess_reported(const struct sess *s);
/* The status the ready callback had (0 or negative); 0 before it ran. */
int sess_status(const struct sess *s);
/*
 * Hand the session to another owner: its ready callback (if it has not
 * run yet) goes to cb, and sess_data becomes data. Used to adopt a session
 * opened ahead of its job (af-sched.h).
 */
void sess_rebind(struct sess *s, sess_ready_cb cb, void *data);
/* conn_set_ref of its connection: 0 while it waits idle for later work. */
void sess_set_ref(struct sess *s, int ref);
/* The host key fingerprint of the node (conn_hostkey), NULL before the
 * key was checked. Borrowed. */
const char *sess_hostkey(const struct sess *s);
/* The address the session connects to. Borrowed. */
const char *sess_address(const struct sess *s);
/* Why the session failed ("" if it did not). Borrowed. */
const char *sess_error(const struct sess *s);
/* 1 if the failure was a timeout (connect, handshake, auth or agent). */
int sess_timed_out(const struct sess *s);

#endif /* AF_SESS_H */
