/* SPDX-License-Identifier: MIT */
/* The bounded window and the per-node job runner (see af-sched.h). */
#define _DEFAULT_SOURCE
#include "af-sched.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "af-mem.h"
#include "probe.h"

#define SCHED_QUIT_TIMEOUT_MS 10000
#define SCHED_PROBE_MIN_MS    200
#define SCHED_PROBE_MAX_MS    500
#define SCHED_PROBE_TIMEOUT   2000

struct sched_job {
    struct sched *s;
    const struct sched_job_ops *ops;
    void *data;
    void *user;
    size_t i;
    struct conn_opts opts;
    const void *node;
    struct sess *sess;
    struct sched_job *next_closing;
    int done;   /* sched_job_done was called */
    int reopen; /* a reopen is pending (SCHED_REOPEN_*) */
    uint64_t probe_t0, probe_until, probe_grace, probe_every;
    int probe_seen_down; /* a probe was refused since the reopen */
    int quit_sent;       /* the agent was asked to quit */
    uint64_t delay_ms;
    uv_timer_t timer;
    int timer_inited;
};

uint64_t
sched_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sched_job_close_now(struct sched_job *j);

enum {
    SCHED_REOPEN_NONE,
    SCHED_REOPEN_DELAY, /* open again after delay_ms */
    SCHED_REOPEN_PROBE, /* open again once a TCP probe is accepted */
};

static int
sched_has_work(const struct sched *s)
{
    return s->closing != NULL ||
           (!s->stopped && s->next < s->n && s->inflight < s->window);
}

/*
 * Closes and starts run from an idle handle, never from the caller of
 * sched_job_done or sched_slot_done (rule 1 and 3 of af-sched.h).
 */
static void
sched_idle_cb(uv_idle_t *h)
{
    struct sched *s = h->data;
    struct sched_job *list = s->closing, *j;
    int burst;

    s->closing = NULL;
    while ((j = list) != NULL) {
        list = j->next_closing;
        j->next_closing = NULL;
        sched_job_close_now(j);
    }
    burst = s->burst != NULL && !s->stopped && s->next < s->n &&
            s->inflight < s->window;
    if (burst)
        s->burst(s->data, 1);
    while (!s->stopped && s->next < s->n && s->inflight < s->window) {
        size_t i = s->next++;

        s->inflight++;
        s->start(s, i, s->data);
    }
    if (burst)
        s->burst(s->data, 0);
    if (!sched_has_work(s)) {
        uv_idle_stop(&s->idle);
        s->idle_active = 0;
    }
}

static void
sched_kick(struct sched *s)
{
    if (s->idle_active || !sched_has_work(s))
        return;
    s->idle_active = 1;
    uv_idle_start(&s->idle, sched_idle_cb);
}

void
sched_slot_done(struct sched *s)
{
    s->inflight--;
    s->done++;
    sched_kick(s);
}

void
sched_stop(struct sched *s)
{
    s->stopped = 1;
}

size_t
sched_not_started(const struct sched *s)
{
    return s->n - s->next;
}

static int
sched_run_burst(struct sched *s,
                uv_loop_t *loop,
                size_t n,
                int window,
                sched_start_cb start,
                void *data,
                void (*burst)(void *, int),
                struct af_err *e)
{
    int r;

    memset(s, 0, sizeof(*s));
    s->burst = burst;
    s->loop = loop;
    s->n = n;
    s->window = window > 0 ? (size_t)window : 1;
    s->start = start;
    s->data = data;
    if ((r = uv_idle_init(loop, &s->idle)) != 0)
        return af_err_set(e, r, "cannot set up the scheduler: %s",
                          uv_strerror(r));
    s->idle.data = s;
    sched_kick(s);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&s->idle, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    return 0;
}

int
sched_run(struct sched *s,
          uv_loop_t *loop,
          size_t n,
          int window,
          sched_start_cb start,
          void *data,
          struct af_err *e)
{
    return sched_run_burst(s, loop, n, window, start, data, NULL, e);
}

/* ---- jobs ---- */

struct sched_jobs_run {
    const struct sched_job_ops *ops;
    void *data;
};

static void
sched_jobs_burst(void *data, int begin)
{
    struct sched_jobs_run *run = data;

    run->ops->burst(run->data, begin);
}

static void
sched_job_sess_ready(struct sess *sess, int status)
{
    struct sched_job *j = sess_data(sess);

    j->ops->ready(j, sess, status);
}

static void
sched_job_open(struct sched_job *j)
{
    j->sess = sess_open(j->s->loop, &j->opts, j->ops->sess_flags, j->node,
                        sched_job_sess_ready, j);
}

static void
sched_job_start(struct sched *s, size_t i, void *data)
{
    struct sched_jobs_run *run = data;
    struct sched_job *j = af_calloc(1, sizeof(*j));
    struct sess *sess;

    j->s = s;
    j->ops = run->ops;
    j->data = run->data;
    j->i = i;
    run->ops->conn_opts(run->data, i, &j->opts, &j->node);
    if (run->ops->take != NULL &&
        (sess = run->ops->take(run->data, i)) != NULL) {
        /* Adopted: called from the idle handle, so ready may run now. */
        j->sess = sess;
        sess_set_ref(sess, 1);
        sess_rebind(sess, sched_job_sess_ready, j);
        if (sess_reported(sess))
            j->ops->ready(j, sess, sess_status(sess));
        return;
    }
    sched_job_open(j);
}

static void
sched_job_timer_closed(uv_handle_t *h)
{
    struct sched_job *j = h->data;
    struct sched *s = j->s;

    free(j);
    sched_slot_done(s);
}

static void
sched_job_free(struct sched_job *j)
{
    struct sched *s = j->s;

    if (j->ops->closed != NULL)
        j->ops->closed(j);
    if (j->timer_inited) {
        uv_close((uv_handle_t *)&j->timer, sched_job_timer_closed);
        return;
    }
    free(j);
    sched_slot_done(s);
}

static void
sched_job_timer_cb(uv_timer_t *t)
{
    struct sched_job *j = t->data;

    sched_job_open(j);
}

static void sched_job_probe_tick(uv_timer_t *t);

static void
sched_job_probe_done(void *data, int status)
{
    struct sched_job *j = data;
    uint64_t now = uv_now(j->s->loop);

    if (status == 0 &&
        (j->probe_seen_down || now >= j->probe_t0 + j->probe_grace)) {
        sched_job_open(j);
        return;
    }
    if (status != 0)
        j->probe_seen_down = 1;
    uv_timer_start(&j->timer, sched_job_probe_tick, j->probe_every, 0);
    j->probe_every += j->probe_every / 2;
    if (j->probe_every > SCHED_PROBE_MAX_MS)
        j->probe_every = SCHED_PROBE_MAX_MS;
}

static void
sched_job_probe_tick(uv_timer_t *t)
{
    struct sched_job *j = t->data;
    uint64_t tmo = j->opts.connect_timeout_ms;

    if (j->s->stopped || uv_now(j->s->loop) >= j->probe_until) {
        sched_job_open(j); /* ready says how the node is */
        return;
    }
    if (tmo == 0 || tmo > SCHED_PROBE_TIMEOUT)
        tmo = SCHED_PROBE_TIMEOUT;
    if (probe_tcp(j->s->loop, &j->opts, tmo, sched_job_probe_done, j) != 0)
        sched_job_open(j);
}

static void
sched_job_sess_closed(struct sess *sess, void *data)
{
    struct sched_job *j = data;
    int mode;

    (void)sess;
    j->sess = NULL;
    if (j->done || !j->reopen) {
        sched_job_free(j);
        return;
    }
    mode = j->reopen;
    j->reopen = SCHED_REOPEN_NONE;
    j->quit_sent = 0;
    if (!j->timer_inited) {
        if (uv_timer_init(j->s->loop, &j->timer) != 0) {
            sched_job_open(j); /* no timer: reconnect at once */
            return;
        }
        j->timer_inited = 1;
        j->timer.data = j;
    }
    if (mode == SCHED_REOPEN_PROBE) {
        j->probe_t0 = uv_now(j->s->loop);
        j->probe_seen_down = 0;
        j->probe_every = SCHED_PROBE_MIN_MS;
        uv_timer_start(&j->timer, sched_job_probe_tick, j->delay_ms, 0);
        return;
    }
    uv_timer_start(&j->timer, sched_job_timer_cb, j->delay_ms, 0);
}

static void
sched_job_queue_close(struct sched_job *j)
{
    j->next_closing = j->s->closing;
    j->s->closing = j;
    sched_kick(j->s);
}

static void
sched_job_quit_answer(struct agc *a,
                      int status,
                      const struct af_kv *body,
                      void *data)
{
    (void)a;
    (void)status;
    (void)body;
    sched_job_queue_close(data);
}

static void
sched_job_close_now(struct sched_job *j)
{
    struct sess *sess = j->sess;

    if (sess == NULL) { /* kept by the caller (sched_job_keep) */
        sched_job_free(j);
        return;
    }
    if (!j->quit_sent && sess_ready(sess) && sess_agc(sess) != NULL) {
        static const char *const quit[] = {"quit"};

        j->quit_sent = 1;
        agc_request(sess_agc(sess), quit, 1, NULL, 0, SCHED_QUIT_TIMEOUT_MS,
                    sched_job_quit_answer, j);
        return;
    }
    sess_close(sess, sched_job_sess_closed);
}

void
sched_job_done(struct sched_job *j)
{
    if (j->done)
        abort(); /* a job ends exactly once (rule 3) */
    j->done = 1;
    sched_job_queue_close(j);
}

void
sched_job_reopen(struct sched_job *j, uint64_t delay_ms)
{
    j->reopen = SCHED_REOPEN_DELAY;
    j->delay_ms = delay_ms;
    sched_job_queue_close(j);
}

void
sched_job_reopen_probe(struct sched_job *j,
                       uint64_t first_ms,
                       uint64_t max_wait_ms,
                       uint64_t down_grace_ms)
{
    if (!probe_possible(&j->opts)) {
        sched_job_reopen(j, first_ms);
        return;
    }
    j->reopen = SCHED_REOPEN_PROBE;
    j->delay_ms = first_ms;
    j->probe_until = uv_now(j->s->loop) + max_wait_ms;
    j->probe_grace = down_grace_ms;
    sched_job_queue_close(j);
}

struct sess *
sched_job_keep(struct sched_job *j)
{
    struct sess *sess = j->sess;

    if (j->done || sess == NULL || !sess_ready(sess))
        abort(); /* a job ends exactly once, and only a ready one is kept */
    sess_rebind(sess, NULL, NULL);
    sess_set_ref(sess, 0); /* idle: the loop may run dry without it */
    j->sess = NULL;
    j->done = 1;
    sched_job_queue_close(j);
    return sess;
}

int
sched_jobs(struct sched *s,
           uv_loop_t *loop,
           size_t n,
           int window,
           const struct sched_job_ops *ops,
           void *data,
           struct af_err *e)
{
    struct sched local;
    struct sched_jobs_run run;

    run.ops = ops;
    run.data = data;
    return sched_run_burst(s != NULL ? s : &local, loop, n, window,
                           sched_job_start, &run,
                           ops->burst != NULL ? sched_jobs_burst : NULL, e);
}

size_t
sched_job_index(const struct sched_job *j)
{
    return j->i;
}

void *
sched_job_data(const struct sched_job *j)
{
    return j->data;
}

struct sess *
sched_job_sess(const struct sched_job *j)
{
    return j->sess;
}

void *
sched_job_user(const struct sched_job *j)
{
    return j->user;
}

void
sched_job_set_user(struct sched_job *j, void *user)
{
    j->user = user;
}
