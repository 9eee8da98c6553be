/* SPDX-License-Identifier: MIT */
/*
 * The full output of step attempts (ascend-fleet logs): a recorder that
 * takes bytes as they arrive and writes them in chunks, keeping the head
 * and the tail of a runaway output within a cap, and the readers. The
 * recorder prepares its own statements (it lives as long as a step runs);
 * readers prepare theirs per call. Tables: step_logs, step_log_chunks
 * (SCHEMA.md).
 */
#include "st.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "af-err.h"
#include "af-mem.h"
#include "st-internal.h"

enum st_log_stmt {
    LOG_CHUNK_ADD,
    LOG_OLDEST_TAIL,
    LOG_CHUNK_DEL,
    LOG_CHUNK_CUT,
    LOG_UPDATE,
    LOG__COUNT
};

static const char *const st_log_sql[LOG__COUNT] = {
    [LOG_CHUNK_ADD] = "INSERT INTO step_log_chunks (log, seq, tail, data) "
                      "VALUES (?1, ?2, ?3, ?4)",
    [LOG_OLDEST_TAIL] = "SELECT id, length(data) FROM step_log_chunks "
                        "WHERE log = ?1 AND tail = 1 ORDER BY seq LIMIT 1",
    [LOG_CHUNK_DEL] = "DELETE FROM step_log_chunks WHERE id = ?1",
    /* Drop the first ?2 bytes of a chunk (substr counts bytes in a blob). */
    [LOG_CHUNK_CUT] = "UPDATE step_log_chunks SET data = substr(data, ?2 + 1) "
                      "WHERE id = ?1",
    [LOG_UPDATE] = "UPDATE step_logs SET bytes = ?2, dropped = ?3, "
                   "updated = ?4, complete = ?5, "
                   "exit_code = coalesce(?6, exit_code), "
                   "result = coalesce(?7, result) WHERE id = ?1",
};

struct st_log {
    struct st *st;
    sqlite3_stmt *s[LOG__COUNT];
    int64_t id;
    int64_t seq;
    uint64_t head_cap, tail_cap;
    uint64_t head_len, tail_len; /* bytes stored in each part */
    uint64_t bytes, dropped;
    char *buf; /* cap bytes, grown up to ST_LOG_CHUNK */
    size_t len, cap;
    int64_t buf_since; /* unix ms of the oldest buffered byte */
    int err;
    struct af_err saved;
};

static void
st_log_free(struct st_log *l)
{
    size_t i;

    if (l == NULL)
        return;
    for (i = 0; i < LOG__COUNT; i++)
        sqlite3_finalize(l->s[i]);
    free(l->buf);
    free(l);
}

static int
st_log_prep(struct st *st, const char *sql, sqlite3_stmt **s, struct af_err *e)
{
    if (sqlite3_prepare_v2(st->db, sql, -1, s, NULL) != SQLITE_OK) {
        *s = NULL;
        return st__dberr(st, e, "prepare step output statement");
    }
    return 0;
}

static int
st_log_done(struct st *st, sqlite3_stmt *s, const char *what, struct af_err *e)
{
    int rc = sqlite3_step(s);

    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc == SQLITE_DONE ? 0 : st__dberr(st, e, what);
}

/* The step's current attempt in *attempt (0 when it never ran). */
static int
st_log_attempt(struct st *st,
               int64_t run,
               const char *node,
               const char *stage,
               const char *step,
               int *attempt,
               struct af_err *e)
{
    sqlite3_stmt *s = NULL;
    int r, rc;

    *attempt = 0;
    if ((r = st_log_prep(st,
                         "SELECT attempt FROM node_steps WHERE run = ?1 AND "
                         "node = ?2 AND stage = ?3 AND step = ?4",
                         &s, e)) != 0)
        return r;
    sqlite3_bind_int64(s, 1, run);
    st__bind_str(s, 2, node);
    st__bind_str(s, 3, stage);
    st__bind_str(s, 4, step);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *attempt = sqlite3_column_int(s, 0);
    else if (rc != SQLITE_DONE)
        r = st__dberr(st, e, "read step attempt");
    sqlite3_finalize(s);
    if (r == 0 && *attempt <= 0)
        r = af_err_set(e, AF_ENOTFOUND,
                       "%s: step %s/%s of node %s in run %" PRId64
                       " has not started",
                       st->path, stage, step, node, run);
    return r;
}

/* Replace the attempt's row (its old chunks go with it) and keep its id. */
static int
st_log_row(struct st_log *l,
           int64_t run,
           const char *node,
           const char *stage,
           const char *step,
           int attempt,
           struct af_err *e)
{
    struct st *st = l->st;
    sqlite3_stmt *s = NULL;
    int r, top = 0;

    if ((r = st__op_begin(st, &top, e)) != 0)
        return r;
    if ((r = st_log_prep(st,
                         "DELETE FROM step_logs WHERE run = ?1 AND node = ?2 "
                         "AND stage = ?3 AND step = ?4 AND attempt = ?5",
                         &s, e)) != 0)
        goto out;
    sqlite3_bind_int64(s, 1, run);
    st__bind_str(s, 2, node);
    st__bind_str(s, 3, stage);
    st__bind_str(s, 4, step);
    sqlite3_bind_int(s, 5, attempt);
    if ((r = st_log_done(st, s, "replace step output", e)) != 0)
        goto out;
    sqlite3_finalize(s);
    s = NULL;
    if ((r = st_log_prep(st,
                         "INSERT INTO step_logs (run, node, stage, step, "
                         "attempt, started, updated) "
                         "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                         &s, e)) != 0)
        goto out;
    sqlite3_bind_int64(s, 1, run);
    st__bind_str(s, 2, node);
    st__bind_str(s, 3, stage);
    st__bind_str(s, 4, step);
    sqlite3_bind_int(s, 5, attempt);
    sqlite3_bind_int64(s, 6, st__now_ms());
    if ((r = st_log_done(st, s, "start step output", e)) != 0)
        goto out;
    l->id = sqlite3_last_insert_rowid(st->db);
out:
    sqlite3_finalize(s);
    return st__op_end(st, top, r, e);
}

int
st_log_open(struct st *st,
            int64_t run,
            const char *node,
            const char *stage,
            const char *step,
            size_t cap,
            struct st_log **out,
            struct af_err *e)
{
    struct st_log *l = NULL;
    int r, attempt = 0;
    size_t i;

    *out = NULL;
    if ((r = st__writable(st, "record step output", e)) != 0 ||
        (r = st_log_attempt(st, run, node, stage, step, &attempt, e)) != 0)
        return r;
    if (cap == 0)
        cap = ST_LOG_CAP;
    if (cap < 2)
        cap = 2;
    l = af_calloc(1, sizeof(*l));
    l->st = st;
    l->head_cap = cap / 2;
    l->tail_cap = cap - cap / 2;
    for (i = 0; i < LOG__COUNT; i++)
        if ((r = st_log_prep(st, st_log_sql[i], &l->s[i], e)) != 0)
            goto fail;
    if ((r = st_log_row(l, run, node, stage, step, attempt, e)) != 0)
        goto fail;
    *out = l;
    return 0;
fail:
    st_log_free(l);
    return r;
}

static int
st_log_add(
    struct st_log *l, int tail, const char *p, size_t n, struct af_err *e)
{
    sqlite3_stmt *s = l->s[LOG_CHUNK_ADD];

    sqlite3_bind_int64(s, 1, l->id);
    sqlite3_bind_int64(s, 2, l->seq++);
    sqlite3_bind_int(s, 3, tail);
    sqlite3_bind_blob(s, 4, n ? p : "", (int)n, SQLITE_STATIC);
    return st_log_done(l->st, s, "write step output", e);
}

/* Drop the oldest tail bytes until the tail fits its cap. */
static int
st_log_trim(struct st_log *l, struct af_err *e)
{
    struct st *st = l->st;
    int r = 0;

    while (r == 0 && l->tail_len > l->tail_cap) {
        sqlite3_stmt *s = l->s[LOG_OLDEST_TAIL];
        uint64_t excess = l->tail_len - l->tail_cap, len;
        int64_t id;

        sqlite3_bind_int64(s, 1, l->id);
        if (sqlite3_step(s) != SQLITE_ROW) {
            r = st__dberr(st, e, "find the oldest step output");
            sqlite3_reset(s);
            break;
        }
        id = sqlite3_column_int64(s, 0);
        len = (uint64_t)sqlite3_column_int64(s, 1);
        sqlite3_reset(s);
        if (len <= excess) {
            s = l->s[LOG_CHUNK_DEL];
            sqlite3_bind_int64(s, 1, id);
        } else {
            s = l->s[LOG_CHUNK_CUT];
            sqlite3_bind_int64(s, 1, id);
            sqlite3_bind_int64(s, 2, (sqlite3_int64)excess);
            len = excess;
        }
        r = st_log_done(st, s, "drop step output", e);
        l->tail_len -= len;
        l->dropped += len;
    }
    return r;
}

/* Write the buffer as head and/or tail chunks, and the counters, in one
 * transaction. complete: also record the end. */
static int
st_log_flush(struct st_log *l,
             int complete,
             int exit_code,
             const char *result,
             struct af_err *e)
{
    struct st *st = l->st;
    sqlite3_stmt *s = l->s[LOG_UPDATE];
    uint64_t room = l->head_cap - l->head_len;
    size_t k = l->len < room ? l->len : (size_t)room;
    int r, top = 0;

    if ((r = st__op_begin(st, &top, e)) != 0)
        return r;
    if (k > 0 && (r = st_log_add(l, 0, l->buf, k, e)) != 0)
        goto out;
    l->head_len += k;
    if (l->len > k) {
        if ((r = st_log_add(l, 1, l->buf + k, l->len - k, e)) != 0)
            goto out;
        l->tail_len += l->len - k;
        if ((r = st_log_trim(l, e)) != 0)
            goto out;
    }
    sqlite3_bind_int64(s, 1, l->id);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)l->bytes);
    sqlite3_bind_int64(s, 3, (sqlite3_int64)l->dropped);
    sqlite3_bind_int64(s, 4, st__now_ms());
    sqlite3_bind_int(s, 5, complete);
    if (exit_code != ST_NO_EXIT)
        sqlite3_bind_int(s, 6, exit_code);
    st__bind_str(s, 7, result);
    r = st_log_done(st, s, "update step output", e);
out:
    r = st__op_end(st, top, r, e);
    if (r == 0)
        l->len = 0;
    return r;
}

/* Remember the first failure: every later call reports it. */
static int
st_log_fail(struct st_log *l, int r, struct af_err *e)
{
    if (l->err == 0) {
        l->err = r;
        if (e != NULL)
            l->saved = *e;
        else
            af_err_set(&l->saved, r, "%s: cannot record step output",
                       l->st->path);
    }
    return r;
}

int
st_log_write(struct st_log *l, const void *p, size_t n, struct af_err *e)
{
    const char *b = p;
    int r;

    if (l->err != 0) {
        if (e != NULL)
            *e = l->saved;
        return l->err;
    }
    while (n > 0) {
        size_t k = ST_LOG_CHUNK - l->len;

        if (k > n)
            k = n;
        if (l->len == 0)
            l->buf_since = st__now_ms();
        if (l->len + k > l->cap) {
            size_t cap = l->cap ? l->cap * 2 : 4096;

            while (cap < l->len + k)
                cap *= 2;
            l->cap = cap < ST_LOG_CHUNK ? cap : ST_LOG_CHUNK;
            l->buf = af_realloc(l->buf, l->cap);
        }
        memcpy(l->buf + l->len, b, k);
        l->len += k;
        l->bytes += k; /* the row's count: only bytes a flush will store */
        b += k;
        n -= k;
        if (l->len == ST_LOG_CHUNK ||
            st__now_ms() - l->buf_since >= ST_LOG_FLUSH_MS) {
            if ((r = st_log_flush(l, 0, ST_NO_EXIT, NULL, e)) != 0)
                return st_log_fail(l, r, e);
        }
    }
    return 0;
}

size_t
st_log_buffered(const struct st_log *l)
{
    return l->len;
}

int
st_log_sync(struct st_log *l, struct af_err *e)
{
    int r;

    if (l->err != 0) {
        if (e != NULL)
            *e = l->saved;
        return l->err;
    }
    if (l->len == 0)
        return 0;
    if ((r = st_log_flush(l, 0, ST_NO_EXIT, NULL, e)) != 0)
        return st_log_fail(l, r, e);
    return 0;
}

int
st_log_close(struct st_log *l,
             int exit_code,
             const char *result,
             struct af_err *e)
{
    int r;

    if (l == NULL)
        return 0;
    if (l->err != 0) {
        if (e != NULL)
            *e = l->saved;
        r = l->err;
    } else {
        r = st_log_flush(l, 1, exit_code, result, e);
    }
    st_log_free(l);
    return r;
}

/* ---- readers ---- */

/* 1 when the file has the step_logs table (schema 3 and later). */
static int
st_log_table(struct st *st)
{
    sqlite3_stmt *s = NULL;
    int has = 0;

    if (sqlite3_prepare_v2(st->db,
                           "SELECT 1 FROM sqlite_schema WHERE type = 'table' "
                           "AND name = 'step_logs'",
                           -1, &s, NULL) == SQLITE_OK)
        has = sqlite3_step(s) == SQLITE_ROW;
    sqlite3_finalize(s);
    return has;
}

static int
st_read_log(struct st *st, sqlite3_stmt *s, void *row, struct af_err *e)
{
    struct st_log_info *out = row;

    (void)st;
    (void)e;
    memset(out, 0, sizeof(*out));
    out->node = st__col_str(s, 0);
    out->stage = st__col_str(s, 1);
    out->step = st__col_str(s, 2);
    out->attempt = sqlite3_column_int(s, 3);
    out->bytes = (uint64_t)sqlite3_column_int64(s, 4);
    out->dropped = (uint64_t)sqlite3_column_int64(s, 5);
    out->exit_code = sqlite3_column_type(s, 6) == SQLITE_NULL
                         ? ST_NO_EXIT
                         : sqlite3_column_int(s, 6);
    out->result = st__col_str(s, 7);
    out->complete = sqlite3_column_int(s, 8) != 0;
    out->started = sqlite3_column_int64(s, 9);
    out->updated = sqlite3_column_int64(s, 10);
    return 0;
}

void
st_log_infos_free(struct st_log_info *logs, size_t n)
{
    size_t i;

    if (logs == NULL)
        return;
    for (i = 0; i < n; i++) {
        free(logs[i].node);
        free(logs[i].stage);
        free(logs[i].step);
        free(logs[i].result);
    }
    free(logs);
}

static void
st_log_infos_free_cb(void *rows, size_t n)
{
    st_log_infos_free(rows, n);
}

int
st_log_list(struct st *st,
            int64_t run,
            const char *node,
            const char *stage,
            const char *step,
            struct st_log_info **out,
            size_t *n,
            struct af_err *e)
{
    sqlite3_stmt *s = NULL;
    int r;

    *out = NULL;
    *n = 0;
    if (!st_log_table(st))
        return 0;
    if ((r = st_log_prep(st,
                         "SELECT node, stage, step, attempt, bytes, dropped, "
                         "exit_code, result, complete, started, updated "
                         "FROM step_logs WHERE run = ?1 AND node = ?2 AND "
                         "(?4 IS NULL OR (step = ?4 AND "
                         "(?3 IS NULL OR stage = ?3))) ORDER BY id",
                         &s, e)) != 0)
        return r;
    sqlite3_bind_int64(s, 1, run);
    st__bind_str(s, 2, node);
    st__bind_str(s, 3, stage);
    st__bind_str(s, 4, step);
    r = st__collect(st, s, sizeof(**out), st_read_log, st_log_infos_free_cb,
                    "list step output", (void **)out, n, e);
    sqlite3_finalize(s);
    return r;
}

/* The id and dropped count of one attempt. */
static int
st_log_find(struct st *st,
            int64_t run,
            const char *node,
            const char *stage,
            const char *step,
            int attempt,
            int64_t *id,
            uint64_t *dropped,
            struct af_err *e)
{
    sqlite3_stmt *s = NULL;
    int r, rc;

    if (!st_log_table(st))
        goto none;
    if ((r = st_log_prep(st,
                         "SELECT id, dropped FROM step_logs WHERE run = ?1 "
                         "AND node = ?2 AND stage = ?3 AND step = ?4 AND "
                         "attempt = ?5",
                         &s, e)) != 0)
        return r;
    sqlite3_bind_int64(s, 1, run);
    st__bind_str(s, 2, node);
    st__bind_str(s, 3, stage);
    st__bind_str(s, 4, step);
    sqlite3_bind_int(s, 5, attempt);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(s, 0);
        *dropped = (uint64_t)sqlite3_column_int64(s, 1);
    }
    sqlite3_finalize(s);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc != SQLITE_DONE)
        return st__dberr(st, e, "find step output");
none:
    return af_err_set(e, AF_ENOTFOUND,
                      "no output of step %s/%s attempt %d for node %s in "
                      "run %" PRId64,
                      stage, step, attempt, node, run);
}

int
st_log_read(struct st *st,
            int64_t run,
            const char *node,
            const char *stage,
            const char *step,
            int attempt,
            st_log_cb cb,
            void *data,
            struct af_err *e)
{
    sqlite3_stmt *s = NULL;
    uint64_t dropped = 0;
    int64_t id = 0;
    int r, rc = SQLITE_DONE, marked = 0;
    char mark[80];

    if ((r = st_log_find(st, run, node, stage, step, attempt, &id, &dropped,
                         e)) != 0)
        return r;
    snprintf(mark, sizeof(mark), "\n[... %" PRIu64 " bytes dropped ...]\n",
             dropped);
    if ((r = st_log_prep(st,
                         "SELECT tail, data FROM step_log_chunks WHERE "
                         "log = ?1 ORDER BY seq",
                         &s, e)) != 0)
        return r;
    sqlite3_bind_int64(s, 1, id);
    while (r == 0 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        const void *p = sqlite3_column_blob(s, 1);
        size_t n = (size_t)sqlite3_column_bytes(s, 1);

        if (sqlite3_column_int(s, 0) && dropped > 0 && !marked) {
            marked = 1;
            r = cb(data, mark, strlen(mark));
        }
        if (r == 0 && n > 0)
            r = cb(data, p, n);
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = st__dberr(st, e, "read step output");
    if (r == 0 && dropped > 0 && !marked)
        r = cb(data, mark, strlen(mark));
    sqlite3_finalize(s);
    return r;
}
