/* SPDX-License-Identifier: MIT */
/*
 * SQLite state file: schema and migrations, the run lock, and the row
 * accessors declared in st.h. Every write goes through a cached prepared
 * statement with bound parameters, inside one transaction per call (or a
 * savepoint inside the caller's st_begin batch). It does not decide what a
 * run does next; the orchestrator reads and writes rows through this API.
 */
#define _DEFAULT_SOURCE /* flock(2) */
#include "st.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "af-err.h"
#include "af-mem.h"
#include "af-proto.h"

/* "AFlt": lets file(1) and operators tell a state file apart. */
#define ST_APPLICATION_ID  0x41466c74
#define ST_BUSY_TIMEOUT_MS 2000
#define ST_HOST_MAX        256

static const char *const st_run_names[] = {
    "planned", "running", "paused", "failed", "done", "aborted",
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

/*
 * Migration i takes a file from schema version i to i + 1. Version 0 is an
 * empty file. The CHECK lists must match the name tables above.
 */
static const char *const st_migrations[ST_SCHEMA_VERSION] = {
    /* 0 -> 1 */
    "CREATE TABLE meta (\n"
    "    key   TEXT PRIMARY KEY,\n"
    "    value TEXT NOT NULL\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE runs (\n"
    "    id          INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "    created     INTEGER NOT NULL,\n"
    "    updated     INTEGER NOT NULL,\n"
    "    cmdline     TEXT NOT NULL,\n"
    "    stages      TEXT NOT NULL,\n"
    "    options     TEXT NOT NULL DEFAULT '{}'\n"
    "                CHECK (json_valid(options)),\n"
    "    status      TEXT NOT NULL CHECK (status IN ('planned', 'running',\n"
    "                'paused', 'failed', 'done', 'aborted')),\n"
    "    reason      TEXT,\n"
    "    pid         INTEGER,\n"
    "    host        TEXT,\n"
    "    owner_since INTEGER\n"
    ");\n"
    "CREATE INDEX runs_status ON runs (status, id);\n"
    "CREATE TABLE run_nodes (\n"
    "    id             INTEGER PRIMARY KEY,\n"
    "    run            INTEGER NOT NULL REFERENCES runs (id),\n"
    "    node           TEXT NOT NULL,\n"
    "    address        TEXT,\n"
    "    batch          INTEGER CHECK (batch IS NULL OR batch >= 0),\n"
    "    status         TEXT NOT NULL CHECK (status IN ('pending',\n"
    "                   'running', 'rebooting', 'verifying', 'done',\n"
    "                   'failed', 'skipped', 'blocked', 'unreachable')),\n"
    "    reason         TEXT,\n"
    "    boot_id_before TEXT,\n"
    "    boot_id_after  TEXT,\n"
    "    updated        INTEGER NOT NULL,\n"
    "    UNIQUE (run, node)\n"
    ");\n"
    "CREATE TABLE node_steps (\n"
    "    id               INTEGER PRIMARY KEY,\n"
    "    run              INTEGER NOT NULL,\n"
    "    node             TEXT NOT NULL,\n"
    "    stage            TEXT NOT NULL,\n"
    "    step             TEXT NOT NULL,\n"
    "    status           TEXT NOT NULL CHECK (status IN ('pending',\n"
    "                     'running', 'done', 'skipped', 'failed',\n"
    "                     'blocked')),\n"
    "    attempt          INTEGER NOT NULL DEFAULT 0 CHECK (attempt >= 0),\n"
    "    exit_code        INTEGER,\n"
    "    action           TEXT,\n"
    "    started          INTEGER,\n"
    "    ended            INTEGER,\n"
    "    boot_id_before   TEXT,\n"
    "    boot_id_after    TEXT,\n"
    "    output_tail      TEXT,\n"
    "    output_truncated INTEGER NOT NULL DEFAULT 0\n"
    "                     CHECK (output_truncated IN (0, 1)),\n"
    "    updated          INTEGER NOT NULL,\n"
    "    UNIQUE (run, node, stage, step),\n"
    "    FOREIGN KEY (run, node) REFERENCES run_nodes (run, node)\n"
    ");\n"
    "CREATE INDEX node_steps_status ON node_steps (run, status);\n"
    "CREATE TABLE events (\n"
    "    id   INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "    run  INTEGER REFERENCES runs (id),\n"
    "    ts   INTEGER NOT NULL,\n"
    "    node TEXT,\n"
    "    kind TEXT NOT NULL,\n"
    "    text TEXT NOT NULL\n"
    ");\n"
    "CREATE INDEX events_run ON events (run, id);\n"
    "CREATE TRIGGER events_no_update BEFORE UPDATE ON events\n"
    "BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;\n"
    "CREATE TRIGGER events_no_delete BEFORE DELETE ON events\n"
    "BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;\n"
    "CREATE TABLE facts (\n"
    "    node        TEXT NOT NULL,\n"
    "    seq         INTEGER NOT NULL,\n"
    "    key         TEXT NOT NULL,\n"
    "    value       TEXT NOT NULL,\n"
    "    gathered_at INTEGER NOT NULL,\n"
    "    PRIMARY KEY (node, seq)\n"
    ") WITHOUT ROWID;\n"
    "CREATE INDEX facts_key ON facts (key, node);\n"
    "CREATE TABLE hccn_results (\n"
    "    node    TEXT NOT NULL,\n"
    "    npu     INTEGER NOT NULL CHECK (npu >= 0),\n"
    "    address TEXT,\n"
    "    netmask TEXT,\n"
    "    detect  TEXT,\n"
    "    gateway TEXT,\n"
    "    status  TEXT NOT NULL CHECK (status IN ('applied', 'verified',\n"
    "            'failed')),\n"
    "    detail  TEXT,\n"
    "    updated INTEGER NOT NULL,\n"
    "    PRIMARY KEY (node, npu)\n"
    ") WITHOUT ROWID;\n"
    "CREATE VIEW run_progress AS\n"
    "    SELECT run, status, count(*) AS nodes FROM run_nodes\n"
    "    GROUP BY run, status;\n"
    "CREATE VIEW failed_steps AS\n"
    "    SELECT run, node, stage, step, attempt, exit_code, action,\n"
    "           output_truncated, output_tail FROM node_steps\n"
    "    WHERE status = 'failed';\n",
};

/* Cached statements; the order of st_sql_text follows this enum. */
enum st_sql {
    SQL_RUN_CREATE,
    SQL_RUN_STATUS,
    SQL_RUN_CLAIM,
    SQL_RUN_GET,
    SQL_RUN_LIST,
    SQL_RUN_UNFINISHED,
    SQL_RUN_OWNED,
    SQL_NODE_UPSERT,
    SQL_NODE_BOOT,
    SQL_NODE_GET,
    SQL_NODE_LIST,
    SQL_STEP_STATUS,
    SQL_STEP_INSERT,
    SQL_STEP_UPDATE,
    SQL_STEP_BOOT,
    SQL_STEP_GET,
    SQL_STEP_LIST,
    SQL_EVENT_ADD,
    SQL_EVENT_LIST,
    SQL_FACTS_DEL,
    SQL_FACTS_ADD,
    SQL_FACTS_GET,
    SQL_HCCN_PUT,
    SQL_HCCN_GET,
    SQL__COUNT
};

#define ST_RUN_COLS                                                         \
    "id, created, updated, cmdline, stages, options, status, reason, pid, " \
    "host, owner_since"
#define ST_NODE_COLS                                              \
    "run, node, address, batch, status, reason, boot_id_before, " \
    "boot_id_after, updated"
#define ST_STEP_COLS                                                        \
    "run, node, stage, step, status, attempt, exit_code, action, started, " \
    "ended, boot_id_before, boot_id_after, output_tail, output_truncated, " \
    "updated"
#define ST_HCCN_COLS \
    "node, npu, address, netmask, detect, gateway, status, detail, updated"

static const char *const st_sql_text[SQL__COUNT] = {
    [SQL_RUN_CREATE] =
        "INSERT INTO runs (created, updated, cmdline, stages, options, "
        "status, pid, host, owner_since) "
        "VALUES (?1, ?1, ?2, ?3, ?4, 'planned', ?5, ?6, ?1)",
    [SQL_RUN_STATUS] = "UPDATE runs SET status = ?2, reason = ?3, "
                       "updated = ?4 WHERE id = ?1",
    [SQL_RUN_CLAIM] = "UPDATE runs SET status = ?2, reason = ?3, "
                      "updated = ?4, pid = ?5, host = ?6, owner_since = ?4 "
                      "WHERE id = ?1",
    [SQL_RUN_GET] = "SELECT " ST_RUN_COLS " FROM runs WHERE id = ?1",
    [SQL_RUN_LIST] = "SELECT " ST_RUN_COLS " FROM runs ORDER BY id",
    [SQL_RUN_UNFINISHED] =
        "SELECT id FROM runs WHERE status IN ('planned', 'running', "
        "'paused', 'failed') ORDER BY id DESC LIMIT 1",
    [SQL_RUN_OWNED] = "SELECT id, owner_since FROM runs WHERE pid = ?1 AND "
                      "host = ?2 AND status = 'running' "
                      "ORDER BY id DESC LIMIT 1",
    [SQL_NODE_UPSERT] =
        "INSERT INTO run_nodes (run, node, address, batch, status, reason, "
        "updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
        "ON CONFLICT (run, node) DO UPDATE SET "
        "address = coalesce(excluded.address, address), "
        "batch = coalesce(excluded.batch, batch), "
        "status = excluded.status, reason = excluded.reason, "
        "updated = excluded.updated",
    [SQL_NODE_BOOT] =
        "UPDATE run_nodes SET boot_id_before = coalesce(?3, boot_id_before), "
        "boot_id_after = coalesce(?4, boot_id_after), updated = ?5 "
        "WHERE run = ?1 AND node = ?2",
    [SQL_NODE_GET] =
        "SELECT " ST_NODE_COLS " FROM run_nodes WHERE run = ?1 AND node = ?2",
    [SQL_NODE_LIST] =
        "SELECT " ST_NODE_COLS " FROM run_nodes WHERE run = ?1 ORDER BY id",
    [SQL_STEP_STATUS] = "SELECT status FROM node_steps WHERE run = ?1 AND "
                        "node = ?2 AND stage = ?3 AND step = ?4",
    [SQL_STEP_INSERT] =
        "INSERT INTO node_steps (run, node, stage, step, status, updated) "
        "VALUES (?1, ?2, ?3, ?4, 'pending', ?5)",
    /*
     * ?5 new attempt, ?6 now, ?7 back to pending, ?8 just ended, ?9 exit
     * code or NULL, ?10 action or NULL, ?11 replace output, ?12 output,
     * ?13 output truncated.
     */
    [SQL_STEP_UPDATE] =
        "UPDATE node_steps SET status = ?14, "
        "attempt = attempt + ?5, "
        "started = CASE WHEN ?5 THEN ?6 ELSE started END, "
        "ended = CASE WHEN ?5 OR ?7 THEN NULL WHEN ?8 THEN ?6 "
        "        ELSE ended END, "
        "exit_code = CASE WHEN ?9 IS NOT NULL THEN ?9 WHEN ?5 THEN NULL "
        "            ELSE exit_code END, "
        "action = coalesce(?10, action), "
        "output_tail = CASE WHEN ?11 THEN ?12 WHEN ?5 THEN NULL "
        "              ELSE output_tail END, "
        "output_truncated = CASE WHEN ?11 THEN ?13 WHEN ?5 THEN 0 "
        "                   ELSE output_truncated END, "
        "updated = ?6 "
        "WHERE run = ?1 AND node = ?2 AND stage = ?3 AND step = ?4",
    [SQL_STEP_BOOT] =
        "UPDATE node_steps SET "
        "boot_id_before = coalesce(?5, boot_id_before), "
        "boot_id_after = coalesce(?6, boot_id_after), updated = ?7 "
        "WHERE run = ?1 AND node = ?2 AND stage = ?3 AND step = ?4",
    [SQL_STEP_GET] = "SELECT " ST_STEP_COLS
                     " FROM node_steps WHERE run = ?1 AND node = ?2 AND "
                     "stage = ?3 AND step = ?4",
    [SQL_STEP_LIST] =
        "SELECT " ST_STEP_COLS " FROM node_steps WHERE run = ?1 AND "
        "(?2 IS NULL OR node = ?2) ORDER BY id",
    [SQL_EVENT_ADD] = "INSERT INTO events (run, ts, node, kind, text) "
                      "VALUES (?1, ?2, ?3, ?4, ?5)",
    [SQL_EVENT_LIST] = "SELECT id, run, ts, node, kind, text FROM events "
                       "WHERE id > ?2 AND (?1 = 0 OR run = ?1) ORDER BY id",
    [SQL_FACTS_DEL] = "DELETE FROM facts WHERE node = ?1",
    [SQL_FACTS_ADD] = "INSERT INTO facts (node, seq, key, value, "
                      "gathered_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    [SQL_FACTS_GET] = "SELECT key, value, gathered_at FROM facts "
                      "WHERE node = ?1 ORDER BY seq",
    [SQL_HCCN_PUT] = "INSERT OR REPLACE INTO hccn_results (" ST_HCCN_COLS
                     ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [SQL_HCCN_GET] = "SELECT " ST_HCCN_COLS " FROM hccn_results WHERE "
                     "?1 IS NULL OR node = ?1 ORDER BY node, npu",
};

struct st {
    sqlite3 *db;
    char *path;
    int memory;  /* ":memory:" database: no file, no lock */
    int lock_fd; /* -1 until st_lock succeeds */
    sqlite3_stmt *stmts[SQL__COUNT];
};

/* ---- small helpers ---- */

static int64_t
st_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
st_hostname(char *buf, size_t len)
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

static int
st_dberr(struct st *st, struct af_err *e, const char *what)
{
    return af_err_set(e, AF_EDB, "%s: %s: %s", st->path, what,
                      sqlite3_errmsg(st->db));
}

static int
st_exec(struct st *st, const char *sql, struct af_err *e)
{
    char *msg = NULL;
    int r = 0;

    if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        r = af_err_set(e, AF_EDB, "%s: %s: %s", st->path, sql,
                       msg ? msg : sqlite3_errmsg(st->db));
    }
    sqlite3_free(msg);
    return r;
}

/* A cached statement, reset and with its bindings cleared. */
static int
st_prep(struct st *st, enum st_sql id, sqlite3_stmt **out, struct af_err *e)
{
    sqlite3_stmt *s = st->stmts[id];

    *out = NULL;
    if (s == NULL) {
        if (sqlite3_prepare_v3(st->db, st_sql_text[id], -1,
                               SQLITE_PREPARE_PERSISTENT, &s,
                               NULL) != SQLITE_OK)
            return st_dberr(st, e, "prepare");
        st->stmts[id] = s;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    *out = s;
    return 0;
}

/* Reset a statement so it holds no lock and no row; accepts NULL. */
static void
st_fin(sqlite3_stmt **s)
{
    if (*s != NULL)
        sqlite3_reset(*s);
    *s = NULL;
}

static void
st_bind_str(sqlite3_stmt *s, int i, const char *v)
{
    if (v == NULL)
        sqlite3_bind_null(s, i);
    else
        sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
}

static char *
st_col_str(sqlite3_stmt *s, int i)
{
    const unsigned char *t;

    if (sqlite3_column_type(s, i) == SQLITE_NULL)
        return NULL;
    t = sqlite3_column_text(s, i);
    return af_strndup((const char *)(t ? t : (const unsigned char *)""),
                      (size_t)sqlite3_column_bytes(s, i));
}

/*
 * Start one call's transaction: BEGIN IMMEDIATE when the caller has no
 * batch open (so a write never has to upgrade a read lock), else a
 * savepoint inside the caller's batch.
 */
static int
st_op_begin(struct st *st, int *top, struct af_err *e)
{
    *top = sqlite3_get_autocommit(st->db);
    return st_exec(st, *top ? "BEGIN IMMEDIATE" : "SAVEPOINT st_op", e);
}

/* Finish what st_op_begin started: commit when r is 0, else roll back. */
static int
st_op_end(struct st *st, int top, int r, struct af_err *e)
{
    if (r == 0) {
        r = st_exec(st, top ? "COMMIT" : "RELEASE st_op", e);
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
        r = st_dberr(st, e, "read schema");
        goto out;
    }
    if (sqlite3_step(s) != SQLITE_ROW) {
        r = st_dberr(st, e, "read schema");
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
        r = st_dberr(st, e, "read schema_version");
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
            r = st_dberr(st, e, "read schema_version");
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
    if ((r = st_op_begin(st, &top, e)) != 0)
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
        if ((r = st_exec(st, st_migrations[version], e)) != 0)
            goto out;
    }
    if (sqlite3_prepare_v2(st->db,
                           "INSERT OR REPLACE INTO meta (key, value) VALUES "
                           "('schema_version', ?1), ('application', "
                           "'ascend-fleet'), ('migrated_at', ?2)",
                           -1, &s, NULL) != SQLITE_OK) {
        r = st_dberr(st, e, "write meta");
        goto out;
    }
    sqlite3_bind_int(s, 1, ST_SCHEMA_VERSION);
    sqlite3_bind_int64(s, 2, st_now_ms());
    if (sqlite3_step(s) != SQLITE_DONE) {
        r = st_dberr(st, e, "write meta");
        goto out;
    }
    snprintf(sql, sizeof(sql), "PRAGMA application_id = %d", ST_APPLICATION_ID);
    r = st_exec(st, sql, e);
out:
    sqlite3_finalize(s);
    if (began)
        r = st_op_end(st, top, r, e);
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
    st = af_calloc(1, sizeof(*st));
    st->path = af_strdup(path);
    st->lock_fd = -1;
    st->memory = strcmp(path, ":memory:") == 0;
    rc = sqlite3_open_v2(
        path, &st->db,
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        if (st->db == NULL)
            r = af_err_set(e, AF_EDB, "%s: cannot open: %s", path,
                           sqlite3_errstr(rc));
        else
            r = st_dberr(st, e, "cannot open");
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
            r = st_dberr(st, e, "set WAL mode");
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
    if ((r = st_exec(st, "PRAGMA synchronous = FULL", e)) != 0 ||
        (r = st_exec(st, "PRAGMA foreign_keys = ON", e)) != 0)
        goto out;
    if ((r = st_migrate(st, e)) != 0)
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
    if (st->lock_fd >= 0) {
        /* Clear the owner line so a stale one is never shown. */
        if (ftruncate(st->lock_fd, 0) != 0) {
            /* nothing to do: closing releases the lock anyway */
        }
        close(st->lock_fd);
    }
    free(st->path);
    free(st);
}

const char *
st_path(const struct st *st)
{
    return st->path;
}

/* ---- run lock ---- */

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
    st_hostname(myhost, sizeof(myhost));
    where[0] = '\0';
    if (strcmp(host, myhost) != 0)
        snprintf(where, sizeof(where), " on host %s", host);
    /* The owner's running run, if it has one (read only, best effort). */
    if (st_prep(st, SQL_RUN_OWNED, &s, NULL) == 0) {
        sqlite3_bind_int64(s, 1, pid);
        sqlite3_bind_text(s, 2, host, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(s) == SQLITE_ROW) {
            run = sqlite3_column_int64(s, 0);
            if (sqlite3_column_type(s, 1) != SQLITE_NULL)
                since = sqlite3_column_int64(s, 1);
        }
        st_fin(&s);
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
    fd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        err = errno;
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
    st_hostname(host, sizeof(host));
    len = snprintf(line, sizeof(line), "pid=%ld host=%s since=%" PRId64 "\n",
                   (long)getpid(), host, st_now_ms());
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

/* ---- batches ---- */

int
st_begin(struct st *st, struct af_err *e)
{
    if (!sqlite3_get_autocommit(st->db))
        return af_err_set(e, AF_EINPUT, "%s: a batch is already open",
                          st->path);
    return st_exec(st, "BEGIN IMMEDIATE", e);
}

int
st_commit(struct st *st, struct af_err *e)
{
    int r;

    if (sqlite3_get_autocommit(st->db))
        return af_err_set(e, AF_EINPUT, "%s: no batch is open", st->path);
    r = st_exec(st, "COMMIT", e);
    if (r != 0 && !sqlite3_get_autocommit(st->db))
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return r;
}

int
st_rollback(struct st *st, struct af_err *e)
{
    if (sqlite3_get_autocommit(st->db))
        return af_err_set(e, AF_EINPUT, "%s: no batch is open", st->path);
    return st_exec(st, "ROLLBACK", e);
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
        r = st_dberr(st, e, "integrity_check");
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
        r = st_dberr(st, e, "foreign_key_check");
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
        r = st_dberr(st, e, "foreign_key_check");
        goto out;
    }
    r = 0;
out:
    sqlite3_finalize(s);
    return r;
}

/* ---- runs ---- */

int
st_run_create(struct st *st,
              const char *cmdline,
              const char *stages,
              const char *options_json,
              int64_t *run_id,
              struct af_err *e)
{
    sqlite3_stmt *s = NULL;
    char host[ST_HOST_MAX];
    int r = AF_EINTERNAL, rc;

    *run_id = 0;
    if (cmdline == NULL || stages == NULL) {
        r = af_err_set(e, AF_EINPUT, "run needs a command line and stages");
        goto out;
    }
    if ((r = st_prep(st, SQL_RUN_CREATE, &s, e)) != 0)
        goto out;
    st_hostname(host, sizeof(host));
    sqlite3_bind_int64(s, 1, st_now_ms());
    st_bind_str(s, 2, cmdline);
    st_bind_str(s, 3, stages);
    st_bind_str(s, 4, options_json ? options_json : "{}");
    sqlite3_bind_int64(s, 5, (sqlite3_int64)getpid());
    st_bind_str(s, 6, host);
    rc = sqlite3_step(s);
    if (rc == SQLITE_CONSTRAINT_CHECK) {
        r = af_err_set(e, AF_EINPUT, "run options are not valid JSON: %s",
                       options_json);
        goto out;
    }
    if (rc != SQLITE_DONE) {
        r = st_dberr(st, e, "create run");
        goto out;
    }
    *run_id = sqlite3_last_insert_rowid(st->db);
    r = 0;
out:
    st_fin(&s);
    return r;
}

int
st_run_set_status(struct st *st,
                  int64_t run,
                  enum st_run_status status,
                  const char *reason,
                  struct af_err *e)
{
    sqlite3_stmt *s = NULL;
    char host[ST_HOST_MAX];
    int r = AF_EINTERNAL, claim = status == ST_RUN_RUNNING;

    if ((r = st_prep(st, claim ? SQL_RUN_CLAIM : SQL_RUN_STATUS, &s, e)) != 0)
        goto out;
    sqlite3_bind_int64(s, 1, run);
    st_bind_str(s, 2, st_run_status_name(status));
    st_bind_str(s, 3, reason);
    sqlite3_bind_int64(s, 4, st_now_ms());
    if (claim) {
        st_hostname(host, sizeof(host));
        sqlite3_bind_int64(s, 5, (sqlite3_int64)getpid());
        st_bind_str(s, 6, host);
    }
    if (sqlite3_step(s) != SQLITE_DONE) {
        r = st_dberr(st, e, "set run status");
        goto out;
    }
    if (sqlite3_changes(st->db) == 0) {
        r = af_err_set(e, AF_ENOTFOUND, "%s: no run %" PRId64, st->path, run);
        goto out;
    }
    r = 0;
out:
    st_fin(&s);
    return r;
}

static int
st_bad_status(struct st *st,
              const char *table,
              sqlite3_stmt *s,
              int col,
              struct af_err *e)
{
    const unsigned char *t = sqlite3_column_text(s, col);

    return af_err_set(e, AF_EDB, "%s: unknown status '%s' in %s", st->path,
                      t ? (const char *)t : "(null)", table);
}

static int
st_read_run(struct st *st,
            sqlite3_stmt *s,
            struct st_run *out,
            struct af_err *e)
{
    int v;

    memset(out, 0, sizeof(*out));
    v = st_find(st_run_names, ST_NELEM(st_run_names),
                (const char *)sqlite3_column_text(s, 6));
    if (v < 0)
        return st_bad_status(st, "runs", s, 6, e);
    out->id = sqlite3_column_int64(s, 0);
    out->created = sqlite3_column_int64(s, 1);
    out->updated = sqlite3_column_int64(s, 2);
    out->cmdline = st_col_str(s, 3);
    out->stages = st_col_str(s, 4);
    out->options_json = st_col_str(s, 5);
    out->status = (enum st_run_status)v;
    out->reason = st_col_str(s, 7);
    out->pid = sqlite3_column_int64(s, 8);
    out->host = st_col_str(s, 9);
    out->owner_since = sqlite3_column_int64(s, 10);
    return 0;
}

void
st_run_clear(struct st_run *r)
{
    if (r == NULL)
        return;
    free(r->cmdline);
    free(r->stages);
    free(r->options_json);
    free(r->reason);
    free(r->host);
    memset(r, 0, sizeof(*r));
}

int
st_run_get(struct st *st, int64_t run, struct st_run *out, struct af_err *e)
{
    sqlite3_stmt *s = NULL;
    int r = AF_EINTERNAL, rc;

    memset(out, 0, sizeof(*out));
    if ((r = st_prep(st, SQL_RUN_GET, &s, e)) != 0)
        goto out;
    sqlite3_bind_int64(s, 1, run);
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        r = af_err_set(e, AF_ENOTFOUND, "%s: no run %" PRId64, st->path, run);
        goto out;
    }
    if (rc != SQLITE_ROW) {
        r = st_dberr(st, e, "read run");
        goto out;
    }
    r = st_read_run(st, s, out, e);
out:
    st_fin(&s);
    return r;
}

int
st_run_last_unfinished(struct st *st, int64_t *run, struct af_err *e)
{
    sqlite3_stmt *s = NULL;
    int r = AF_EINTERNAL, rc;

    *run = 0;
    if ((r = st_prep(st, SQL_RUN_UNFINISHED, &s, e)) != 0)
        goto out;
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        r = af_err_set(e, AF_ENOTFOUND, "%s: no unfinished run", st->path);
        goto out;
    }
    if (rc != SQLITE_ROW) {
        r = st_dberr(st, e, "find unfinished run");
        goto out;
    }
    *run = sqlite3_column_int64(s, 0);
    r = 0;
out:
    st_fin(&s);
    return r;
}

void
st_runs_free(struct st_run *runs, size_t n)
{
    size_t i;

    if (runs == NULL)
        return;
    for (i = 0; i < n; i++)
        st_run_clear(&runs[i]);
    free(runs);
}

int
st_run_list(struct st *st, struct st_run **out, size_t *n, struct af_err *e)
{
    sqlite3_stmt *s = NULL;
    struct st_run *arr = NULL;
    size_t cnt = 0, cap = 0;
    int r = AF_EINTERNAL, rc;

    *out = NULL;
    *n = 0;
    if ((r = st_prep(st, SQL_RUN_LIST, &s, e)) != 0)
        goto out;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (cnt == cap) {
            cap = cap ? cap * 2 : 8;
            arr = af_reallocarray(arr, cap, sizeof(*arr));
        }
        if ((r = st_read_run(st, s, &arr[cnt], e)) != 0)
            goto out;
        cnt++;
    }
    if (rc != SQLITE_DONE) {
        r = st_dberr(st, e, "list runs");
        goto out;
    }
    *out = arr;
    *n = cnt;
    arr = NULL;
    r = 0;
out:
    st_fin(&s);
    st_runs_free(arr, cnt);
    return r;
}

/* ---- nodes of a run ---- */

int
st_node_upsert(struct st *st,
               int64_t run,
               const char *node,
               const char *address,
               int batch,
               enum st_node_status status,
               const char *reason,
               struct af_err *e)
{
    sqlite3_stmt *s = NULL;
    int r = AF_EINTERNAL, rc;

    if ((r = st_prep(st, SQL_NODE_UPSERT, &s, e)) != 0)
        goto out;
    sqlite3_bind_int64(s, 1, run);
    st_bind_str(s, 2, node);
    st_bind_str(s, 3, address);
    if (batch >= 0)
        sqlite3_bind_int(s, 4, batch);
    st_bind_str(s, 5, st_node_status_name(status));
    st_bind_str(s, 6, reason);
    sqlite3_bind_int64(s, 7, st_now_ms());
    rc = sqlite3_step(s);
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
        r = af_err_set(e, AF_ENOTFOUND, "%s: no run %" PRId64, st->path, run);
        goto out;
    }
    if (rc != SQLITE_DONE) {
        r = st_dberr(st, e, "write run node");
        goto out;
    }
    r = 0;
out:
    st_fin(&s);
    return r;
}

int
st_node_set_boot(struct st *st,
                 int64_t run,
                 const char *node,
                 const char *before,
                 const char *after,
                 struct af_err *e)
{
    sqlite3_stmt *s = NULL;
    int r = AF_EINTERNAL;

    if ((r = st_prep(st, SQL_NODE_BOOT, &s, e)) != 0)
        goto out;
    sqlite3_bind_int64(s, 1, run);
    st_bind_str(s, 2, node);
    st_bind_str(s, 3, before);
    st_bind_str(s, 4, after);
    sqlite3_bind_int64(s, 5, st_now_ms());
    if (sqlite3_step(s) != SQLITE_DONE) {
        r = st_dberr(st, e, "write boot ids");
        goto out;
    }
    if (sqlite3_changes(st->db) == 0) {
        r = af_err_set(e, AF_ENOTFOUND, "%s: node %s is not in run %" PRId64,
                       st->path, node, run);
        goto out;
    }
    r = 0;
out:
    st_fin(&s);
    return r;
}

static int
st_read_node(struct st *st,
             sqlite3_stmt *s,
             struct st_node *out,
             struct af_err *e)
{
    int v;

    memset(out, 0, sizeof(*out));
    v = st_find(st_node_names, ST_NELEM(st_node_names),
                (const char *)sqlite3_column_text(s, 4));
    if (v < 0)
        return st_bad_status(st, "run_nodes", s, 4, e);
    out->run = sqlite3_column_int64(s, 0);
    out->node = st_col_str(s, 1);
    out->address = st_col_str(s, 2);
    out->batch = sqlite3_column_type(s, 3) == SQLITE_NULL
                     ? -1
                     : sqlite3_column_int(s, 3);
    out->status = (enum st_node_status)v;
    out->reason = st_col_str(s, 5);
    out->boot_id_before = st_col_str(s, 6);
    out->boot_id_after = st_col_str(s, 7);
    out->updated = sqlite3_column_int64(s, 8);
    return 0;
}

void
st_node_clear(struct st_node *n)
{
    if (n == NULL)
        return;
    free(n->node);
    free(n->address);
    free(n->reason);
    free(n->boot_id_before);
    free(n->boot_id_after);
    memset(n, 0, sizeof(*n));
}

int
st_node_get(struct st *st,
            int64_t run,
            const char *node,
            struct st_node *out,
            struct af_err *e)
{
    sqlite3_stmt *s = NULL;
    int r = AF_EINTERNAL, rc;

    memset(out, 0, sizeof(*out));
    if ((r = st_prep(st, SQL_NODE_GET, &s, e)) != 0)
        goto out;
    sqlite3_bind_int64(s, 1, run);
    st_bind_str(s, 2, node);
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        r = af_err_set(e, AF_ENOTFOUND, "%s: node %s is not in run %" PRId64,
                       st->path, node, run);
        goto out;
    }
    if (rc != SQLITE_ROW) {
        r = st_dberr(st, e, "read run node");
        goto out;
    }
    r = st_read_node(st, s, out, e);
out:
    st_fin(&s);
    return r;
}

void
st_nodes_free(struct st_node *nodes, size_t n)
{
    size_t i;

    if (nodes == NULL)
        return;
    for (i = 0; i < n; i++)
        st_node_clear(&nodes[i]);
    free(nodes);
}

int
st_node_list(struct st *st,
             int64_t run,
             struct st_node **out,
             size_t *n,
             struct af_err *e)
{
    sqlite3_stmt *s = NULL;
    struct st_node *arr = NULL;
    size_t cnt = 0, cap = 0;
    int r = AF_EINTERNAL, rc;

    *out = NULL;
    *n = 0;
    if ((r = st_prep(st, SQL_NODE_LIST, &s, e)) != 0)
        goto out;
    sqlite3_bind_int64(s, 1, run);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (cnt == cap) {
            cap = cap ? cap * 2 : 16;
            arr = af_reallocarray(arr, cap, sizeof(*arr));
        }
        if ((r = st_read_node(st, s, &arr[cnt], e)) != 0)
            goto out;
        cnt++;
    }
    if (rc != SQLITE_DONE) {
        r = st_dberr(st, e, "list run nodes");
        goto out;
    }
    *out = arr;
    *n = cnt;
    arr = NULL;
    r = 0;
out:
    st_fin(&s);
    st_nodes_free(arr, cnt);
    return r;
}

/* ---- node steps ---- */

static int
st_step_terminal(enum st_step_status s)
{
    return s == ST_STEP_DONE || s == ST_STEP_SKIPPED || s == ST_STEP_FAILED ||
           s == ST_STEP_BLOCKED;
}

static void
st_bind_step_key(sqlite3_stmt *s,
                 int64_t run,
                 const char *node,
                 const char *stage,
                 const char *step)
{
    sqlite3_bind_int64(s, 1, run);
    st_bind_str(s, 2, node);
    st_bind_str(s, 3, stage);
    st_bind_str(s, 4, step);
}

/*
 * Offset of the kept tail: the last ST_OUTPUT_TAIL_MAX bytes, moved
 * forward past at most three UTF-8 continuation bytes so the tail starts on
 * a character.
 */
static size_t
st_tail_start(const char *p, size_t len)
{
    size_t off, lim;

    if (len <= ST_OUTPUT_TAIL_MAX)
        return 0;
    off = len - ST_OUTPUT_TAIL_MAX;
    lim = off + 3;
    while (off < lim && ((unsigned char)p[off] & 0xC0) == 0x80)
        off++;
    return off;
}

int
st_step_set(struct st *st,
            int64_t run,
            const char *node,
            const char *stage,
            const char *step,
            enum st_step_status status,
            int exit_code,
            const char *action,
            const char *output,
            size_t output_len,
            int truncated,
            struct af_err *e)
{
    sqlite3_stmt *s = NULL;
    enum st_step_status prev = ST_STEP_PENDING;
    int64_t now = st_now_ms();
    int r = AF_EINTERNAL, rc, top = 0, began = 0, exists = 0, v;
    size_t off;

    if ((r = st_op_begin(st, &top, e)) != 0)
        goto out;
    began = 1;
    if ((r = st_prep(st, SQL_STEP_STATUS, &s, e)) != 0)
        goto out;
    st_bind_step_key(s, run, node, stage, step);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        exists = 1;
        v = st_find(st_step_names, ST_NELEM(st_step_names),
                    (const char *)sqlite3_column_text(s, 0));
        if (v < 0) {
            r = st_bad_status(st, "node_steps", s, 0, e);
            goto out;
        }
        prev = (enum st_step_status)v;
    } else if (rc != SQLITE_DONE) {
        r = st_dberr(st, e, "read step");
        goto out;
    }
    st_fin(&s);
    if (!exists) {
        if ((r = st_prep(st, SQL_STEP_INSERT, &s, e)) != 0)
            goto out;
        st_bind_step_key(s, run, node, stage, step);
        sqlite3_bind_int64(s, 5, now);
        rc = sqlite3_step(s);
        if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
            r = af_err_set(e, AF_ENOTFOUND,
                           "%s: node %s is not in run %" PRId64, st->path, node,
                           run);
            goto out;
        }
        if (rc != SQLITE_DONE) {
            r = st_dberr(st, e, "insert step");
            goto out;
        }
        st_fin(&s);
    }
    if ((r = st_prep(st, SQL_STEP_UPDATE, &s, e)) != 0)
        goto out;
    st_bind_step_key(s, run, node, stage, step);
    sqlite3_bind_int(s, 5,
                     status == ST_STEP_RUNNING &&
                         (!exists || prev != ST_STEP_RUNNING));
    sqlite3_bind_int64(s, 6, now);
    sqlite3_bind_int(s, 7, status == ST_STEP_PENDING);
    sqlite3_bind_int(s, 8,
                     st_step_terminal(status) && (!exists || prev != status));
    if (exit_code != ST_NO_EXIT)
        sqlite3_bind_int(s, 9, exit_code);
    st_bind_str(s, 10, action);
    sqlite3_bind_int(s, 11, output != NULL);
    if (output != NULL) {
        off = st_tail_start(output, output_len);
        sqlite3_bind_text(s, 12, output + off, (int)(output_len - off),
                          SQLITE_TRANSIENT);
        sqlite3_bind_int(s, 13, truncated || off > 0);
    }
    st_bind_str(s, 14, st_step_status_name(status));
    if (sqlite3_step(s) != SQLITE_DONE) {
        r = st_dberr(st, e, "update step");
        goto out;
    }
    r = 0;
out:
    st_fin(&s);
    if (began)
        r = st_op_end(st, top, r, e);
    return r;
}

int
st_step_set_boot(struct st *st,
                 int64_t run,
                 const char *node,
                 const char *stage,
                 const char *step,
                 const char *before,
                 const char *after,
                 struct af_err *e)
{
    sqlite3_stmt *s = NULL;
    int r = AF_EINTERNAL;

    if ((r = st_prep(st, SQL_STEP_BOOT, &s, e)) != 0)
        goto out;
    st_bind_step_key(s, run, node, stage, step);
    st_bind_str(s, 5, before);
    st_bind_str(s, 6, after);
    sqlite3_bind_int64(s, 7, st_now_ms());
    if (sqlite3_step(s) != SQLITE_DONE) {
        r = st_dberr(st, e, "write step boot ids");
        goto out;
    }
    if (sqlite3_changes(st->db) == 0) {
        r = af_err_set(e, AF_ENOTFOUND,
                       "%s: no step %s/%s for node %s in run %" PRId64,
                       st->path, stage, step, node, run);
        goto out;
    }
    r = 0;
out:
    st_fin(&s);
    return r;
}

static int
st_read_step(struct st *st,
             sqlite3_stmt *s,
             struct st_step *out,
             struct af_err *e)
{
    int v;

    memset(out, 0, sizeof(*out));
    v = st_find(st_step_names, ST_NELEM(st_step_names),
                (const char *)sqlite3_column_text(s, 4));
    if (v < 0)
        return st_bad_status(st, "node_steps", s, 4, e);
    out->run = sqlite3_column_int64(s, 0);
    out->node = st_col_str(s, 1);
    out->stage = st_col_str(s, 2);
    out->step = st_col_str(s, 3);
    out->status = (enum st_step_status)v;
    out->attempt = sqlite3_column_int(s, 5);
    out->exit_code = sqlite3_column_type(s, 6) == SQLITE_NULL
                         ? ST_NO_EXIT
                         : sqlite3_column_int(s, 6);
    out->action = st_col_str(s, 7);
    out->started = sqlite3_column_int64(s, 8);
    out->ended = sqlite3_column_int64(s, 9);
    out->boot_id_before = st_col_str(s, 10);
    out->boot_id_after = st_col_str(s, 11);
    out->output = st_col_str(s, 12);
    out->output_len = out->output ? (size_t)sqlite3_column_bytes(s, 12) : 0;
    out->output_truncated = sqlite3_column_int(s, 13) != 0;
    out->updated = sqlite3_column_int64(s, 14);
    return 0;
}

void
st_step_clear(struct st_step *s)
{
    if (s == NULL)
        return;
    free(s->node);
    free(s->stage);
    free(s->step);
    free(s->action);
    free(s->boot_id_before);
    free(s->boot_id_after);
    free(s->output);
    memset(s, 0, sizeof(*s));
}

int
st_step_get(struct st *st,
            int64_t run,
            const char *node,
            const char *stage,
            const char *step,
            struct st_step *out,
            struct af_err *e)
{
    sqlite3_stmt *s = NULL;
    int r = AF_EINTERNAL, rc;

    memset(out, 0, sizeof(*out));
    if ((r = st_prep(st, SQL_STEP_GET, &s, e)) != 0)
        goto out;
    st_bind_step_key(s, run, node, stage, step);
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        r = af_err_set(e, AF_ENOTFOUND,
                       "%s: no step %s/%s for node %s in run %" PRId64,
                       st->path, stage, step, node, run);
        goto out;
    }
    if (rc != SQLITE_ROW) {
        r = st_dberr(st, e, "read step");
        goto out;
    }
    r = st_read_step(st, s, out, e);
out:
    st_fin(&s);
    return r;
}

void
st_steps_free(struct st_step *steps, size_t n)
{
    size_t i;

    if (steps == NULL)
        return;
    for (i = 0; i < n; i++)
        st_step_clear(&steps[i]);
    free(steps);
}

int
st_step_list(struct st *st,
             int64_t run,
             const char *node,
             struct st_step **out,
             size_t *n,
             struct af_err *e)
{
    sqlite3_stmt *s = NULL;
    struct st_step *arr = NULL;
    size_t cnt = 0, cap = 0;
    int r = AF_EINTERNAL, rc;

    *out = NULL;
    *n = 0;
    if ((r = st_prep(st, SQL_STEP_LIST, &s, e)) != 0)
        goto out;
    sqlite3_bind_int64(s, 1, run);
    st_bind_str(s, 2, node);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (cnt == cap) {
            cap = cap ? cap * 2 : 16;
            arr = af_reallocarray(arr, cap, sizeof(*arr));
        }
        if ((r = st_read_step(st, s, &arr[cnt], e)) != 0)
            goto out;
        cnt++;
    }
    if (rc != SQLITE_DONE) {
        r = st_dberr(st, e, "list steps");
        goto out;
    }
    *out = arr;
    *n = cnt;
    arr = NULL;
    r = 0;
out:
    st_fin(&s);
    st_steps_free(arr, cnt);
    return r;
}

/* ---- events ---- */

int
st_event(struct st *st,
         int64_t run,
         const char *node,
         const char *kind,
         const char *fmt,
         ...)
{
    char text[ST_EVENT_TEXT_MAX + 1];
    sqlite3_stmt *s = NULL;
    va_list ap;
    int r = AF_EINTERNAL, w;

    va_start(ap, fmt);
    w = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (w < 0)
        snprintf(text, sizeof(text), "(unformattable event text)");
    else if ((size_t)w >= sizeof(text))
        memcpy(text + sizeof(text) - 4, "...", 4);
    if ((r = st_prep(st, SQL_EVENT_ADD, &s, NULL)) != 0)
        goto out;
    if (run > 0)
        sqlite3_bind_int64(s, 1, run);
    sqlite3_bind_int64(s, 2, st_now_ms());
    st_bind_str(s, 3, node);
    st_bind_str(s, 4, kind ? kind : "note");
    st_bind_str(s, 5, text);
    r = sqlite3_step(s) == SQLITE_DONE ? 0 : AF_EDB;
out:
    st_fin(&s);
    return r;
}

void
st_events_free(struct st_event *events, size_t n)
{
    size_t i;

    if (events == NULL)
        return;
    for (i = 0; i < n; i++) {
        free(events[i].node);
        free(events[i].kind);
        free(events[i].text);
    }
    free(events);
}

int
st_event_list(struct st *st,
              int64_t run,
              int64_t after_id,
              struct st_event **out,
              size_t *n,
              struct af_err *e)
{
    sqlite3_stmt *s = NULL;
    struct st_event *arr = NULL, *ev;
    size_t cnt = 0, cap = 0;
    int r = AF_EINTERNAL, rc;

    *out = NULL;
    *n = 0;
    if ((r = st_prep(st, SQL_EVENT_LIST, &s, e)) != 0)
        goto out;
    sqlite3_bind_int64(s, 1, run);
    sqlite3_bind_int64(s, 2, after_id);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (cnt == cap) {
            cap = cap ? cap * 2 : 32;
            arr = af_reallocarray(arr, cap, sizeof(*arr));
        }
        ev = &arr[cnt++];
        ev->id = sqlite3_column_int64(s, 0);
        ev->run = sqlite3_column_int64(s, 1);
        ev->ts = sqlite3_column_int64(s, 2);
        ev->node = st_col_str(s, 3);
        ev->kind = st_col_str(s, 4);
        ev->text = st_col_str(s, 5);
    }
    if (rc != SQLITE_DONE) {
        r = st_dberr(st, e, "list events");
        goto out;
    }
    *out = arr;
    *n = cnt;
    arr = NULL;
    r = 0;
out:
    st_fin(&s);
    st_events_free(arr, cnt);
    return r;
}

/* ---- facts ---- */

int
st_facts_put(struct st *st,
             const char *node,
             const struct af_kv *kv,
             struct af_err *e)
{
    sqlite3_stmt *s = NULL;
    int64_t now = st_now_ms();
    int r = AF_EINTERNAL, top = 0, began = 0;
    size_t i;

    if ((r = st_op_begin(st, &top, e)) != 0)
        goto out;
    began = 1;
    if ((r = st_prep(st, SQL_FACTS_DEL, &s, e)) != 0)
        goto out;
    st_bind_str(s, 1, node);
    if (sqlite3_step(s) != SQLITE_DONE) {
        r = st_dberr(st, e, "delete facts");
        goto out;
    }
    st_fin(&s);
    if ((r = st_prep(st, SQL_FACTS_ADD, &s, e)) != 0)
        goto out;
    for (i = 0; i < kv->n; i++) {
        sqlite3_reset(s);
        st_bind_str(s, 1, node);
        sqlite3_bind_int64(s, 2, (sqlite3_int64)i);
        st_bind_str(s, 3, kv->keys[i]);
        st_bind_str(s, 4, kv->vals[i] ? kv->vals[i] : "");
        sqlite3_bind_int64(s, 5, now);
        if (sqlite3_step(s) != SQLITE_DONE) {
            r = st_dberr(st, e, "store facts");
            goto out;
        }
    }
    r = 0;
out:
    st_fin(&s);
    if (began)
        r = st_op_end(st, top, r, e);
    return r;
}

int
st_facts_get(struct st *st,
             const char *node,
             struct af_kv *out,
             int64_t *gathered_at,
             struct af_err *e)
{
    sqlite3_stmt *s = NULL;
    size_t cnt = 0;
    int r = AF_EINTERNAL, rc;

    if (gathered_at != NULL)
        *gathered_at = 0;
    if ((r = st_prep(st, SQL_FACTS_GET, &s, e)) != 0)
        goto out;
    st_bind_str(s, 1, node);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        af_kv_add(out, (const char *)sqlite3_column_text(s, 0),
                  (const char *)sqlite3_column_text(s, 1));
        if (gathered_at != NULL)
            *gathered_at = sqlite3_column_int64(s, 2);
        cnt++;
    }
    if (rc != SQLITE_DONE) {
        r = st_dberr(st, e, "read facts");
        goto out;
    }
    if (cnt == 0) {
        r = af_err_set(e, AF_ENOTFOUND, "%s: no facts for node %s", st->path,
                       node);
        goto out;
    }
    r = 0;
out:
    st_fin(&s);
    return r;
}

/* ---- hccn results ---- */

int
st_hccn_put(struct st *st, const struct st_hccn *h, struct af_err *e)
{
    sqlite3_stmt *s = NULL;
    int r = AF_EINTERNAL;

    if ((r = st_prep(st, SQL_HCCN_PUT, &s, e)) != 0)
        goto out;
    st_bind_str(s, 1, h->node);
    sqlite3_bind_int(s, 2, h->npu);
    st_bind_str(s, 3, h->address);
    st_bind_str(s, 4, h->netmask);
    st_bind_str(s, 5, h->detect);
    st_bind_str(s, 6, h->gateway);
    st_bind_str(s, 7, st_hccn_status_name(h->status));
    st_bind_str(s, 8, h->detail);
    sqlite3_bind_int64(s, 9, st_now_ms());
    if (sqlite3_step(s) != SQLITE_DONE) {
        r = st_dberr(st, e, "store hccn result");
        goto out;
    }
    r = 0;
out:
    st_fin(&s);
    return r;
}

void
st_hccn_free(struct st_hccn *rows, size_t n)
{
    size_t i;

    if (rows == NULL)
        return;
    for (i = 0; i < n; i++) {
        free(rows[i].node);
        free(rows[i].address);
        free(rows[i].netmask);
        free(rows[i].detect);
        free(rows[i].gateway);
        free(rows[i].detail);
    }
    free(rows);
}

int
st_hccn_get(struct st *st,
            const char *node,
            struct st_hccn **out,
            size_t *n,
            struct af_err *e)
{
    sqlite3_stmt *s = NULL;
    struct st_hccn *arr = NULL, *h;
    size_t cnt = 0, cap = 0;
    int r = AF_EINTERNAL, rc, v;

    *out = NULL;
    *n = 0;
    if ((r = st_prep(st, SQL_HCCN_GET, &s, e)) != 0)
        goto out;
    st_bind_str(s, 1, node);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        v = st_find(st_hccn_names, ST_NELEM(st_hccn_names),
                    (const char *)sqlite3_column_text(s, 6));
        if (v < 0) {
            r = st_bad_status(st, "hccn_results", s, 6, e);
            goto out;
        }
        if (cnt == cap) {
            cap = cap ? cap * 2 : 16;
            arr = af_reallocarray(arr, cap, sizeof(*arr));
        }
        h = &arr[cnt++];
        h->node = st_col_str(s, 0);
        h->npu = sqlite3_column_int(s, 1);
        h->address = st_col_str(s, 2);
        h->netmask = st_col_str(s, 3);
        h->detect = st_col_str(s, 4);
        h->gateway = st_col_str(s, 5);
        h->status = (enum st_hccn_status)v;
        h->detail = st_col_str(s, 7);
        h->updated = sqlite3_column_int64(s, 8);
    }
    if (rc != SQLITE_DONE) {
        r = st_dberr(st, e, "read hccn results");
        goto out;
    }
    *out = arr;
    *n = cnt;
    arr = NULL;
    r = 0;
out:
    st_fin(&s);
    st_hccn_free(arr, cnt);
    return r;
}
