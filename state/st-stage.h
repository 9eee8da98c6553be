/* SPDX-License-Identifier: MIT */
/*
 * Packages staged on nodes (ascend-fleet stage): per node and package file
 * its hash, size, the bytes the node holds of it and whether it is whole
 * (staged), cut short (partial, resumable) or failed. The node is the
 * truth: a stage run asks each node and records its answer; the rows are
 * what the last run learned, read by status. Separate from st.h so the
 * table family stays one small module.
 */
#ifndef AF_ST_STAGE_H
#define AF_ST_STAGE_H

#include <stddef.h>
#include <stdint.h>

#include "st.h"

struct af_err;

enum st_stage_state { ST_STAGE_STAGED, ST_STAGE_PARTIAL, ST_STAGE_FAILED };

/* "staged", "partial", "failed"; "?" when out of range. */
const char *st_stage_state_name(enum st_stage_state s);

/* One row; strings owned by the row when read (st_stage_free). */
struct st_stage {
    char *node;
    char *package; /* file name */
    char *sha256;
    uint64_t size;
    char *stage;       /* stage that uses it, or NULL */
    char *version;     /* version read from the file name, or NULL */
    uint64_t verified; /* bytes the node holds, as last known (<= size) */
    enum st_stage_state state;
    char *reason;    /* why it failed, or NULL */
    int64_t updated; /* ms since the epoch */
};

/*
 * Insert or replace the row of (r->node, r->package); updated is now.
 * verified is clamped to size. Returns 0, AF_EINPUT (read-only file) or
 * AF_EDB with e filled.
 */
ST_MUST_CHECK int
st_stage_put(struct st *st, const struct st_stage *r, struct af_err *e);

/*
 * The row of node and package into *out (st_stage_clear). Returns 0,
 * AF_ENOTFOUND when there is none, or AF_EDB.
 */
int st_stage_get(struct st *st,
                 const char *node,
                 const char *package,
                 struct st_stage *out,
                 struct af_err *e);

/*
 * Every row, ordered by stage, version, package and node, into *out and *n
 * (NULL and 0 when none; a file older than the table has none). Returns 0
 * or AF_EDB.
 */
int st_stage_list(struct st *st,
                  struct st_stage **out,
                  size_t *n,
                  struct af_err *e);

void st_stage_clear(struct st_stage *r);
void st_stage_free(struct st_stage *rows, size_t n);

#endif /* AF_ST_STAGE_H */
