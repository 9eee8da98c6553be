/* SPDX-License-Identifier: MIT */
/*
 * Resumable, verify-while-receiving puts (see ag-put.h). The meta file is
 * replaced atomically (write beside it, rename) after the partial's bytes
 * were written, so the offset it records never runs ahead of the file as
 * the node's kernel holds it: a killed orchestrator, a cut link or a clean
 * reboot lose nothing. Nothing is fsync'd: forcing gigabytes to disk while
 * the package streams in only slowed every push, and the end-to-end hash
 * covers what a power loss could leave (a resumed partial whose prefix did
 * not reach the disk fails the final check, and the orchestrator starts
 * that package again from zero; a damaged installed copy no longer matches
 * its hash, so it is sent again).
 */
#include "ag-put.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "af-mem.h"
#include "ag-util.h"

static void
ag_put_names(struct ag_put *p, const char *path)
{
    p->path = af_strdup(path);
    p->partial = af_asprintf("%s.partial", path);
    p->meta = af_asprintf("%s.partial.meta", path);
}

/* Read the meta file; 0 when it holds a sha, a size and an offset. */
static int
ag_put_meta_read(const char *meta,
                 char sha[65],
                 unsigned long long *size,
                 unsigned long long *off)
{
    char *text = ag_read_file(meta, 256, NULL);
    int r = -1;

    if (text != NULL && sscanf(text, "%64s %llu %llu", sha, size, off) == 3 &&
        strlen(sha) == 64 && *off <= *size)
        r = 0;
    free(text);
    return r;
}

static int
ag_put_meta_write(const struct ag_put *p, unsigned long long off)
{
    char *tmp = af_asprintf("%s.tmp", p->meta);
    char line[128];
    int fd, r = 0, n;

    n = snprintf(line, sizeof(line), "%s %llu %llu\n", p->sha, p->size, off);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        r = errno;
        goto out;
    }
    r = -ag_write_all(fd, line, (size_t)n);
    if (close(fd) != 0 && r == 0)
        r = errno;
    if (r == 0 && rename(tmp, p->meta) != 0)
        r = errno;
out:
    if (r != 0)
        unlink(tmp);
    free(tmp);
    return r;
}

unsigned long long
ag_put_resume_point(const char *path, const char *sha, unsigned long long size)
{
    struct ag_put p;
    char msha[65];
    unsigned long long msize, off = 0;
    struct stat sb;

    memset(&p, 0, sizeof(p));
    ag_put_names(&p, path);
    if (ag_put_meta_read(p.meta, msha, &msize, &off) != 0 ||
        strcasecmp(msha, sha) != 0 || msize != size ||
        stat(p.partial, &sb) != 0 || (unsigned long long)sb.st_size < off)
        off = 0;
    p.fd = -1;
    ag_put_free(&p);
    return off;
}

/* Hash the first n bytes of the open partial into p->ctx. */
static int
ag_put_rehash(struct ag_put *p, unsigned long long n)
{
    char buf[65536];
    unsigned long long at = 0;

    while (at < n) {
        size_t want = n - at < sizeof(buf) ? (size_t)(n - at) : sizeof(buf);
        ssize_t r = pread(p->fd, buf, want, (off_t)at);

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r < 0 ? errno : EIO;
        af_sha256_update(&p->ctx, buf, (size_t)r);
        at += (unsigned long long)r;
    }
    return 0;
}

int
ag_put_open(struct ag_put *p,
            const char *path,
            const char *sha,
            unsigned long long size,
            unsigned long long offset,
            const char **why)
{
    int r;

    memset(p, 0, sizeof(*p));
    ag_put_names(p, path);
    snprintf(p->sha, sizeof(p->sha), "%s", sha);
    p->size = size;
    af_sha256_init(&p->ctx);
    *why = "put: cannot write";
    p->fd = open(p->partial, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (p->fd < 0)
        return errno;
    /*
     * An agent of an interrupted run may still be checkpointing this
     * partial: wait until it let go.
     */
    if (flock(p->fd, LOCK_EX) != 0)
        return errno;
    if (offset > 0) {
        if (offset > ag_put_resume_point(path, sha, size)) {
            *why = "put: no verified partial at that offset";
            return ESPIPE;
        }
        *why = "put: cannot reopen the partial";
        if (ftruncate(p->fd, (off_t)offset) != 0)
            return errno;
        r = ag_put_rehash(p, offset);
        if (r != 0)
            return r;
        if (lseek(p->fd, (off_t)offset, SEEK_SET) < 0)
            return errno;
        p->done = p->synced = offset;
        return 0;
    }
    unlink(p->meta);
    if (ftruncate(p->fd, 0) != 0)
        return errno;
    return ag_put_meta_write(p, 0);
}

/* Record the partial's length in the meta (see the top of the file). */
static int
ag_put_checkpoint(struct ag_put *p)
{
    if (p->fd < 0 || p->done == p->synced)
        return 0;
    /* Holes at the tail must count: extend the file to what arrived. */
    if (ftruncate(p->fd, (off_t)p->done) != 0)
        return errno;
    p->synced = p->done;
    return ag_put_meta_write(p, p->done);
}

int
ag_put_write(struct ag_put *p, const char *buf, size_t n)
{
    size_t i;

    af_sha256_update(&p->ctx, buf, n);
    /* Runs of zeros become holes, as cp --sparse=auto does. */
    for (i = 0; i < n && buf[i] == 0; i++)
        ;
    if (i == n) {
        if (lseek(p->fd, (off_t)n, SEEK_CUR) < 0)
            return errno;
    } else {
        int w = ag_write_all(p->fd, buf, n);

        if (w != 0)
            return -w;
    }
    p->done += n;
    if (p->done - p->synced >= AG_PUT_SYNC)
        return ag_put_checkpoint(p);
    return 0;
}

void
ag_put_suspend(struct ag_put *p)
{
    (void)ag_put_checkpoint(p);
}

int
ag_put_finish(struct ag_put *p, mode_t mode, char hex[65])
{
    int r = 0;

    af_sha256_final_hex(&p->ctx, hex);
    if (strcasecmp(hex, p->sha) != 0) {
        ag_put_discard(p);
        return EBADMSG;
    }
    if (ftruncate(p->fd, (off_t)p->size) != 0 || fchmod(p->fd, mode) != 0)
        r = errno;
    if (close(p->fd) != 0 && r == 0)
        r = errno;
    p->fd = -1;
    if (r == 0 && rename(p->partial, p->path) != 0)
        r = errno;
    if (r != 0)
        return r;
    unlink(p->meta);
    return 0;
}

/* "size ino mtime.s mtime.ns ctime.s ctime.ns" of a stat. */
static void
ag_put_fingerprint(const struct stat *sb, char *buf, size_t n)
{
    snprintf(buf, n, "%llu %llu %lld %ld %lld %ld",
             (unsigned long long)sb->st_size, (unsigned long long)sb->st_ino,
             (long long)sb->st_mtim.tv_sec, (long)sb->st_mtim.tv_nsec,
             (long long)sb->st_ctim.tv_sec, (long)sb->st_ctim.tv_nsec);
}

int
ag_put_mark_verified(const char *path, const char *sha)
{
    char *mark = af_asprintf("%s.verified", path);
    char *tmp = af_asprintf("%s.verified.tmp", path);
    char fp[160], line[256];
    struct stat sb;
    int fd, r = 0, n;

    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        r = errno ? errno : EINVAL;
        goto out;
    }
    ag_put_fingerprint(&sb, fp, sizeof(fp));
    n = snprintf(line, sizeof(line), "%s %s\n", sha, fp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        r = errno;
        goto out;
    }
    r = -ag_write_all(fd, line, (size_t)n);
    if (close(fd) != 0 && r == 0)
        r = errno;
    if (r == 0 && rename(tmp, mark) != 0)
        r = errno;
    if (r != 0)
        unlink(tmp);
out:
    free(mark);
    free(tmp);
    return r;
}

int
ag_put_verified(const char *path, char sha[65], unsigned long long *size)
{
    char *mark = af_asprintf("%s.verified", path);
    char *text = ag_read_file(mark, 512, NULL);
    char fp[160], *nl;
    struct stat sb;
    int ok = 0;

    if (text != NULL && strlen(text) > 65 && text[64] == ' ' &&
        stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
        if ((nl = strchr(text, '\n')) != NULL)
            *nl = '\0';
        ag_put_fingerprint(&sb, fp, sizeof(fp));
        if (strcmp(text + 65, fp) == 0) {
            memcpy(sha, text, 64);
            sha[64] = '\0';
            *size = (unsigned long long)sb.st_size;
            ok = 1;
        }
    }
    free(text);
    free(mark);
    return ok;
}

void
ag_put_discard(struct ag_put *p)
{
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
    if (p->partial != NULL)
        unlink(p->partial);
    if (p->meta != NULL)
        unlink(p->meta);
}

void
ag_put_free(struct ag_put *p)
{
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
    free(p->path);
    free(p->partial);
    free(p->meta);
    p->path = p->partial = p->meta = NULL;
}
