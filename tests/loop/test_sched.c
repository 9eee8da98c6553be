/* SPDX-License-Identifier: MIT */
/*
 * The scheduler on the loop: the window bounds jobs in flight, a job that
 * ends inside its own start does not recurse, and the per-node job runner
 * drives real rack sessions (bare and with the agent) through ready, done
 * and closed exactly once each, also for refused nodes, reopens and stops.
 * Every test ends with uv_loop_close() == 0.
 */
#include <string.h>

#include <criterion/criterion.h>
#include <uv.h>

#include "af-sched.h"
#include "loop.h"

/* ---- the window alone ---- */

#define WN 40

struct wt {
    struct sched s;
    uv_timer_t timers[WN];
    int started[WN], finished[WN];
    size_t max_inflight, depth, max_depth;
    int sync; /* jobs end inside their start */
};

static void
wt_timer(uv_timer_t *t)
{
    struct wt *w = t->data;
    size_t i = (size_t)(t - w->timers);

    w->finished[i]++;
    uv_close((uv_handle_t *)t, NULL);
    sched_slot_done(&w->s);
}

static void
wt_start(struct sched *s, size_t i, void *data)
{
    struct wt *w = data;

    w->depth++;
    if (w->depth > w->max_depth)
        w->max_depth = w->depth;
    w->started[i]++;
    if (s->inflight > w->max_inflight)
        w->max_inflight = s->inflight;
    if (w->sync) {
        w->finished[i]++;
        sched_slot_done(s);
    } else {
        uv_timer_init(s->loop, &w->timers[i]);
        w->timers[i].data = w;
        uv_timer_start(&w->timers[i], wt_timer, 1 + i % 7, 0);
    }
    w->depth--;
}

static void
wt_check(int sync)
{
    static struct wt w;
    uv_loop_t loop;
    size_t i;

    memset(&w, 0, sizeof(w));
    w.sync = sync;
    cr_assert_eq(uv_loop_init(&loop), 0);
    cr_assert_eq(sched_run(&w.s, &loop, WN, 5, wt_start, &w, NULL), 0);
    for (i = 0; i < WN; i++) {
        cr_assert_eq(w.started[i], 1, "job %zu started %d times", i,
                     w.started[i]);
        cr_assert_eq(w.finished[i], 1);
    }
    cr_assert_leq(w.max_inflight, 5);
    cr_assert_eq(w.max_depth, 1, "a start ran inside another start");
    cr_assert_eq(w.s.done, WN);
    if (!sync)
        cr_assert_eq(w.max_inflight, 5, "window never filled");
    cr_assert_eq(uv_loop_close(&loop), 0);
}

Test(sched, window_bounds_jobs_in_flight)
{
    wt_check(0);
}

Test(sched, job_ending_in_its_start_does_not_recurse)
{
    wt_check(1);
}

Test(sched, empty_run_returns)
{
    struct sched s;
    uv_loop_t loop;

    cr_assert_eq(uv_loop_init(&loop), 0);
    cr_assert_eq(sched_run(&s, &loop, 0, 4, wt_start, NULL, NULL), 0);
    cr_assert_eq(uv_loop_close(&loop), 0);
}

/* ---- per-node jobs on the rack ---- */

#define JN 12

struct jt {
    struct sched s;
    struct lt_node nodes[JN];
    int unreachable_from; /* nodes from this index are refused */
    int ready[JN], ok[JN], failed[JN], answered[JN], closed[JN];
    int reopen_left[JN];
    int stop_after; /* sched_stop once this many ended (0 = never) */
    int ended;
    char out[JN][64];
};

static void
jt_opts(void *data, size_t i, struct conn_opts *o, const void **node)
{
    struct jt *t = data;

    lt_node(&t->nodes[i], i, (int)i >= t->unreachable_from);
    *o = t->nodes[i].o;
    *node = &t->nodes[i];
}

static void
jt_closed(struct sched_job *j)
{
    struct jt *t = sched_job_data(j);

    t->closed[sched_job_index(j)]++;
}

static void
jt_end(struct sched_job *j)
{
    struct jt *t = sched_job_data(j);

    t->ended++;
    if (t->stop_after && t->ended == t->stop_after)
        sched_stop(&t->s);
    sched_job_done(j);
}

static void
jt_chan_done(struct chan *ch, int status)
{
    struct sched_job *j = chan_data(ch);
    struct jt *t = sched_job_data(j);
    size_t i = sched_job_index(j);
    const struct af_buf *o = chan_stdout(ch);

    t->answered[i]++;
    if (status == 0 && chan_exit_code(ch) == 0) {
        t->ok[i]++;
        snprintf(t->out[i], sizeof(t->out[i]), "%.*s", (int)o->len, o->data);
    }
    if (t->reopen_left[i] > 0) {
        t->reopen_left[i]--;
        sched_job_reopen(j, 50);
        return;
    }
    jt_end(j);
}

static void
jt_ready(struct sched_job *j, struct sess *s, int status)
{
    struct jt *t = sched_job_data(j);
    size_t i = sched_job_index(j);

    cr_assert_eq(sess_node(s), &t->nodes[i]);
    t->ready[i]++;
    if (status < 0) {
        t->failed[i]++;
        cr_assert_neq(sess_error(s)[0], '\0');
        jt_end(j);
        return;
    }
    chan_exec(sess_conn(s), "echo $SSH_CONNECTION | cut -d' ' -f3", 10000, 4096,
              NULL, jt_chan_done, j);
}

static const struct sched_job_ops jt_ops = {
    .sess_flags = 0,
    .conn_opts = jt_opts,
    .ready = jt_ready,
    .closed = jt_closed,
};

static void
jt_run(struct jt *t, const struct sched_job_ops *ops, int window)
{
    uv_loop_t loop;

    lt_init();
    cr_assert_eq(uv_loop_init(&loop), 0);
    cr_assert_eq(sched_jobs(&t->s, &loop, JN, window, ops, t, NULL), 0);
    cr_assert_eq(uv_loop_close(&loop), 0, "handles left on the loop");
    lt_fini();
}

Test(sched, jobs_run_each_node_once)
{
    static struct jt t;
    size_t i;

    memset(&t, 0, sizeof(t));
    t.unreachable_from = JN - 3;
    jt_run(&t, &jt_ops, 4);
    for (i = 0; i < JN; i++) {
        cr_assert_eq(t.ready[i], 1, "node %zu ready %d times", i, t.ready[i]);
        cr_assert_eq(t.closed[i], 1, "node %zu closed %d times", i,
                     t.closed[i]);
        if ((int)i < t.unreachable_from) {
            char want[48];

            cr_assert_eq(t.ok[i], 1, "node %zu", i);
            snprintf(want, sizeof(want), "%s\n", t.nodes[i].host);
            cr_assert_str_eq(t.out[i], want, "node %zu answered from %s", i,
                             t.out[i]);
        } else {
            cr_assert_eq(t.failed[i], 1);
            cr_assert_eq(t.answered[i], 0);
        }
    }
}

Test(sched, reopen_opens_a_new_session)
{
    static struct jt t;
    size_t i;

    memset(&t, 0, sizeof(t));
    t.unreachable_from = JN;
    for (i = 0; i < JN; i++)
        t.reopen_left[i] = i % 2 ? 1 : 0;
    jt_run(&t, &jt_ops, 6);
    for (i = 0; i < JN; i++) {
        cr_assert_eq(t.ready[i], 1 + (int)(i % 2));
        cr_assert_eq(t.ok[i], 1 + (int)(i % 2));
        cr_assert_eq(t.closed[i], 1, "closed is the job's last callback");
    }
}

Test(sched, stop_starts_nothing_new)
{
    static struct jt t;
    size_t i, started = 0;

    memset(&t, 0, sizeof(t));
    t.unreachable_from = JN;
    t.stop_after = 1;
    jt_run(&t, &jt_ops, 2);
    for (i = 0; i < JN; i++) {
        started += (size_t)t.ready[i];
        cr_assert_eq(t.ready[i], t.closed[i]);
    }
    cr_assert_leq(started, 2);
    cr_assert_eq(sched_not_started(&t.s), JN - started);
}

/* With the agent: a request answered, then the runner quits and closes. */
static void
jt_agent_answer(struct agc *a, int status, const struct af_kv *body, void *data)
{
    struct sched_job *j = data;
    struct jt *t = sched_job_data(j);
    size_t i = sched_job_index(j);

    (void)a;
    t->answered[i]++;
    if (status == 0 && af_kv_get(body, "hostname") != NULL)
        t->ok[i]++;
    jt_end(j);
}

static void
jt_agent_ready(struct sched_job *j, struct sess *s, int status)
{
    struct jt *t = sched_job_data(j);
    const char *words[] = {"facts", "/usr/local/Ascend"};

    t->ready[sched_job_index(j)]++;
    if (status < 0) {
        t->failed[sched_job_index(j)]++;
        jt_end(j);
        return;
    }
    agc_request(sess_agc(s), words, 2, NULL, 0, 30000, jt_agent_answer, j);
}

Test(sched, agent_jobs_answer_and_close)
{
    static const struct sched_job_ops ops = {
        .sess_flags = SESS_AGENT,
        .conn_opts = jt_opts,
        .ready = jt_agent_ready,
        .closed = jt_closed,
    };
    static struct jt t;
    size_t i;

    memset(&t, 0, sizeof(t));
    t.unreachable_from = JN - 2;
    jt_run(&t, &ops, 5);
    for (i = 0; i < JN; i++) {
        cr_assert_eq(t.ready[i], 1);
        cr_assert_eq(t.closed[i], 1);
        if ((int)i < t.unreachable_from)
            cr_assert_eq(t.ok[i], 1, "node %zu: no facts", i);
        else
            cr_assert_eq(t.failed[i], 1);
    }
}

/* ---- the rule: a pending request hears of a close exactly once ---- */

struct pc {
    int ready, answers, answer_status, closed;
    uv_timer_t timer;
    struct sess *s;
};

static void
pc_closed(struct sess *s, void *data)
{
    struct pc *t = data;

    (void)s;
    t->closed++;
}

static void
pc_timer(uv_timer_t *tm)
{
    struct pc *t = tm->data;

    /* Not inside any callback of the session: closing is allowed. */
    sess_close(t->s, pc_closed);
    uv_close((uv_handle_t *)tm, NULL);
}

static void
pc_answer(struct agc *a, int status, const struct af_kv *body, void *data)
{
    struct pc *t = data;

    (void)a;
    (void)body;
    t->answers++;
    t->answer_status = status;
}

static void
pc_ready(struct sess *s, int status)
{
    struct pc *t = sess_data(s);
    const char *words[] = {"run", "30", "4096", "sleep", "30"};

    t->ready++;
    cr_assert_eq(status, 0, "%s", sess_error(s));
    agc_request(sess_agc(s), words, 5, NULL, 0, 60000, pc_answer, t);
    cr_assert_eq(t->answers, 0, "answered inside agc_request");
    uv_timer_start(&t->timer, pc_timer, 300, 0);
}

Test(sched, pending_request_is_cancelled_once_on_close)
{
    static struct pc t;
    struct lt_node n;
    uv_loop_t loop;

    memset(&t, 0, sizeof(t));
    lt_init();
    cr_assert_eq(uv_loop_init(&loop), 0);
    cr_assert_eq(uv_timer_init(&loop, &t.timer), 0);
    t.timer.data = &t;
    lt_node(&n, 2, 0);
    t.s = sess_open(&loop, &n.o, SESS_AGENT, &n, pc_ready, &t);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(t.ready, 1);
    cr_assert_eq(t.answers, 1, "request callback fired %d times", t.answers);
    cr_assert_eq(t.answer_status, AF_ECANCELED, "status %d", t.answer_status);
    cr_assert_eq(t.closed, 1);
    cr_assert_eq(uv_loop_close(&loop), 0, "handles left on the loop");
    lt_fini();
}
