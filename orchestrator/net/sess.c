/* SPDX-License-Identifier: MIT */
/* conn + agc glue with one ready and one closed callback (see sess.h). */
#include "sess.h"

#include <stdio.h>
#include <stdlib.h>

#include "af-mem.h"

struct sess {
    const void *node;
    struct conn *conn;
    struct agc *agc;
    unsigned flags;
    sess_ready_cb ready_cb;
    sess_closed_cb closed_cb;
    void *data;
    int reported;
    int status; /* what the ready callback had */
    int ready;
    int timed_out;
    char err[AF_ERR_MSG_LEN];
};

static void
sess_report(struct sess *s, int status)
{
    if (s->reported)
        return;
    s->reported = 1;
    s->status = status;
    s->ready = status == 0;
    s->ready_cb(s, status);
}

static void
sess_agc_ready(struct agc *a, int status)
{
    struct sess *s = agc_data(a);

    if (status < 0) {
        snprintf(s->err, sizeof(s->err), "%s", agc_error(a));
        s->timed_out = status == AF_ETIMEOUT;
    }
    sess_report(s, status);
}

static void
sess_conn_ready(struct conn *c, int status)
{
    struct sess *s = conn_data(c);

    if (status < 0) {
        snprintf(s->err, sizeof(s->err), "%s", conn_error(c));
        s->timed_out = conn_fail_class(c) == CONN_FAIL_TIMEOUT;
        sess_report(s, status);
        return;
    }
    if (!(s->flags & SESS_AGENT)) {
        sess_report(s, 0);
        return;
    }
    s->agc = agc_new(c, sess_agc_ready, s);
    agc_start(s->agc);
}

struct sess *
sess_open(uv_loop_t *loop,
          const struct conn_opts *o,
          unsigned flags,
          const void *node,
          sess_ready_cb cb,
          void *data)
{
    struct sess *s = af_calloc(1, sizeof(*s));

    s->node = node;
    s->flags = flags;
    s->ready_cb = cb;
    s->data = data;
    s->conn = conn_new(loop, o, sess_conn_ready, s);
    conn_start(s->conn);
    return s;
}

static void
sess_conn_closed(struct conn *c)
{
    struct sess *s = conn_data(c);

    agc_free(s->agc);
    if (s->closed_cb != NULL)
        s->closed_cb(s, s->data);
    free(s);
}

void
sess_close(struct sess *s, sess_closed_cb cb)
{
    s->closed_cb = cb;
    s->reported = 1; /* no ready callback after close */
    s->ready = 0;
    conn_close(s->conn, sess_conn_closed);
}

struct conn *
sess_conn(const struct sess *s)
{
    return s->conn;
}

struct agc *
sess_agc(const struct sess *s)
{
    return s->agc;
}

void *
sess_data(const struct sess *s)
{
    return s->data;
}

void
sess_set_data(struct sess *s, void *data)
{
    s->data = data;
}

const void *
sess_node(const struct sess *s)
{
    return s->node;
}

const char *
sess_name(const struct sess *s)
{
    return conn_name(s->conn);
}

int
sess_ready(const struct sess *s)
{
    return s->ready;
}

int
sess_usable(const struct sess *s)
{
    return s->ready && conn_up(s->conn) &&
           (!(s->flags & SESS_AGENT) ||
            (s->agc != NULL && agc_serving(s->agc)));
}

int
sess_reported(const struct sess *s)
{
    return s->reported;
}

int
sess_status(const struct sess *s)
{
    return s->status;
}

void
sess_set_ref(struct sess *s, int ref)
{
    conn_set_ref(s->conn, ref);
}

void
sess_rebind(struct sess *s, sess_ready_cb cb, void *data)
{
    s->ready_cb = cb;
    s->data = data;
}

const char *
sess_hostkey(const struct sess *s)
{
    return s->conn ? conn_hostkey(s->conn) : NULL;
}

const char *
sess_address(const struct sess *s)
{
    return s->conn ? conn_host(s->conn) : NULL;
}

const char *
sess_error(const struct sess *s)
{
    return s->err;
}

int
sess_timed_out(const struct sess *s)
{
    return s->timed_out;
}
