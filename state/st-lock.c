/* SPDX-License-Identifier: MIT */
/*
 * The write locks of a state file, all on "<state file>.lock" (opened with
 * O_NOFOLLOW, mode 0600), as Linux open-file-description locks (F_OFD_*):
 * they belong to the handle, conflict between handles even inside one
 * process, and the kernel drops them when the process dies (kill -9).
 *
 * Layout of the lock file:
 * - bytes [0, ST_LOCK_RECS * ST_LOCK_REC): owner records. A holder write-
 *   locks one free record and writes "pid=N host=H since=MS" into it, so a
 *   refused process can name who holds the lock;
 * - one byte per node at ST_LOCK_NODE_BASE + (64-bit FNV-1a of its name
 *   modulo 2^40): st_lock_nodes write-locks these bytes and nothing is
 *   written there (the file stays small);
 * - st_lock write-locks the whole file: it conflicts with every holder.
 */
#define _GNU_SOURCE /* F_OFD_SETLK */
#include "st.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "af-err.h"
#include "af-mem.h"
#include "st-internal.h"

#define ST_LOCK_REC       128
#define ST_LOCK_RECS      64
#define ST_LOCK_NODE_BASE ((off_t)1 << 20)
#define ST_LOCK_NODE_MASK ((UINT64_C(1) << 40) - 1)

static const char sql_run_owned[] =
    "SELECT id, owner_since FROM runs WHERE pid = ?1 AND host = ?2 AND "
    "status = 'running' ORDER BY id DESC LIMIT 1";

static off_t
st_node_byte(const char *name)
{
    uint64_t h = UINT64_C(14695981039346656037);

    for (; *name; name++) {
        h ^= (unsigned char)*name;
        h *= UINT64_C(1099511628211);
    }
    return ST_LOCK_NODE_BASE + (off_t)(h & ST_LOCK_NODE_MASK);
}

/* F_OFD_SETLK of type on [start, start + len); len 0 = to the end. */
static int
st_ofd(int fd, short type, off_t start, off_t len)
{
    struct flock fl;

    memset(&fl, 0, sizeof(fl));
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    fl.l_start = start;
    fl.l_len = len;
    return fcntl(fd, F_OFD_SETLK, &fl) == 0 ? 0 : -errno;
}

/* 1 when another handle holds a lock that conflicts with [start, +len). */
static int
st_ofd_held(int fd, off_t start, off_t len)
{
    struct flock fl;

    memset(&fl, 0, sizeof(fl));
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = start;
    fl.l_len = len;
    if (fcntl(fd, F_OFD_GETLK, &fl) != 0)
        return 0;
    return fl.l_type != F_UNLCK;
}

static void
st_fmt_time(int64_t ms, char *buf, size_t len)
{
    struct tm tm;
    time_t t = (time_t)(ms / 1000);

    if (ms <= 0 || localtime_r(&t, &tm) == NULL ||
        strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        snprintf(buf, len, "at an unknown time");
}

/*
 * Describe the holder whose record is at slot: "pid N (run R, started T)"
 * into out. Returns 0, or -1 when the slot holds no record.
 */
static int
st_holder(struct st *st, int fd, int slot, char *out, size_t len)
{
    char line[ST_LOCK_REC + 1], host[ST_HOST_MAX], myhost[ST_HOST_MAX];
    char when[64], where[ST_HOST_MAX + 16];
    sqlite3_stmt *s = NULL;
    long long since = 0, run = 0;
    long pid = 0;
    ssize_t n;

    n = pread(fd, line, ST_LOCK_REC, (off_t)slot * ST_LOCK_REC);
    line[n > 0 ? n : 0] = '\0';
    if (sscanf(line, "pid=%ld host=%255s since=%lld", &pid, host, &since) !=
            3 ||
        pid <= 0)
        return -1;
    st__hostname(myhost, sizeof(myhost));
    where[0] = '\0';
    if (strcmp(host, myhost) != 0)
        snprintf(where, sizeof(where), " on host %s", host);
    /* The owner's running run, if it has one (read only, best effort). */
    if (st__prep(st, SQL_RUN_OWNED, sql_run_owned, &s, NULL) == 0) {
        sqlite3_bind_int64(s, 1, pid);
        sqlite3_bind_text(s, 2, host, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(s) == SQLITE_ROW) {
            run = sqlite3_column_int64(s, 0);
            if (sqlite3_column_type(s, 1) != SQLITE_NULL)
                since = sqlite3_column_int64(s, 1);
        }
        st__fin(&s);
    }
    st_fmt_time(since, when, sizeof(when));
    if (run > 0)
        snprintf(out, len, "pid %ld%s (run %lld, started %s)", pid, where, run,
                 when);
    else
        snprintf(out, len, "pid %ld%s (no run in progress, started %s)", pid,
                 where, when);
    return 0;
}

/*
 * The "in use" error: what (the whole file, or one node) is held by the
 * live holders found in the owner records.
 */
static int
st_lock_refused(struct st *st, int fd, const char *node, struct af_err *e)
{
    char who[1024], one[ST_HOST_MAX + 128];
    size_t off = 0;
    int slot;

    who[0] = '\0';
    for (slot = 0; slot < ST_LOCK_RECS && off < sizeof(who); slot++) {
        if (!st_ofd_held(fd, (off_t)slot * ST_LOCK_REC, ST_LOCK_REC) ||
            st_holder(st, fd, slot, one, sizeof(one)) != 0)
            continue;
        off += (size_t)snprintf(who + off, sizeof(who) - off, "%s%s",
                                off ? " and " : "", one);
    }
    if (off == 0)
        snprintf(who, sizeof(who),
                 "another ascend-fleet process (it is "
                 "starting up or shutting down)");
    if (node != NULL)
        return af_err_set(e, AF_ELOCKED,
                          "state file %s: node %s is in use by %s", st->path,
                          node, who);
    return af_err_set(e, AF_ELOCKED, "state file %s is in use by %s", st->path,
                      who);
}

/* Open the lock file (never through a symbolic link). */
static int
st_lock_open(struct st *st, int *fd, struct af_err *e)
{
    char *lockpath = af_asprintf("%s.lock", st->path);
    int r = 0, err;

    *fd = open(lockpath, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (*fd < 0) {
        err = errno;
        if (err == ELOOP)
            r = af_err_set(e, -err,
                           "%s: is a symbolic link; refusing to use it as "
                           "the lock file (remove it)",
                           lockpath);
        else
            r = af_err_set(e, -err, "%s: %s", lockpath, strerror(err));
    }
    free(lockpath);
    return r;
}

/* Write this process's owner record at slot. */
static int
st_lock_record(struct st *st, int fd, int slot, struct af_err *e)
{
    char rec[ST_LOCK_REC], host[ST_HOST_MAX];
    int err;

    memset(rec, 0, sizeof(rec));
    st__hostname(host, sizeof(host));
    snprintf(rec, sizeof(rec), "pid=%ld host=%.64s since=%" PRId64 "\n",
             (long)getpid(), host, st__now_ms());
    if (pwrite(fd, rec, sizeof(rec), (off_t)slot * ST_LOCK_REC) !=
        (ssize_t)sizeof(rec)) {
        err = errno ? errno : EIO;
        return af_err_set(e, -err, "%s.lock: write: %s", st->path,
                          strerror(err));
    }
    st->lock_slot = slot;
    return 0;
}

int
st_lock(struct st *st, struct af_err *e)
{
    int r, fd = st->lock_fd;

    if (st->memory || st->lock_all)
        return 0;
    if (fd < 0 && (r = st_lock_open(st, &fd, e)) != 0)
        return r;
    if ((r = st_ofd(fd, F_WRLCK, 0, 0)) != 0) {
        if (r == -EAGAIN || r == -EACCES)
            r = st_lock_refused(st, fd, NULL, e);
        else
            r = af_err_set(e, r, "%s.lock: lock: %s", st->path, strerror(-r));
        goto out;
    }
    st->lock_all = 1;
    if (st->lock_slot < 0 && (r = st_lock_record(st, fd, 0, e)) != 0)
        goto out;
    r = 0;
out:
    if (st->lock_fd < 0) {
        if (r == 0)
            st->lock_fd = fd;
        else
            close(fd);
    }
    if (r != 0 && st->lock_fd < 0)
        st->lock_all = 0;
    return r;
}

/* Take a free owner record for this handle (first one not locked). */
static int
st_lock_take_record(struct st *st, int fd, struct af_err *e)
{
    int slot;

    for (slot = 0; slot < ST_LOCK_RECS; slot++)
        if (st_ofd(fd, F_WRLCK, (off_t)slot * ST_LOCK_REC, ST_LOCK_REC) == 0)
            return st_lock_record(st, fd, slot, e);
    return st_lock_refused(st, fd, NULL, e);
}

int
st_lock_nodes(struct st *st,
              const char *const *nodes,
              size_t n,
              struct af_err *e)
{
    size_t i;
    int r, fd = st->lock_fd;

    if (st->memory || st->lock_all)
        return 0;
    if (fd < 0 && (r = st_lock_open(st, &fd, e)) != 0)
        return r;
    for (i = 0; i < n; i++) {
        r = st_ofd(fd, F_WRLCK, st_node_byte(nodes[i]), 1);
        if (r == -EAGAIN || r == -EACCES) {
            r = st_lock_refused(st, fd, nodes[i], e);
            goto out;
        }
        if (r != 0) {
            r = af_err_set(e, r, "%s.lock: lock: %s", st->path, strerror(-r));
            goto out;
        }
    }
    if (st->lock_slot < 0 && (r = st_lock_take_record(st, fd, e)) != 0)
        goto out;
    r = 0;
out:
    if (r != 0) {
        /* Give back the node bytes this call took (others stay). */
        while (i-- > 0)
            st_ofd(fd, F_UNLCK, st_node_byte(nodes[i]), 1);
    }
    if (st->lock_fd < 0) {
        if (r == 0)
            st->lock_fd = fd;
        else
            close(fd);
    }
    return r;
}

int
st_run_lock_probe(struct st *st, int64_t run, struct af_err *e)
{
    char *lockpath;
    struct st_node *nodes = NULL;
    size_t n = 0, i;
    int fd, r;

    if (st->memory)
        return 0;
    lockpath = af_asprintf("%s.lock", st->path);
    fd = open(lockpath, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    free(lockpath);
    if (fd < 0)
        return 0; /* no lock file: nobody ever held a lock */
    if ((r = st_node_list(st, run, &nodes, &n, e)) != 0)
        goto out;
    for (i = 0; i < n; i++) {
        if (st_ofd_held(fd, st_node_byte(nodes[i].node), 1)) {
            r = st_lock_refused(st, fd, nodes[i].node, e);
            goto out;
        }
    }
out:
    st_nodes_free(nodes, n);
    close(fd);
    return r;
}

void
st__unlock(struct st *st)
{
    char zero[ST_LOCK_REC];

    if (st->lock_fd < 0)
        return;
    /* Clear the owner record so a stale one is never shown. */
    memset(zero, 0, sizeof(zero));
    if (st->lock_slot >= 0 &&
        pwrite(st->lock_fd, zero, sizeof(zero),
               (off_t)st->lock_slot * ST_LOCK_REC) != (ssize_t)sizeof(zero)) {
        /* nothing to do: closing releases the lock anyway */
    }
    close(st->lock_fd);
    st->lock_fd = -1;
    st->lock_slot = -1;
    st->lock_all = 0;
}
