/* SPDX-License-Identifier: MIT */
/*
 * conn on the loop against real sshd nodes of the simulated rack: a command
 * runs and reports its output and exit code; a refused address fails with
 * a message; a channel cut by conn_close hears AF_ECANCELED exactly once.
 * Every test ends with uv_loop_close() == 0: nothing left on the loop.
 */
#include <string.h>

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
