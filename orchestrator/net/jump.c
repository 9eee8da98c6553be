/* SPDX-License-Identifier: MIT */
/*
 * Jump sessions and their direct-tcpip tunnels (see jump.h). A tunnel is a
 * hook on its jump conn: the conn's driver steps it (open the channel, then
 * pump bytes both ways without blocking) and tells it when the session
 * fails. The node-side end of each socketpair is watched by the node's own
 * conn; the jump-side end by one uv_poll_t here, whose events only drive
 * the jump conn.
 */
#define _DEFAULT_SOURCE
#include "jump.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "af-mem.h"
#include "internal.h"

/* Bytes a tunnel holds in each direction before it stops reading. */
#define TUN_CAP   (256 * 1024)
#define TUN_CHUNK 32768
/* How long an unused jump session stays open for the next node. */
#define JUMP_LINGER_MS 300

enum tun_state {
    TUN_WAIT,    /* the jump session is not ready yet */
    TUN_OPENING, /* channel open request sent */
    TUN_OPEN,    /* pumping */
    TUN_DONE,    /* failed or released */
};

/* A byte queue: data[off..len) is pending. */
struct tun_q {
    char *data;
    size_t len, off, cap;
};

struct tunnel {
    struct conn_hook hook; /* first: container of the hook */
    struct jump *j;
    struct conn *inner; /* NULL once released */
    char *host;
    int port;
    int fd; /* jump side of the socketpair */
    uv_poll_t poll;
    int poll_events;
    ssh_channel ch;
    enum tun_state state;
    struct tun_q to_fd, to_ch;
    int fd_eof, fd_shut, eof_sent;
    struct conn *hooked; /* the conn t's hook is linked on, or NULL */
    struct tunnel *next; /* in j->tunnels */
};

struct jump {
    struct jump *next;
    struct jump_pool *pool;
    char *key; /* hop names joined with ',' */
    struct conn_opts opts;
    struct jump *via;
    struct conn *conn; /* NULL when no session is open */
    int ready, failed;
    char err[AF_ERR_MSG_LEN];
    int refs;           /* tunnels not yet released */
    uv_timer_t *linger; /* while a session is open; freed on close */
    struct tunnel *tunnels;
};

struct jump_pool {
    uv_loop_t *loop;
    struct jump *list;
    size_t sessions;
};

static void tun_set_poll(struct tunnel *t);

struct jump_pool *
jump_pool_new(uv_loop_t *loop)
{
    struct jump_pool *p = af_calloc(1, sizeof(*p));

    p->loop = loop;
    return p;
}

void
jump_pool_free(struct jump_pool *p)
{
    struct jump *j, *next;

    if (p == NULL)
        return;
    for (j = p->list; j != NULL; j = next) {
        next = j->next;
        free(j->key);
        free(j);
    }
    free(p);
}

size_t
jump_pool_sessions(const struct jump_pool *p)
{
    return p->sessions;
}

struct jump *
jump_get(struct jump_pool *p, const struct conn_opts *hops, size_t n)
{
    struct jump *j, *via = NULL;
    char *key = af_strdup(hops[0].name), *k2;
    size_t i;

    for (i = 1; i < n; i++) {
        k2 = af_asprintf("%s,%s", key, hops[i].name);
        free(key);
        key = k2;
    }
    for (j = p->list; j != NULL; j = j->next)
        if (strcmp(j->key, key) == 0)
            break;
    if (j != NULL) {
        free(key);
        return j;
    }
    if (n > 1)
        via = jump_get(p, hops, n - 1);
    j = af_calloc(1, sizeof(*j));
    j->pool = p;
    j->key = key;
    j->opts = hops[n - 1];
    j->opts.via = via;
    j->via = via;
    j->next = p->list;
    p->list = j;
    return j;
}

/* ---- byte queues ------------------------------------------------------- */

static size_t
q_pending(const struct tun_q *q)
{
    return q->len - q->off;
}

static void
q_push(struct tun_q *q, const char *p, size_t n)
{
    if (q->off == q->len)
        q->off = q->len = 0;
    if (q->len + n > q->cap) {
        if (q->off > 0) {
            memmove(q->data, q->data + q->off, q->len - q->off);
            q->len -= q->off;
            q->off = 0;
        }
        if (q->len + n > q->cap) {
            q->cap = q->len + n < 2 * q->cap ? 2 * q->cap : q->len + n;
            q->data = af_realloc(q->data, q->cap);
        }
    }
    memcpy(q->data + q->len, p, n);
    q->len += n;
}

/* ---- jump sessions ----------------------------------------------------- */

static void
jump_linger_closed(uv_handle_t *h)
{
    free(h);
}

/*
 * Close the session (no tunnel uses it any more). The closing conn goes on
 * alone: a node that comes later opens a new one.
 */
static void
jump_shut(struct jump *j)
{
    struct conn *c = j->conn;

    if (j->linger != NULL) {
        uv_close((uv_handle_t *)j->linger, jump_linger_closed);
        j->linger = NULL;
    }
    j->conn = NULL;
    j->ready = 0;
    j->failed = 0;
    if (c != NULL)
        conn_close(c, NULL);
}

static void
jump_linger_cb(uv_timer_t *h)
{
    struct jump *j = h->data;

    if (j->refs == 0)
        jump_shut(j);
}

static void
jump_ready(struct conn *c, int status)
{
    struct jump *j = conn_data(c);

    if (status < 0) {
        j->failed = 1;
        snprintf(j->err, sizeof(j->err), "%s", conn_error(c));
        return;
    }
    j->ready = 1;
}

/* Make sure the session exists (opened on first use). */
static void
jump_open(struct jump *j)
{
    uv_loop_t *loop = j->pool->loop;

    if (j->linger == NULL) {
        j->linger = af_malloc(sizeof(*j->linger));
        uv_timer_init(loop, j->linger);
        j->linger->data = j;
    }
    uv_timer_stop(j->linger);
    if (j->conn != NULL)
        return;
    j->ready = j->failed = 0;
    j->err[0] = '\0';
    j->conn = conn_new(loop, &j->opts, jump_ready, j);
    j->pool->sessions++;
    conn_start(j->conn);
}

/* ---- tunnels ----------------------------------------------------------- */

/* Fail the node behind t (once) with the jump's reason. */
static void
tun_fail(struct tunnel *t, int code, const char *why)
{
    char msg[AF_ERR_MSG_LEN];

    if (t->state == TUN_DONE)
        return;
    t->state = TUN_DONE;
    if (t->ch != NULL) {
        ssh_channel_free(t->ch);
        t->ch = NULL;
    }
    tun_set_poll(t);
    if (t->inner != NULL) {
        snprintf(msg, sizeof(msg), "via jump host %s", why);
        conn__abort(t->inner, code,
                    code == AF_ETIMEOUT ? CONN_FAIL_TIMEOUT
                                        : CONN_FAIL_UNREACHABLE,
                    msg);
    }
}

static void
tun_hook_fail(struct conn_hook *h, int status, const char *msg)
{
    struct tunnel *t = (struct tunnel *)h;

    t->hooked = NULL; /* the conn unlinks it after this call */
    /*
     * The session is gone (also when it failed after READY, when no ready
     * callback comes): later tunnels must not wait on it.
     */
    if (!t->j->failed) {
        t->j->failed = 1;
        snprintf(t->j->err, sizeof(t->j->err), "%s", msg);
    }
    tun_fail(t, status == AF_ECANCELED ? AF_EUNREACH : status, msg);
}

/* Move bytes from the channel to the socketpair; 1 if any moved. */
static int
tun_pump_out(struct tunnel *t)
{
    char buf[TUN_CHUNK];
    int moved = 0, n;
    ssize_t w;

    while (q_pending(&t->to_fd) < TUN_CAP) {
        n = ssh_channel_read_nonblocking(t->ch, buf, sizeof(buf), 0);
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        q_push(&t->to_fd, buf, (size_t)n);
        moved = 1;
    }
    while (q_pending(&t->to_fd) > 0) {
        w = write(t->fd, t->to_fd.data + t->to_fd.off, q_pending(&t->to_fd));
        if (w < 0 && (errno == EAGAIN || errno == EINTR))
            break;
        if (w < 0)
            return -1;
        t->to_fd.off += (size_t)w;
        moved = 1;
    }
    if (!t->fd_shut && q_pending(&t->to_fd) == 0 &&
        (ssh_channel_is_eof(t->ch) || ssh_channel_is_closed(t->ch))) {
        shutdown(t->fd, SHUT_WR);
        t->fd_shut = 1;
        moved = 1;
    }
    return moved;
}

/* Move bytes from the socketpair to the channel; 1 if any moved. */
static int
tun_pump_in(struct tunnel *t)
{
    char buf[TUN_CHUNK];
    int moved = 0, n;
    ssize_t r;

    for (;;) {
        while (q_pending(&t->to_ch) > 0) {
            uint32_t win = ssh_channel_window_size(t->ch);
            size_t chunk = q_pending(&t->to_ch);

            if (win == 0)
                break;
            if (chunk > win)
                chunk = win;
            if (chunk > TUN_CHUNK)
                chunk = TUN_CHUNK;
            n = ssh_channel_write(t->ch, t->to_ch.data + t->to_ch.off,
                                  (uint32_t)chunk);
            if (n == SSH_ERROR)
                return -1;
            if (n == 0)
                break;
            t->to_ch.off += (size_t)n;
            moved = 1;
        }
        if (t->fd_eof || q_pending(&t->to_ch) >= TUN_CAP)
            break;
        r = read(t->fd, buf, sizeof(buf));
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            break;
        if (r <= 0) {
            t->fd_eof = 1; /* the node session closed its end */
            moved = 1;
            break;
        }
        q_push(&t->to_ch, buf, (size_t)r);
        moved = 1;
    }
    if (t->fd_eof && !t->eof_sent && q_pending(&t->to_ch) == 0) {
        ssh_channel_send_eof(t->ch);
        t->eof_sent = 1;
    }
    return moved;
}

static int
tun_hook_step(struct conn_hook *h)
{
    struct tunnel *t = (struct tunnel *)h;
    ssh_session s = conn__session(t->j->conn);
    int rc, a, b;

    switch (t->state) {
    case TUN_WAIT:
        t->ch = ssh_channel_new(s);
        if (t->ch == NULL) {
            tun_fail(t, AF_ESSH, ssh_get_error(s));
            return 1;
        }
        t->state = TUN_OPENING;
        /* fall through */
    case TUN_OPENING:
        rc = ssh_channel_open_forward(t->ch, t->host, t->port, "127.0.0.1", 22);
        if (rc == SSH_AGAIN)
            return 0;
        if (rc != SSH_OK) {
            char why[AF_ERR_MSG_LEN];

            snprintf(why, sizeof(why),
                     "%s: cannot open a channel to %s "
                     "port %d: %s",
                     t->j->opts.name, t->host, t->port, ssh_get_error(s));
            tun_fail(t, AF_EUNREACH, why);
            return 1;
        }
        t->state = TUN_OPEN;
        /* fall through */
    case TUN_OPEN:
        a = tun_pump_out(t);
        b = a < 0 ? 0 : tun_pump_in(t);
        if (a < 0 || b < 0) {
            char why[AF_ERR_MSG_LEN];

            snprintf(why, sizeof(why), "%s: channel to %s port %d failed: %s",
                     t->j->opts.name, t->host, t->port, ssh_get_error(s));
            tun_fail(t, AF_EUNREACH, why);
            return 1;
        }
        tun_set_poll(t);
        return a || b;
    case TUN_DONE:
        return 0;
    }
    return 0;
}

static void
tun_poll_cb(uv_poll_t *p, int status, int events)
{
    struct tunnel *t = p->data;

    (void)status;
    (void)events;
    if (t->j->conn != NULL)
        conn__kick(t->j->conn);
}

/* Watch the jump-side fd for what the pump can use right now. */
static void
tun_set_poll(struct tunnel *t)
{
    int ev = 0;

    if (t->state == TUN_OPEN) {
        if (!t->fd_eof && q_pending(&t->to_ch) < TUN_CAP)
            ev |= UV_READABLE;
        if (q_pending(&t->to_fd) > 0)
            ev |= UV_WRITABLE;
    }
    if (ev == t->poll_events)
        return;
    t->poll_events = ev;
    if (ev == 0)
        uv_poll_stop(&t->poll);
    else
        uv_poll_start(&t->poll, ev, tun_poll_cb);
}

int
jump__tunnel_open(struct jump *j,
                  struct conn *inner,
                  const char *host,
                  int port,
                  int *fd,
                  struct tunnel **out)
{
    struct tunnel *t;
    int sv[2];

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) <
        0)
        return -errno;
    t = af_calloc(1, sizeof(*t));
    t->j = j;
    t->inner = inner;
    t->host = af_strdup(host);
    t->port = port;
    t->fd = sv[1];
    t->hook.step = tun_hook_step;
    t->hook.fail = tun_hook_fail;
    uv_poll_init(j->pool->loop, &t->poll, t->fd);
    t->poll.data = t;
    t->next = j->tunnels;
    j->tunnels = t;
    j->refs++;
    jump_open(j);
    if (j->failed) {
        tun_fail(t, AF_EUNREACH, j->err);
    } else {
        conn__hook_add(j->conn, &t->hook);
        t->hooked = j->conn;
        conn__kick(j->conn);
    }
    *fd = sv[0];
    *out = t;
    return 0;
}

static void
tun_closed(uv_handle_t *h)
{
    struct tunnel *t = h->data;

    close(t->fd);
    free(t->to_fd.data);
    free(t->to_ch.data);
    free(t->host);
    free(t);
}

void
jump__tunnel_release(struct tunnel *t)
{
    struct jump *j = t->j;
    struct tunnel **pp;

    t->inner = NULL;
    t->state = TUN_DONE;
    if (t->ch != NULL) {
        ssh_channel_free(t->ch); /* sends CLOSE; non-blocking */
        t->ch = NULL;
    }
    if (t->hooked != NULL)
        conn__hook_remove(t->hooked, &t->hook);
    for (pp = &j->tunnels; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == t) {
            *pp = t->next;
            break;
        }
    }
    uv_poll_stop(&t->poll);
    uv_close((uv_handle_t *)&t->poll, tun_closed);
    if (--j->refs == 0 && j->conn != NULL) {
        /* A failed session is not kept: the next node tries afresh. */
        if (j->failed)
            jump_shut(j);
        else
            uv_timer_start(j->linger, jump_linger_cb, JUMP_LINGER_MS, 0);
    }
}
