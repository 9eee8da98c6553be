/* SPDX-License-Identifier: MIT */
/*
 * The gather engine (see gather.h). Per node, one agent session and one
 * "get" whose data frame goes straight from the channel to a temp file.
 */
#define _GNU_SOURCE
#include "gather.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "af-kv.h"
#include "af-mem.h"
#include "af-sched.h"
#include "af-sha256.h"
#include "agc.h"
#include "fleet.h"
#include "inv.h"

struct gather_run {
    struct fleet *fleet;
    const struct gather_opts *o;
    const struct ev_sink *sink;
    const char *base; /* basename of the remote path */
    struct gather_result *res;
};

/* One node's fetch. */
struct gather_job {
    struct sched_job *j;
    struct gather_run *run;
    struct gather_result *r;
    int fd;
    char *tmp;
    char *final;
    struct af_sha256 md;
    uint64_t got;
    int werr; /* first local write error (errno) */
    uint64_t t0;
};

static void
gather_end(struct gather_job *gj, enum copy_status st)
{
    struct ev ev;

    if (gj->fd >= 0)
        close(gj->fd);
    if (gj->tmp != NULL)
        unlink(gj->tmp); /* the temp file of a fetch that failed */
    gj->r->status = st;
    gj->r->duration_ms = (int64_t)(sched_now_ms() - gj->t0);
    ev_init(&ev, EV_NODE_END, gj->r->name);
    ev.action = "gather";
    ev.status = copy_status_str(st);
    ev.duration_ms = gj->r->duration_ms;
    ev.bytes = gj->r->bytes;
    ev.reason = gj->r->error[0] ? gj->r->error : NULL;
    ev_emit(gj->run->sink, &ev);
    sched_job_set_user(gj->j, NULL);
    sched_job_done(gj->j);
    free(gj->tmp);
    free(gj->final);
    free(gj);
}

static void
gather_sink(void *data, uint64_t total, const char *p, size_t n)
{
    struct gather_job *gj = data;

    (void)total;
    gj->got += n;
    af_sha256_update(&gj->md, p, n);
    while (n > 0 && gj->werr == 0) {
        ssize_t w = write(gj->fd, p, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            gj->werr = errno; /* the rest of the frame is only counted */
            break;
        }
        p += w;
        n -= (size_t)w;
    }
}

/* The node's answer says what it sent: check it, then put it in place. */
static int
gather_install(struct gather_job *gj, const struct af_kv *body)
{
    const char *size = af_kv_get(body, "size");
    const char *sha = af_kv_get(body, "sha256");
    const char *mode = af_kv_get(body, "mode");
    char hex[65];

    af_sha256_final_hex(&gj->md, hex);
    if (gj->werr != 0 || fsync(gj->fd) != 0) {
        snprintf(gj->r->error, sizeof(gj->r->error), "writing %s: %s", gj->tmp,
                 strerror(gj->werr ? gj->werr : errno));
        return -1;
    }
    if (size == NULL || sha == NULL || strtoull(size, NULL, 10) != gj->got ||
        strcmp(sha, hex) != 0) {
        snprintf(gj->r->error, sizeof(gj->r->error),
                 "%s: the copy received does not match what the node read "
                 "(%llu bytes, sha256 %.16s...)",
                 gj->run->o->remote, (unsigned long long)gj->got, hex);
        return -1;
    }
    if (mode != NULL)
        (void)fchmod(gj->fd, (mode_t)(strtoul(mode, NULL, 8) & 0777));
    if (rename(gj->tmp, gj->final) != 0) {
        snprintf(gj->r->error, sizeof(gj->r->error), "%s: %s", gj->final,
                 strerror(errno));
        return -1;
    }
    free(gj->tmp);
    gj->tmp = NULL;
    gj->r->path = af_strdup(gj->final);
    gj->r->bytes = gj->got;
    memcpy(gj->r->sha256, hex, sizeof(hex));
    return 0;
}

static void
gather_answer(struct agc *a, int status, const struct af_kv *body, void *data)
{
    struct gather_job *gj = data;
    const char *why = af_kv_get(body, "error");

    if (status != 0) {
        snprintf(gj->r->error, sizeof(gj->r->error), "%s",
                 status == AF_EREMOTE && why != NULL ? why : agc_error(a));
        gather_end(gj, status == AF_ETIMEOUT ? COPY_TIMEOUT : COPY_FAILED);
        return;
    }
    gather_end(gj, gather_install(gj, body) == 0 ? COPY_OK : COPY_FAILED);
}

static void
gather_conn_opts(void *data, size_t i, struct conn_opts *o, const void **node)
{
    struct gather_run *run = data;
    const struct inv_node *n = fleet_node(run->fleet, i);

    fleet_conn_opts(run->fleet, n, o);
    *node = n;
}

/* Create the node's temp file; -1 with the error set. */
static int
gather_open(struct gather_job *gj)
{
    const struct gather_opts *o = gj->run->o;
    const char *name = gj->r->name;

    if (strchr(name, '/') != NULL || strcmp(name, "..") == 0) {
        snprintf(gj->r->error, sizeof(gj->r->error),
                 "the node name cannot be part of a file name");
        return -1;
    }
    gj->final = af_asprintf("%s/%s.%s", o->localdir, gj->run->base, name);
    gj->tmp = af_asprintf("%s/.%s.%s.XXXXXX", o->localdir, gj->run->base, name);
    gj->fd = mkostemp(gj->tmp, O_CLOEXEC);
    if (gj->fd < 0) {
        snprintf(gj->r->error, sizeof(gj->r->error), "%s: %s", gj->tmp,
                 strerror(errno));
        free(gj->tmp);
        gj->tmp = NULL;
        return -1;
    }
    af_sha256_init(&gj->md);
    return 0;
}

static void
gather_ready(struct sched_job *j, struct sess *s, int status)
{
    struct gather_run *run = sched_job_data(j);
    struct gather_job *gj = af_calloc(1, sizeof(*gj));
    const struct gather_opts *o = run->o;
    const char *words[3];
    char max[32];

    gj->j = j;
    gj->run = run;
    gj->r = &run->res[sched_job_index(j)];
    gj->fd = -1;
    gj->t0 = sched_now_ms();
    sched_job_set_user(j, gj);
    if (status < 0) {
        snprintf(gj->r->error, sizeof(gj->r->error), "%s", sess_error(s));
        /* Reached (SSH up) but the agent refused or failed: failed. */
        gather_end(gj, sess_timed_out(s)     ? COPY_TIMEOUT
                       : sess_agc(s) != NULL ? COPY_FAILED
                                             : COPY_UNREACHABLE);
        return;
    }
    if (gather_open(gj) != 0) {
        gather_end(gj, COPY_FAILED);
        return;
    }
    snprintf(max, sizeof(max), "%llu", (unsigned long long)o->max_size);
    words[0] = "get";
    words[1] = o->remote;
    words[2] = max;
    agc_request_sink(sess_agc(s), words, 3, o->max_size, gather_sink,
                     o->timeout_ms, gather_answer, gj);
}

int
gather_run(struct fleet *f,
           const struct gather_opts *o,
           const struct ev_sink *sink,
           struct gather_run **out,
           struct af_err *e)
{
    static const struct sched_job_ops ops = {
        .sess_flags = SESS_AGENT,
        .conn_opts = gather_conn_opts,
        .ready = gather_ready,
    };
    struct gather_run *run = af_calloc(1, sizeof(*run));
    struct stat sb;
    size_t i;
    int r;

    *out = NULL;
    run->fleet = f;
    run->o = o;
    run->sink = sink;
    run->res = af_calloc(f->nsel ? f->nsel : 1, sizeof(*run->res));
    run->base = strrchr(o->remote, '/');
    run->base = run->base ? run->base + 1 : o->remote;
    if (o->remote[0] != '/' || run->base[0] == '\0' ||
        strcmp(run->base, ".") == 0 || strcmp(run->base, "..") == 0) {
        r = af_err_set(e, AF_EINPUT,
                       "'%s': the remote file must be an absolute path "
                       "naming a file",
                       o->remote);
        goto fail;
    }
    if (stat(o->localdir, &sb) != 0) {
        r = af_err_set(e, AF_EINPUT, "%s: %s", o->localdir, strerror(errno));
        goto fail;
    }
    if (!S_ISDIR(sb.st_mode) || access(o->localdir, W_OK | X_OK) != 0) {
        r = af_err_set(e, AF_EINPUT, "%s: %s", o->localdir,
                       S_ISDIR(sb.st_mode) ? "directory not writable"
                                           : "not a directory");
        goto fail;
    }
    for (i = 0; i < f->nsel; i++) {
        run->res[i].name = fleet_node(f, i)->name;
        run->res[i].address = fleet_node(f, i)->address;
    }
    if ((r = sched_jobs(NULL, f->loop, f->nsel, o->fanout, &ops, run, e)) != 0)
        goto fail;
    *out = run;
    return 0;
fail:
    gather_run_free(run);
    return r;
}

size_t
gather_run_count(const struct gather_run *r)
{
    return r->fleet->nsel;
}

const struct gather_result *
gather_run_result(const struct gather_run *r, size_t i)
{
    return &r->res[i];
}

void
gather_run_free(struct gather_run *r)
{
    size_t i;

    if (r == NULL)
        return;
    for (i = 0; i < r->fleet->nsel; i++)
        free(r->res[i].path);
    free(r->res);
    free(r);
}
