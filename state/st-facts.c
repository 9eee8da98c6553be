/* SPDX-License-Identifier: MIT */
/*
 * SQLite state file, what is known about nodes outside of runs: the latest
 * facts of each node and the hccn results per NPU.
 */
#include "st.h"

#include <stdlib.h>
#include <string.h>

#include "af-err.h"
#include "af-mem.h"
#include "af-proto.h"
#include "st-internal.h"

#define ST_HCCN_COLS                                                          \
    "node, npu, address, netmask, detect, gateway, status, detail, updated, " \
    "node_address, host_key"

static const char sql_facts_del[] = "DELETE FROM facts WHERE node = ?1";
static const char sql_facts_add[] = "INSERT INTO facts (node, seq, key, "
                                    "value, gathered_at) VALUES (?1, ?2, ?3, "
                                    "?4, ?5)";
static const char sql_facts_get[] = "SELECT key, value, gathered_at FROM "
                                    "facts WHERE node = ?1 ORDER BY seq";
static const char sql_hccn_put[] =
    "INSERT OR REPLACE INTO hccn_results (" ST_HCCN_COLS
    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
static const char sql_hccn_get[] =
    "SELECT " ST_HCCN_COLS " FROM hccn_results WHERE ?1 IS NULL OR "
    "node = ?1 ORDER BY node, npu";
/* A read-only file of a schema before node identities. */
static const char sql_hccn_get_old[] =
    "SELECT node, npu, address, netmask, detect, gateway, status, detail, "
    "updated, NULL, NULL FROM hccn_results WHERE ?1 IS NULL OR "
    "node = ?1 ORDER BY node, npu";

/* ---- facts ---- */

int
st_facts_put(struct st *st,
             const char *node,
             const struct af_kv *kv,
             struct af_err *e)
{
    sqlite3_stmt *s = NULL;
    int64_t now = st__now_ms();
    int r = AF_EINTERNAL, top = 0, began = 0;
    size_t i;

    if ((r = st__writable(st, "store facts", e)) != 0 ||
        (r = st__op_begin(st, &top, e)) != 0)
        goto out;
    began = 1;
    if ((r = st__prep(st, SQL_FACTS_DEL, sql_facts_del, &s, e)) != 0)
        goto out;
    st__bind_str(s, 1, node);
    if (sqlite3_step(s) != SQLITE_DONE) {
        r = st__dberr(st, e, "delete facts");
        goto out;
    }
    st__fin(&s);
    if ((r = st__prep(st, SQL_FACTS_ADD, sql_facts_add, &s, e)) != 0)
        goto out;
    for (i = 0; i < kv->n; i++) {
        sqlite3_reset(s);
        st__bind_str(s, 1, node);
        sqlite3_bind_int64(s, 2, (sqlite3_int64)i);
        st__bind_str(s, 3, kv->keys[i]);
        st__bind_str(s, 4, kv->vals[i] ? kv->vals[i] : "");
        sqlite3_bind_int64(s, 5, now);
        if (sqlite3_step(s) != SQLITE_DONE) {
            r = st__dberr(st, e, "store facts");
            goto out;
        }
    }
    r = 0;
out:
    st__fin(&s);
    if (began)
        r = st__op_end(st, top, r, e);
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
    if ((r = st__prep(st, SQL_FACTS_GET, sql_facts_get, &s, e)) != 0)
        goto out;
    st__bind_str(s, 1, node);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        af_kv_add(out, (const char *)sqlite3_column_text(s, 0),
                  (const char *)sqlite3_column_text(s, 1));
        if (gathered_at != NULL)
            *gathered_at = sqlite3_column_int64(s, 2);
        cnt++;
    }
    if (rc != SQLITE_DONE) {
        r = st__dberr(st, e, "read facts");
        goto out;
    }
    if (cnt == 0) {
        r = af_err_set(e, AF_ENOTFOUND, "%s: no facts for node %s", st->path,
                       node);
        goto out;
    }
    r = 0;
out:
    st__fin(&s);
    return r;
}

/* ---- hccn results ---- */

int
st_hccn_put(struct st *st, const struct st_hccn *h, struct af_err *e)
{
    sqlite3_stmt *s = NULL;
    int r = AF_EINTERNAL;

    if ((r = st__writable(st, "store an hccn result", e)) != 0 ||
        (r = st__prep(st, SQL_HCCN_PUT, sql_hccn_put, &s, e)) != 0)
        goto out;
    st__bind_str(s, 1, h->node);
    sqlite3_bind_int(s, 2, h->npu);
    st__bind_str(s, 3, h->address);
    st__bind_str(s, 4, h->netmask);
    st__bind_str(s, 5, h->detect);
    st__bind_str(s, 6, h->gateway);
    st__bind_str(s, 7, st_hccn_status_name(h->status));
    st__bind_str(s, 8, h->detail);
    sqlite3_bind_int64(s, 9, st__now_ms());
    st__bind_str(s, 10, h->node_address);
    st__bind_str(s, 11, h->host_key);
    if (sqlite3_step(s) != SQLITE_DONE) {
        r = st__dberr(st, e, "store hccn result");
        goto out;
    }
    r = 0;
out:
    st__fin(&s);
    return r;
}

static int
st_read_hccn(struct st *st, sqlite3_stmt *s, void *row, struct af_err *e)
{
    struct st_hccn *h = row;
    enum st_hccn_status v;

    memset(h, 0, sizeof(*h));
    if (st_hccn_status_parse((const char *)sqlite3_column_text(s, 6), &v,
                             NULL) != 0)
        return st__bad_status(st, "hccn_results", s, 6, e);
    h->node = st__col_str(s, 0);
    h->npu = sqlite3_column_int(s, 1);
    h->address = st__col_str(s, 2);
    h->netmask = st__col_str(s, 3);
    h->detect = st__col_str(s, 4);
    h->gateway = st__col_str(s, 5);
    h->status = v;
    h->detail = st__col_str(s, 7);
    h->updated = sqlite3_column_int64(s, 8);
    h->node_address = st__col_str(s, 9);
    h->host_key = st__col_str(s, 10);
    return 0;
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
        free(rows[i].node_address);
        free(rows[i].host_key);
    }
    free(rows);
}

static void
st_hccn_free_cb(void *rows, size_t n)
{
    st_hccn_free(rows, n);
}

int
st_hccn_get(struct st *st,
            const char *node,
            struct st_hccn **out,
            size_t *n,
            struct af_err *e)
{
    sqlite3_stmt *s = NULL;
    int r;

    *out = NULL;
    *n = 0;
    if ((r = st__prep(st, SQL_HCCN_GET,
                      st__has_column(st, "hccn_results", "host_key")
                          ? sql_hccn_get
                          : sql_hccn_get_old,
                      &s, e)) == 0) {
        st__bind_str(s, 1, node);
        r = st__collect(st, s, sizeof(**out), st_read_hccn, st_hccn_free_cb,
                        "read hccn results", (void **)out, n, e);
    }
    st__fin(&s);
    return r;
}
