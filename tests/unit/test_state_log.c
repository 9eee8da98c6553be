/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the full step output of state/st-log.c: bytes kept
 * exactly (NULs, chunk boundaries), the head + tail cap with its marker
 * and a bounded table, one output per attempt, refusals (unknown step,
 * read-only handle). Each test works on its own file under /tmp.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "af-buf.h"
#include "af-err.h"
#include "st.h"

static char tmpdir[64];
static char dbpath[128];

static void
lg_setup(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/af-test-stlog-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir), "mkdtemp: %s", strerror(errno));
    snprintf(dbpath, sizeof(dbpath), "%s/state.db", tmpdir);
}

static void
lg_teardown(void)
{
    static const char *const sfx[] = {"", "-wal", "-shm", ".lock"};
    char p[256];
    size_t i;

    for (i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
        snprintf(p, sizeof(p), "%s%s", dbpath, sfx[i]);
        unlink(p);
    }
    rmdir(tmpdir);
}

TestSuite(stlog, .init = lg_setup, .fini = lg_teardown, .timeout = 60);

/* A state file with run 1, node n1 and step drv/install running (attempt
 * 1). */
static struct st *
lg_open(int64_t *run)
{
    struct st *st = NULL;
    struct af_err e = {0};

    cr_assert_eq(st_open(dbpath, &st, &e), 0, "%s", e.msg);
    cr_assert_eq(st_run_create(st, "rollout", "drv", NULL, run, &e), 0, "%s",
                 e.msg);
    cr_assert_eq(
        st_node_upsert(st, *run, "n1", NULL, 0, ST_NODE_RUNNING, NULL, &e), 0,
        "%s", e.msg);
    cr_assert_eq(st_step_set(st, *run, "n1", "drv", "install", ST_STEP_RUNNING,
                             ST_NO_EXIT, NULL, NULL, 0, 0, &e),
                 0, "%s", e.msg);
    return st;
}

static int
lg_collect(void *data, const char *p, size_t n)
{
    af_buf_append(data, p, n);
    return 0;
}

/* The kept output of attempt into b (initialised here). */
static void
lg_read(struct st *st, int64_t run, int attempt, struct af_buf *b)
{
    struct af_err e = {0};

    af_buf_init(b, 0);
    cr_assert_eq(st_log_read(st, run, "n1", "drv", "install", attempt,
                             lg_collect, b, &e),
                 0, "%s", e.msg);
}

/* Deterministic bytes: every value, NUL included, many times over. */
static char *
lg_pattern(size_t n)
{
    char *p = malloc(n ? n : 1);
    size_t i;

    cr_assert_not_null(p);
    for (i = 0; i < n; i++)
        p[i] = (char)((i * 7 + i / 251) & 0xff);
    return p;
}

Test(stlog, output_across_chunks_is_kept_byte_exact_with_nuls)
{
    size_t n = 3 * ST_LOG_CHUNK + 4321, off = 0, piece = 1;
    char *src = lg_pattern(n);
    struct st_log *l = NULL;
    struct st_log_info *info = NULL;
    struct af_err e = {0};
    struct af_buf b;
    size_t ni = 0;
    int64_t run;
    struct st *st = lg_open(&run);

    cr_assert_eq(st_log_open(st, run, "n1", "drv", "install", 0, &l, &e), 0,
                 "%s", e.msg);
    /* Pieces of growing sizes, so writes straddle the chunk size. */
    while (off < n) {
        size_t k = n - off < piece ? n - off : piece;

        cr_assert_eq(st_log_write(l, src + off, k, &e), 0, "%s", e.msg);
        off += k;
        piece = piece * 3 + 1;
    }
    cr_assert_eq(st_log_close(l, 2, "exit 2", &e), 0, "%s", e.msg);
    lg_read(st, run, 1, &b);
    cr_assert_eq(b.len, n, "kept %zu of %zu bytes", b.len, n);
    cr_assert(memcmp(b.data, src, n) == 0, "bytes differ");
    cr_assert_eq(st_log_list(st, run, "n1", NULL, NULL, &info, &ni, &e), 0);
    cr_assert_eq(ni, 1);
    cr_assert_str_eq(info[0].stage, "drv");
    cr_assert_str_eq(info[0].step, "install");
    cr_assert_eq(info[0].attempt, 1);
    cr_assert_eq(info[0].bytes, n);
    cr_assert_eq(info[0].dropped, 0);
    cr_assert_eq(info[0].exit_code, 2);
    cr_assert_str_eq(info[0].result, "exit 2");
    cr_assert_eq(info[0].complete, 1);
    st_log_infos_free(info, ni);
    af_buf_free(&b);
    free(src);
    st_close(st);
}

Test(stlog, runaway_output_keeps_head_and_tail_with_a_marker)
{
    size_t n = ST_LOG_CHUNK * 2 + 1000, cap = 1000, i;
    char *src = lg_pattern(n), *want;
    struct st_log *l = NULL;
    struct af_err e = {0};
    struct af_buf b;
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    int64_t run;
    struct st *st = lg_open(&run);
    char mark[64];

    cr_assert_eq(st_log_open(st, run, "n1", "drv", "install", cap, &l, &e), 0,
                 "%s", e.msg);
    for (i = 0; i < n; i += 333)
        cr_assert_eq(st_log_write(l, src + i, n - i < 333 ? n - i : 333, &e),
                     0);
    cr_assert_eq(st_log_close(l, 0, "exit 0", &e), 0, "%s", e.msg);
    lg_read(st, run, 1, &b);
    snprintf(mark, sizeof(mark), "\n[... %zu bytes dropped ...]\n", n - cap);
    want = malloc(cap + strlen(mark));
    memcpy(want, src, cap / 2);
    memcpy(want + cap / 2, mark, strlen(mark));
    memcpy(want + cap / 2 + strlen(mark), src + n - cap / 2, cap / 2);
    cr_assert_eq(b.len, cap + strlen(mark), "read %zu bytes", b.len);
    cr_assert(memcmp(b.data, want, b.len) == 0, "head, marker, tail differ");
    /* The table itself holds no more than the cap. */
    cr_assert_eq(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(db,
                                    "SELECT sum(length(data)) FROM "
                                    "step_log_chunks",
                                    -1, &s, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
    cr_assert_eq(sqlite3_column_int64(s, 0), (sqlite3_int64)cap);
    sqlite3_finalize(s);
    sqlite3_close(db);
    free(want);
    af_buf_free(&b);
    free(src);
    st_close(st);
}

Test(stlog, each_attempt_keeps_its_own_output)
{
    struct st_log *l = NULL;
    struct st_log_info *info = NULL;
    struct af_err e = {0};
    struct af_buf b;
    size_t ni = 0;
    int64_t run;
    struct st *st = lg_open(&run);

    cr_assert_eq(st_log_open(st, run, "n1", "drv", "install", 0, &l, &e), 0);
    cr_assert_eq(st_log_write(l, "first\0try\n", 10, &e), 0);
    cr_assert_eq(st_log_close(l, 1, "exit 1", &e), 0);
    cr_assert_eq(st_step_set(st, run, "n1", "drv", "install", ST_STEP_FAILED, 1,
                             NULL, NULL, 0, 0, &e),
                 0);
    cr_assert_eq(st_step_set(st, run, "n1", "drv", "install", ST_STEP_RUNNING,
                             ST_NO_EXIT, NULL, NULL, 0, 0, &e),
                 0);
    cr_assert_eq(st_log_open(st, run, "n1", "drv", "install", 0, &l, &e), 0);
    cr_assert_eq(st_log_write(l, "second try\n", 11, &e), 0);
    cr_assert_eq(st_log_close(l, ST_NO_EXIT, "timed out after 5 s", &e), 0);

    cr_assert_eq(st_log_list(st, run, "n1", "drv", "install", &info, &ni, &e),
                 0);
    cr_assert_eq(ni, 2);
    cr_assert_eq(info[0].attempt, 1);
    cr_assert_eq(info[0].exit_code, 1);
    cr_assert_eq(info[1].attempt, 2);
    cr_assert_eq(info[1].exit_code, ST_NO_EXIT);
    cr_assert_str_eq(info[1].result, "timed out after 5 s");
    st_log_infos_free(info, ni);
    lg_read(st, run, 1, &b);
    cr_assert_eq(b.len, 10);
    cr_assert(memcmp(b.data, "first\0try\n", 10) == 0);
    af_buf_free(&b);
    lg_read(st, run, 2, &b);
    cr_assert_str_eq(b.data, "second try\n");
    af_buf_free(&b);
    /* Another step name matches nothing. */
    cr_assert_eq(st_log_list(st, run, "n1", NULL, "nope", &info, &ni, &e), 0);
    cr_assert_eq(ni, 0);
    cr_assert_eq(
        st_log_read(st, run, "n1", "drv", "install", 3, lg_collect, &b, &e),
        AF_ENOTFOUND);
    st_close(st);
}

Test(stlog, unfinished_output_is_readable_while_recording)
{
    size_t n = ST_LOG_CHUNK + 10;
    char *src = lg_pattern(n);
    struct st_log *l = NULL;
    struct st_log_info *info = NULL;
    struct af_err e = {0};
    struct af_buf b;
    struct st *ro = NULL;
    size_t ni = 0;
    int64_t run;
    struct st *st = lg_open(&run);

    cr_assert_eq(st_log_open(st, run, "n1", "drv", "install", 0, &l, &e), 0);
    cr_assert_eq(st_log_write(l, src, n, &e), 0);
    /* A reader (as `logs` beside a rollout) sees the first chunk. */
    cr_assert_eq(st_open_ro(dbpath, &ro, &e), 0, "%s", e.msg);
    lg_read(ro, run, 1, &b);
    cr_assert_eq(b.len, ST_LOG_CHUNK);
    cr_assert(memcmp(b.data, src, b.len) == 0);
    af_buf_free(&b);
    cr_assert_eq(st_log_list(ro, run, "n1", NULL, NULL, &info, &ni, &e), 0);
    cr_assert_eq(ni, 1);
    cr_assert_eq(info[0].complete, 0);
    st_log_infos_free(info, ni);
    /* A sync writes what is buffered: a quiet step's last bytes. */
    cr_assert_eq(st_log_buffered(l), 10);
    cr_assert_eq(st_log_sync(l, &e), 0, "%s", e.msg);
    cr_assert_eq(st_log_buffered(l), 0);
    lg_read(ro, run, 1, &b);
    cr_assert_eq(b.len, n);
    cr_assert(memcmp(b.data, src, n) == 0);
    af_buf_free(&b);
    cr_assert_eq(st_log_sync(l, &e), 0);
    cr_assert_eq(st_log_close(l, 0, NULL, &e), 0);
    lg_read(ro, run, 1, &b);
    cr_assert_eq(b.len, n);
    af_buf_free(&b);
    st_close(ro);
    free(src);
    st_close(st);
}

Test(stlog, recording_is_refused_for_unknown_steps_and_read_only_files)
{
    struct st_log *l = NULL;
    struct af_err e = {0};
    struct st *ro = NULL;
    int64_t run;
    struct st *st = lg_open(&run);

    cr_assert_eq(st_log_open(st, run, "n1", "drv", "other", 0, &l, &e),
                 AF_ENOTFOUND);
    cr_assert_null(l);
    cr_assert_eq(st_log_open(st, run, "n2", "drv", "install", 0, &l, &e),
                 AF_ENOTFOUND);
    cr_assert_eq(st_open_ro(dbpath, &ro, &e), 0, "%s", e.msg);
    cr_assert_eq(st_log_open(ro, run, "n1", "drv", "install", 0, &l, &e),
                 AF_EINPUT);
    cr_assert_null(l);
    cr_assert_eq(st_log_close(NULL, 0, NULL, &e), 0);
    st_close(ro);
    st_close(st);
}
