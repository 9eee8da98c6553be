/* SPDX-License-Identifier: MIT */
/*
 * A node session: one conn plus the agent client on it. The owner gets one
 * ready callback (agent serving, or failed with a message that names the
 * node and the phase), issues agent requests through sess_agc(), and ends
 * with exactly one sess_close. Memory is released after the conn's handles
 * are closed; the closed callback is the last thing that touches it.
 */
#ifndef AF_SESS_H
#define AF_SESS_H

#include "agc.h"
#include "conn.h"

struct fleet;
struct inv_node;
struct sess;

typedef void (*sess_ready_cb)(struct sess *s, int status);
typedef void (*sess_closed_cb)(struct sess *s, void *data);

struct sess *sess_open(const struct fleet *f, const struct inv_node *n,
                       sess_ready_cb cb, void *data);
void sess_close(struct sess *s, sess_closed_cb cb);

struct agc *sess_agc(const struct sess *s);
void *sess_data(const struct sess *s);
const struct inv_node *sess_node(const struct sess *s);
/* Why the session failed ("" if it did not). Borrowed. */
const char *sess_error(const struct sess *s);
/* 1 if the failure was a timeout (connect, handshake, auth or agent). */
int sess_timed_out(const struct sess *s);

#endif /* AF_SESS_H */
