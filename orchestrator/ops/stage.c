/* SPDX-License-Identifier: MIT */
/* Pre-staging of packages on nodes (see stage.h). */
#define _GNU_SOURCE
#include "stage.h"

#include <dirent.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "af-mem.h"
#include "af-sched.h"
#include "agc.h"
#include "fleet.h"
#include "inv.h"
#include "pb.h"
#include "push.h"
#include "rate.h"
#include "relay.h"
#include "rollout.h"
#include "sess.h"
#include "st-stage.h"

static const char *const stage_arches[] = {"x86_64", "aarch64"};
#define STAGE_NARCH 2
/*
 * The node's agent checkpoints its partial every 64 MiB (agent/ag-put.h,
 * AG_PUT_SYNC), and at most an SSH window plus the agent client's queue
 * (a few MiB; STAGE_INFLIGHT with room to spare) of what was handed on
 * has not reached it. So offset + what was sent, less STAGE_INFLIGHT,
 * rounded down to a checkpoint, is a lower bound of what the node holds
 * verified, even when it is cut off without a goodbye.
 */
#define STAGE_CHECKPOINT (64ULL * 1024 * 1024)
#define STAGE_INFLIGHT   (16ULL * 1024 * 1024)
/* At most one progress write per node and this many milliseconds. */
#define STAGE_RECORD_MS 1000

struct stage_pkg {
    char *name;
    struct push_src *src;
    char *stage;           /* the first stage that uses it */
    char *version;         /* read from its name, or NULL */
    int arch[STAGE_NARCH]; /* needed by nodes of that architecture */
};

struct stage_run;

struct stage_job {
    struct stage_run *run;
    struct sched_job *sj; /* the runner's job: ended with sched_job_done */
    struct sess *s;
    size_t node;
    int arch;    /* index in stage_arches, -1 unknown */
    size_t next; /* next package index to consider */
    int failed;
    int64_t recorded;      /* the state file's bytes before this push */
    uint64_t rec_verified; /* last bytes recorded for the current push */
    uint64_t rec_ms;       /* when */
    char rec_err[AF_ERR_MSG_LEN + 64]; /* a failed state write */
};

struct stage_run {
    struct fleet *f;
    struct stage_pkg *pkgs;
    size_t npkgs;
    struct stage_job *jobs;
    stage_item_cb cb;
    void *data;
    struct stage_summary *sum;
    struct st *st;
    struct rate *rate;
    struct relay *relay; /* rack gateways, or NULL */
};

static uint64_t
stage_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
stage_report(struct stage_job *j, const struct stage_item *it)
{
    struct stage_run *run = j->run;

    if (it->status != 0 && !j->failed) {
        j->failed = 1;
        run->sum->nodes_failed++;
    }
    run->sum->bytes_sent += it->sent;
    run->cb(it, run->data);
}

static void stage_next(struct stage_job *j);

static const char *
stage_node_name(const struct stage_job *j)
{
    return ((const struct inv_node *)sess_node(j->s))->name;
}

/*
 * Record what the node holds of the current package. Returns 0, or the
 * state file's code with the reason in j->rec_err.
 */
static int
stage_record(struct stage_job *j,
             enum st_stage_state state,
             uint64_t verified,
             const char *reason)
{
    const struct stage_pkg *p = &j->run->pkgs[j->next];
    struct st_stage row;
    struct af_err e = {0, ""};
    int r;

    if (j->run->st == NULL)
        return 0;
    memset(&row, 0, sizeof(row));
    row.node = af_strdup(stage_node_name(j));
    row.package = af_strdup(p->name);
    row.sha256 = af_strdup(push_src_sha(p->src));
    row.size = push_src_size(p->src);
    row.stage = p->stage ? af_strdup(p->stage) : NULL;
    row.version = p->version ? af_strdup(p->version) : NULL;
    row.verified = verified;
    row.state = state;
    row.reason = reason && *reason ? af_strdup(reason) : NULL;
    if ((r = st_stage_put(j->run->st, &row, &e)) != 0)
        snprintf(j->rec_err, sizeof(j->rec_err),
                 "cannot record it in the state file: %s", e.msg);
    st_stage_clear(&row);
    j->rec_verified = verified;
    j->rec_ms = stage_now_ms();
    return r;
}

/* What the state file said before this push (-1: nothing). */
static int64_t
stage_recorded(struct stage_job *j)
{
    const struct stage_pkg *p = &j->run->pkgs[j->next];
    struct st_stage row;
    int64_t v = -1;

    if (j->run->st != NULL && st_stage_get(j->run->st, stage_node_name(j),
                                           p->name, &row, NULL) == 0) {
        if (strcmp(row.sha256, push_src_sha(p->src)) == 0)
            v = (int64_t)row.verified;
        st_stage_clear(&row);
    }
    return v;
}

/* The push's progress: the node's answer first, then a lower bound. */
static int
stage_progress(const struct push_result *r, void *data)
{
    struct stage_job *j = data;
    uint64_t lb = r->offset, now = stage_now_ms();

    if (r->sent == 0)
        return stage_record(j, ST_STAGE_PARTIAL, r->offset, NULL);
    if (r->sent > STAGE_INFLIGHT)
        lb += (r->sent - STAGE_INFLIGHT) / STAGE_CHECKPOINT * STAGE_CHECKPOINT;
    if (lb <= j->rec_verified || now - j->rec_ms < STAGE_RECORD_MS)
        return 0;
    return stage_record(j, ST_STAGE_PARTIAL, lb, NULL);
}

static void
stage_relayed(int status,
              const struct push_result *r,
              const struct relay_result *rr,
              void *data)
{
    struct stage_job *j = data;
    struct stage_pkg *p = &j->run->pkgs[j->next];
    struct stage_item it;
    int w = 0;

    memset(&it, 0, sizeof(it));
    it.node = stage_node_name(j);
    it.package = p->name;
    it.size = r->size;
    it.sent = r->sent;
    it.offset = r->offset;
    it.recorded = j->recorded;
    it.duration_ms = r->duration_ms;
    it.status = status;
    it.error = r->error;
    if (j->rec_err[0] != '\0') {
        it.status = status != 0 ? status : AF_EDB;
        it.error = j->rec_err;
    } else if (status == 0) {
        w = stage_record(j, ST_STAGE_STAGED, r->size, NULL);
    } else {
        /* Cut off: the node keeps its verified partial for next time. */
        int cut = status != AF_EREMOTE && status != AF_EINPUT;

        w = stage_record(j, cut ? ST_STAGE_PARTIAL : ST_STAGE_FAILED,
                         cut ? j->rec_verified : 0, r->error);
    }
    if (w != 0) {
        it.status = w;
        it.error = j->rec_err;
    }
    if (rr != NULL) {
        it.via = rr->via;
        it.relay_error = rr->relay_error;
        it.received = rr->received;
        j->run->sum->bytes_relayed += rr->received;
    }
    stage_report(j, &it);
    j->next++;
    if (w != 0 || j->rec_err[0] != '\0' ||
        (status != 0 && status != AF_EREMOTE && status != AF_EINPUT)) {
        sched_job_done(j->sj); /* the session is gone, or the state file */
        return;
    }
    stage_next(j);
}

static void
stage_pushed(int status, const struct push_result *r, void *data)
{
    stage_relayed(status, r, NULL, data);
}

static void
stage_stat_answer(struct agc *a,
                  int status,
                  const struct af_kv *body,
                  void *data)
{
    struct stage_job *j = data;
    struct stage_pkg *p = &j->run->pkgs[j->next];
    const char *sha = af_kv_get(body, "sha256");
    struct push_opts po = {j->run->rate, stage_progress};
    char *dest;

    if (status == 0 && sha != NULL && strcmp(sha, push_src_sha(p->src)) == 0) {
        struct stage_item it;

        memset(&it, 0, sizeof(it));
        it.node = stage_node_name(j);
        it.package = p->name;
        it.size = push_src_size(p->src);
        it.already = 1;
        it.recorded = -1;
        it.error = "";
        if (stage_record(j, ST_STAGE_STAGED, it.size, NULL) != 0) {
            it.status = AF_EDB;
            it.error = j->rec_err;
        }
        stage_report(j, &it);
        j->next++;
        if (it.status != 0)
            sched_job_done(j->sj);
        else
            stage_next(j);
        return;
    }
    j->recorded = stage_recorded(j);
    j->rec_verified = 0;
    j->rec_ms = 0;
    if (relay_serves(j->run->relay, j->node, j->next)) {
        relay_deliver(j->run->relay, j->node, j->next, a, 30 * 60 * 1000,
                      stage_relayed, j);
        return;
    }
    dest = af_asprintf("%s/%s", STAGE_REMOTE_DIR, p->name);
    push_start_opt(a, p->src, dest, 0600, 30 * 60 * 1000, &po, stage_pushed, j);
    free(dest);
}

/* Go on with the node's next package, or end its session. */
static void
stage_next(struct stage_job *j)
{
    struct stage_run *run = j->run;

    while (j->next < run->npkgs &&
           (j->arch < 0 || !run->pkgs[j->next].arch[j->arch]))
        j->next++;
    if (j->next == run->npkgs) {
        sched_job_done(j->sj);
        return;
    }
    {
        char *dest =
            af_asprintf("%s/%s", STAGE_REMOTE_DIR, run->pkgs[j->next].name);
        const char *words[2] = {"stat", dest};

        agc_request(sess_agc(j->s), words, 2, NULL, 0, 0, stage_stat_answer, j);
        free(dest);
    }
}

static void
stage_ready(struct sched_job *sj, struct sess *s, int status)
{
    struct stage_run *run = sched_job_data(sj);
    struct stage_job *j = &run->jobs[sched_job_index(sj)];
    const char *arch = status == 0 ? agc_arch(sess_agc(s)) : "";
    size_t i;

    j->arch = -1;
    for (i = 0; i < STAGE_NARCH; i++)
        if (strcmp(arch, stage_arches[i]) == 0 ||
            (i == 1 && strcmp(arch, "arm64") == 0))
            j->arch = (int)i;
    j->run = run;
    j->sj = sj;
    j->s = s;
    j->node = sched_job_index(sj);
    if (status != 0 || j->arch < 0) {
        struct stage_item it;

        memset(&it, 0, sizeof(it));
        it.node = ((const struct inv_node *)sess_node(s))->name;
        it.recorded = -1;
        it.status = status != 0 ? status : AF_EINPUT;
        it.error = status != 0 ? sess_error(s) : "unknown architecture";
        stage_report(j, &it);
        sched_job_done(sj);
        return;
    }
    stage_next(j);
}

static void
stage_conn_opts(void *data, size_t i, struct conn_opts *o, const void **node)
{
    struct stage_run *run = data;
    const struct inv_node *n = fleet_node(run->f, i);

    fleet_conn_opts(run->f, n, o);
    *node = n;
}

/* The package for glob in dir, opened and hashed once (index in pkgs). */
static int
stage_pkg_find(struct stage_run *run,
               const char *dir,
               const char *glob,
               size_t *idx,
               struct af_err *e)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char *hit = NULL;
    size_t i;
    int n = 0;

    if (d == NULL)
        return af_err_set(e, AF_EINPUT, "%s: cannot read the directory", dir);
    while ((de = readdir(d)) != NULL)
        if (fnmatch(glob, de->d_name, 0) == 0 && n++ == 0)
            hit = af_strdup(de->d_name);
    closedir(d);
    if (n != 1) {
        free(hit);
        return af_err_set(e, AF_EINPUT, "%s: %s package matching '%s'", dir,
                          n == 0 ? "no" : "more than one", glob);
    }
    for (i = 0; i < run->npkgs; i++)
        if (strcmp(run->pkgs[i].name, hit) == 0)
            break;
    if (i == run->npkgs) {
        char *path = af_asprintf("%s/%s", dir, hit);
        struct push_src *src = NULL;
        int r = push_src_open(path, &src, e);

        free(path);
        if (r != 0) {
            free(hit);
            return r;
        }
        run->pkgs =
            af_reallocarray(run->pkgs, run->npkgs + 1, sizeof(*run->pkgs));
        memset(&run->pkgs[i], 0, sizeof(run->pkgs[i]));
        run->pkgs[i].name = hit;
        run->pkgs[i].src = src;
        run->npkgs++;
    } else {
        free(hit);
    }
    *idx = i;
    return 0;
}

/* Every package the stages use, per architecture present in the dir. */
static int
stage_collect(struct stage_run *run,
              const struct pb *pb,
              const struct stage_opts *o,
              struct af_err *e)
{
    struct pb_phases ph = {0, NULL};
    struct af_err miss = {0, ""};
    size_t p, s, a, idx = 0, found = 0;
    int r;

    if ((r = pb_expand_stages(pb, o->stages, NULL, &ph, e)) != 0)
        return r;
    for (p = 0; p < ph.n; p++)
        for (s = 0; s < ph.v[p].n_steps; s++) {
            const struct pb_step *st = ph.v[p].steps[s];

            if (!pb_step_has_package(st))
                continue;
            for (a = 0; a < STAGE_NARCH; a++) {
                char *glob = pb_step_package_glob(st, stage_arches[a]);

                /* A missing architecture only matters if a node has it. */
                if (stage_pkg_find(run, o->packages, glob, &idx, &miss) == 0) {
                    struct stage_pkg *pk = &run->pkgs[idx];

                    pk->arch[a] = 1;
                    if (pk->stage == NULL) {
                        pk->stage = af_strdup(ph.v[p].stage);
                        pk->version = pb_step_package_version(
                            st, stage_arches[a], pk->name);
                    }
                    found++;
                } else if (miss.code != AF_EINPUT ||
                           strstr(miss.msg, "no package") == NULL) {
                    free(glob);
                    pb_phases_free(&ph);
                    return af_err_set(e, miss.code, "%s", miss.msg);
                }
                free(glob);
            }
        }
    pb_phases_free(&ph);
    if (found == 0)
        return af_err_set(e, AF_EINPUT,
                          "%s: no package the stages %s use is there",
                          o->packages, o->stages);
    return 0;
}

/* "a,b,c": every stage of the playbook (the caller frees it). */
static char *
stage_all_stages(const struct pb *pb)
{
    char *s = af_strdup("");
    size_t i;

    for (i = 0; i < pb_stage_count(pb); i++) {
        char *n = af_asprintf("%s%s%s", s, i ? "," : "",
                              pb_stage_name(pb_stage_at(pb, i)));

        free(s);
        s = n;
    }
    return s;
}

/* A gateway push, reported like a node's. */
static void
stage_gw_item(const struct relay_gw_item *g, void *data)
{
    struct stage_run *run = data;
    struct stage_item it;

    memset(&it, 0, sizeof(it));
    it.node = g->node;
    it.package = g->package;
    it.size = g->size;
    it.sent = g->sent;
    it.offset = g->offset;
    it.duration_ms = g->duration_ms;
    it.already = g->already;
    it.status = g->status;
    it.error = g->error;
    it.gateway = 1;
    run->cb(&it, run->data);
}

/* Push to the rack gateways first, when selected nodes are behind any. */
static int
stage_relay_setup(struct stage_run *run,
                  const struct stage_opts *o,
                  struct af_err *e)
{
    struct relay_opts ro = {STAGE_REMOTE_DIR, o->fanout, 0, 0, 0};
    size_t i;

    run->relay = relay_new(run->f, &ro);
    if (run->relay == NULL)
        return 0;
    for (i = 0; i < run->npkgs; i++)
        relay_add(run->relay, run->pkgs[i].name, run->pkgs[i].src,
                  (run->pkgs[i].arch[0] ? RELAY_ARCH_X86_64 : 0) |
                      (run->pkgs[i].arch[1] ? RELAY_ARCH_AARCH64 : 0));
    run->sum->gateways = relay_gateways(run->relay);
    return relay_prepare(run->relay, stage_gw_item, run, &run->sum->bytes_sent,
                         e);
}

int
stage_run(struct fleet *f,
          const struct stage_opts *o,
          stage_item_cb cb,
          void *data,
          struct stage_summary *sum,
          struct af_err *e)
{
    struct stage_run run;
    struct pb *pb = NULL;
    struct stage_opts eo = *o;
    char *all = NULL;
    uint64_t t0 = stage_now_ms();
    size_t i;
    int r;

    memset(&run, 0, sizeof(run));
    memset(sum, 0, sizeof(*sum));
    run.f = f;
    run.cb = cb;
    run.data = data;
    run.sum = sum;
    run.st = o->st;
    if ((r = pb_load(o->playbook ? o->playbook : ro_default_playbook(), &pb,
                     e)) != 0)
        goto out;
    if (eo.stages == NULL)
        eo.stages = all = stage_all_stages(pb);
    if ((r = stage_collect(&run, pb, &eo, e)) != 0)
        goto out;
    sum->nodes = f->nsel;
    sum->packages = run.npkgs;
    run.jobs = af_calloc(f->nsel ? f->nsel : 1, sizeof(*run.jobs));
    if (o->rate > 0)
        run.rate = rate_new(f->loop, o->rate);
    if ((r = stage_relay_setup(&run, o, e)) != 0)
        goto out;
    {
        static const struct sched_job_ops ops = {
            .sess_flags = SESS_AGENT,
            .conn_opts = stage_conn_opts,
            .ready = stage_ready,
        };

        if ((r = sched_jobs(NULL, f->loop, f->nsel,
                            o->fanout > 0 ? o->fanout : 64, &ops, &run, e)) !=
            0)
            goto out;
    }
    r = sum->nodes_failed ? AF_EREMOTE : 0;
out:
    sum->wall_ms = stage_now_ms() - t0;
    rate_free(run.rate); /* closed by the caller's last loop run */
    for (i = 0; i < run.npkgs; i++) {
        free(run.pkgs[i].name);
        free(run.pkgs[i].stage);
        free(run.pkgs[i].version);
        push_src_free(run.pkgs[i].src);
    }
    relay_free(run.relay);
    free(run.pkgs);
    free(run.jobs);
    free(all);
    pb_free(pb);
    return r;
}
