/* SPDX-License-Identifier: MIT */
/* TCP connect probes on the loop (see probe.h). */
#include "probe.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "af-mem.h"

struct probe {
    uv_tcp_t tcp;
    uv_connect_t req;
    uv_timer_t timer;
    int open; /* handles not yet closed */
    int status;
    int finished; /* the result is known; handles are closing */
    probe_cb cb;
    void *data;
};

static int
probe_addr(const struct conn_opts *o, struct sockaddr_storage *ss)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    int port = o->port ? o->port : 22;

    memset(ss, 0, sizeof(*ss));
    if (o->via != NULL || o->host == NULL)
        return -1;
    if (inet_pton(AF_INET, o->host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        return 0;
    }
    if (inet_pton(AF_INET6, o->host, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        return 0;
    }
    return -1;
}

int
probe_possible(const struct conn_opts *o)
{
    struct sockaddr_storage ss;

    return probe_addr(o, &ss) == 0;
}

static void
probe_closed(uv_handle_t *h)
{
    struct probe *p = h->data;

    if (--p->open > 0)
        return;
    p->cb(p->data, p->status);
    free(p);
}

/* The result is known: close both handles; cb runs from the last close. */
static void
probe_finish(struct probe *p, int status)
{
    if (p->finished)
        return;
    p->finished = 1;
    p->status = status;
    uv_timer_stop(&p->timer);
    uv_close((uv_handle_t *)&p->timer, probe_closed);
    /* Closing a connecting handle cancels its request (UV_ECANCELED). */
    uv_close((uv_handle_t *)&p->tcp, probe_closed);
}

static void
probe_connected(uv_connect_t *req, int status)
{
    struct probe *p = req->data;

    p->open--; /* the request is done */
    if (status == UV_ECANCELED) {
        if (p->open == 0) {
            p->cb(p->data, p->status);
            free(p);
        }
        return;
    }
    probe_finish(p, status == 0 ? 0 : AF_EUNREACH);
}

static void
probe_timeout(uv_timer_t *t)
{
    probe_finish(t->data, AF_ETIMEOUT);
}

int
probe_tcp(uv_loop_t *loop,
          const struct conn_opts *o,
          uint64_t timeout_ms,
          probe_cb cb,
          void *data)
{
    struct sockaddr_storage ss;
    struct probe *p;

    if (probe_addr(o, &ss) != 0)
        return AF_EINPUT;
    p = af_calloc(1, sizeof(*p));
    p->cb = cb;
    p->data = data;
    uv_timer_init(loop, &p->timer);
    p->timer.data = p;
    p->open++;
    uv_tcp_init(loop, &p->tcp);
    p->tcp.data = p;
    p->open++;
    p->req.data = p;
    if (uv_tcp_connect(&p->req, &p->tcp, (struct sockaddr *)&ss,
                       probe_connected) != 0) {
        probe_finish(p, AF_EUNREACH); /* cb runs from the closes */
        return 0;
    }
    p->open++; /* the request */
    uv_timer_start(&p->timer, probe_timeout, timeout_ms, 0);
    return 0;
}
