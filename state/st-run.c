/* SPDX-License-Identifier: MIT */
/*
 * SQLite state file, runs and what they are made of: the runs table (with
 * the run options read through SQLite's JSON functions), the nodes of a
 * run and their steps.
 */
#include "st.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "af-err.h"
#include "af-mem.h"
#include "af-proto.h"
#include "st-internal.h"

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

static const char *const st_run_sql[SQL__COUNT] = {
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
    [SQL_RUN_UNFINISHED] = "SELECT id FROM runs WHERE status IN ('planned', "
                           "'running', 'paused', 'failed', 'interrupted') "
                           "ORDER BY id DESC LIMIT 1",
    /* One row per top-level key; no row for the run means no such run. */
    [SQL_RUN_OPTIONS] =
        "SELECT j.key, CASE WHEN j.type IN ('object', 'array') THEN j.value "
        "WHEN j.type IN ('true', 'false') THEN j.type "
        "WHEN j.type = 'null' THEN NULL ELSE CAST(j.atom AS TEXT) END "
        "FROM runs LEFT JOIN json_each(runs.options) AS j WHERE runs.id = ?1 "
        "ORDER BY j.id",
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
     * ?13 output truncated, ?14 status.
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
    [SQL_STEP_BOOT] = "UPDATE node_steps SET "
                      "boot_id_before = coalesce(?5, boot_id_before), "
                      "boot_id_after = coalesce(?6, boot_id_after), "
                      "updated = ?7 WHERE run = ?1 AND node = ?2 AND "
                      "stage = ?3 AND step = ?4",
    [SQL_STEP_GET] = "SELECT " ST_STEP_COLS
                     " FROM node_steps WHERE run = ?1 AND node = ?2 AND "
                     "stage = ?3 AND step = ?4",
    [SQL_STEP_LIST] =
        "SELECT " ST_STEP_COLS " FROM node_steps WHERE run = ?1 AND "
        "(?2 IS NULL OR node = ?2) ORDER BY id",
};

static int
run_prep(struct st *st, enum st_sql id, sqlite3_stmt **s, struct af_err *e)
{
    return st__prep(st, id, st_run_sql[id], s, e);
}

/* Step a write statement; AF_EDB naming what on failure. */
static int
run_step_done(struct st *st,
              sqlite3_stmt *s,
              const char *what,
              struct af_err *e)
{
    if (sqlite3_step(s) != SQLITE_DONE)
        return st__dberr(st, e, what);
    return 0;
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
    if ((r = st__writable(st, "create a run", e)) != 0 ||
        (r = run_prep(st, SQL_RUN_CREATE, &s, e)) != 0)
        goto out;
    st__hostname(host, sizeof(host));
    sqlite3_bind_int64(s, 1, st__now_ms());
    st__bind_str(s, 2, cmdline);
    st__bind_str(s, 3, stages);
    st__bind_str(s, 4, options_json ? options_json : "{}");
    sqlite3_bind_int64(s, 5, (sqlite3_int64)getpid());
    st__bind_str(s, 6, host);
    rc = sqlite3_step(s);
    if (rc == SQLITE_CONSTRAINT_CHECK) {
        r = af_err_set(e, AF_EINPUT, "run options are not valid JSON: %s",
                       options_json);
        goto out;
    }
    if (rc != SQLITE_DONE) {
        r = st__dberr(st, e, "create run");
        goto out;
    }
    *run_id = sqlite3_last_insert_rowid(st->db);
    r = 0;
out:
    st__fin(&s);
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

    if ((r = st__writable(st, "set a run's status", e)) != 0 ||
        (r = run_prep(st, claim ? SQL_RUN_CLAIM : SQL_RUN_STATUS, &s, e)) != 0)
        goto out;
    sqlite3_bind_int64(s, 1, run);
    st__bind_str(s, 2, st_run_status_name(status));
    st__bind_str(s, 3, reason);
    sqlite3_bind_int64(s, 4, st__now_ms());
    if (claim) {
        st__hostname(host, sizeof(host));
        sqlite3_bind_int64(s, 5, (sqlite3_int64)getpid());
        st__bind_str(s, 6, host);
    }
    if ((r = run_step_done(st, s, "set run status", e)) != 0)
        goto out;
    if (sqlite3_changes(st->db) == 0) {
        r = af_err_set(e, AF_ENOTFOUND, "%s: no run %" PRId64, st->path, run);
        goto out;
    }
    r = 0;
out:
    st__fin(&s);
    return r;
}

static int
st_read_run(struct st *st, sqlite3_stmt *s, void *row, struct af_err *e)
{
    struct st_run *out = row;
    enum st_run_status v;

    memset(out, 0, sizeof(*out));
    if (st_run_status_parse((const char *)sqlite3_column_text(s, 6), &v,
                            NULL) != 0)
        return st__bad_status(st, "runs", s, 6, e);
    out->id = sqlite3_column_int64(s, 0);
    out->created = sqlite3_column_int64(s, 1);
    out->updated = sqlite3_column_int64(s, 2);
    out->cmdline = st__col_str(s, 3);
    out->stages = st__col_str(s, 4);
    out->options_json = st__col_str(s, 5);
    out->status = v;
    out->reason = st__col_str(s, 7);
    out->pid = sqlite3_column_int64(s, 8);
    out->host = st__col_str(s, 9);
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
    char nf[64];
    int r = AF_EINTERNAL;

    memset(out, 0, sizeof(*out));
    if ((r = run_prep(st, SQL_RUN_GET, &s, e)) != 0)
        goto out;
    sqlite3_bind_int64(s, 1, run);
    snprintf(nf, sizeof(nf), "no run %" PRId64, run);
    r = st__get_one(st, s, out, st_read_run, "read run", nf, e);
out:
    st__fin(&s);
    return r;
}

int
st_run_options(struct st *st, int64_t run, struct af_kv *out, struct af_err *e)
{
    sqlite3_stmt *s = NULL;
    int r = AF_EINTERNAL, rc, rows = 0;

    if ((r = run_prep(st, SQL_RUN_OPTIONS, &s, e)) != 0)
        goto out;
    sqlite3_bind_int64(s, 1, run);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        rows++;
        /* No key: the LEFT JOIN's row of a run without options. */
        if (sqlite3_column_type(s, 0) == SQLITE_NULL ||
            sqlite3_column_type(s, 1) == SQLITE_NULL)
            continue;
        af_kv_add(out, (const char *)sqlite3_column_text(s, 0),
                  (const char *)sqlite3_column_text(s, 1));
    }
    if (rc != SQLITE_DONE) {
        r = st__dberr(st, e, "read run options");
        goto out;
    }
    if (rows == 0) {
        r = af_err_set(e, AF_ENOTFOUND, "%s: no run %" PRId64, st->path, run);
        goto out;
    }
    r = 0;
out:
    st__fin(&s);
    return r;
}

int
st_run_last_unfinished(struct st *st, int64_t *run, struct af_err *e)
{
    sqlite3_stmt *s = NULL;
    int r = AF_EINTERNAL, rc;

    *run = 0;
    if ((r = run_prep(st, SQL_RUN_UNFINISHED, &s, e)) != 0)
        goto out;
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        r = af_err_set(e, AF_ENOTFOUND, "%s: no unfinished run", st->path);
        goto out;
    }
    if (rc != SQLITE_ROW) {
        r = st__dberr(st, e, "find unfinished run");
        goto out;
    }
    *run = sqlite3_column_int64(s, 0);
    r = 0;
out:
    st__fin(&s);
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

static void
st_runs_free_cb(void *rows, size_t n)
{
    st_runs_free(rows, n);
}

int
st_run_list(struct st *st, struct st_run **out, size_t *n, struct af_err *e)
{
    sqlite3_stmt *s = NULL;
    int r;

    *out = NULL;
    *n = 0;
    if ((r = run_prep(st, SQL_RUN_LIST, &s, e)) == 0)
        r = st__collect(st, s, sizeof(**out), st_read_run, st_runs_free_cb,
                        "list runs", (void **)out, n, e);
    st__fin(&s);
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

    if ((r = st__writable(st, "write a run node", e)) != 0 ||
        (r = run_prep(st, SQL_NODE_UPSERT, &s, e)) != 0)
        goto out;
    sqlite3_bind_int64(s, 1, run);
    st__bind_str(s, 2, node);
    st__bind_str(s, 3, address);
    if (batch >= 0)
        sqlite3_bind_int(s, 4, batch);
    st__bind_str(s, 5, st_node_status_name(status));
    st__bind_str(s, 6, reason);
    sqlite3_bind_int64(s, 7, st__now_ms());
    rc = sqlite3_step(s);
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
        r = af_err_set(e, AF_ENOTFOUND, "%s: no run %" PRId64, st->path, run);
        goto out;
    }
    if (rc != SQLITE_DONE) {
        r = st__dberr(st, e, "write run node");
        goto out;
    }
    r = 0;
out:
    st__fin(&s);
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

    if ((r = st__writable(st, "write boot ids", e)) != 0 ||
        (r = run_prep(st, SQL_NODE_BOOT, &s, e)) != 0)
        goto out;
    sqlite3_bind_int64(s, 1, run);
    st__bind_str(s, 2, node);
    st__bind_str(s, 3, before);
    st__bind_str(s, 4, after);
    sqlite3_bind_int64(s, 5, st__now_ms());
    if ((r = run_step_done(st, s, "write boot ids", e)) != 0)
        goto out;
    if (sqlite3_changes(st->db) == 0) {
        r = af_err_set(e, AF_ENOTFOUND, "%s: node %s is not in run %" PRId64,
                       st->path, node, run);
        goto out;
    }
    r = 0;
out:
    st__fin(&s);
    return r;
}

static int
st_read_node(struct st *st, sqlite3_stmt *s, void *row, struct af_err *e)
{
    struct st_node *out = row;
    enum st_node_status v;

    memset(out, 0, sizeof(*out));
    if (st_node_status_parse((const char *)sqlite3_column_text(s, 4), &v,
                             NULL) != 0)
        return st__bad_status(st, "run_nodes", s, 4, e);
    out->run = sqlite3_column_int64(s, 0);
    out->node = st__col_str(s, 1);
    out->address = st__col_str(s, 2);
    out->batch = sqlite3_column_type(s, 3) == SQLITE_NULL
                     ? -1
                     : sqlite3_column_int(s, 3);
    out->status = v;
    out->reason = st__col_str(s, 5);
    out->boot_id_before = st__col_str(s, 6);
    out->boot_id_after = st__col_str(s, 7);
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
    char *nf = NULL;
    int r = AF_EINTERNAL;

    memset(out, 0, sizeof(*out));
    if ((r = run_prep(st, SQL_NODE_GET, &s, e)) != 0)
        goto out;
    sqlite3_bind_int64(s, 1, run);
    st__bind_str(s, 2, node);
    nf = af_asprintf("node %s is not in run %" PRId64, node, run);
    r = st__get_one(st, s, out, st_read_node, "read run node", nf, e);
out:
    free(nf);
    st__fin(&s);
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

static void
st_nodes_free_cb(void *rows, size_t n)
{
    st_nodes_free(rows, n);
}

int
st_node_list(struct st *st,
             int64_t run,
             struct st_node **out,
             size_t *n,
             struct af_err *e)
{
    sqlite3_stmt *s = NULL;
    int r;

    *out = NULL;
    *n = 0;
    if ((r = run_prep(st, SQL_NODE_LIST, &s, e)) == 0) {
        sqlite3_bind_int64(s, 1, run);
        r = st__collect(st, s, sizeof(**out), st_read_node, st_nodes_free_cb,
                        "list run nodes", (void **)out, n, e);
    }
    st__fin(&s);
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
    st__bind_str(s, 2, node);
    st__bind_str(s, 3, stage);
    st__bind_str(s, 4, step);
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

/*
 * The stored status of a step in *prev and whether the row exists in
 * *exists; inserts a pending row when it does not.
 */
static int
st_step_row(struct st *st,
            int64_t run,
            const char *node,
            const char *stage,
            const char *step,
            enum st_step_status *prev,
            int *exists,
            struct af_err *e)
{
    sqlite3_stmt *s = NULL;
    int r = AF_EINTERNAL, rc;

    *exists = 0;
    if ((r = run_prep(st, SQL_STEP_STATUS, &s, e)) != 0)
        goto out;
    st_bind_step_key(s, run, node, stage, step);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *exists = 1;
        r = 0;
        if (st_step_status_parse((const char *)sqlite3_column_text(s, 0), prev,
                                 NULL) != 0)
            r = st__bad_status(st, "node_steps", s, 0, e);
        goto out;
    }
    if (rc != SQLITE_DONE) {
        r = st__dberr(st, e, "read step");
        goto out;
    }
    st__fin(&s);
    if ((r = run_prep(st, SQL_STEP_INSERT, &s, e)) != 0)
        goto out;
    st_bind_step_key(s, run, node, stage, step);
    sqlite3_bind_int64(s, 5, st__now_ms());
    rc = sqlite3_step(s);
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
        r = af_err_set(e, AF_ENOTFOUND, "%s: node %s is not in run %" PRId64,
                       st->path, node, run);
        goto out;
    }
    if (rc != SQLITE_DONE) {
        r = st__dberr(st, e, "insert step");
        goto out;
    }
    r = 0;
out:
    st__fin(&s);
    return r;
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
    int r = AF_EINTERNAL, top = 0, began = 0, exists = 0;
    size_t off;

    if ((r = st__writable(st, "write a step", e)) != 0 ||
        (r = st__op_begin(st, &top, e)) != 0)
        goto out;
    began = 1;
    if ((r = st_step_row(st, run, node, stage, step, &prev, &exists, e)) != 0)
        goto out;
    if ((r = run_prep(st, SQL_STEP_UPDATE, &s, e)) != 0)
        goto out;
    st_bind_step_key(s, run, node, stage, step);
    sqlite3_bind_int(s, 5,
                     status == ST_STEP_RUNNING &&
                         (!exists || prev != ST_STEP_RUNNING));
    sqlite3_bind_int64(s, 6, st__now_ms());
    sqlite3_bind_int(s, 7, status == ST_STEP_PENDING);
    sqlite3_bind_int(s, 8,
                     st_step_terminal(status) && (!exists || prev != status));
    if (exit_code != ST_NO_EXIT)
        sqlite3_bind_int(s, 9, exit_code);
    st__bind_str(s, 10, action);
    sqlite3_bind_int(s, 11, output != NULL);
    if (output != NULL) {
        off = st_tail_start(output, output_len);
        sqlite3_bind_text(s, 12, output + off, (int)(output_len - off),
                          SQLITE_TRANSIENT);
        sqlite3_bind_int(s, 13, truncated || off > 0);
    }
    st__bind_str(s, 14, st_step_status_name(status));
    r = run_step_done(st, s, "update step", e);
out:
    st__fin(&s);
    if (began)
        r = st__op_end(st, top, r, e);
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

    if ((r = st__writable(st, "write step boot ids", e)) != 0 ||
        (r = run_prep(st, SQL_STEP_BOOT, &s, e)) != 0)
        goto out;
    st_bind_step_key(s, run, node, stage, step);
    st__bind_str(s, 5, before);
    st__bind_str(s, 6, after);
    sqlite3_bind_int64(s, 7, st__now_ms());
    if ((r = run_step_done(st, s, "write step boot ids", e)) != 0)
        goto out;
    if (sqlite3_changes(st->db) == 0) {
        r = af_err_set(e, AF_ENOTFOUND,
                       "%s: no step %s/%s for node %s in run %" PRId64,
                       st->path, stage, step, node, run);
        goto out;
    }
    r = 0;
out:
    st__fin(&s);
    return r;
}

static int
st_read_step(struct st *st, sqlite3_stmt *s, void *row, struct af_err *e)
{
    struct st_step *out = row;
    enum st_step_status v;

    memset(out, 0, sizeof(*out));
    if (st_step_status_parse((const char *)sqlite3_column_text(s, 4), &v,
                             NULL) != 0)
        return st__bad_status(st, "node_steps", s, 4, e);
    out->run = sqlite3_column_int64(s, 0);
    out->node = st__col_str(s, 1);
    out->stage = st__col_str(s, 2);
    out->step = st__col_str(s, 3);
    out->status = v;
    out->attempt = sqlite3_column_int(s, 5);
    out->exit_code = sqlite3_column_type(s, 6) == SQLITE_NULL
                         ? ST_NO_EXIT
                         : sqlite3_column_int(s, 6);
    out->action = st__col_str(s, 7);
    out->started = sqlite3_column_int64(s, 8);
    out->ended = sqlite3_column_int64(s, 9);
    out->boot_id_before = st__col_str(s, 10);
    out->boot_id_after = st__col_str(s, 11);
    out->output = st__col_str(s, 12);
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
    char *nf = NULL;
    int r = AF_EINTERNAL;

    memset(out, 0, sizeof(*out));
    if ((r = run_prep(st, SQL_STEP_GET, &s, e)) != 0)
        goto out;
    st_bind_step_key(s, run, node, stage, step);
    nf = af_asprintf("no step %s/%s for node %s in run %" PRId64, stage, step,
                     node, run);
    r = st__get_one(st, s, out, st_read_step, "read step", nf, e);
out:
    free(nf);
    st__fin(&s);
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

static void
st_steps_free_cb(void *rows, size_t n)
{
    st_steps_free(rows, n);
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
    int r;

    *out = NULL;
    *n = 0;
    if ((r = run_prep(st, SQL_STEP_LIST, &s, e)) == 0) {
        sqlite3_bind_int64(s, 1, run);
        st__bind_str(s, 2, node);
        r = st__collect(st, s, sizeof(**out), st_read_step, st_steps_free_cb,
                        "list steps", (void **)out, n, e);
    }
    st__fin(&s);
    return r;
}
