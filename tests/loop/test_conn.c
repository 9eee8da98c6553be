/* SPDX-License-Identifier: MIT */
/*
 * conn on the loop against real sshd nodes of the simulated rack: a command
 * runs and reports its output and exit code; a refused address fails with
 * a message; a channel cut by conn_close hears AF_ECANCELED exactly once.
 * Every test ends with uv_loop_close() == 0: nothing left on the loop.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <criterion/criterion.h>
#include <uv.h>

#include "conn.h"
#include "loop.h"

struct ct {
    int ready_calls, ready_status;
    int done_calls, done_status, exit_code;
    int closed;
    char out[256];
    const char *command;
};

static void
ct_closed(struct conn *c)
{
    struct ct *t = conn_data(c);

    t->closed++;
}

static void
ct_done(struct chan *ch, int status)
{
    struct ct *t = chan_data(ch);
    const struct af_buf *o = chan_stdout(ch);

    t->done_calls++;
    t->done_status = status;
    t->exit_code = chan_exit_code(ch);
    if (o->len)
        snprintf(t->out, sizeof(t->out), "%.*s", (int)o->len, o->data);
    conn_close(chan_conn(ch), ct_closed);
}

static void
ct_ready(struct conn *c, int status)
{
    struct ct *t = conn_data(c);

    t->ready_calls++;
    t->ready_status = status;
    if (status < 0) {
        conn_close(c, ct_closed);
        return;
    }
    chan_exec(c, t->command, 10000, 4096, NULL, ct_done, t);
}

static void
ct_run(struct ct *t, int unreachable)
{
    uv_loop_t loop;
    struct lt_node n;
    struct conn *c;

    lt_init();
    cr_assert_eq(uv_loop_init(&loop), 0);
    lt_node(&n, 0, unreachable);
    c = conn_new(&loop, &n.o, ct_ready, t);
    conn_start(c);
    cr_assert_eq(t->ready_calls, 0, "ready ran inside conn_start");
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&loop), 0, "handles left on the loop");
    lt_fini();
}

Test(conn, runs_a_command)
{
    struct ct t = {.command = "echo loop-$((6*7)); exit 3"};

    ct_run(&t, 0);
    cr_assert_eq(t.ready_calls, 1);
    cr_assert_eq(t.ready_status, 0);
    cr_assert_eq(t.done_calls, 1);
    cr_assert_eq(t.done_status, 0);
    cr_assert_eq(t.exit_code, 3);
    cr_assert_str_eq(t.out, "loop-42\n");
    cr_assert_eq(t.closed, 1);
}

Test(conn, refused_address_fails_once)
{
    struct ct t = {.command = "true"};

    ct_run(&t, 1);
    cr_assert_eq(t.ready_calls, 1);
    cr_assert_lt(t.ready_status, 0);
    cr_assert_eq(t.done_calls, 0);
    cr_assert_eq(t.closed, 1);
}

/* A close while a command runs: its done callback fires once, cancelled. */
struct cc {
    int done_calls, done_status, closed;
    uv_timer_t *tm;
};

static void
cc_closed(struct conn *c)
{
    struct cc *t = conn_data(c);

    t->closed++;
}

static void
cc_done(struct chan *ch, int status)
{
    struct cc *t = chan_data(ch);

    t->done_calls++;
    t->done_status = status;
}

static void
cc_timer(uv_timer_t *tm)
{
    struct conn *c = tm->data;

    conn_close(c, cc_closed);
    uv_close((uv_handle_t *)tm, NULL);
}

static void
cc_ready(struct conn *c, int status)
{
    struct cc *t = conn_data(c);

    cr_assert_eq(status, 0, "%s", conn_error(c));
    chan_exec(c, "sleep 30", 0, 4096, NULL, cc_done, t);
    uv_timer_start(t->tm, cc_timer, 500, 0);
}

Test(conn, close_cancels_running_channel_once)
{
    struct {
        struct cc t;
        uv_timer_t tm;
    } s;
    uv_loop_t loop;
    struct lt_node n;
    struct conn *c;

    memset(&s, 0, sizeof(s));
    lt_init();
    cr_assert_eq(uv_loop_init(&loop), 0);
    cr_assert_eq(uv_timer_init(&loop, &s.tm), 0);
    lt_node(&n, 1, 0);
    c = conn_new(&loop, &n.o, cc_ready, &s.t);
    s.tm.data = c;
    s.t.tm = &s.tm;
    conn_start(c);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(s.t.done_calls, 1);
    cr_assert_eq(s.t.done_status, AF_ECANCELED);
    cr_assert_eq(s.t.closed, 1);
    cr_assert_eq(uv_loop_close(&loop), 0, "handles left on the loop");
    lt_fini();
}

/*
 * libssh closes the socket it was lent on its own error paths (a peer that
 * hangs up during the handshake). The conn must let go of that fd at once:
 * the next conn on the loop gets the same number, and must connect (its
 * uv_poll_init would fail with UV_EEXIST) and keep working after the first
 * conn is closed (which must not close the number again).
 */
struct fr {
    uv_loop_t *loop;
    uv_tcp_t server;
    struct lt_node node;
    struct conn *a, *b;
    int lowest_before, lowest_after;
    int a_status, a_closed, b_status, b_done, b_exit, b_closed;
    char out[64];
};

static int
fr_lowest_free_fd(void)
{
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

    cr_assert_geq(fd, 0);
    close(fd);
    return fd;
}

static void
fr_alloc(uv_handle_t *h, size_t want, uv_buf_t *buf)
{
    static char space[4096];

    (void)h;
    (void)want;
    *buf = uv_buf_init(space, sizeof(space));
}

/* The client's banner read, hang up cleanly (FIN, no reset). */
static void
fr_read(uv_stream_t *c, ssize_t n, const uv_buf_t *buf)
{
    if (n > 0 && memchr(buf->base, '\n', (size_t)n) == NULL)
        return;
    if (!uv_is_closing((uv_handle_t *)c))
        uv_close((uv_handle_t *)c, (uv_close_cb)free);
}

static void
fr_accept(uv_stream_t *srv, int status)
{
    uv_tcp_t *c = malloc(sizeof(*c));

    cr_assert_eq(status, 0);
    cr_assert_eq(uv_tcp_init(srv->loop, c), 0);
    cr_assert_eq(uv_accept(srv, (uv_stream_t *)c), 0);
    cr_assert_eq(uv_read_start((uv_stream_t *)c, fr_alloc, fr_read), 0);
}

static void
fr_a_closed(struct conn *c)
{
    struct fr *t = conn_data(c);

    t->a_closed++;
}

static void
fr_b_closed(struct conn *c)
{
    struct fr *t = conn_data(c);

    t->b_closed++;
    uv_close((uv_handle_t *)&t->server, NULL);
}

static void
fr_b_done(struct chan *ch, int status)
{
    struct fr *t = chan_data(ch);
    const struct af_buf *o = chan_stdout(ch);

    t->b_done = status == 0 ? 1 : status;
    t->b_exit = chan_exit_code(ch);
    if (o->len)
        snprintf(t->out, sizeof(t->out), "%.*s", (int)o->len, o->data);
    conn_close(t->b, fr_b_closed);
}

static void
fr_b_ready(struct conn *c, int status)
{
    struct fr *t = conn_data(c);

    t->b_status = status;
    /* The first conn goes now: its teardown must not touch B's socket. */
    conn_close(t->a, fr_a_closed);
    if (status < 0) {
        conn_close(c, fr_b_closed);
        return;
    }
    chan_exec(c, "echo still-here", 10000, 4096, NULL, fr_b_done, t);
}

static void
fr_a_ready(struct conn *c, int status)
{
    struct fr *t = conn_data(c);

    t->a_status = status;
    t->lowest_after = fr_lowest_free_fd();
    /* A is not closed yet: B's socket gets the number libssh let go. */
    t->b = conn_new(t->loop, &t->node.o, fr_b_ready, t);
    conn_start(t->b);
}

Test(conn, socket_closed_by_libssh_is_not_reused_or_closed_twice)
{
    struct fr t;
    uv_loop_t loop;
    struct sockaddr_in sin;
    int len = sizeof(sin);
    struct lt_node hang;

    memset(&t, 0, sizeof(t));
    lt_init();
    cr_assert_eq(uv_loop_init(&loop), 0);
    t.loop = &loop;
    cr_assert_eq(uv_tcp_init(&loop, &t.server), 0);
    uv_ip4_addr("127.0.0.1", 0, &sin);
    cr_assert_eq(uv_tcp_bind(&t.server, (struct sockaddr *)&sin, 0), 0);
    cr_assert_eq(uv_listen((uv_stream_t *)&t.server, 8, fr_accept), 0);
    cr_assert_eq(uv_tcp_getsockname(&t.server, (struct sockaddr *)&sin, &len),
                 0);
    lt_node(&t.node, 2, 0);
    lt_node(&hang, 0, 0);
    snprintf(hang.host, sizeof(hang.host), "127.0.0.1");
    hang.o.port = ntohs(sin.sin_port);
    t.lowest_before = fr_lowest_free_fd();
    t.a = conn_new(&loop, &hang.o, fr_a_ready, &t);
    conn_start(t.a);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_lt(t.a_status, 0, "the hang-up was not a failure");
    cr_assert_eq(t.lowest_after, t.lowest_before,
                 "libssh kept the socket: the case is not exercised");
    cr_assert_eq(t.b_status, 0, "the next conn failed: %s",
                 t.b ? "see its error" : "never started");
    cr_assert_eq(t.b_done, 1);
    cr_assert_eq(t.b_exit, 0);
    cr_assert_str_eq(t.out, "still-here\n");
    cr_assert_eq(t.a_closed, 1);
    cr_assert_eq(t.b_closed, 1);
    cr_assert_eq(uv_loop_close(&loop), 0, "handles left on the loop");
    lt_fini();
}
