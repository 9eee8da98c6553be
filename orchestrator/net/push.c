/* SPDX-License-Identifier: MIT */
/*
 * Streamed, resumable package pushes (see push.h). Two agent requests per
 * push: "partial" for the resume point, then "put" with the rest of the
 * bytes pulled from the file by pread as the channel drains.
 */
#define _DEFAULT_SOURCE
#include "push.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "af-mem.h"
#include "af-proto.h"
#include "af-sha256.h"
#include "agc.h"

#define PUSH_HASH_BUF (1024 * 1024)

struct push_src {
    char *path;
    int fd;
    uint64_t size;
    struct timespec mtime;
    char sha[65];
};

struct push {
    struct agc *agc;
    struct push_src *src;
    char *dest;
    unsigned mode;
    uint64_t timeout_ms;
    push_done_cb cb;
    void *data;
    struct push_opts po;
    uint64_t offset; /* where this attempt starts */
    uint64_t pos;    /* next file offset to read */
    uint64_t sent;
    uint64_t t0;
    int retried; /* restarted from zero after a refused resume */
    int changed; /* the file is not what was hashed */
    char err[AF_ERR_MSG_LEN];
};

static uint64_t
push_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* 1 if the file at s->fd no longer has the size and mtime it was hashed at. */
static int
push_src_changed(const struct push_src *s)
{
    struct stat sb;

    if (fstat(s->fd, &sb) != 0)
        return 1;
    return (uint64_t)sb.st_size != s->size ||
           sb.st_mtim.tv_sec != s->mtime.tv_sec ||
           sb.st_mtim.tv_nsec != s->mtime.tv_nsec;
}

int
push_src_open(const char *path, struct push_src **out, struct af_err *e)
{
    struct push_src *s = af_calloc(1, sizeof(*s));
    struct af_sha256 c;
    struct stat sb;
    char *buf = NULL;
    uint64_t at = 0;
    int r = AF_EINTERNAL;

    s->path = af_strdup(path);
    s->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (s->fd < 0 || fstat(s->fd, &sb) != 0) {
        r = af_err_set(e, AF_EINPUT, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(sb.st_mode)) {
        r = af_err_set(e, AF_EINPUT, "%s: not a regular file", path);
        goto out;
    }
    s->size = (uint64_t)sb.st_size;
    s->mtime = sb.st_mtim;
    buf = af_malloc(PUSH_HASH_BUF);
    /* af_sha256 uses the SHA-NI instructions where the CPU has them. */
    af_sha256_init(&c);
    while (at < s->size) {
        ssize_t n = pread(s->fd, buf, PUSH_HASH_BUF, (off_t)at);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        af_sha256_update(&c, buf, (size_t)n);
        at += (uint64_t)n;
    }
    if (at != s->size || push_src_changed(s)) {
        r = af_err_set(e, AF_EINPUT,
                       "%s: the file changed while it was being read", path);
        goto out;
    }
    af_sha256_final_hex(&c, s->sha);
    *out = s;
    s = NULL;
    r = 0;
out:
    free(buf);
    push_src_free(s);
    return r;
}

void
push_src_free(struct push_src *s)
{
    if (s == NULL)
        return;
    if (s->fd >= 0)
        close(s->fd);
    free(s->path);
    free(s);
}

const char *
push_src_sha(const struct push_src *s)
{
    return s->sha;
}

uint64_t
push_src_size(const struct push_src *s)
{
    return s->size;
}

const char *
push_src_path(const struct push_src *s)
{
    return s->path;
}

static void
push_result_fill(const struct push *p, struct push_result *res)
{
    res->size = p->src->size;
    res->offset = p->offset;
    res->sent = p->sent;
    res->duration_ms = push_now_ms() - p->t0;
    res->error = "";
}

/* Tell the caller's progress callback; its code, or 0. */
static int
push_progress(struct push *p)
{
    struct push_result res;

    if (p->po.progress == NULL)
        return 0;
    push_result_fill(p, &res);
    return p->po.progress(&res, p->data);
}

static void
push_end(struct push *p, int status)
{
    struct push_result res;

    push_result_fill(p, &res);
    res.error = status == 0 ? "" : p->err;
    p->cb(status, &res, p->data);
    free(p->dest);
    free(p);
}

static void
push_set_changed(struct push *p)
{
    p->changed = 1;
    snprintf(p->err, sizeof(p->err),
             "%s changed during the run (it no longer has the size, date or "
             "content it had when hashed, %llu bytes, sha256 %.16s...): "
             "keep packages unchanged while a run uses them",
             p->src->path, (unsigned long long)p->src->size, p->src->sha);
}

static long
push_fill(void *data, char *buf, size_t cap)
{
    struct push *p = data;
    ssize_t n;
    int r;

    do
        n = pread(p->src->fd, buf, cap, (off_t)p->pos);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        snprintf(p->err, sizeof(p->err), "%s: %s", p->src->path,
                 strerror(errno));
        return AF_EINPUT;
    }
    if (n == 0) {
        push_set_changed(p);
        return AF_EINPUT;
    }
    p->pos += (uint64_t)n;
    p->sent += (uint64_t)n;
    if ((r = push_progress(p)) < 0) {
        snprintf(p->err, sizeof(p->err), "the push was stopped by its caller");
        return r;
    }
    return (long)n;
}

static void push_send(struct push *p);

static void
push_put_answer(struct agc *a, int status, const struct af_kv *body, void *data)
{
    struct push *p = data;
    const char *why = af_kv_get(body, "error");

    (void)a;
    if (p->changed || (status != 0 && push_src_changed(p->src))) {
        push_set_changed(p);
        push_end(p, AF_EINPUT);
        return;
    }
    if (status == AF_EREMOTE && p->offset > 0 && !p->retried) {
        /* The partial went away or changed since "partial": start over. */
        p->retried = 1;
        p->offset = 0;
        push_send(p);
        return;
    }
    if (status == 0 && push_src_changed(p->src)) {
        push_set_changed(p);
        push_end(p, AF_EINPUT);
        return;
    }
    if (status != 0)
        snprintf(p->err, sizeof(p->err), "%s",
                 status == AF_EREMOTE && why != NULL ? why : agc_error(a));
    push_end(p, status);
}

/* put <sha> <size> <mode> <dest> <offset>, then the bytes from offset. */
static void
push_send(struct push *p)
{
    char size[32], mode[16], off[32];
    const char *words[6];

    snprintf(size, sizeof(size), "%llu", (unsigned long long)p->src->size);
    snprintf(mode, sizeof(mode), "%o", p->mode);
    snprintf(off, sizeof(off), "%llu", (unsigned long long)p->offset);
    words[0] = "put";
    words[1] = p->src->sha;
    words[2] = size;
    words[3] = mode;
    words[4] = p->dest;
    words[5] = off;
    p->pos = p->offset;
    agc_request_stream(p->agc, words, 6, p->src->size - p->offset, push_fill,
                       p->timeout_ms, push_put_answer, p);
}

static void
push_partial_answer(struct agc *a,
                    int status,
                    const struct af_kv *body,
                    void *data)
{
    struct push *p = data;
    const char *off = af_kv_get(body, "offset");
    char *end = NULL;
    unsigned long long v = 0;

    if (status < 0 && status != AF_EREMOTE) {
        snprintf(p->err, sizeof(p->err), "%s", agc_error(a));
        push_end(p, status);
        return;
    }
    /* An agent without "partial" answers err: push from zero. */
    if (status == 0 && off != NULL)
        v = strtoull(off, &end, 10);
    if (end == NULL || *end != '\0' || v > p->src->size)
        v = 0;
    p->offset = v;
    if ((status = push_progress(p)) < 0) {
        snprintf(p->err, sizeof(p->err), "the push was stopped by its caller");
        push_end(p, status);
        return;
    }
    push_send(p);
}

void
push_start(struct agc *a,
           struct push_src *src,
           const char *dest,
           unsigned mode,
           uint64_t timeout_ms,
           push_done_cb cb,
           void *data)
{
    push_start_opt(a, src, dest, mode, timeout_ms, NULL, cb, data);
}

void
push_start_opt(struct agc *a,
               struct push_src *src,
               const char *dest,
               unsigned mode,
               uint64_t timeout_ms,
               const struct push_opts *po,
               push_done_cb cb,
               void *data)
{
    struct push *p = af_calloc(1, sizeof(*p));
    char size[32];
    const char *words[4];

    p->agc = a;
    p->src = src;
    p->dest = af_strdup(dest);
    p->mode = mode;
    p->timeout_ms = timeout_ms;
    p->cb = cb;
    p->data = data;
    if (po != NULL)
        p->po = *po;
    p->t0 = push_now_ms();
    snprintf(size, sizeof(size), "%llu", (unsigned long long)src->size);
    words[0] = "partial";
    words[1] = src->sha;
    words[2] = size;
    words[3] = dest;
    agc_request(a, words, 4, NULL, 0, timeout_ms, push_partial_answer, p);
}
