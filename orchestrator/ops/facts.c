/* SPDX-License-Identifier: MIT */
/* Parallel facts gathering over node sessions. */
#include "facts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "af-err.h"
#include "af-mem.h"
#include "af-sched.h"
#include "ev.h"
#include "fleet.h"
#include "inv.h"
#include "sess.h"
#include "st.h"

struct facts_run {
    struct fleet *fleet;
    uint64_t timeout_ms;
    struct facts_result *res;
    const struct ev_sink *sink;
    uint64_t *t0;           /* when each node's job started */
    const char *staged_dir; /* also ask "staged <dir>", or NULL */
    int *pending;           /* answers each node's job still waits for */
    size_t keep;            /* sessions still to keep */
};

/*
 * Only sessions reached directly are kept: one behind a jump host holds
 * the jump's shared session open (jump.h), and with it the loop.
 */
static int
facts_direct(const struct facts_run *run, size_t i)
{
    struct conn_opts o;

    fleet_conn_opts(run->fleet, fleet_node(run->fleet, i), &o);
    return o.via == NULL;
}

/* The node's job ends: tell the sink, then free the slot. */
static void
facts_end(struct sched_job *j)
{
    struct facts_run *run = sched_job_data(j);
    size_t i = sched_job_index(j);
    const struct facts_result *r = &run->res[i];
    struct ev ev;
    size_t k;

    if (run->pending[i] > 0 && --run->pending[i] > 0)
        return; /* the staged answer is still to come */
    ev_init(&ev, EV_NODE_END, r->name);
    ev.action = "facts";
    ev.status = r->status == 0 ? EV_OK
                : r->timed_out ? EV_TIMEOUT
                : r->reached   ? EV_FAILED
                               : EV_UNREACHABLE;
    ev.duration_ms = (int64_t)(sched_now_ms() - run->t0[i]);
    run->res[i].duration_ms = ev.duration_ms;
    for (k = 0; k < r->facts.n; k++)
        ev.bytes += strlen(r->facts.keys[k]) + strlen(r->facts.vals[k]) + 2;
    ev.reason = r->status ? r->error : NULL;
    ev_emit(run->sink, &ev);
    if (r->status == 0 && run->keep > 0 && facts_direct(run, i)) {
        run->keep--;
        run->res[i].kept = sched_job_keep(j);
        return;
    }
    sched_job_done(j);
}

static void
facts_conn_opts(void *data, size_t i, struct conn_opts *o, const void **node)
{
    struct facts_run *run = data;
    const struct inv_node *n = fleet_node(run->fleet, i);

    fleet_conn_opts(run->fleet, n, o);
    *node = n;
    run->t0[i] = sched_now_ms();
}

static void
facts_answer(struct agc *a, int status, const struct af_kv *body, void *data)
{
    struct sched_job *j = data;
    struct facts_run *run = sched_job_data(j);
    struct facts_result *r = &run->res[sched_job_index(j)];
    size_t k;

    r->pushed = agc_pushed(a);
    r->reached = 1;
    if (status != 0) {
        r->status = status;
        r->timed_out = status == AF_ETIMEOUT;
        snprintf(r->error, sizeof(r->error), "%s: facts failed: %s", r->name,
                 status == AF_EREMOTE && af_kv_get(body, "error")
                     ? af_kv_get(body, "error")
                     : agc_error(a));
    } else {
        for (k = 0; k < body->n; k++)
            af_kv_add(&r->facts, body->keys[k], body->vals[k]);
    }
    facts_end(j);
}

/* "staged": n, name.I, sha256.I (see af-proto.h). */
static void
facts_staged_answer(struct agc *a,
                    int status,
                    const struct af_kv *body,
                    void *data)
{
    struct sched_job *j = data;
    struct facts_run *run = sched_job_data(j);
    struct facts_result *r = &run->res[sched_job_index(j)];
    const char *nv = af_kv_get(body, "n");
    long i, n = status == 0 && nv != NULL ? atol(nv) : 0;

    (void)a;
    for (i = 0; i < n; i++) {
        char kn[32], ks[32];
        const char *name, *sha;

        snprintf(kn, sizeof(kn), "name.%ld", i);
        snprintf(ks, sizeof(ks), "sha256.%ld", i);
        name = af_kv_get(body, kn);
        sha = af_kv_get(body, ks);
        if (name != NULL && sha != NULL)
            af_kv_add(&r->staged, name, sha);
    }
    facts_end(j);
}

static void
facts_ready(struct sched_job *j, struct sess *s, int status)
{
    struct facts_run *run = sched_job_data(j);
    struct facts_result *r = &run->res[sched_job_index(j)];
    const struct inv_node *n = sess_node(s);
    const char *words[2];

    if (status < 0) {
        r->status = status;
        r->timed_out = sess_timed_out(s);
        /* The agent client exists once the SSH session was up. */
        r->reached = sess_agc(s) != NULL;
        snprintf(r->error, sizeof(r->error), "%s", sess_error(s));
        facts_end(j);
        return;
    }
    if (sess_hostkey(s) != NULL)
        snprintf(r->host_key, sizeof(r->host_key), "%s", sess_hostkey(s));
    words[0] = "facts";
    words[1] = n->install_path;
    if (run->staged_dir != NULL)
        run->pending[sched_job_index(j)] = 2;
    agc_request(sess_agc(s), words, 2, NULL, 0, run->timeout_ms, facts_answer,
                j);
    if (run->staged_dir != NULL) {
        /* Pipelined: the agent answers it right after the facts. */
        words[0] = "staged";
        words[1] = run->staged_dir;
        agc_request(sess_agc(s), words, 2, NULL, 0, run->timeout_ms,
                    facts_staged_answer, j);
    }
}

struct facts_result *
facts_gather(struct fleet *f, int fanout, uint64_t timeout_ms)
{
    return facts_gather_ev(f, fanout, timeout_ms, NULL);
}

static struct facts_result *facts_gather_run(struct fleet *f,
                                             int fanout,
                                             uint64_t timeout_ms,
                                             const struct ev_sink *sink,
                                             const char *staged_dir,
                                             size_t keep);

struct facts_result *
facts_gather_ev(struct fleet *f,
                int fanout,
                uint64_t timeout_ms,
                const struct ev_sink *sink)
{
    return facts_gather_run(f, fanout, timeout_ms, sink, NULL, 0);
}

struct facts_result *
facts_gather_staged(struct fleet *f,
                    int fanout,
                    uint64_t timeout_ms,
                    const char *dir,
                    size_t max_keep)
{
    return facts_gather_run(f, fanout, timeout_ms, NULL, dir, max_keep);
}

static struct facts_result *
facts_gather_run(struct fleet *f,
                 int fanout,
                 uint64_t timeout_ms,
                 const struct ev_sink *sink,
                 const char *staged_dir,
                 size_t keep)
{
    static const struct sched_job_ops ops = {
        .sess_flags = SESS_AGENT,
        .conn_opts = facts_conn_opts,
        .ready = facts_ready,
    };
    struct facts_run run;
    struct af_err e;
    size_t i;

    memset(&run, 0, sizeof(run));
    run.fleet = f;
    run.timeout_ms = timeout_ms;
    run.sink = sink;
    run.staged_dir = staged_dir;
    run.pending = af_calloc(f->nsel ? f->nsel : 1, sizeof(*run.pending));
    run.keep = keep;
    run.t0 = af_calloc(f->nsel ? f->nsel : 1, sizeof(*run.t0));
    run.res = af_calloc(f->nsel ? f->nsel : 1, sizeof(*run.res));
    for (i = 0; i < f->nsel; i++) {
        run.res[i].name = fleet_node(f, i)->name;
        run.res[i].address = fleet_node(f, i)->address;
        af_kv_init(&run.res[i].facts);
        af_kv_init(&run.res[i].staged);
    }
    if (sched_jobs(NULL, f->loop, f->nsel, fanout, &ops, &run, &e) != 0) {
        for (i = 0; i < f->nsel; i++) {
            run.res[i].status = e.code;
            snprintf(run.res[i].error, sizeof(run.res[i].error), "%s", e.msg);
        }
    }
    free(run.t0);
    free(run.pending);
    return run.res;
}

int
facts_store(struct st *st,
            const struct facts_result *res,
            size_t n,
            struct af_err *e)
{
    size_t i;
    int r;

    if ((r = st_begin(st, e)) != 0)
        return r;
    for (i = 0; i < n; i++) {
        struct st_ident id = {res[i].address,
                              res[i].host_key[0] ? res[i].host_key : NULL};

        if (res[i].status != 0)
            continue;
        if ((r = st_facts_put(st, res[i].name, &res[i].facts, e)) != 0 ||
            (r = st_facts_set_ident(st, res[i].name, &id, e)) != 0) {
            st_rollback(st, NULL);
            return r;
        }
    }
    return st_commit(st, e);
}

void
facts_results_free(struct facts_result *res, size_t n)
{
    size_t i;

    if (res == NULL)
        return;
    for (i = 0; i < n; i++) {
        af_kv_free(&res[i].facts);
        af_kv_free(&res[i].staged);
    }
    free(res);
}
