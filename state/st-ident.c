/* SPDX-License-Identifier: MIT */
/*
 * SQLite state file, node identity: the address and host key of the
 * machine a run node, a fact set or an hccn row came from (st.h, "node
 * identity"). The statements are few and rare, so they are prepared for
 * each call rather than cached.
 */
#include "st.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "af-err.h"
#include "af-mem.h"
#include "st-internal.h"

int
st__has_column(struct st *st, const char *table, const char *col)
{
    sqlite3_stmt *s = NULL;
    int found = 0;

    if (sqlite3_prepare_v2(st->db,
                           "SELECT 1 FROM pragma_table_info(?1) WHERE "
                           "name = ?2",
                           -1, &s, NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_text(s, 1, table, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, col, -1, SQLITE_STATIC);
    found = sqlite3_step(s) == SQLITE_ROW;
    sqlite3_finalize(s);
    return found;
}

/* Prepare sql (not cached); AF_EDB with what on failure. */
static int
st_ident_prep(struct st *st,
              const char *sql,
              const char *what,
              sqlite3_stmt **s,
              struct af_err *e)
{
    if (sqlite3_prepare_v2(st->db, sql, -1, s, NULL) != SQLITE_OK) {
        *s = NULL;
        return st__dberr(st, e, what);
    }
    return 0;
}

int
st_node_set_ident(struct st *st,
                  int64_t run,
                  const char *node,
                  const struct st_ident *id,
                  struct af_err *e)
{
    sqlite3_stmt *s = NULL;
    int r;

    if ((r = st__writable(st, "record a node's identity", e)) != 0 ||
        (r = st_ident_prep(st,
                           "UPDATE run_nodes SET address = coalesce(?3, "
                           "address), host_key = coalesce(?4, host_key) "
                           "WHERE run = ?1 AND node = ?2",
                           "record node identity", &s, e)) != 0)
        return r;
    sqlite3_bind_int64(s, 1, run);
    st__bind_str(s, 2, node);
    st__bind_str(s, 3, id->address);
    st__bind_str(s, 4, id->host_key);
    if (sqlite3_step(s) != SQLITE_DONE)
        r = st__dberr(st, e, "record node identity");
    else if (sqlite3_changes(st->db) == 0)
        r = af_err_set(e, AF_ENOTFOUND, "%s: node %s is not in run %" PRId64,
                       st->path, node, run);
    sqlite3_finalize(s);
    return r;
}

/* Read columns 0 and 1 of the one row of s into *a and *b. */
static int
st_ident_read(struct st *st,
              sqlite3_stmt *s,
              const char *what,
              char **a,
              char **b,
              struct af_err *e)
{
    int rc = sqlite3_step(s);

    if (rc == SQLITE_ROW) {
        *a = st__col_str(s, 0);
        *b = st__col_str(s, 1);
        return 0;
    }
    if (rc == SQLITE_DONE)
        return af_err_set(e, AF_ENOTFOUND, "%s: %s: none recorded", st->path,
                          what);
    return st__dberr(st, e, what);
}

int
st_node_ident(struct st *st,
              int64_t run,
              const char *node,
              char **address,
              char **host_key,
              struct af_err *e)
{
    sqlite3_stmt *s = NULL;
    int r;

    *address = *host_key = NULL;
    if ((r = st_ident_prep(st,
                           st__has_column(st, "run_nodes", "host_key")
                               ? "SELECT address, host_key FROM run_nodes "
                                 "WHERE run = ?1 AND node = ?2"
                               : "SELECT address, NULL FROM run_nodes "
                                 "WHERE run = ?1 AND node = ?2",
                           "read node identity", &s, e)) != 0)
        return r;
    sqlite3_bind_int64(s, 1, run);
    st__bind_str(s, 2, node);
    r = st_ident_read(st, s, "read node identity", address, host_key, e);
    sqlite3_finalize(s);
    return r;
}

int
st_facts_set_ident(struct st *st,
                   const char *node,
                   const struct st_ident *id,
                   struct af_err *e)
{
    sqlite3_stmt *s = NULL;
    int r;

    if ((r = st__writable(st, "record the facts' identity", e)) != 0 ||
        (r = st_ident_prep(st,
                           "UPDATE facts SET address = ?2, host_key = ?3 "
                           "WHERE node = ?1",
                           "record facts identity", &s, e)) != 0)
        return r;
    st__bind_str(s, 1, node);
    st__bind_str(s, 2, id->address);
    st__bind_str(s, 3, id->host_key);
    if (sqlite3_step(s) != SQLITE_DONE)
        r = st__dberr(st, e, "record facts identity");
    sqlite3_finalize(s);
    return r;
}

int
st_facts_ident(struct st *st,
               const char *node,
               char **address,
               char **host_key,
               struct af_err *e)
{
    sqlite3_stmt *s = NULL;
    int r;

    *address = *host_key = NULL;
    if ((r = st_ident_prep(st,
                           st__has_column(st, "facts", "host_key")
                               ? "SELECT address, host_key FROM facts WHERE "
                                 "node = ?1 ORDER BY seq LIMIT 1"
                               : "SELECT NULL, NULL FROM facts WHERE "
                                 "node = ?1 LIMIT 1",
                           "read facts identity", &s, e)) != 0)
        return r;
    st__bind_str(s, 1, node);
    r = st_ident_read(st, s, "read facts identity", address, host_key, e);
    sqlite3_finalize(s);
    return r;
}

int
st_ident_diff(const struct st_ident *recorded,
              const struct st_ident *now,
              char *out,
              size_t len)
{
    size_t off = 0;

    out[0] = '\0';
    if (recorded->address && now->address &&
        strcmp(recorded->address, now->address) != 0)
        off += (size_t)snprintf(out, len, "address %s -> %s", recorded->address,
                                now->address);
    if (recorded->host_key && now->host_key &&
        strcmp(recorded->host_key, now->host_key) != 0 && off < len)
        off += (size_t)snprintf(out + off, len - off, "%shost key %s -> %s",
                                off ? ", " : "", recorded->host_key,
                                now->host_key);
    return off > 0;
}
