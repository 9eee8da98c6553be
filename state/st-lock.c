/* SPDX-License-Identifier: MIT */
/*
 * The run lock: an exclusive OS lock on "<state file>.lock", held until
 * st_close or process death, with the owner's pid, host and start time
 * written into the file so a refused process can say who holds it.
 */
#define _DEFAULT_SOURCE /* flock(2) */
#include "st.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "af-err.h"
#include "af-mem.h"
#include "st-internal.h"

static const char sql_run_owned[] =
    "SELECT id, owner_since FROM runs WHERE pid = ?1 AND host = ?2 AND "
    "status = 'running' ORDER BY id DESC LIMIT 1";

static void
st_fmt_time(int64_t ms, char *buf, size_t len)
{
    struct tm tm;
    time_t t = (time_t)(ms / 1000);

    if (ms <= 0 || localtime_r(&t, &tm) == NULL ||
        strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        snprintf(buf, len, "at an unknown time");
}

/* Build the "in use" message from the holder's lock line and its run. */
static int
st_lock_refused(struct st *st, int fd, struct af_err *e)
{
    char line[512], host[ST_HOST_MAX], myhost[ST_HOST_MAX], when[64];
    char where[ST_HOST_MAX + 16];
    sqlite3_stmt *s = NULL;
    long long since = 0, run = 0;
    long pid = 0;
    ssize_t n;

    n = pread(fd, line, sizeof(line) - 1, 0);
    line[n > 0 ? n : 0] = '\0';
    host[0] = '\0';
    if (sscanf(line, "pid=%ld host=%255s since=%lld", &pid, host, &since) !=
            3 ||
        pid <= 0)
        return af_err_set(e, AF_ELOCKED,
                          "state file %s is in use by another ascend-fleet "
                          "process (it is starting up or shutting down)",
                          st->path);
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
        return af_err_set(e, AF_ELOCKED,
                          "state file %s is in use by pid %ld%s (run %lld, "
                          "started %s)",
                          st->path, pid, where, run, when);
    return af_err_set(e, AF_ELOCKED,
                      "state file %s is in use by pid %ld%s (no run in "
                      "progress, started %s)",
                      st->path, pid, where, when);
}

int
st_lock(struct st *st, struct af_err *e)
{
    char *lockpath = NULL;
    char host[ST_HOST_MAX], line[ST_HOST_MAX + 96];
    int r = AF_EINTERNAL, fd = -1, len, err;

    if (st->memory || st->lock_fd >= 0)
        return 0;
    lockpath = af_asprintf("%s.lock", st->path);
    /* Never through a symbolic link: the file is truncated and written. */
    fd = open(lockpath, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        err = errno;
        if (err == ELOOP)
            r = af_err_set(e, -err,
                           "%s: is a symbolic link; refusing to use it as "
                           "the lock file (remove it)",
                           lockpath);
        else
            r = af_err_set(e, -err, "%s: %s", lockpath, strerror(err));
        goto out;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        err = errno;
        if (err == EWOULDBLOCK)
            r = st_lock_refused(st, fd, e);
        else
            r = af_err_set(e, -err, "%s: lock: %s", lockpath, strerror(err));
        goto out;
    }
    st__hostname(host, sizeof(host));
    len = snprintf(line, sizeof(line), "pid=%ld host=%s since=%" PRId64 "\n",
                   (long)getpid(), host, st__now_ms());
    if (ftruncate(fd, 0) != 0 || len < 0 ||
        pwrite(fd, line, (size_t)len, 0) != (ssize_t)len) {
        err = errno ? errno : EIO;
        r = af_err_set(e, -err, "%s: write: %s", lockpath, strerror(err));
        goto out;
    }
    st->lock_fd = fd;
    fd = -1;
    r = 0;
out:
    if (fd >= 0)
        close(fd);
    free(lockpath);
    return r;
}

void
st__unlock(struct st *st)
{
    if (st->lock_fd < 0)
        return;
    /* Clear the owner line so a stale one is never shown. */
    if (ftruncate(st->lock_fd, 0) != 0) {
        /* nothing to do: closing releases the lock anyway */
    }
    close(st->lock_fd);
    st->lock_fd = -1;
}
