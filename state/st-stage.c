/* SPDX-License-Identifier: MIT */
/*
 * The staged table (see st-stage.h). Its statements are prepared per call,
 * not cached: stage writes a row per package and node a few times a
 * minute at most, and the cache's slot list stays with the older tables.
 */
#include "st-stage.h"

#include <stdlib.h>
#include <string.h>

#include "af-err.h"
#include "af-mem.h"
#include "st-internal.h"

#define ST_STAGE_COLS                                                        \
    "node, package, sha256, size, stage, version, verified, state, reason, " \
    "updated"

static const char *const st_stage_names[] = {"staged", "partial", "failed"};

const char *
st_stage_state_name(enum st_stage_state s)
{
    if ((unsigned)s >= sizeof(st_stage_names) / sizeof(st_stage_names[0]))
        return "?";
    return st_stage_names[s];
}

static int
st_stage_prep(struct st *st,
              const char *sql,
              sqlite3_stmt **s,
              struct af_err *e)
{
    if (sqlite3_prepare_v2(st->db, sql, -1, s, NULL) != SQLITE_OK) {
        sqlite3_finalize(*s);
        *s = NULL;
        return st__dberr(st, e, "prepare a staged query");
    }
    return 0;
}

int
st_stage_put(struct st *st, const struct st_stage *r, struct af_err *e)
{
    static const char sql[] =
        "INSERT OR REPLACE INTO staged (" ST_STAGE_COLS
        ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
    sqlite3_stmt *s = NULL;
    uint64_t v = r->verified < r->size ? r->verified : r->size;
    int rc;

    if ((rc = st__writable(st, "record a staged package", e)) != 0 ||
        (rc = st_stage_prep(st, sql, &s, e)) != 0)
        return rc;
    st__bind_str(s, 1, r->node);
    st__bind_str(s, 2, r->package);
    st__bind_str(s, 3, r->sha256);
    sqlite3_bind_int64(s, 4, (sqlite3_int64)r->size);
    st__bind_str(s, 5, r->stage);
    st__bind_str(s, 6, r->version);
    sqlite3_bind_int64(s, 7, (sqlite3_int64)v);
    st__bind_str(s, 8, st_stage_state_name(r->state));
    st__bind_str(s, 9, r->reason);
    sqlite3_bind_int64(s, 10, st__now_ms());
    rc = sqlite3_step(s) == SQLITE_DONE
             ? 0
             : st__dberr(st, e, "record a staged package");
    sqlite3_finalize(s);
    return rc;
}

static int
st_read_stage(struct st *st, sqlite3_stmt *s, void *row, struct af_err *e)
{
    struct st_stage *r = row;
    const char *state = (const char *)sqlite3_column_text(s, 7);
    size_t k;

    memset(r, 0, sizeof(*r));
    for (k = 0; k < 3; k++)
        if (state != NULL && strcmp(state, st_stage_names[k]) == 0)
            break;
    if (k == 3)
        return st__bad_status(st, "staged", s, 7, e);
    r->node = st__col_str(s, 0);
    r->package = st__col_str(s, 1);
    r->sha256 = st__col_str(s, 2);
    r->size = (uint64_t)sqlite3_column_int64(s, 3);
    r->stage = st__col_str(s, 4);
    r->version = st__col_str(s, 5);
    r->verified = (uint64_t)sqlite3_column_int64(s, 6);
    r->state = (enum st_stage_state)k;
    r->reason = st__col_str(s, 8);
    r->updated = sqlite3_column_int64(s, 9);
    return 0;
}

void
st_stage_clear(struct st_stage *r)
{
    free(r->node);
    free(r->package);
    free(r->sha256);
    free(r->stage);
    free(r->version);
    free(r->reason);
    memset(r, 0, sizeof(*r));
}

void
st_stage_free(struct st_stage *rows, size_t n)
{
    size_t i;

    if (rows == NULL)
        return;
    for (i = 0; i < n; i++)
        st_stage_clear(&rows[i]);
    free(rows);
}

static void
st_stage_free_cb(void *rows, size_t n)
{
    st_stage_free(rows, n);
}

int
st_stage_get(struct st *st,
             const char *node,
             const char *package,
             struct st_stage *out,
             struct af_err *e)
{
    static const char sql[] = "SELECT " ST_STAGE_COLS " FROM staged WHERE "
                              "node = ?1 AND package = ?2";
    sqlite3_stmt *s = NULL;
    int r;

    memset(out, 0, sizeof(*out));
    if ((r = st_stage_prep(st, sql, &s, e)) != 0)
        return r;
    st__bind_str(s, 1, node);
    st__bind_str(s, 2, package);
    r = st__get_one(st, s, out, st_read_stage, "read a staged package",
                    "no such staged package", e);
    sqlite3_finalize(s);
    return r;
}

int
st_stage_list(struct st *st, struct st_stage **out, size_t *n, struct af_err *e)
{
    static const char sql[] =
        "SELECT " ST_STAGE_COLS " FROM staged ORDER BY stage, version, "
        "package, node";
    static const char sql_has[] = "SELECT 1 FROM sqlite_master WHERE "
                                  "type = 'table' AND name = 'staged'";
    sqlite3_stmt *s = NULL;
    int r;

    *out = NULL;
    *n = 0;
    /* A file of an older schema, opened read-only, has no such table. */
    if ((r = st_stage_prep(st, sql_has, &s, e)) != 0)
        return r;
    r = sqlite3_step(s);
    sqlite3_finalize(s);
    s = NULL;
    if (r == SQLITE_DONE)
        return 0;
    if (r != SQLITE_ROW)
        return st__dberr(st, e, "read staged packages");
    if ((r = st_stage_prep(st, sql, &s, e)) != 0)
        return r;
    r = st__collect(st, s, sizeof(**out), st_read_stage, st_stage_free_cb,
                    "read staged packages", (void **)out, n, e);
    sqlite3_finalize(s);
    return r;
}
