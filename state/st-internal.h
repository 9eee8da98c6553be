/* SPDX-License-Identifier: MIT */
/*
 * Private to state/: the handle, the cached statements and the helpers the
 * table-family files (st.c open/migrate/batches, st-lock.c, st-run.c runs,
 * nodes and steps, st-event.c, st-facts.c facts and hccn) share. Nothing
 * outside state/ includes this header.
 */
#ifndef AF_ST_INTERNAL_H
#define AF_ST_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "st.h"

#define ST_HOST_MAX 256

/* Cached statements, one slot each; the SQL text lives with its user. */
enum st_sql {
    SQL_RUN_CREATE,
    SQL_RUN_STATUS,
    SQL_RUN_CLAIM,
    SQL_RUN_GET,
    SQL_RUN_LIST,
    SQL_RUN_UNFINISHED,
    SQL_RUN_OWNED,
    SQL_RUN_OPTIONS,
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

struct st {
    sqlite3 *db;
    char *path;
    int memory;    /* ":memory:" database: no file, no lock */
    int readonly;  /* opened with st_open_ro: every write is refused */
    int lock_fd;   /* the lock file, -1 until a lock is taken */
    int lock_all;  /* the whole-file lock is held */
    int lock_slot; /* owner record this handle wrote, -1 when none */
    sqlite3_stmt *stmts[SQL__COUNT];
};

/*
 * Reads one row of s into row (a struct st_run, st_node, ...). Returns 0
 * or an AF_E* code with e filled; row is then cleared.
 */
typedef int (*st__row_cb)(struct st *st,
                          sqlite3_stmt *s,
                          void *row,
                          struct af_err *e);
/* Frees the strings of n rows of an array and the array itself. */
typedef void (*st__free_cb)(void *rows, size_t n);

int64_t st__now_ms(void);
/* 1 when table has column col (a read-only file of an older schema may
 * lack the newer columns), else 0. */
int st__has_column(struct st *st, const char *table, const char *col);
void st__hostname(char *buf, size_t len);

/* AF_EDB with "<path>: <what>: <sqlite message>". */
int st__dberr(struct st *st, struct af_err *e, const char *what);
int st__exec(struct st *st, const char *sql, struct af_err *e);

/*
 * The cached statement id (prepared from sql on first use), reset and with
 * its bindings cleared, in *out. Returns 0 or AF_EDB.
 */
int st__prep(struct st *st,
             enum st_sql id,
             const char *sql,
             sqlite3_stmt **out,
             struct af_err *e);
/* Reset a statement so it holds no lock and no row; accepts NULL. */
void st__fin(sqlite3_stmt **s);
void st__bind_str(sqlite3_stmt *s, int i, const char *v);
/* A copy of column i, or NULL when it is NULL. */
char *st__col_str(sqlite3_stmt *s, int i);
/* AF_EDB for a status text in table that this build does not know. */
int st__bad_status(struct st *st,
                   const char *table,
                   sqlite3_stmt *s,
                   int col,
                   struct af_err *e);

/*
 * The one row collector: step the bound statement s to its end, reading
 * each row with read into a growing array of elements of size bytes, and
 * hand the array to *out and its length to *n (NULL and 0 when there are
 * no rows). On failure the partial array is released with free_rows and
 * the code returned (AF_EDB names what).
 */
int st__collect(struct st *st,
                sqlite3_stmt *s,
                size_t size,
                st__row_cb read,
                st__free_cb free_rows,
                const char *what,
                void **out,
                size_t *n,
                struct af_err *e);

/*
 * Step s for exactly one row and read it with read into row. Returns 0,
 * AF_ENOTFOUND with notfound as the message when there is no row, or
 * AF_EDB.
 */
int st__get_one(struct st *st,
                sqlite3_stmt *s,
                void *row,
                st__row_cb read,
                const char *what,
                const char *notfound,
                struct af_err *e);

/*
 * One call's transaction: BEGIN IMMEDIATE when the caller has no batch
 * open, else a savepoint inside it. st__op_end commits when r is 0 and
 * rolls back otherwise, keeping the first error in e.
 */
int st__op_begin(struct st *st, int *top, struct af_err *e);
int st__op_end(struct st *st, int top, int r, struct af_err *e);

/* AF_EINPUT when st was opened read-only (what names the refused write). */
int st__writable(struct st *st, const char *what, struct af_err *e);

/*
 * st__migrations[i] takes a file from schema version i to i + 1 (version 0
 * is an empty file); st-schema.c.
 */
extern const char *const st__migrations[ST_SCHEMA_VERSION];

/* Release every lock the handle holds and close the lock file. */
void st__unlock(struct st *st);

#endif /* AF_ST_INTERNAL_H */
