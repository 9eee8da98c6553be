/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for state/st-stage (the staged table) on a private in-memory
 * state file: a row is inserted, replaced by the next answer of the same
 * node and package, clamped to the package size, listed in order, and a
 * read-only handle can neither write nor miss rows.
 */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "af-err.h"
#include "st-stage.h"
#include "st.h"

static void
put(struct st *st,
    const char *node,
    const char *pkg,
    enum st_stage_state state,
    uint64_t verified)
{
    struct st_stage r;
    struct af_err e = {0, ""};

    memset(&r, 0, sizeof(r));
    r.node = (char *)(uintptr_t)node;
    r.package = (char *)(uintptr_t)pkg;
    r.sha256 = (char *)(uintptr_t) "ab";
    r.size = 1000;
    r.stage = (char *)(uintptr_t) "cann";
    r.version = (char *)(uintptr_t) "8.0.RC2";
    r.verified = verified;
    r.state = state;
    cr_assert_eq(st_stage_put(st, &r, &e), 0, "%s", e.msg);
}

Test(st_stage, rows_are_replaced_per_node_and_package_and_clamped)
{
    struct st *st = NULL;
    struct st_stage *rows = NULL, one;
    struct af_err e = {0, ""};
    size_t n = 0;

    cr_assert_eq(st_open(":memory:", &st, &e), 0, "%s", e.msg);
    put(st, "npu002", "cann.run", ST_STAGE_PARTIAL, 370);
    put(st, "npu001", "cann.run", ST_STAGE_PARTIAL, 100);
    put(st, "npu001", "cann.run", ST_STAGE_STAGED, 5000);
    cr_assert_eq(st_stage_list(st, &rows, &n, &e), 0, "%s", e.msg);
    cr_assert_eq(n, 2);
    cr_expect_str_eq(rows[0].node, "npu001");
    cr_expect_eq(rows[0].state, ST_STAGE_STAGED);
    cr_expect_eq(rows[0].verified, 1000, "verified is clamped to the size");
    cr_expect_str_eq(rows[1].node, "npu002");
    cr_expect_eq(rows[1].verified, 370);
    cr_expect_str_eq(rows[1].version, "8.0.RC2");
    cr_expect_gt(rows[1].updated, 0);
    st_stage_free(rows, n);
    cr_assert_eq(st_stage_get(st, "npu002", "cann.run", &one, &e), 0);
    cr_expect_str_eq(st_stage_state_name(one.state), "partial");
    st_stage_clear(&one);
    cr_expect_eq(st_stage_get(st, "npu009", "cann.run", &one, &e),
                 AF_ENOTFOUND);
    st_close(st);
}

Test(st_stage, read_only_handle_lists_and_refuses_writes)
{
    char dir[] = "/tmp/af-st-stage-XXXXXX", path[64];
    struct st *st = NULL;
    struct st_stage *rows = NULL, r;
    struct af_err e = {0, ""};
    size_t n = 0;

    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/s.db", dir);
    cr_assert_eq(st_open(path, &st, &e), 0, "%s", e.msg);
    put(st, "npu003", "drv.run", ST_STAGE_FAILED, 0);
    st_close(st);
    cr_assert_eq(st_open_ro(path, &st, &e), 0, "%s", e.msg);
    cr_assert_eq(st_stage_list(st, &rows, &n, &e), 0, "%s", e.msg);
    cr_expect_eq(n, 1);
    st_stage_free(rows, n);
    memset(&r, 0, sizeof(r));
    r.node = (char *)(uintptr_t) "x";
    r.package = (char *)(uintptr_t) "y";
    r.sha256 = (char *)(uintptr_t) "z";
    cr_expect_eq(st_stage_put(st, &r, &e), AF_EINPUT);
    st_close(st);
    unlink(path);
    snprintf(path, sizeof(path), "%s/s.db-wal", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/s.db-shm", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/s.db.lock", dir);
    unlink(path);
    rmdir(dir);
}
