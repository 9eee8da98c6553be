/* SPDX-License-Identifier: MIT */
/* conn + agc glue with one ready and one closed callback. */
#include "sess.h"

#include <stdio.h>
#include <stdlib.h>

#include "af-mem.h"
#include "fleet.h"
#include "inv.h"

struct sess {
    const struct inv_node *node;
    struct conn *conn;
    struct agc *agc;
    sess_ready_cb ready_cb;
    sess_closed_cb closed_cb;
    void *data;
    int reported;
    int timed_out;
    char err[AF_ERR_MSG_LEN];
};

static void
sess_report(struct sess *s, int status)
{
    if (s->reported)
        return;
    s->reported = 1;
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
    s->agc = agc_new(c, sess_agc_ready, s);
    agc_start(s->agc);
}

struct sess *
sess_open(const struct fleet *f, const struct inv_node *n, sess_ready_cb cb,
          void *data)
{
    struct sess *s = af_calloc(1, sizeof(*s));
    struct conn_opts o;

    s->node = n;
    s->ready_cb = cb;
    s->data = data;
    fleet_conn_opts(f, n, &o);
    s->conn = conn_new(f->loop, &o, sess_conn_ready, s);
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
    conn_close(s->conn, sess_conn_closed);
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

const struct inv_node *
sess_node(const struct sess *s)
{
    return s->node;
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
