/* SPDX-License-Identifier: MIT */
/* Parallel facts gathering over node sessions. */
#include "facts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "af-err.h"
#include "af-mem.h"
#include "fleet.h"
#include "inv.h"
#include "sess.h"
#include "st.h"

struct facts_run {
    struct fleet *fleet;
    struct fan fan;
    uint64_t timeout_ms;
    struct facts_result *res;
};

struct facts_job {
    struct facts_run *run;
    size_t i;
};

static void
facts_closed(struct sess *s, void *data)
{
    struct facts_job *j = data;

    (void)s;
    fan_job_done(&j->run->fan);
    free(j);
}

static void
facts_answer(struct agc *a, int status, const struct af_kv *body,
             void *data)
{
    struct facts_job *j = data;
    struct facts_result *r = &j->run->res[j->i];
    size_t k;

    r->pushed = agc_pushed(a);
    if (status != 0) {
        r->status = status;
        r->timed_out = status == AF_ETIMEOUT;
        snprintf(r->error, sizeof(r->error), "%s: facts failed: %s",
                 r->name,
                 status == AF_EREMOTE && af_kv_get(body, "error")
                     ? af_kv_get(body, "error")
                     : agc_error(a));
    } else {
        for (k = 0; k < body->n; k++)
            af_kv_add(&r->facts, body->keys[k], body->vals[k]);
    }
}

/*
 * The request callback cannot close the session it runs in, so the close
 * is issued from the answer by a second, trivial request: "quit" is
 * answered after facts, and its callback closes.
 */
static void
facts_quit_answer(struct agc *a, int status, const struct af_kv *body,
                  void *data)
{
    (void)status;
    (void)body;
    (void)a;
    sess_close(data, facts_closed);
}

static void
facts_ready(struct sess *s, int status)
{
    struct facts_job *j = sess_data(s);
    struct facts_result *r = &j->run->res[j->i];
    const char *words[2];

    if (status < 0) {
        r->status = status;
        r->timed_out = sess_timed_out(s);
        snprintf(r->error, sizeof(r->error), "%s", sess_error(s));
        sess_close(s, facts_closed);
        return;
    }
    words[0] = "facts";
    words[1] = sess_node(s)->install_path;
    agc_request(sess_agc(s), words, 2, NULL, 0, j->run->timeout_ms,
                facts_answer, j);
    words[0] = "quit";
    agc_request(sess_agc(s), words, 1, NULL, 0, 10000, facts_quit_answer,
                s);
}

static void
facts_start(struct fan *fan, size_t i, void *data)
{
    struct facts_run *run = data;
    struct facts_job *j = af_calloc(1, sizeof(*j));

    (void)fan;
    j->run = run;
    j->i = i;
    sess_open(run->fleet, fleet_node(run->fleet, i), facts_ready, j);
}

struct facts_result *
facts_gather(struct fleet *f, int fanout, uint64_t timeout_ms)
{
    struct facts_run run;
    size_t i;

    memset(&run, 0, sizeof(run));
    run.fleet = f;
    run.timeout_ms = timeout_ms;
    run.res = af_calloc(f->nsel ? f->nsel : 1, sizeof(*run.res));
    for (i = 0; i < f->nsel; i++) {
        run.res[i].name = fleet_node(f, i)->name;
        run.res[i].address = fleet_node(f, i)->address;
        af_kv_init(&run.res[i].facts);
    }
    fan_run(&run.fan, f->loop, f->nsel, fanout, facts_start, &run);
    return run.res;
}

int
facts_store(struct st *st, const struct facts_result *res, size_t n,
            struct af_err *e)
{
    size_t i;
    int r;

    if ((r = st_begin(st, e)) != 0)
        return r;
    for (i = 0; i < n; i++) {
        if (res[i].status != 0)
            continue;
        if ((r = st_facts_put(st, res[i].name, &res[i].facts, e)) != 0) {
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
    for (i = 0; i < n; i++)
        af_kv_free(&res[i].facts);
    free(res);
}
