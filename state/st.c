/* SPDX-License-Identifier: MIT */
/*
 * SQLite state file, part one: status names, the helpers every table
 * family shares (st-internal.h), opening, schema migration, closing,
 * batches and the integrity check. The run lock is in st-lock.c; runs,
 * nodes and steps in st-run.c; the event log in st-event.c; facts and
 * hccn rows in st-facts.c. Every write goes through a cached prepared
 * statement with bound parameters, inside one transaction per call (or a
 * savepoint inside the caller's st_begin batch).
 */
#include "st.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "af-err.h"
#include "af-mem.h"
#include "st-internal.h"

/* "AFlt": lets file(1) and operators tell a state file apart. */
#define ST_APPLICATION_ID  0x41466c74
#define ST_BUSY_TIMEOUT_MS 2000

static const char *const st_run_names[] = {
    "planned", "running", "paused", "failed", "done", "aborted", "interrupted",
};
static const char *const st_node_names[] = {
    "pending", "running", "rebooting", "verifying",   "done",
    "failed",  "skipped", "blocked",   "unreachable",
};
static const char *const st_step_names[] = {
    "pending", "running", "done", "skipped", "failed", "blocked",
};
static const char *const st_hccn_names[] = {
    "applied",
    "verified",
    "failed",
};

#define ST_NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- small helpers ---- */

int64_t
st__now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
st__hostname(char *buf, size_t len)
{
    if (gethostname(buf, len) != 0)
        snprintf(buf, len, "unknown");
    buf[len - 1] = '\0';
}

static const char *
st_name(const char *const *names, size_t n, int v)
{
    if (v < 0 || (size_t)v >= n)
        return "?";
    return names[v];
}

static int
st_find(const char *const *names, size_t n, const char *name)
{
    size_t i;

    if (name == NULL)
        return -1;
    for (i = 0; i < n; i++) {
        if (strcmp(names[i], name) == 0)
            return (int)i;
    }
    return -1;
}

static int
st_parse(const char *const *names,
         size_t n,
         const char *what,
         const char *name,
         int *out,
         struct af_err *e)
{
    char list[256];
    size_t i, off = 0;
    int v = st_find(names, n, name);

    if (v >= 0) {
        *out = v;
        return 0;
    }
    list[0] = '\0';
    for (i = 0; i < n && off < sizeof(list); i++) {
        int w = snprintf(list + off, sizeof(list) - off, "%s%s", i ? ", " : "",
                         names[i]);
        if (w < 0)
            break;
        off += (size_t)w;
    }
    return af_err_set(e, AF_EINPUT, "unknown %s status '%s' (one of: %s)", what,
                      name ? name : "(null)", list);
}

const char *
st_run_status_name(enum st_run_status s)
{
    return st_name(st_run_names, ST_NELEM(st_run_names), (int)s);
}

const char *
st_node_status_name(enum st_node_status s)
{
    return st_name(st_node_names, ST_NELEM(st_node_names), (int)s);
}

const char *
st_step_status_name(enum st_step_status s)
{
    return st_name(st_step_names, ST_NELEM(st_step_names), (int)s);
}

const char *
st_hccn_status_name(enum st_hccn_status s)
{
    return st_name(st_hccn_names, ST_NELEM(st_hccn_names), (int)s);
}

int
st_run_status_parse(const char *name, enum st_run_status *out, struct af_err *e)
{
    int v = 0, r;

    r = st_parse(st_run_names, ST_NELEM(st_run_names), "run", name, &v, e);
    if (r == 0)
        *out = (enum st_run_status)v;
    return r;
}

int
st_node_status_parse(const char *name,
                     enum st_node_status *out,
                     struct af_err *e)
{
    int v = 0, r;

    r = st_parse(st_node_names, ST_NELEM(st_node_names), "node", name, &v, e);
    if (r == 0)
        *out = (enum st_node_status)v;
    return r;
}

int
st_step_status_parse(const char *name,
                     enum st_step_status *out,
                     struct af_err *e)
{
    int v = 0, r;

    r = st_parse(st_step_names, ST_NELEM(st_step_names), "step", name, &v, e);
    if (r == 0)
        *out = (enum st_step_status)v;
    return r;
}

int
st_hccn_status_parse(const char *name,
                     enum st_hccn_status *out,
                     struct af_err *e)
{
    int v, r;

    r = st_parse(st_hccn_names, ST_NELEM(st_hccn_names), "hccn", name, &v, e);
    if (r == 0)
        *out = (enum st_hccn_status)v;
    return r;
}

const char *
st_errmsg(const struct st *st)
{
    return st != NULL && st->db != NULL ? sqlite3_errmsg(st->db) : "no state";
}

int
st__dberr(struct st *st, struct af_err *e, const char *what)
{
    int err = sqlite3_system_errno(st->db), rc = sqlite3_errcode(st->db);

    /* An I/O error says which: "disk I/O error (No space left on device)". */
    rc &= 0xff;
    if (err != 0 &&
        (rc == SQLITE_IOERR || rc == SQLITE_CANTOPEN || rc == SQLITE_FULL))
        return af_err_set(e, AF_EDB, "%s: %s: %s (%s)", st->path, what,
                          sqlite3_errmsg(st->db), strerror(err));
    return af_err_set(e, AF_EDB, "%s: %s: %s", st->path, what,
                      sqlite3_errmsg(st->db));
}

int
st__exec(struct st *st, const char *sql, struct af_err *e)
{
    char *msg = NULL;
    int r = 0;

    if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK)
        r = st__dberr(st, e, sql);
    sqlite3_free(msg);
    return r;
}

int
st__prep(struct st *st,
         enum st_sql id,
         const char *sql,
         sqlite3_stmt **out,
         struct af_err *e)
{
    sqlite3_stmt *s = st->stmts[id];

    *out = NULL;
    if (s == NULL) {
        if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s,
                               NULL) != SQLITE_OK)
            return st__dberr(st, e, "prepare");
        st->stmts[id] = s;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    *out = s;
    return 0;
}

/* Reset a statement so it holds no lock and no row; accepts NULL. */
void
st__fin(sqlite3_stmt **s)
{
    if (*s != NULL)
        sqlite3_reset(*s);
    *s = NULL;
}

void
st__bind_str(sqlite3_stmt *s, int i, const char *v)
{
    if (v == NULL)
        sqlite3_bind_null(s, i);
    else
        sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
}

char *
st__col_str(sqlite3_stmt *s, int i)
{
    const unsigned char *t;

    if (sqlite3_column_type(s, i) == SQLITE_NULL)
        return NULL;
    t = sqlite3_column_text(s, i);
    return af_strndup((const char *)(t ? t : (const unsigned char *)""),
                      (size_t)sqlite3_column_bytes(s, i));
}

int
st__bad_status(struct st *st,
               const char *table,
               sqlite3_stmt *s,
               int col,
               struct af_err *e)
{
    const unsigned char *v = sqlite3_column_text(s, col);

    return af_err_set(e, AF_EDB, "%s: unknown status '%s' in %s", st->path,
                      v ? (const char *)v : "(null)", table);
}

int
st__collect(struct st *st,
            sqlite3_stmt *s,
            size_t size,
            st__row_cb read,
            st__free_cb free_rows,
            const char *what,
            void **out,
            size_t *n,
            struct af_err *e)
{
    char *arr = NULL;
    size_t cnt = 0, cap = 0;
    int r = AF_EINTERNAL, rc;

    *out = NULL;
    *n = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (cnt == cap) {
            cap = cap ? cap * 2 : 16;
            arr = af_reallocarray(arr, cap, size);
        }
        if ((r = read(st, s, arr + cnt * size, e)) != 0)
            goto out;
        cnt++;
    }
    if (rc != SQLITE_DONE) {
        r = st__dberr(st, e, what);
        goto out;
    }
    *out = arr;
    *n = cnt;
    arr = NULL;
    r = 0;
out:
    if (arr != NULL)
        free_rows(arr, cnt);
    return r;
}

int
st__get_one(struct st *st,
            sqlite3_stmt *s,
            void *row,
            st__row_cb read,
            const char *what,
            const char *notfound,
            struct af_err *e)
{
    int rc = sqlite3_step(s);

    if (rc == SQLITE_DONE)
        return af_err_set(e, AF_ENOTFOUND, "%s: %s", st->path, notfound);
    if (rc != SQLITE_ROW)
        return st__dberr(st, e, what);
    return read(st, s, row, e);
}

int
st__writable(struct st *st, const char *what, struct af_err *e)
{
    if (!st->readonly)
        return 0;
    return af_err_set(e, AF_EINPUT, "%s: opened read-only, cannot %s", st->path,
                      what);
}

/*
 * Start one call's transaction: BEGIN IMMEDIATE when the caller has no
 * batch open (so a write never has to upgrade a read lock), else a
 * savepoint inside the caller's batch.
 */
int
st__op_begin(struct st *st, int *top, struct af_err *e)
{
    *top = sqlite3_get_autocommit(st->db);
    return st__exec(st, *top ? "BEGIN IMMEDIATE" : "SAVEPOINT st_op", e);
}

/* Finish what st_op_begin started: commit when r is 0, else roll back. */
int
st__op_end(struct st *st, int top, int r, struct af_err *e)
{
    if (r == 0) {
        r = st__exec(st, top ? "COMMIT" : "RELEASE st_op", e);
        if (r == 0)
            return 0;
    }
    /* Keep the first error in e: roll back without reporting. */
    if (top) {
        if (!sqlite3_get_autocommit(st->db))
            sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    } else {
        sqlite3_exec(st->db, "ROLLBACK TO st_op; RELEASE st_op", NULL, NULL,
                     NULL);
    }
    return r;
}

/* ---- open, migrate, close ---- */

static int
st_schema_version(struct st *st, int *version, struct af_err *e)
{
    sqlite3_stmt *s = NULL;
    int r = AF_EINTERNAL, rc, ntables;

    if (sqlite3_prepare_v2(st->db,
                           "SELECT count(*), sum(name = 'meta') FROM "
                           "sqlite_schema WHERE type = 'table'",
                           -1, &s, NULL) != SQLITE_OK) {
        r = st__dberr(st, e, "read schema");
        goto out;
    }
    if (sqlite3_step(s) != SQLITE_ROW) {
        r = st__dberr(st, e, "read schema");
        goto out;
    }
    ntables = sqlite3_column_int(s, 0);
    if (sqlite3_column_int(s, 1) == 0) {
        if (ntables != 0) {
            r = af_err_set(e, AF_EDB,
                           "%s: not an ascend-fleet state file (an SQLite "
                           "database without a meta table)",
                           st->path);
            goto out;
        }
        *version = 0;
        r = 0;
        goto out;
    }
    sqlite3_finalize(s);
    s = NULL;
    if (sqlite3_prepare_v2(st->db,
                           "SELECT value FROM meta WHERE key = "
                           "'schema_version'",
                           -1, &s, NULL) != SQLITE_OK) {
        r = st__dberr(st, e, "read schema_version");
        goto out;
    }
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        if (rc == SQLITE_DONE)
            r = af_err_set(e, AF_EDB,
                           "%s: not an ascend-fleet state file "
                           "(no schema_version in meta)",
                           st->path);
        else
            r = st__dberr(st, e, "read schema_version");
        goto out;
    }
    *version = sqlite3_column_int(s, 0);
    if (*version < 1) {
        r = af_err_set(e, AF_EDB, "%s: invalid schema_version '%s'", st->path,
                       (const char *)sqlite3_column_text(s, 0));
        goto out;
    }
    r = 0;
out:
    sqlite3_finalize(s);
    return r;
}

static int
st_too_new(struct st *st, int version, struct af_err *e)
{
    return af_err_set(e, AF_EDB,
                      "%s: schema version %d is newer than this ascend-fleet "
                      "supports (%d); use a newer ascend-fleet or another "
                      "--state file",
                      st->path, version, ST_SCHEMA_VERSION);
}

static int
st_migrate(struct st *st, struct af_err *e)
{
    sqlite3_stmt *s = NULL;
    char sql[64];
    int r = AF_EINTERNAL, top = 0, version = 0, began = 0;

    if ((r = st_schema_version(st, &version, e)) != 0)
        goto out;
    if (version > ST_SCHEMA_VERSION) {
        r = st_too_new(st, version, e);
        goto out;
    }
    if (version == ST_SCHEMA_VERSION)
        goto out;
    if ((r = st__op_begin(st, &top, e)) != 0)
        goto out;
    began = 1;
    /* Another process may have migrated while we waited for the lock. */
    if ((r = st_schema_version(st, &version, e)) != 0)
        goto out;
    if (version > ST_SCHEMA_VERSION) {
        r = st_too_new(st, version, e);
        goto out;
    }
    for (; version < ST_SCHEMA_VERSION; version++) {
        if ((r = st__exec(st, st__migrations[version], e)) != 0)
            goto out;
    }
    if (sqlite3_prepare_v2(st->db,
                           "INSERT OR REPLACE INTO meta (key, value) VALUES "
                           "('schema_version', ?1), ('application', "
                           "'ascend-fleet'), ('migrated_at', ?2)",
                           -1, &s, NULL) != SQLITE_OK) {
        r = st__dberr(st, e, "write meta");
        goto out;
    }
    sqlite3_bind_int(s, 1, ST_SCHEMA_VERSION);
    sqlite3_bind_int64(s, 2, st__now_ms());
    if (sqlite3_step(s) != SQLITE_DONE) {
        r = st__dberr(st, e, "write meta");
        goto out;
    }
    snprintf(sql, sizeof(sql), "PRAGMA application_id = %d", ST_APPLICATION_ID);
    r = st__exec(st, sql, e);
out:
    sqlite3_finalize(s);
    if (began)
        r = st__op_end(st, top, r, e);
    return r;
}

/*
 * Create the state file, empty, readable by its owner only (SQLite gives
 * its -wal and -shm files the same mode), unless it exists. A symbolic
 * link at path is left to SQLite, which follows it as an operator may
 * intend.
 */
static int
st_create_private(const char *path, struct af_err *e)
{
    int fd, err;

    fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
        close(fd);
        return 0;
    }
    err = errno;
    if (err == EEXIST)
        return 0;
    return af_err_set(e, -err, "%s: cannot create the state file: %s", path,
                      strerror(err));
}

static struct st *
st_new(const char *path)
{
    struct st *st = af_calloc(1, sizeof(*st));

    st->path = af_strdup(path);
    st->lock_fd = -1;
    st->lock_slot = -1;
    st->memory = strcmp(path, ":memory:") == 0;
    return st;
}

int
st_open_ro(const char *path, struct st **out, struct af_err *e)
{
    struct st *st = NULL;
    struct stat sb;
    int r = AF_EINTERNAL, rc, version = 0;

    *out = NULL;
    if (path == NULL || *path == '\0' || strcmp(path, ":memory:") == 0) {
        r = af_err_set(e, AF_EINPUT, "no state file path given");
        goto out;
    }
    if (stat(path, &sb) != 0) {
        r = errno == ENOENT
                ? af_err_set(e, AF_ENOTFOUND, "no state file at %s", path)
                : af_err_set(e, -errno, "%s: %s", path, strerror(errno));
        goto out;
    }
    st = st_new(path);
    st->readonly = 1;
    rc = sqlite3_open_v2(path, &st->db,
                         SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        r = st->db == NULL ? af_err_set(e, AF_EDB, "%s: cannot open: %s", path,
                                        sqlite3_errstr(rc))
                           : st__dberr(st, e, "cannot open");
        goto out;
    }
    sqlite3_extended_result_codes(st->db, 1);
    sqlite3_busy_timeout(st->db, ST_BUSY_TIMEOUT_MS);
    if ((r = st_schema_version(st, &version, e)) != 0) {
        if ((sqlite3_errcode(st->db) & 0xff) == SQLITE_NOTADB)
            r = af_err_set(e, AF_EDB, "%s: not an ascend-fleet state file (%s)",
                           path, sqlite3_errmsg(st->db));
        goto out;
    }
    if (version == 0) {
        r = af_err_set(e, AF_ENOTFOUND, "no state in %s (an empty file)", path);
        goto out;
    }
    if (version > ST_SCHEMA_VERSION) {
        r = st_too_new(st, version, e);
        goto out;
    }
    *out = st;
    st = NULL;
    r = 0;
out:
    st_close(st);
    return r;
}

char *
st_default_path(const char *inventory)
{
    const char *slash = strrchr(inventory, '/'), *base, *dot;
    size_t dirlen, namelen;

    base = slash ? slash + 1 : inventory;
    dirlen = slash ? (size_t)(slash - inventory) + 1 : 0;
    dot = strrchr(base, '.');
    namelen = strlen(base);
    if (dot != NULL && dot != base &&
        (strcmp(dot, ".yaml") == 0 || strcmp(dot, ".yml") == 0))
        namelen = (size_t)(dot - base);
    if (namelen == 0)
        return af_asprintf("%.*s.ascend-fleet/state.db", (int)dirlen,
                           inventory);
    return af_asprintf("%.*s.ascend-fleet/%.*s.db", (int)dirlen, inventory,
                       (int)namelen, base);
}

int
st_make_dir(const char *path, struct af_err *e)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    int r = 0, err;

    if (slash == NULL || slash == path)
        return 0;
    dir = af_strndup(path, (size_t)(slash - path));
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        err = errno;
        r = af_err_set(e, -err, "cannot create %s: %s", dir, strerror(err));
    }
    free(dir);
    return r;
}

int
st_open(const char *path, struct st **out, struct af_err *e)
{
    struct st *st = NULL;
    sqlite3_stmt *s = NULL;
    const char *mode;
    char msg[64];
    int r = AF_EINTERNAL, rc;

    *out = NULL;
    if (path == NULL || *path == '\0') {
        r = af_err_set(e, AF_EINPUT, "no state file path given");
        goto out;
    }
    st = st_new(path);
    if (!st->memory && (r = st_create_private(path, e)) != 0)
        goto out;
    rc = sqlite3_open_v2(
        path, &st->db,
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        if (st->db == NULL)
            r = af_err_set(e, AF_EDB, "%s: cannot open: %s", path,
                           sqlite3_errstr(rc));
        else
            r = st__dberr(st, e, "cannot open");
        goto out;
    }
    sqlite3_extended_result_codes(st->db, 1);
    sqlite3_busy_timeout(st->db, ST_BUSY_TIMEOUT_MS);
    /* The first statement reads the header: a non-database fails here. */
    if (sqlite3_prepare_v2(st->db, "PRAGMA journal_mode = WAL", -1, &s, NULL) !=
            SQLITE_OK ||
        sqlite3_step(s) != SQLITE_ROW) {
        if (sqlite3_errcode(st->db) == SQLITE_NOTADB)
            r = af_err_set(e, AF_EDB, "%s: not an ascend-fleet state file (%s)",
                           path, sqlite3_errmsg(st->db));
        else
            r = st__dberr(st, e, "set WAL mode");
        goto out;
    }
    mode = (const char *)sqlite3_column_text(s, 0);
    if (mode == NULL ||
        (strcmp(mode, "wal") != 0 && strcmp(mode, "memory") != 0)) {
        snprintf(msg, sizeof(msg), "%s", mode ? mode : "?");
        r = af_err_set(e, AF_EDB,
                       "%s: cannot use WAL mode (journal mode stays %s)", path,
                       msg);
        goto out;
    }
    sqlite3_finalize(s);
    s = NULL;
    /* Foreign keys go on after migrating: a migration rebuilds tables. */
    if ((r = st__exec(st, "PRAGMA synchronous = FULL", e)) != 0 ||
        (r = st_migrate(st, e)) != 0 ||
        (r = st__exec(st, "PRAGMA foreign_keys = ON", e)) != 0)
        goto out;
    *out = st;
    st = NULL;
    r = 0;
out:
    sqlite3_finalize(s);
    st_close(st);
    return r;
}

void
st_close(struct st *st)
{
    size_t i;

    if (st == NULL)
        return;
    for (i = 0; i < SQL__COUNT; i++)
        sqlite3_finalize(st->stmts[i]);
    if (st->db != NULL) {
        if (!sqlite3_get_autocommit(st->db))
            sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_close(st->db);
    }
    st__unlock(st);
    free(st->path);
    free(st);
}

const char *
st_path(const struct st *st)
{
    return st->path;
}

/* ---- batches ---- */

int
st_begin(struct st *st, struct af_err *e)
{
    if (!sqlite3_get_autocommit(st->db))
        return af_err_set(e, AF_EINPUT, "%s: a batch is already open",
                          st->path);
    return st__exec(st, "BEGIN IMMEDIATE", e);
}

int
st_commit(struct st *st, struct af_err *e)
{
    int r;

    if (sqlite3_get_autocommit(st->db))
        return af_err_set(e, AF_EINPUT, "%s: no batch is open", st->path);
    r = st__exec(st, "COMMIT", e);
    if (r != 0 && !sqlite3_get_autocommit(st->db))
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return r;
}

int
st_rollback(struct st *st, struct af_err *e)
{
    if (sqlite3_get_autocommit(st->db))
        return af_err_set(e, AF_EINPUT, "%s: no batch is open", st->path);
    return st__exec(st, "ROLLBACK", e);
}

int
st_check(struct st *st, struct af_err *e)
{
    sqlite3_stmt *s = NULL;
    int r = AF_EINTERNAL, rc;
    const char *t;

    if (sqlite3_prepare_v2(st->db, "PRAGMA integrity_check", -1, &s, NULL) !=
            SQLITE_OK ||
        sqlite3_step(s) != SQLITE_ROW) {
        r = st__dberr(st, e, "integrity_check");
        goto out;
    }
    t = (const char *)sqlite3_column_text(s, 0);
    if (t == NULL || strcmp(t, "ok") != 0) {
        r = af_err_set(e, AF_EDB, "%s: integrity_check: %s", st->path,
                       t ? t : "?");
        goto out;
    }
    sqlite3_finalize(s);
    s = NULL;
    if (sqlite3_prepare_v2(st->db, "PRAGMA foreign_key_check", -1, &s, NULL) !=
        SQLITE_OK) {
        r = st__dberr(st, e, "foreign_key_check");
        goto out;
    }
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        r = af_err_set(e, AF_EDB,
                       "%s: foreign_key_check: row %lld of %s has no parent "
                       "in %s",
                       st->path, (long long)sqlite3_column_int64(s, 1),
                       (const char *)sqlite3_column_text(s, 0),
                       (const char *)sqlite3_column_text(s, 2));
        goto out;
    }
    if (rc != SQLITE_DONE) {
        r = st__dberr(st, e, "foreign_key_check");
        goto out;
    }
    r = 0;
out:
    sqlite3_finalize(s);
    return r;
}
