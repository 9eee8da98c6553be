/* SPDX-License-Identifier: MIT */
/*
 * The copy engine (see copy.h). Per node, one agent session: "stat" of
 * DEST (is it a directory?), then for each source "stat" of its target
 * and, unless the node holds that content and mode already, a push.
 */
#define _DEFAULT_SOURCE
#include "copy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "af-kv.h"
#include "af-mem.h"
#include "af-sched.h"
#include "agc.h"
#include "fleet.h"
#include "inv.h"
#include "push.h"

struct copy_run {
    struct fleet *fleet;
    const struct copy_opts *o;
    const struct ev_sink *sink;
    struct push_src **src;
    unsigned *mode; /* permission bits of each source */
    int dir;        /* DEST is a directory whatever the node says */
    struct copy_result *res;
    size_t n;
};

/* One node's progress. */
struct copy_job {
    struct sched_job *j;
    struct copy_run *run;
    struct copy_result *r;
    struct agc *agc;
    size_t k; /* source being copied */
    int dir;  /* targets are DEST/<basename> */
    char *target;
    uint64_t t0;
};

const char *
copy_status_str(enum copy_status s)
{
    switch (s) {
    case COPY_OK:
        return EV_OK;
    case COPY_FAILED:
        return EV_FAILED;
    case COPY_UNREACHABLE:
        return EV_UNREACHABLE;
    case COPY_TIMEOUT:
        return EV_TIMEOUT;
    default:
        return "pending";
    }
}

static void
copy_end(struct copy_job *cj, enum copy_status st)
{
    struct ev ev;

    cj->r->status = st;
    cj->r->duration_ms = (int64_t)(sched_now_ms() - cj->t0);
    ev_init(&ev, EV_NODE_END, cj->r->name);
    ev.action = "copy";
    ev.status = copy_status_str(st);
    ev.duration_ms = cj->r->duration_ms;
    ev.bytes = cj->r->bytes;
    ev.reason = cj->r->error[0] ? cj->r->error : NULL;
    ev_emit(cj->run->sink, &ev);
    sched_job_set_user(cj->j, NULL);
    sched_job_done(cj->j);
    free(cj->target);
    free(cj);
}

/* The node's copy failed at its current file: status from the code. */
static void
copy_fail(struct copy_job *cj, int status, const char *why)
{
    snprintf(cj->r->error, sizeof(cj->r->error), "%s -> %s: %s",
             push_src_path(cj->run->src[cj->k]),
             cj->target ? cj->target : cj->run->o->dest, why);
    copy_end(cj, status == AF_ETIMEOUT ? COPY_TIMEOUT : COPY_FAILED);
}

static const char *
copy_why(struct agc *a, int status, const struct af_kv *body)
{
    const char *why = af_kv_get(body, "error");

    return status == AF_EREMOTE && why != NULL ? why : agc_error(a);
}

static void copy_next(struct copy_job *cj);

static void
copy_pushed(int status, const struct push_result *res, void *data)
{
    struct copy_job *cj = data;

    cj->r->bytes += res->sent;
    if (status != 0) {
        copy_fail(cj, status, res->error);
        return;
    }
    cj->r->sent++;
    cj->k++;
    copy_next(cj);
}

/* The target's stat: push unless the node holds this content and mode. */
static void
copy_target_stat(struct agc *a,
                 int status,
                 const struct af_kv *body,
                 void *data)
{
    struct copy_job *cj = data;
    struct push_src *src = cj->run->src[cj->k];
    const char *type = af_kv_get(body, "type");
    const char *sha = af_kv_get(body, "sha256");
    const char *mode = af_kv_get(body, "mode");
    char want[16];

    if (status != 0) {
        copy_fail(cj, status, copy_why(a, status, body));
        return;
    }
    if (type != NULL && strcmp(type, "file") != 0) {
        copy_fail(cj, AF_EREMOTE,
                  strcmp(type, "dir") == 0 ? "the target is a directory"
                                           : "the target is not a file");
        return;
    }
    snprintf(want, sizeof(want), "%o", cj->run->mode[cj->k]);
    if (sha != NULL && mode != NULL && strcmp(sha, push_src_sha(src)) == 0 &&
        strcmp(mode, want) == 0) {
        cj->r->same++;
        cj->k++;
        copy_next(cj);
        return;
    }
    push_start(a, src, cj->target, cj->run->mode[cj->k], cj->run->o->timeout_ms,
               copy_pushed, cj);
}

/* Start on source cj->k, or end the node when every source is there. */
static void
copy_next(struct copy_job *cj)
{
    const struct copy_opts *o = cj->run->o;
    const char *words[2];

    if (cj->k == cj->run->n) {
        copy_end(cj, COPY_OK);
        return;
    }
    free(cj->target);
    if (cj->dir) {
        const char *src = push_src_path(cj->run->src[cj->k]);
        const char *base = strrchr(src, '/');
        size_t dl = strlen(o->dest);

        base = base ? base + 1 : src;
        cj->target = af_asprintf("%s%s%s", o->dest,
                                 dl && o->dest[dl - 1] == '/' ? "" : "/", base);
    } else {
        cj->target = af_strdup(o->dest);
    }
    words[0] = "stat";
    words[1] = cj->target;
    agc_request(cj->agc, words, 2, NULL, 0, o->timeout_ms, copy_target_stat,
                cj);
}

/* DEST's stat, with a single source: a directory takes the basename. */
static void
copy_dest_stat(struct agc *a, int status, const struct af_kv *body, void *data)
{
    struct copy_job *cj = data;
    const char *type = af_kv_get(body, "type");

    if (status != 0) {
        copy_fail(cj, status, copy_why(a, status, body));
        return;
    }
    cj->dir = type != NULL && strcmp(type, "dir") == 0;
    copy_next(cj);
}

static void
copy_conn_opts(void *data, size_t i, struct conn_opts *o, const void **node)
{
    struct copy_run *run = data;
    const struct inv_node *n = fleet_node(run->fleet, i);

    fleet_conn_opts(run->fleet, n, o);
    *node = n;
}

static void
copy_ready(struct sched_job *j, struct sess *s, int status)
{
    struct copy_run *run = sched_job_data(j);
    struct copy_job *cj = af_calloc(1, sizeof(*cj));
    const char *words[2];

    cj->j = j;
    cj->run = run;
    cj->r = &run->res[sched_job_index(j)];
    cj->t0 = sched_now_ms();
    sched_job_set_user(j, cj);
    if (status < 0) {
        snprintf(cj->r->error, sizeof(cj->r->error), "%s", sess_error(s));
        /* Reached (SSH up) but the agent refused or failed: failed. */
        copy_end(cj, sess_timed_out(s)     ? COPY_TIMEOUT
                     : sess_agc(s) != NULL ? COPY_FAILED
                                           : COPY_UNREACHABLE);
        return;
    }
    cj->agc = sess_agc(s);
    cj->dir = run->dir;
    if (cj->dir) {
        copy_next(cj);
        return;
    }
    words[0] = "stat";
    words[1] = run->o->dest;
    agc_request(cj->agc, words, 2, NULL, 0, run->o->timeout_ms, copy_dest_stat,
                cj);
}

/* Open and hash every source; the run's shared, read-only inputs. */
static int
copy_open_srcs(struct copy_run *run, struct af_err *e)
{
    size_t i;
    int r;

    for (i = 0; i < run->n; i++) {
        struct stat sb;

        if ((r = push_src_open(run->o->srcs[i], &run->src[i], e)) != 0)
            return r;
        if (stat(run->o->srcs[i], &sb) != 0)
            return af_err_set(e, AF_EINPUT, "%s: %s", run->o->srcs[i],
                              strerror(errno));
        run->mode[i] = (unsigned)(sb.st_mode & 07777);
    }
    return 0;
}

int
copy_run(struct fleet *f,
         const struct copy_opts *o,
         const struct ev_sink *sink,
         struct copy_run **out,
         struct af_err *e)
{
    static const struct sched_job_ops ops = {
        .sess_flags = SESS_AGENT,
        .conn_opts = copy_conn_opts,
        .ready = copy_ready,
    };
    struct copy_run *run = af_calloc(1, sizeof(*run));
    size_t i, dl = strlen(o->dest);
    int r;

    *out = NULL;
    run->fleet = f;
    run->o = o;
    run->sink = sink;
    run->n = o->nsrcs;
    run->src = af_calloc(o->nsrcs ? o->nsrcs : 1, sizeof(*run->src));
    run->mode = af_calloc(o->nsrcs ? o->nsrcs : 1, sizeof(*run->mode));
    run->res = af_calloc(f->nsel ? f->nsel : 1, sizeof(*run->res));
    run->dir = o->nsrcs > 1 || (dl > 0 && o->dest[dl - 1] == '/');
    if (o->nsrcs == 0 || o->dest[0] != '/') {
        r = af_err_set(e, AF_EINPUT, "%s",
                       o->nsrcs == 0 ? "no file to copy"
                                     : "the destination must be an absolute "
                                       "path on the nodes");
        goto fail;
    }
    if ((r = copy_open_srcs(run, e)) != 0)
        goto fail;
    for (i = 0; i < f->nsel; i++) {
        run->res[i].name = fleet_node(f, i)->name;
        run->res[i].address = fleet_node(f, i)->address;
    }
    if ((r = sched_jobs(NULL, f->loop, f->nsel, o->fanout, &ops, run, e)) != 0)
        goto fail;
    *out = run;
    return 0;
fail:
    copy_run_free(run);
    return r;
}

size_t
copy_run_count(const struct copy_run *r)
{
    return r->fleet->nsel;
}

const struct copy_result *
copy_run_result(const struct copy_run *r, size_t i)
{
    return &r->res[i];
}

void
copy_run_free(struct copy_run *r)
{
    size_t i;

    if (r == NULL)
        return;
    for (i = 0; i < r->n; i++)
        push_src_free(r->src[i]);
    free(r->src);
    free(r->mode);
    free(r->res);
    free(r);
}
