/* SPDX-License-Identifier: MIT */
/* The exec engine on the scheduler (see exec.h). */
#include "exec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "af-buf.h"
#include "af-err.h"
#include "af-mem.h"
#include "af-sched.h"
#include "exec-store.h"
#include "fleet.h"
#include "inv.h"

static const char *const exec_status_names[] = {
    "pending", "ok", "failed", "unreachable", "timeout",
};

const char *
exec_status_str(enum exec_status s)
{
    return exec_status_names[s];
}

/* ---- the run ---- */

struct exec_run {
    struct fleet *fleet;
    const struct exec_opts *o;
    const struct ev_sink *sink;
    struct exec_result *res;
    size_t n;
    struct exec_store store;
};

/* What one node's job holds while its command runs. */
struct exec_job {
    struct af_buf out[2];  /* capped at max_output */
    struct af_buf line[2]; /* partial line, with o->lines */
    uint64_t t0;
};

static void
exec_conn_opts(void *data, size_t i, struct conn_opts *o, const void **node)
{
    struct exec_run *run = data;
    const struct inv_node *n = fleet_node(run->fleet, i);

    fleet_conn_opts(run->fleet, n, o);
    *node = n;
}

static void
exec_emit_line(
    struct exec_run *run, size_t i, int stream, const char *p, size_t n)
{
    struct ev ev;

    ev_init(&ev, EV_OUTPUT, run->res[i].name);
    ev.action = "exec";
    ev.stream = stream;
    ev.data = p;
    ev.len = n;
    ev.bytes = n;
    ev_emit(run->sink, &ev);
}

/* With o->lines: emit every complete line; keep the rest for later. */
static void
exec_lines(struct exec_run *run,
           size_t i,
           struct exec_job *ej,
           int stream,
           const char *p,
           size_t n,
           int flush)
{
    struct af_buf *l = &ej->line[stream];
    size_t start = 0, k;

    for (k = 0; k < n; k++) {
        if (p[k] != '\n')
            continue;
        if (l->len) {
            af_buf_append(l, p + start, k - start);
            exec_emit_line(run, i, stream, l->data, l->len);
            af_buf_reset(l);
        } else {
            exec_emit_line(run, i, stream, p + start, k - start);
        }
        start = k + 1;
    }
    af_buf_append(l, p + start, n - start);
    /* A line longer than the cap is cut into pieces. */
    if (l->len && (flush || l->truncated)) {
        exec_emit_line(run, i, stream, l->data, l->len);
        af_buf_reset(l);
        l->truncated = 0;
    }
}

static void
exec_data(struct chan *ch, int stream, const char *p, size_t n)
{
    struct sched_job *j = chan_data(ch);
    struct exec_run *run = sched_job_data(j);
    struct exec_job *ej = sched_job_user(j);

    stream = stream ? 1 : 0;
    af_buf_append(&ej->out[stream], p, n);
    if (run->o->lines)
        exec_lines(run, sched_job_index(j), ej, stream, p, n, 0);
}

static void
exec_end(struct sched_job *j, struct exec_job *ej)
{
    struct exec_run *run = sched_job_data(j);
    size_t i = sched_job_index(j);
    struct exec_result *r = &run->res[i];
    struct ev ev;
    int s;

    for (s = 0; s < 2; s++) {
        const char *p = ej ? ej->out[s].data : NULL;
        size_t n = ej ? ej->out[s].len : 0;
        const struct exec_blob *b =
            exec_store_intern(&run->store, p ? p : "", n);

        if (s == 0)
            r->out = b;
        else
            r->err = b;
        if (ej && run->o->lines)
            exec_lines(run, i, ej, s, "", 0, 1);
        if (ej) {
            r->truncated |= ej->out[s].truncated;
            af_buf_free(&ej->out[s]);
            af_buf_free(&ej->line[s]);
        }
    }
    r->duration_ms = ej ? (int64_t)(sched_now_ms() - ej->t0) : 0;
    free(ej);
    sched_job_set_user(j, NULL);
    ev_init(&ev, EV_NODE_END, r->name);
    ev.action = "exec";
    ev.status = exec_status_str(r->status);
    ev.exit_code = r->exit_code;
    ev.duration_ms = r->duration_ms;
    ev.bytes = r->out->len + r->err->len;
    ev.reason = r->msg;
    ev_emit(run->sink, &ev);
    sched_job_done(j);
}

static void
exec_chan_done(struct chan *ch, int status)
{
    struct sched_job *j = chan_data(ch);
    struct exec_run *run = sched_job_data(j);
    struct exec_result *r = &run->res[sched_job_index(j)];
    struct exec_job *ej = sched_job_user(j);

    if (status == AF_ETIMEOUT) {
        r->status = EXEC_TIMEOUT;
        r->msg = af_asprintf(
            "%s: command timed out after %d s", r->name,
            run->o->timeout_s
                ? run->o->timeout_s
                : fleet_node(run->fleet, sched_job_index(j))->command_timeout);
    } else if (status < 0) {
        r->status = EXEC_UNREACHABLE;
        r->msg = af_strdup(chan_error(ch));
    } else {
        r->exit_code = chan_exit_code(ch);
        if (chan_exit_signal(ch) != NULL)
            r->signal = af_strdup(chan_exit_signal(ch));
        r->status =
            r->exit_code == 0 && r->signal == NULL ? EXEC_OK : EXEC_FAILED;
    }
    exec_end(j, ej);
}

static void
exec_ready(struct sched_job *j, struct sess *s, int status)
{
    struct exec_run *run = sched_job_data(j);
    size_t i = sched_job_index(j);
    struct exec_result *r = &run->res[i];
    struct exec_job *ej;
    struct chan *ch;
    uint64_t timeout_ms;
    int k;

    if (status < 0) {
        r->status = sess_timed_out(s) ? EXEC_TIMEOUT : EXEC_UNREACHABLE;
        r->msg = af_strdup(sess_error(s));
        exec_end(j, NULL);
        return;
    }
    ej = af_calloc(1, sizeof(*ej));
    for (k = 0; k < 2; k++) {
        af_buf_init(&ej->out[k], run->o->max_output);
        af_buf_init(&ej->line[k], run->o->max_output);
    }
    ej->t0 = sched_now_ms();
    sched_job_set_user(j, ej);
    timeout_ms = (uint64_t)(run->o->timeout_s
                                ? run->o->timeout_s
                                : fleet_node(run->fleet, i)->command_timeout) *
                 1000;
    ch = chan_exec(sess_conn(s), run->o->command, timeout_ms, 0, exec_data,
                   exec_chan_done, j);
    /* The remote stdin gets the operator's bytes (if any), then EOF. */
    if (run->o->stdin_data != NULL && run->o->stdin_len > 0)
        chan_write_ref(ch, run->o->stdin_data, run->o->stdin_len);
    chan_send_eof(ch);
}

static const struct sched_job_ops exec_job_ops = {
    .sess_flags = 0,
    .conn_opts = exec_conn_opts,
    .ready = exec_ready,
};

int
exec_run(struct fleet *f,
         const struct exec_opts *o,
         const struct ev_sink *sink,
         struct exec_run **out,
         struct af_err *e)
{
    struct exec_run *run;
    size_t i;
    int r;

    *out = NULL;
    if (o->max_output < EXEC_MAX_OUTPUT_MIN ||
        o->max_output > EXEC_MAX_OUTPUT_MAX)
        return af_err_set(e, AF_EINPUT,
                          "--max-output must be 1 B to 64 MiB, not %zu",
                          o->max_output);
    run = af_calloc(1, sizeof(*run));
    run->fleet = f;
    run->o = o;
    run->sink = sink;
    run->n = f->nsel;
    run->res = af_calloc(run->n ? run->n : 1, sizeof(*run->res));
    for (i = 0; i < run->n; i++) {
        run->res[i].name = fleet_node(f, i)->name;
        run->res[i].address = fleet_node(f, i)->address;
        run->res[i].exit_code = -1;
    }
    r = sched_jobs(NULL, f->loop, run->n, o->fanout, &exec_job_ops, run, e);
    /* Nodes never started still get (empty) outputs. */
    for (i = 0; i < run->n; i++) {
        if (run->res[i].out == NULL)
            run->res[i].out = exec_store_intern(&run->store, "", 0);
        if (run->res[i].err == NULL)
            run->res[i].err = exec_store_intern(&run->store, "", 0);
    }
    if (r != 0) {
        exec_run_free(run);
        return r;
    }
    *out = run;
    return 0;
}

size_t
exec_run_count(const struct exec_run *r)
{
    return r->n;
}

const struct exec_result *
exec_run_result(const struct exec_run *r, size_t i)
{
    return &r->res[i];
}

size_t
exec_run_blobs(const struct exec_run *r)
{
    return r->store.n;
}

void
exec_run_free(struct exec_run *r)
{
    size_t i;

    if (r == NULL)
        return;
    for (i = 0; i < r->n; i++) {
        free(r->res[i].msg);
        free(r->res[i].signal);
    }
    free(r->res);
    exec_store_free(&r->store);
    free(r);
}
