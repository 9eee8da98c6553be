/* SPDX-License-Identifier: MIT */
/*
 * Waiting for a node that comes back, and sessions that outlive their job:
 * a TCP probe to a closed loopback port is refused and one to a listener
 * accepted; a job reopened by probe (sched_job_reopen_probe) keeps probing
 * a closed port and opens its session only once a listener appears, or
 * when its wait is over; a session kept at the end of one job
 * (sched_job_keep) lets the loop run dry and is adopted by the next job
 * (ops->take) without a new connection. Every test ends with
 * uv_loop_close() == 0.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <uv.h>

#include "af-sched.h"
#include "agc.h"
#include "loop.h"
#include "probe.h"
#include "sess.h"

/* A loopback port nothing listens on (bound once, then released). */
static int
pt_free_port(uv_loop_t *loop)
{
    uv_tcp_t t;
    struct sockaddr_in sin;
    int len = sizeof(sin);

    cr_assert_eq(uv_tcp_init(loop, &t), 0);
    uv_ip4_addr("127.0.0.1", 0, &sin);
    cr_assert_eq(uv_tcp_bind(&t, (struct sockaddr *)&sin, 0), 0);
    cr_assert_eq(uv_tcp_getsockname(&t, (struct sockaddr *)&sin, &len), 0);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    return ntohs(sin.sin_port);
}

static void
pt_opts(struct lt_node *n, int port)
{
    lt_node(n, 0, 0);
    snprintf(n->host, sizeof(n->host), "127.0.0.1");
    n->o.port = port;
    n->o.connect_timeout_ms = 2000;
    n->o.handshake_timeout_ms = 2000;
    n->o.auth_timeout_ms = 2000;
}

/* ---- a listener that counts and drops connections ---- */

struct pl {
    uv_tcp_t srv;
    int port, on, accepted;
    uint64_t on_at;
};

static void
pl_conn(uv_stream_t *srv, int status)
{
    struct pl *l = srv->data;
    uv_tcp_t *c = malloc(sizeof(*c));

    cr_assert_eq(status, 0);
    uv_tcp_init(srv->loop, c);
    cr_assert_eq(uv_accept(srv, (uv_stream_t *)c), 0);
    l->accepted++;
    uv_close((uv_handle_t *)c, (uv_close_cb)free);
}

static void
pl_start(uv_loop_t *loop, struct pl *l)
{
    struct sockaddr_in sin;

    cr_assert_eq(uv_tcp_init(loop, &l->srv), 0);
    l->srv.data = l;
    uv_ip4_addr("127.0.0.1", l->port, &sin);
    cr_assert_eq(uv_tcp_bind(&l->srv, (struct sockaddr *)&sin, 0), 0);
    cr_assert_eq(uv_listen((uv_stream_t *)&l->srv, 16, pl_conn), 0);
    l->on = 1;
    l->on_at = uv_now(loop);
}

static void
pl_stop(struct pl *l)
{
    if (l->on)
        uv_close((uv_handle_t *)&l->srv, NULL);
    l->on = 0;
}

/* ---- probe_tcp alone ---- */

struct pr {
    int calls, status;
};

static void
pr_done(void *data, int status)
{
    struct pr *r = data;

    r->calls++;
    r->status = status;
}

Test(probe, closed_port_is_refused_and_listener_accepted)
{
    uv_loop_t loop;
    struct lt_node n;
    struct pl l;
    struct pr r;

    lt_init();
    cr_assert_eq(uv_loop_init(&loop), 0);
    memset(&l, 0, sizeof(l));
    l.port = pt_free_port(&loop);
    pt_opts(&n, l.port);
    cr_assert(probe_possible(&n.o));
    memset(&r, 0, sizeof(r));
    cr_assert_eq(probe_tcp(&loop, &n.o, 2000, pr_done, &r), 0);
    cr_assert_eq(r.calls, 0, "the callback ran inside probe_tcp");
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(r.calls, 1);
    cr_assert_eq(r.status, AF_EUNREACH);

    pl_start(&loop, &l);
    memset(&r, 0, sizeof(r));
    cr_assert_eq(probe_tcp(&loop, &n.o, 2000, pr_done, &r), 0);
    while (r.calls == 0)
        uv_run(&loop, UV_RUN_ONCE);
    cr_assert_eq(r.status, 0);
    pl_stop(&l);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(r.calls, 1);
    cr_assert_eq(l.accepted, 1);
    cr_assert_eq(uv_loop_close(&loop), 0, "handles left on the loop");
    lt_fini();
}

Test(probe, names_and_jump_hosts_are_not_probed)
{
    struct lt_node n;

    lt_init();
    pt_opts(&n, 22);
    snprintf(n.host, sizeof(n.host), "node.example");
    cr_assert_not(probe_possible(&n.o));
    pt_opts(&n, 22);
    n.o.via = (struct jump *)&n; /* any non-NULL jump */
    cr_assert_not(probe_possible(&n.o));
    lt_fini();
}

/* ---- a job reopened by probe ---- */

struct rp {
    struct lt_node n;
    struct pl l;
    uv_timer_t later;
    int readies, first_status, second_status;
    uint64_t second_at, ready_at;
    uint64_t max_wait;
    int accepted_then;
    uv_loop_t *loop;
};

static void
rp_listen(uv_timer_t *t)
{
    struct rp *p = t->data;

    pl_start(t->loop, &p->l);
    uv_close((uv_handle_t *)t, NULL);
}

static void
rp_opts(void *data, size_t i, struct conn_opts *o, const void **node)
{
    struct rp *p = data;

    (void)i;
    *o = p->n.o;
    *node = p;
}

static void
rp_ready(struct sched_job *j, struct sess *s, int status)
{
    struct rp *p = sched_job_data(j);

    (void)s;
    if (++p->readies == 1) {
        /* Down: wait for it to come back, as after a reboot. */
        p->first_status = status;
        sched_job_reopen_probe(j, 50, p->max_wait, 0);
        return;
    }
    p->second_status = status;
    p->accepted_then = p->l.accepted;
    p->ready_at = uv_now(p->loop);
    pl_stop(&p->l);
    sched_job_done(j);
}

static void
rp_run(struct rp *p, uint64_t listen_after, uint64_t max_wait)
{
    static const struct sched_job_ops ops = {
        .sess_flags = 0,
        .conn_opts = rp_opts,
        .ready = rp_ready,
    };
    uv_loop_t loop;
    struct af_err e;
    uint64_t t0;

    lt_init();
    cr_assert_eq(uv_loop_init(&loop), 0);
    memset(p, 0, sizeof(*p));
    p->l.port = pt_free_port(&loop);
    pt_opts(&p->n, p->l.port);
    p->max_wait = max_wait;
    p->loop = &loop;
    uv_update_time(&loop);
    t0 = uv_now(&loop);
    if (listen_after > 0) {
        uv_timer_init(&loop, &p->later);
        p->later.data = p;
        uv_timer_start(&p->later, rp_listen, listen_after, 0);
    }
    cr_assert_eq(sched_jobs(NULL, &loop, 1, 1, &ops, p, &e), 0);
    p->second_at = p->ready_at - t0;
    if (p->l.on_at)
        p->l.on_at -= t0;
    pl_stop(&p->l);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&loop), 0, "handles left on the loop");
    lt_fini();
}

Test(probe, reopen_waits_for_the_port_to_accept)
{
    struct rp p;

    rp_run(&p, 900, 20000);
    cr_assert_eq(p.readies, 2);
    cr_assert_lt(p.first_status, 0, "nothing listened: the first failed");
    /* The session came only after the listener, and soon after it. */
    cr_assert_geq(p.second_at, p.l.on_at, "opened before the port accepted");
    cr_assert_lt(p.second_at, p.l.on_at + 3000);
    /* A probe and then the session's own connection. */
    cr_assert_geq(p.l.accepted, 2, "accepted %d", p.l.accepted);
}

Test(probe, reopen_gives_up_probing_after_its_wait)
{
    struct rp p;

    rp_run(&p, 0, 700);
    cr_assert_eq(p.readies, 2, "the job must hear how the node is");
    cr_assert_lt(p.second_status, 0);
    cr_assert_geq(p.second_at, 700);
    cr_assert_lt(p.second_at, 5000);
}

/* ---- a session kept from one job and adopted by the next ---- */

struct kp {
    struct lt_node n;
    struct sess *kept;
    int pass, readies, adopted_same, answered, closed;
    struct sess *seen;
};

static void
kp_opts(void *data, size_t i, struct conn_opts *o, const void **node)
{
    struct kp *k = data;

    (void)i;
    *o = k->n.o;
    *node = k;
}

static struct sess *
kp_take(void *data, size_t i)
{
    struct kp *k = data;
    struct sess *s = k->kept;

    (void)i;
    k->kept = NULL;
    return s;
}

static void
kp_answer(struct agc *a, int status, const struct af_kv *body, void *data)
{
    struct sched_job *j = data;
    struct kp *k = sched_job_data(j);

    (void)a;
    (void)body;
    k->answered += status == 0;
    if (k->pass == 1) {
        k->kept = sched_job_keep(j);
        return;
    }
    sched_job_done(j);
}

static void
kp_ready(struct sched_job *j, struct sess *s, int status)
{
    struct kp *k = sched_job_data(j);
    static const char *const words[] = {"facts", "/usr/local/Ascend"};

    cr_assert_eq(status, 0, "%s", sess_error(s));
    k->readies++;
    if (k->pass == 1)
        k->seen = s;
    else
        k->adopted_same = s == k->seen;
    agc_request(sess_agc(s), words, 2, NULL, 0, 30000, kp_answer, j);
}

static void
kp_closed(struct sched_job *j)
{
    struct kp *k = sched_job_data(j);

    k->closed++;
}

Test(probe, kept_session_is_adopted_by_the_next_job)
{
    static const struct sched_job_ops ops = {
        .sess_flags = SESS_AGENT,
        .conn_opts = kp_opts,
        .ready = kp_ready,
        .closed = kp_closed,
        .take = kp_take,
    };
    static struct kp k;
    uv_loop_t loop;
    struct af_err e;

    memset(&k, 0, sizeof(k));
    lt_init();
    cr_assert_eq(uv_loop_init(&loop), 0);
    lt_node(&k.n, 3, 0);
    k.pass = 1;
    /* Returns although the kept session stays open: it holds no ref. */
    cr_assert_eq(sched_jobs(NULL, &loop, 1, 1, &ops, &k, &e), 0);
    cr_assert_not_null(k.kept);
    cr_assert(sess_usable(k.kept));
    k.pass = 2;
    cr_assert_eq(sched_jobs(NULL, &loop, 1, 1, &ops, &k, &e), 0);
    cr_assert_eq(k.readies, 2);
    cr_assert(k.adopted_same, "the second job opened a new session");
    cr_assert_eq(k.answered, 2);
    cr_assert_eq(k.closed, 2);
    cr_assert_null(k.kept);
    cr_assert_eq(uv_loop_close(&loop), 0, "handles left on the loop");
    lt_fini();
}
