/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for state/st: schema creation and version checks, run, node
 * and step rows, output tail capping, facts replacement, the event log,
 * hccn rows, the run lock across processes, and durability when a writer
 * is killed with SIGKILL in the middle of a batch. Each test works in its
 * own directory under /tmp and removes it afterwards.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "af-err.h"
#include "af-proto.h"
#include "st.h"

static char tmpdir[64];
static char dbpath[128];

static void
st_setup(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/af-test-state-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir), "mkdtemp: %s", strerror(errno));
    snprintf(dbpath, sizeof(dbpath), "%s/state.db", tmpdir);
}

static void
st_teardown(void)
{
    char p[512];
    struct dirent *d;
    DIR *dir;

    /* A test that mounted a small file system and failed leaves none. */
    snprintf(p, sizeof(p), "%s/mnt", tmpdir);
    umount2(p, MNT_DETACH);
    rmdir(p);
    dir = opendir(tmpdir);

    if (dir == NULL)
        return;
    while ((d = readdir(dir)) != NULL) {
        if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof(p), "%s/%s", tmpdir, d->d_name);
        unlink(p);
    }
    closedir(dir);
    rmdir(tmpdir);
}

TestSuite(st, .init = st_setup, .fini = st_teardown, .timeout = 60);

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct st *
open_ok(void)
{
    struct af_err e = {0};
    struct st *st = NULL;
    int r = st_open(dbpath, &st, &e);

    cr_assert_eq(r, 0, "st_open: %d %s", r, e.msg);
    cr_assert_not_null(st);
    return st;
}

/* First column of the first row of sql on path, through a raw connection. */
static char *
raw_query1(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    char *v = NULL;

    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK,
                 "prepare %s: %s", sql, sqlite3_errmsg(db));
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0) != NULL)
        v = strdup((const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

static int
raw_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    int rc;

    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc;
}

/* Wait up to timeout_ms for one byte from fd; returns it or -1. */
static int
wait_byte(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    char c;

    if (poll(&p, 1, timeout_ms) != 1)
        return -1;
    if (read(fd, &c, 1) != 1)
        return -1;
    return (unsigned char)c;
}

static void
sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000,
                          .tv_nsec = (ms % 1000) * 1000000};

    nanosleep(&ts, NULL);
}

static void
kill_and_reap(pid_t pid)
{
    int status = 0;

    kill(pid, SIGKILL);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
              "child ended otherwise (status %d)", status);
}

/* ---- open, schema versions ---- */

Test(st, new_file_gets_schema_wal_and_reopens_with_data)
{
    struct af_err e = {0};
    struct st *st = open_ok();
    struct st_run run;
    int64_t id = 0;
    char *v;

    cr_assert_eq(st_run_create(st, "ascend-fleet rollout --stage driver",
                               "driver", "{\"batch\":\"1,10%\"}", &id, &e),
                 0, "%s", e.msg);
    st_close(st);

    v = raw_query1(dbpath, "SELECT value FROM meta WHERE key = "
                           "'schema_version'");
    cr_assert_not_null(v);
    cr_assert_eq(atoi(v), ST_SCHEMA_VERSION);
    free(v);
    v = raw_query1(dbpath, "PRAGMA journal_mode");
    cr_assert_str_eq(v, "wal");
    free(v);

    st = open_ok();
    cr_assert_eq(st_run_get(st, id, &run, &e), 0, "%s", e.msg);
    cr_assert_str_eq(run.cmdline, "ascend-fleet rollout --stage driver");
    cr_assert_str_eq(run.options_json, "{\"batch\":\"1,10%\"}");
    cr_assert_eq(st_check(st, &e), 0, "%s", e.msg);
    st_run_clear(&run);
    st_close(st);
}

Test(st, empty_file_is_migrated_to_current_schema)
{
    int fd = open(dbpath, O_CREAT | O_WRONLY, 0600);
    struct st *st;
    char *v;

    cr_assert_geq(fd, 0);
    close(fd);
    st = open_ok();
    st_close(st);
    v = raw_query1(dbpath, "SELECT count(*) FROM sqlite_schema WHERE "
                           "name IN ('runs', 'run_nodes', 'node_steps', "
                           "'events', 'facts', 'hccn_results', 'meta')");
    cr_assert_str_eq(v, "7", "tables created: %s", v);
    free(v);
}

Test(st, newer_schema_version_is_refused_and_file_untouched)
{
    struct af_err e = {0};
    struct st *st = open_ok();
    char *v;

    st_close(st);
    cr_assert_eq(raw_exec(dbpath, "UPDATE meta SET value = '99' WHERE key = "
                                  "'schema_version'"),
                 SQLITE_OK);
    st = (struct st *)&e; /* must be reset to NULL on failure */
    cr_assert_eq(st_open(dbpath, &st, &e), AF_EDB);
    cr_assert_null(st);
    cr_assert_not_null(strstr(e.msg, "schema version 99 is newer"), "%s",
                       e.msg);
    v = raw_query1(dbpath, "SELECT value FROM meta WHERE key = "
                           "'schema_version'");
    cr_assert_str_eq(v, "99");
    free(v);
}

Test(st, foreign_database_and_garbage_file_are_refused)
{
    struct af_err e = {0};
    struct st *st = NULL;
    FILE *f;

    cr_assert_eq(raw_exec(dbpath, "CREATE TABLE t (x)"), SQLITE_OK);
    cr_assert_eq(st_open(dbpath, &st, &e), AF_EDB);
    cr_assert_not_null(strstr(e.msg, "not an ascend-fleet state file"), "%s",
                       e.msg);
    st_teardown();
    st_setup();
    f = fopen(dbpath, "w");
    cr_assert_not_null(f);
    for (int i = 0; i < 200; i++)
        fputs("this is not a database file, it is text. ", f);
    fclose(f);
    af_err_clear(&e);
    cr_assert_eq(st_open(dbpath, &st, &e), AF_EDB);
    cr_assert_null(st);
    cr_assert_not_null(strstr(e.msg, dbpath), "%s", e.msg);
}

/* ---- runs ---- */

Test(st, run_lifecycle_and_last_unfinished)
{
    struct af_err e = {0};
    struct st *st = open_ok();
    struct st_run run, *runs = NULL;
    int64_t r1 = 0, r2 = 0, last = 0;
    size_t n = 0;

    cr_assert_eq(st_run_last_unfinished(st, &last, &e), AF_ENOTFOUND);
    cr_assert_eq(st_run_create(st, "cmd one", "driver,firmware", NULL, &r1, &e),
                 0, "%s", e.msg);
    cr_assert_eq(st_run_get(st, r1, &run, &e), 0);
    cr_assert_eq(run.status, ST_RUN_PLANNED);
    cr_assert_eq(run.pid, (int64_t)getpid());
    cr_assert_str_eq(run.options_json, "{}");
    cr_assert_str_eq(run.stages, "driver,firmware");
    cr_assert_null(run.reason);
    st_run_clear(&run);

    cr_assert_eq(st_run_last_unfinished(st, &last, &e), 0);
    cr_assert_eq(last, r1);
    cr_assert_eq(st_run_set_status(st, r1, ST_RUN_RUNNING, NULL, &e), 0);
    cr_assert_eq(st_run_set_status(st, r1, ST_RUN_FAILED,
                                   "failure budget exceeded (2 > 1)", &e),
                 0);
    cr_assert_eq(st_run_get(st, r1, &run, &e), 0);
    cr_assert_eq(run.status, ST_RUN_FAILED);
    cr_assert_str_eq(run.reason, "failure budget exceeded (2 > 1)");
    cr_assert_geq(run.updated, run.created);
    st_run_clear(&run);
    /* A failed run can still be resumed. */
    cr_assert_eq(st_run_last_unfinished(st, &last, &e), 0);
    cr_assert_eq(last, r1);

    cr_assert_eq(st_run_create(st, "cmd two", "cann", "{\"a\":1}", &r2, &e), 0);
    cr_assert_gt(r2, r1);
    cr_assert_eq(st_run_last_unfinished(st, &last, &e), 0);
    cr_assert_eq(last, r2);
    cr_assert_eq(st_run_set_status(st, r2, ST_RUN_DONE, NULL, &e), 0);
    cr_assert_eq(st_run_last_unfinished(st, &last, &e), 0);
    cr_assert_eq(last, r1, "the done run is skipped");
    cr_assert_eq(st_run_set_status(st, r1, ST_RUN_ABORTED, "operator", &e), 0);
    cr_assert_eq(st_run_last_unfinished(st, &last, &e), AF_ENOTFOUND);

    cr_assert_eq(st_run_list(st, &runs, &n, &e), 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(runs[0].id, r1);
    cr_assert_eq(runs[1].id, r2);
    cr_assert_eq(runs[0].status, ST_RUN_ABORTED);
    cr_assert_eq(runs[1].status, ST_RUN_DONE);
    st_runs_free(runs, n);

    cr_assert_eq(st_run_get(st, 999, &run, &e), AF_ENOTFOUND);
    cr_assert_eq(st_run_set_status(st, 999, ST_RUN_DONE, NULL, &e),
                 AF_ENOTFOUND);
    cr_assert_eq(st_run_create(st, "x", "y", "{not json", &r2, &e), AF_EINPUT);
    st_close(st);
}

Test(st, run_options_are_read_with_sqlite_json_functions)
{
    struct af_err e = {0};
    struct st *st = open_ok();
    struct af_kv kv;
    int64_t r1 = 0, r2 = 0;

    cr_assert_eq(st_run_create(st, "rollout", "driver",
                               "{\"batch\":\"1,10%\",\"fanout\":64,"
                               "\"limit\":\"a\\\"b\\u00e9,c\\n\","
                               "\"yes\":true,\"gone\":null,"
                               "\"nested\":{\"k\":[1,2]}}",
                               &r1, &e),
                 0, "%s", e.msg);
    af_kv_init(&kv);
    cr_assert_eq(st_run_options(st, r1, &kv, &e), 0, "%s", e.msg);
    cr_assert_eq(kv.n, 5, "null values are left out (%zu keys)", kv.n);
    cr_assert_str_eq(kv.keys[0], "batch", "stored order is kept");
    cr_assert_str_eq(af_kv_get(&kv, "batch"), "1,10%");
    cr_assert_str_eq(af_kv_get(&kv, "fanout"), "64");
    cr_assert_str_eq(af_kv_get(&kv, "limit"), "a\"b\xc3\xa9,c\n",
                     "JSON escapes are decoded: %s", af_kv_get(&kv, "limit"));
    cr_assert_str_eq(af_kv_get(&kv, "yes"), "true");
    cr_assert_str_eq(af_kv_get(&kv, "nested"), "{\"k\":[1,2]}");
    cr_assert_null(af_kv_get(&kv, "gone"));
    af_kv_free(&kv);

    cr_assert_eq(st_run_create(st, "rollout", "driver", NULL, &r2, &e), 0);
    af_kv_init(&kv);
    cr_assert_eq(st_run_options(st, r2, &kv, &e), 0, "%s", e.msg);
    cr_assert_eq(kv.n, 0);
    cr_assert_eq(st_run_options(st, 999, &kv, &e), AF_ENOTFOUND);
    cr_assert_not_null(strstr(e.msg, "no run 999"), "%s", e.msg);
    af_kv_free(&kv);
    st_close(st);
}

Test(st, status_names_round_trip)
{
    struct af_err e = {0};
    enum st_node_status ns;
    enum st_step_status ss;
    enum st_run_status rs;

    cr_assert_eq(st_node_status_parse("unreachable", &ns, &e), 0);
    cr_assert_eq(ns, ST_NODE_UNREACHABLE);
    cr_assert_str_eq(st_node_status_name(ST_NODE_REBOOTING), "rebooting");
    cr_assert_eq(st_step_status_parse("blocked", &ss, &e), 0);
    cr_assert_eq(ss, ST_STEP_BLOCKED);
    cr_assert_eq(st_run_status_parse("paused", &rs, &e), 0);
    cr_assert_eq(rs, ST_RUN_PAUSED);
    cr_assert_eq(st_run_status_parse("bogus", &rs, &e), AF_EINPUT);
    cr_assert_not_null(strstr(e.msg, "planned"), "%s", e.msg);
    cr_assert_str_eq(st_hccn_status_name(ST_HCCN_VERIFIED), "verified");
}

/* ---- nodes ---- */

Test(st, node_upsert_keeps_address_and_batch_and_records_boot_ids)
{
    struct af_err e = {0};
    struct st *st = open_ok();
    struct st_node nd, *nodes = NULL;
    int64_t run = 0;
    size_t n = 0;

    cr_assert_eq(st_run_create(st, "c", "driver", NULL, &run, &e), 0);
    cr_assert_eq(st_node_upsert(st, run, "npu002", "10.1.0.12", 0,
                                ST_NODE_PENDING, NULL, &e),
                 0, "%s", e.msg);
    cr_assert_eq(st_node_upsert(st, run, "npu001", NULL, -1, ST_NODE_BLOCKED,
                                "no driver package for "
                                "aarch64",
                                &e),
                 0);
    cr_assert_eq(st_node_upsert(st, run, "npu002", NULL, -1, ST_NODE_REBOOTING,
                                NULL, &e),
                 0);
    cr_assert_eq(st_node_set_boot(st, run, "npu002", "boot-a", NULL, &e), 0);
    cr_assert_eq(st_node_set_boot(st, run, "npu002", NULL, "boot-b", &e), 0);
    cr_assert_eq(st_node_get(st, run, "npu002", &nd, &e), 0);
    cr_assert_str_eq(nd.address, "10.1.0.12");
    cr_assert_eq(nd.batch, 0);
    cr_assert_eq(nd.status, ST_NODE_REBOOTING);
    cr_assert_str_eq(nd.boot_id_before, "boot-a");
    cr_assert_str_eq(nd.boot_id_after, "boot-b");
    st_node_clear(&nd);

    cr_assert_eq(st_node_list(st, run, &nodes, &n, &e), 0);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(nodes[0].node, "npu002", "insertion order kept");
    cr_assert_str_eq(nodes[1].node, "npu001");
    cr_assert_null(nodes[1].address);
    cr_assert_eq(nodes[1].batch, -1);
    cr_assert_str_eq(nodes[1].reason, "no driver package for aarch64");
    st_nodes_free(nodes, n);

    cr_assert_eq(
        st_node_upsert(st, 12345, "x", NULL, 0, ST_NODE_PENDING, NULL, &e),
        AF_ENOTFOUND);
    cr_assert_eq(st_node_set_boot(st, run, "nope", "a", "b", &e), AF_ENOTFOUND);
    cr_assert_eq(st_node_get(st, run, "nope", &nd, &e), AF_ENOTFOUND);
    st_close(st);
}

/* ---- steps ---- */

static void
get_step(struct st *st, int64_t run, struct st_step *s)
{
    struct af_err e = {0};

    cr_assert_eq(st_step_get(st, run, "n1", "driver", "install", s, &e), 0,
                 "%s", e.msg);
}

static void
set_step(struct st *st, int64_t run, enum st_step_status status, int code)
{
    struct af_err e = {0};

    cr_assert_eq(st_step_set(st, run, "n1", "driver", "install", status, code,
                             NULL, NULL, 0, 0, &e),
                 0, "%s", e.msg);
}

Test(st, step_attempts_and_timestamps)
{
    struct af_err e = {0};
    struct st *st = open_ok();
    struct st_step s, *steps = NULL;
    int64_t run = 0, t0, t1, started1;
    size_t n = 0;

    cr_assert_eq(st_run_create(st, "c", "driver", NULL, &run, &e), 0);
    cr_assert_eq(st_step_set(st, run, "n1", "driver", "install",
                             ST_STEP_RUNNING, ST_NO_EXIT, NULL, NULL, 0, 0, &e),
                 AF_ENOTFOUND, "a step needs its node in the run");
    cr_assert_eq(
        st_node_upsert(st, run, "n1", NULL, 0, ST_NODE_RUNNING, NULL, &e), 0);

    t0 = now_ms();
    cr_assert_eq(st_step_set(st, run, "n1", "driver", "install",
                             ST_STEP_RUNNING, ST_NO_EXIT,
                             "upgrade 23.0.rc2->24.1.0", NULL, 0, 0, &e),
                 0, "%s", e.msg);
    t1 = now_ms();
    get_step(st, run, &s);
    cr_assert_eq(s.attempt, 1);
    cr_assert_eq(s.status, ST_STEP_RUNNING);
    cr_assert(s.started >= t0 && s.started <= t1, "started %" PRId64,
              s.started);
    cr_assert_eq(s.ended, 0);
    cr_assert_eq(s.exit_code, ST_NO_EXIT);
    cr_assert_str_eq(s.action, "upgrade 23.0.rc2->24.1.0");
    started1 = s.started;
    st_step_clear(&s);

    sleep_ms(5);
    set_step(st, run, ST_STEP_FAILED, 1);
    get_step(st, run, &s);
    cr_assert_eq(s.attempt, 1);
    cr_assert_eq(s.exit_code, 1);
    cr_assert_eq(s.started, started1);
    cr_assert_geq(s.ended, started1 + 5, "ended after the sleep");
    cr_assert_str_eq(s.action, "upgrade 23.0.rc2->24.1.0", "action kept");
    st_step_clear(&s);

    sleep_ms(5);
    set_step(st, run, ST_STEP_RUNNING, ST_NO_EXIT);
    get_step(st, run, &s);
    cr_assert_eq(s.attempt, 2, "running again is a new attempt");
    cr_assert_gt(s.started, started1);
    cr_assert_eq(s.ended, 0, "a new attempt clears ended");
    cr_assert_eq(s.exit_code, ST_NO_EXIT, "and the exit code");
    started1 = s.started;
    st_step_clear(&s);

    set_step(st, run, ST_STEP_RUNNING, ST_NO_EXIT);
    get_step(st, run, &s);
    cr_assert_eq(s.attempt, 2, "running while running is no new attempt");
    cr_assert_eq(s.started, started1);
    st_step_clear(&s);

    set_step(st, run, ST_STEP_DONE, 0);
    get_step(st, run, &s);
    cr_assert_eq(s.exit_code, 0);
    cr_assert_geq(s.ended, s.started);
    st_step_clear(&s);

    set_step(st, run, ST_STEP_PENDING, ST_NO_EXIT);
    set_step(st, run, ST_STEP_RUNNING, ST_NO_EXIT);
    get_step(st, run, &s);
    cr_assert_eq(s.attempt, 3, "pending then running counts again");
    st_step_clear(&s);

    cr_assert_eq(
        st_step_set_boot(st, run, "n1", "driver", "install", "b0", "b1", &e),
        0);
    cr_assert_eq(st_step_set(st, run, "n1", "driver", "verify", ST_STEP_SKIPPED,
                             ST_NO_EXIT,
                             "skip (already "
                             "24.1.0)",
                             NULL, 0, 0, &e),
                 0);
    cr_assert_eq(st_step_list(st, run, "n1", &steps, &n, &e), 0);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(steps[0].step, "install");
    cr_assert_str_eq(steps[0].boot_id_before, "b0");
    cr_assert_str_eq(steps[0].boot_id_after, "b1");
    cr_assert_str_eq(steps[1].step, "verify");
    cr_assert_eq(steps[1].status, ST_STEP_SKIPPED);
    cr_assert_eq(steps[1].attempt, 0, "a skipped step never ran");
    cr_assert_eq(steps[1].started, 0);
    cr_assert_gt(steps[1].ended, 0);
    st_steps_free(steps, n);
    cr_assert_eq(st_step_list(st, run, "other", &steps, &n, &e), 0);
    cr_assert_eq(n, 0);
    cr_assert_null(steps);
    cr_assert_eq(st_step_set_boot(st, run, "n1", "x", "y", "a", "b", &e),
                 AF_ENOTFOUND);
    st_close(st);
}

Test(st, output_tail_is_capped_and_truncation_recorded)
{
    struct af_err e = {0};
    struct st *st = open_ok();
    struct st_step s;
    size_t big = 3 * ST_OUTPUT_TAIL_MAX + 17, i;
    char *out = malloc(big);
    int64_t run = 0;

    for (i = 0; i < big; i++)
        out[i] = (char)('a' + i % 26);
    cr_assert_eq(st_run_create(st, "c", "driver", NULL, &run, &e), 0);
    cr_assert_eq(
        st_node_upsert(st, run, "n1", NULL, 0, ST_NODE_RUNNING, NULL, &e), 0);
    cr_assert_eq(st_step_set(st, run, "n1", "driver", "install", ST_STEP_FAILED,
                             2, NULL, out, big, 0, &e),
                 0, "%s", e.msg);
    get_step(st, run, &s);
    cr_assert_eq(s.output_len, ST_OUTPUT_TAIL_MAX);
    cr_assert_eq(
        memcmp(s.output, out + big - ST_OUTPUT_TAIL_MAX, ST_OUTPUT_TAIL_MAX), 0,
        "the last bytes are kept");
    cr_assert_eq(s.output_truncated, 1);
    st_step_clear(&s);

    /* Short output: kept whole; the caller's truncation flag is kept. */
    cr_assert_eq(st_step_set(st, run, "n1", "driver", "install", ST_STEP_FAILED,
                             2, NULL, "ok\n", 3, 0, &e),
                 0);
    get_step(st, run, &s);
    cr_assert_eq(s.output_len, 3);
    cr_assert_str_eq(s.output, "ok\n");
    cr_assert_eq(s.output_truncated, 0);
    st_step_clear(&s);
    cr_assert_eq(st_step_set(st, run, "n1", "driver", "install", ST_STEP_FAILED,
                             2, NULL, "tail", 4, 1, &e),
                 0);
    get_step(st, run, &s);
    cr_assert_eq(s.output_truncated, 1, "remote cap recorded");
    st_step_clear(&s);

    /* The cut never starts inside a UTF-8 character ("é" = c3 a9). */
    memset(out, 'x', big);
    for (i = big - ST_OUTPUT_TAIL_MAX - 1; i + 1 < big; i += 2) {
        out[i] = (char)0xc3;
        out[i + 1] = (char)0xa9;
    }
    cr_assert_eq(((unsigned char)out[big - ST_OUTPUT_TAIL_MAX] & 0xc0), 0x80,
                 "test setup: the naive cut is a continuation byte");
    cr_assert_eq(st_step_set(st, run, "n1", "driver", "install", ST_STEP_FAILED,
                             2, NULL, out, big, 0, &e),
                 0);
    get_step(st, run, &s);
    cr_assert_eq(s.output_len, ST_OUTPUT_TAIL_MAX - 1);
    cr_assert_eq((unsigned char)s.output[0], 0xc3);
    st_step_clear(&s);

    /* A new attempt starts with no output. */
    set_step(st, run, ST_STEP_RUNNING, ST_NO_EXIT);
    get_step(st, run, &s);
    cr_assert_null(s.output);
    cr_assert_eq(s.output_truncated, 0);
    st_step_clear(&s);
    free(out);
    st_close(st);
}

/* ---- facts ---- */

static void
facts_expect(struct st *st,
             const char *node,
             const char *const *pairs,
             size_t n)
{
    struct af_err e = {0};
    struct af_kv kv;
    size_t i;

    af_kv_init(&kv);
    cr_assert_eq(st_facts_get(st, node, &kv, NULL, &e), 0, "%s", e.msg);
    cr_assert_eq(kv.n, n, "%zu facts, want %zu", kv.n, n);
    for (i = 0; i < n; i++) {
        cr_assert_str_eq(kv.keys[i], pairs[2 * i]);
        cr_assert_str_eq(kv.vals[i], pairs[2 * i + 1]);
    }
    af_kv_free(&kv);
}

Test(st, facts_replace_whole_set_atomically)
{
    static const char *const set_a[] = {
        "driver_version", "23.0.rc2",        "npu_count", "8",
        "arch",           "aarch64",         "npu_ip",    "192.168.100.101",
        "npu_ip",         "192.168.101.101",
    };
    static const char *const set_b[] = {
        "driver_version",
        "24.1.0",
        "npu_count",
        "8",
    };
    struct af_err e = {0};
    struct st *st = open_ok(), *reader;
    struct af_kv kv, bad;
    int64_t at = 0, t0 = now_ms();
    size_t i;

    af_kv_init(&kv);
    for (i = 0; i < sizeof(set_a) / sizeof(set_a[0]); i += 2)
        af_kv_add(&kv, set_a[i], set_a[i + 1]);
    cr_assert_eq(st_facts_put(st, "npu001", &kv, &e), 0, "%s", e.msg);
    facts_expect(st, "npu001", set_a, 5);
    af_kv_free(&kv);

    af_kv_init(&kv);
    cr_assert_eq(st_facts_get(st, "npu002", &kv, &at, &e), AF_ENOTFOUND);

    /* A put that fails half-way leaves the old set whole. */
    af_kv_init(&bad);
    af_kv_add(&bad, "driver_version", "99");
    af_kv_add(&bad, "broken", "x");
    free(bad.keys[1]);
    bad.keys[1] = NULL; /* violates NOT NULL on the second insert */
    cr_assert_eq(st_facts_put(st, "npu001", &bad, &e), AF_EDB);
    af_kv_free(&bad);
    facts_expect(st, "npu001", set_a, 5);

    /* Inside a batch: a second connection sees the old set until commit. */
    reader = open_ok();
    for (i = 0; i < sizeof(set_b) / sizeof(set_b[0]); i += 2)
        af_kv_add(&kv, set_b[i], set_b[i + 1]);
    cr_assert_eq(st_begin(st, &e), 0, "%s", e.msg);
    cr_assert_eq(st_facts_put(st, "npu001", &kv, &e), 0, "%s", e.msg);
    facts_expect(reader, "npu001", set_a, 5);
    cr_assert_eq(st_commit(st, &e), 0, "%s", e.msg);
    facts_expect(reader, "npu001", set_b, 2);
    facts_expect(st, "npu001", set_b, 2);
    af_kv_free(&kv);

    af_kv_init(&kv);
    cr_assert_eq(st_facts_get(reader, "npu001", &kv, &at, &e), 0);
    cr_assert_geq(at, t0);
    af_kv_free(&kv);
    st_close(reader);
    st_close(st);
}

/* ---- batches ---- */

Test(st, batch_commit_rollback_and_nesting)
{
    struct af_err e = {0};
    struct st *st = open_ok();
    struct st_node *nodes = NULL;
    int64_t run = 0;
    size_t n = 0;

    cr_assert_eq(st_commit(st, &e), AF_EINPUT);
    cr_assert_eq(st_rollback(st, &e), AF_EINPUT);
    cr_assert_eq(st_run_create(st, "c", "driver", NULL, &run, &e), 0);
    cr_assert_eq(st_begin(st, &e), 0);
    cr_assert_eq(st_begin(st, &e), AF_EINPUT, "batches do not nest");
    cr_assert_eq(
        st_node_upsert(st, run, "a", NULL, 0, ST_NODE_PENDING, NULL, &e), 0);
    cr_assert_eq(st_rollback(st, &e), 0);
    cr_assert_eq(st_node_list(st, run, &nodes, &n, &e), 0);
    cr_assert_eq(n, 0, "rolled back");

    cr_assert_eq(st_begin(st, &e), 0);
    cr_assert_eq(
        st_node_upsert(st, run, "a", NULL, 0, ST_NODE_PENDING, NULL, &e), 0);
    /* A failing call inside the batch undoes only itself. */
    cr_assert_eq(st_step_set(st, run, "ghost", "s", "t", ST_STEP_RUNNING,
                             ST_NO_EXIT, NULL, NULL, 0, 0, &e),
                 AF_ENOTFOUND);
    cr_assert_eq(st_step_set(st, run, "a", "s", "t", ST_STEP_RUNNING,
                             ST_NO_EXIT, NULL, NULL, 0, 0, &e),
                 0, "%s", e.msg);
    cr_assert_eq(st_commit(st, &e), 0, "%s", e.msg);
    cr_assert_eq(st_node_list(st, run, &nodes, &n, &e), 0);
    cr_assert_eq(n, 1);
    st_nodes_free(nodes, n);
    cr_assert_eq(st_check(st, &e), 0, "%s", e.msg);
    st_close(st);
}

/* ---- events ---- */

Test(st, events_are_ordered_filtered_and_append_only)
{
    struct af_err e = {0};
    struct st *st = open_ok();
    struct st_event *ev = NULL;
    int64_t r1 = 0, r2 = 0, t0 = now_ms();
    char *longtext;
    size_t n = 0, i;

    cr_assert_eq(st_run_create(st, "c", "driver", NULL, &r1, &e), 0);
    cr_assert_eq(st_run_create(st, "c", "driver", NULL, &r2, &e), 0);
    for (i = 0; i < 40; i++) {
        cr_assert_eq(st_event(st, i % 2 ? r2 : r1, i % 3 ? "npu001" : NULL,
                              "step", "event %zu", i),
                     0);
    }
    cr_assert_eq(st_event(st, 0, NULL, NULL, "facts gathered on %d nodes", 8),
                 0);
    cr_assert_eq(st_event_list(st, 0, 0, &ev, &n, &e), 0, "%s", e.msg);
    cr_assert_eq(n, 41);
    for (i = 0; i < 40; i++) {
        char want[32];

        snprintf(want, sizeof(want), "event %zu", i);
        cr_assert_str_eq(ev[i].text, want);
        cr_assert_eq(ev[i].run, i % 2 ? r2 : r1);
        if (i > 0) {
            cr_assert_gt(ev[i].id, ev[i - 1].id);
            cr_assert_geq(ev[i].ts, ev[i - 1].ts);
        }
        cr_assert_geq(ev[i].ts, t0);
        if (i % 3)
            cr_assert_str_eq(ev[i].node, "npu001");
        else
            cr_assert_null(ev[i].node);
    }
    cr_assert_eq(ev[40].run, 0);
    cr_assert_str_eq(ev[40].kind, "note");
    st_events_free(ev, n);

    cr_assert_eq(st_event_list(st, r2, 0, &ev, &n, &e), 0);
    cr_assert_eq(n, 20);
    cr_assert_str_eq(ev[0].text, "event 1");
    st_events_free(ev, n);
    cr_assert_eq(st_event_list(st, r1, 0, &ev, &n, &e), 0);
    cr_assert_eq(n, 20);
    {
        int64_t mid = ev[9].id;

        st_events_free(ev, n);
        cr_assert_eq(st_event_list(st, r1, mid, &ev, &n, &e), 0);
        cr_assert_eq(n, 10);
        cr_assert_str_eq(ev[0].text, "event 20");
        st_events_free(ev, n);
    }

    longtext = malloc(3 * ST_EVENT_TEXT_MAX);
    memset(longtext, 'z', 3 * ST_EVENT_TEXT_MAX - 1);
    longtext[3 * ST_EVENT_TEXT_MAX - 1] = '\0';
    cr_assert_eq(st_event(st, r1, NULL, "note", "%s", longtext), 0);
    free(longtext);
    cr_assert_eq(st_event_list(st, r1, 0, &ev, &n, &e), 0);
    cr_assert_eq(strlen(ev[n - 1].text), ST_EVENT_TEXT_MAX);
    cr_assert_str_eq(ev[n - 1].text + ST_EVENT_TEXT_MAX - 3, "...");
    st_events_free(ev, n);

    cr_assert_neq(st_event(st, 777, NULL, "x", "unknown run"), 0,
                  "an event for a missing run is refused, not fatal");
    st_close(st);
    cr_assert_neq(raw_exec(dbpath, "DELETE FROM events"), SQLITE_OK);
    cr_assert_neq(raw_exec(dbpath, "UPDATE events SET text = 'x'"), SQLITE_OK);
}

/* ---- hccn ---- */

Test(st, hccn_rows_are_replaced_per_npu)
{
    struct af_err e = {0};
    struct st *st = open_ok();
    struct st_hccn h = {0}, *rows = NULL;
    char n1[] = "npu001", n2[] = "npu002", mask[] = "255.255.255.0";
    char bad[] = "192.168.102.100", detail[] = "hccn_tool: set ip failed";
    size_t n = 0;
    char addr[32];
    int i;

    for (i = 0; i < 8; i++) {
        snprintf(addr, sizeof(addr), "192.168.%d.%d", 100 + i % 4, 101 - i / 4);
        h.node = i < 4 ? n2 : n1;
        h.npu = i % 4;
        h.address = addr;
        h.netmask = mask;
        h.status = ST_HCCN_APPLIED;
        cr_assert_eq(st_hccn_put(st, &h, &e), 0, "%s", e.msg);
    }
    h.node = n1;
    h.npu = 2;
    h.address = bad;
    h.status = ST_HCCN_FAILED;
    h.detail = detail;
    cr_assert_eq(st_hccn_put(st, &h, &e), 0);

    cr_assert_eq(st_hccn_get(st, "npu001", &rows, &n, &e), 0);
    cr_assert_eq(n, 4);
    for (i = 0; i < 4; i++)
        cr_assert_eq(rows[i].npu, i, "ordered by npu");
    cr_assert_eq(rows[2].status, ST_HCCN_FAILED);
    cr_assert_str_eq(rows[2].detail, "hccn_tool: set ip failed");
    cr_assert_null(rows[2].gateway);
    cr_assert_str_eq(rows[0].netmask, "255.255.255.0");
    st_hccn_free(rows, n);
    cr_assert_eq(st_hccn_get(st, NULL, &rows, &n, &e), 0);
    cr_assert_eq(n, 8);
    cr_assert_str_eq(rows[0].node, "npu001");
    cr_assert_str_eq(rows[7].node, "npu002");
    st_hccn_free(rows, n);
    st_close(st);
}

/* ---- run lock ---- */

Test(st, lock_is_refused_while_held_and_free_after_sigkill)
{
    struct af_err e = {0};
    struct st *st;
    int64_t last = 0;
    char want[64];
    int pfd[2];
    pid_t pid;

    cr_assert_eq(pipe(pfd), 0);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        struct st *cst = NULL;
        int64_t run = 0;

        close(pfd[0]);
        alarm(30); /* never outlive a broken parent */
        if (st_open(dbpath, &cst, NULL) != 0 ||
            st_run_create(cst, "rollout", "driver", NULL, &run, NULL) != 0 ||
            st_run_set_status(cst, run, ST_RUN_RUNNING, NULL, NULL) != 0 ||
            st_lock(cst, NULL) != 0)
            _exit(3);
        if (write(pfd[1], "L", 1) != 1)
            _exit(4);
        for (;;)
            pause();
    }
    close(pfd[1]);
    cr_assert_eq(wait_byte(pfd[0], 10000), 'L', "child did not lock");
    close(pfd[0]);

    st = open_ok();
    cr_assert_eq(st_lock(st, &e), AF_ELOCKED);
    snprintf(want, sizeof(want), "in use by pid %ld (run 1, started ",
             (long)pid);
    cr_assert_not_null(strstr(e.msg, want), "message: %s", e.msg);
    cr_assert_not_null(strstr(e.msg, dbpath), "names the file: %s", e.msg);

    kill_and_reap(pid);
    af_err_clear(&e);
    cr_assert_eq(st_lock(st, &e), 0, "lock free after SIGKILL: %s", e.msg);
    cr_assert_eq(st_run_last_unfinished(st, &last, &e), 0);
    cr_assert_eq(last, 1, "the killed run is resumable");
    cr_assert_eq(st_run_set_status(st, last, ST_RUN_RUNNING, NULL, &e), 0);
    st_close(st);
}

Test(st, lock_is_exclusive_between_handles_and_released_on_close)
{
    struct af_err e = {0};
    struct st *a = open_ok(), *b = open_ok();
    char want[64];

    cr_assert_eq(st_lock(a, &e), 0, "%s", e.msg);
    cr_assert_eq(st_lock(a, &e), 0, "locking twice is harmless");
    cr_assert_eq(st_lock(b, &e), AF_ELOCKED);
    snprintf(want, sizeof(want), "in use by pid %ld (no run in progress",
             (long)getpid());
    cr_assert_not_null(strstr(e.msg, want), "message: %s", e.msg);
    st_close(a);
    cr_assert_eq(st_lock(b, &e), 0, "%s", e.msg);
    st_close(b);
}

/* ---- durability ---- */

Test(st, sigkill_mid_batch_keeps_committed_rows_only)
{
    struct af_err e = {0};
    struct st *st;
    struct st_node *nodes = NULL;
    struct st_step *steps = NULL;
    struct af_kv kv;
    struct stat sb;
    char *v, walpath[160];
    size_t n = 0, i;
    int pfd[2];
    pid_t pid;

    cr_assert_eq(pipe(pfd), 0);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        struct st *cst = NULL;
        struct af_kv ckv;
        char name[32];
        int64_t run = 0;
        int k;

        close(pfd[0]);
        alarm(30);
        if (st_open(dbpath, &cst, NULL) != 0 || st_lock(cst, NULL) != 0 ||
            st_run_create(cst, "rollout", "npu", NULL, &run, NULL) != 0)
            _exit(3);
        /* Batch 1: committed. */
        if (st_begin(cst, NULL) != 0)
            _exit(4);
        for (k = 0; k < 20; k++) {
            snprintf(name, sizeof(name), "npu%03d", k);
            if (st_node_upsert(cst, run, name, NULL, 0, ST_NODE_DONE, NULL,
                               NULL) != 0 ||
                st_step_set(cst, run, name, "driver", "install", ST_STEP_DONE,
                            0, NULL, "ok", 2, 0, NULL) != 0)
                _exit(5);
        }
        if (st_commit(cst, NULL) != 0)
            _exit(6);
        /* Batch 2: large enough to spill pages to the WAL, never committed. */
        if (st_begin(cst, NULL) != 0)
            _exit(7);
        af_kv_init(&ckv);
        for (k = 0; k < 500; k++) {
            snprintf(name, sizeof(name), "key%04d", k);
            af_kv_add(&ckv, name, "a value of some length to fill pages");
        }
        for (k = 20; k < 120; k++) {
            snprintf(name, sizeof(name), "npu%03d", k);
            if (st_node_upsert(cst, run, name, NULL, 1, ST_NODE_REBOOTING, NULL,
                               NULL) != 0 ||
                st_facts_put(cst, name, &ckv, NULL) != 0)
                _exit(8);
        }
        if (st_run_set_status(cst, run, ST_RUN_FAILED, "x", NULL) != 0)
            _exit(9);
        if (write(pfd[1], "B", 1) != 1)
            _exit(10);
        for (;;)
            pause();
    }
    close(pfd[1]);
    cr_assert_eq(wait_byte(pfd[0], 20000), 'B',
                 "child did not reach the "
                 "second batch");
    close(pfd[0]);
    snprintf(walpath, sizeof(walpath), "%s-wal", dbpath);
    cr_assert_eq(stat(walpath, &sb), 0);
    cr_assert_gt(sb.st_size, 1024 * 1024,
                 "uncommitted pages reached the WAL (%lld bytes)",
                 (long long)sb.st_size);
    kill_and_reap(pid);

    st = open_ok();
    cr_assert_eq(st_lock(st, &e), 0, "%s", e.msg);
    cr_assert_eq(st_node_list(st, 1, &nodes, &n, &e), 0, "%s", e.msg);
    cr_assert_eq(n, 20, "committed nodes only, got %zu", n);
    for (i = 0; i < n; i++)
        cr_assert_eq(nodes[i].status, ST_NODE_DONE);
    st_nodes_free(nodes, n);
    cr_assert_eq(st_step_list(st, 1, NULL, &steps, &n, &e), 0);
    cr_assert_eq(n, 20);
    st_steps_free(steps, n);
    af_kv_init(&kv);
    cr_assert_eq(st_facts_get(st, "npu100", &kv, NULL, &e), AF_ENOTFOUND);
    af_kv_free(&kv);
    {
        struct st_run run;

        cr_assert_eq(st_run_get(st, 1, &run, &e), 0);
        cr_assert_eq(run.status, ST_RUN_PLANNED, "uncommitted status lost");
        st_run_clear(&run);
    }
    cr_assert_eq(st_check(st, &e), 0, "%s", e.msg);
    st_close(st);
    v = raw_query1(dbpath, "PRAGMA integrity_check");
    cr_assert_str_eq(v, "ok");
    free(v);
}

/* ---- the file's own safety: modes, links, full and read-only disks ---- */

static mode_t
mode_of(const char *path)
{
    struct stat sb;

    cr_assert_eq(stat(path, &sb), 0, "stat %s: %s", path, strerror(errno));
    return sb.st_mode & 07777;
}

Test(st, new_state_file_and_its_wal_are_private)
{
    struct af_err e = {0};
    struct st *st;
    char p[512];
    int64_t run = 0;

    umask(022);
    st = open_ok();
    cr_assert_eq(st_run_create(st, "rollout", "driver", NULL, &run, &e), 0);
    cr_assert_eq(mode_of(dbpath), 0600, "state file mode %o", mode_of(dbpath));
    snprintf(p, sizeof(p), "%s-wal", dbpath);
    cr_assert_eq(mode_of(p), 0600, "wal mode %o", mode_of(p));
    cr_assert_eq(st_lock(st, &e), 0, "%s", e.msg);
    snprintf(p, sizeof(p), "%s.lock", dbpath);
    cr_assert_eq(mode_of(p), 0600, "lock file mode %o", mode_of(p));
    st_close(st);
}

Test(st, symlinked_lock_file_is_refused_and_its_target_untouched)
{
    struct af_err e = {0};
    struct st *st = open_ok();
    char lock[512], victim[512], *v;
    FILE *f;

    snprintf(victim, sizeof(victim), "%s/victim", tmpdir);
    snprintf(lock, sizeof(lock), "%s.lock", dbpath);
    f = fopen(victim, "w");
    cr_assert_not_null(f);
    fputs("precious\n", f);
    fclose(f);
    cr_assert_eq(symlink(victim, lock), 0);
    cr_assert_neq(st_lock(st, &e), 0, "a symlinked lock file was used");
    cr_assert_not_null(strstr(e.msg, "symbolic link"), "%s", e.msg);
    st_close(st);
    f = fopen(victim, "r");
    cr_assert_not_null(f);
    v = calloc(1, 64);
    cr_assert_not_null(fgets(v, 64, f));
    fclose(f);
    cr_assert_str_eq(v, "precious\n", "the link's target was changed");
    free(v);
}

/* Mount a small tmpfs at <tmpdir>/mnt and point dbpath into it. */
static int
mount_small(const char *size)
{
    char mnt[128], opts[64];

    snprintf(mnt, sizeof(mnt), "%s/mnt", tmpdir);
    cr_assert_eq(mkdir(mnt, 0700), 0);
    snprintf(opts, sizeof(opts), "size=%s,mode=0700", size);
    if (mount("tmpfs", mnt, "tmpfs", 0, opts) != 0)
        return -errno;
    snprintf(dbpath, sizeof(dbpath), "%s/mnt/state.db", tmpdir);
    return 0;
}

static void
unmount_small(void)
{
    char mnt[128];

    snprintf(mnt, sizeof(mnt), "%s/mnt", tmpdir);
    cr_assert_eq(umount2(mnt, 0), 0, "umount %s: %s", mnt, strerror(errno));
    rmdir(mnt);
}

/* Fill the file system of path with a file until it is full. */
static void
fill_disk(const char *path)
{
    static char block[4096];
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    cr_assert_geq(fd, 0);
    memset(block, 'x', sizeof(block));
    while (write(fd, block, sizeof(block)) > 0)
        ;
    cr_assert_eq(errno, ENOSPC, "filling stopped by %s", strerror(errno));
    close(fd);
}

Test(st, full_disk_gives_a_clear_error_and_keeps_committed_rows)
{
    struct af_err e = {0};
    struct st *st;
    struct st_run run;
    char filler[512], big[3000];
    int64_t r1 = 0, r2 = 0;
    int r, i, failed = 0;

    if ((r = mount_small("1m")) != 0)
        cr_skip_test("cannot mount a tmpfs here: %s", strerror(-r));
    st = open_ok();
    cr_assert_eq(st_run_create(st, "rollout", "driver", NULL, &r1, &e), 0);
    cr_assert_eq(
        st_node_upsert(st, r1, "n1", NULL, 0, ST_NODE_RUNNING, NULL, &e), 0);
    snprintf(filler, sizeof(filler), "%s/mnt/filler", tmpdir);
    fill_disk(filler);
    memset(big, 'o', sizeof(big));
    /* The WAL grows until a write finds no room. */
    for (i = 0; i < 2000 && !failed; i++) {
        char step[32];

        snprintf(step, sizeof(step), "s%d", i);
        af_err_clear(&e);
        r = st_step_set(st, r1, "n1", "driver", step, ST_STEP_RUNNING,
                        ST_NO_EXIT, "install", big, sizeof(big), 0, &e);
        if (r != 0)
            failed = 1;
    }
    cr_assert(failed, "no write failed on a full disk");
    cr_assert_eq(r, AF_EDB, "code %d: %s", r, e.msg);
    cr_assert_not_null(strstr(e.msg, "full"), "message: %s", e.msg);
    cr_assert_not_null(strstr(e.msg, dbpath), "names the file: %s", e.msg);
    r = st_run_create(st, "rollout", "driver", NULL, &r2, &e);
    cr_assert_neq(r, 0, "a run was created on a full disk");
    st_close(st);

    /* Room again: the file is whole and holds what was committed. */
    cr_assert_eq(unlink(filler), 0);
    st = open_ok();
    cr_assert_eq(st_check(st, &e), 0, "%s", e.msg);
    cr_assert_eq(st_run_get(st, r1, &run, &e), 0, "%s", e.msg);
    cr_assert_eq(run.status, ST_RUN_PLANNED);
    st_run_clear(&run);
    st_close(st);
    unmount_small();
}

Test(st, read_only_file_system_gives_a_clear_error_and_changes_nothing)
{
    struct af_err e = {0};
    struct st *st;
    struct st_run run;
    char mnt[128];
    int64_t r1 = 0, r2 = 0;
    int r;

    if ((r = mount_small("4m")) != 0)
        cr_skip_test("cannot mount a tmpfs here: %s", strerror(-r));
    st = open_ok();
    cr_assert_eq(st_run_create(st, "rollout", "driver", NULL, &r1, &e), 0);
    st_close(st);
    snprintf(mnt, sizeof(mnt), "%s/mnt", tmpdir);
    cr_assert_eq(mount(NULL, mnt, NULL, MS_REMOUNT | MS_RDONLY, "size=4m"), 0,
                 "remount ro: %s", strerror(errno));
    st = NULL;
    r = st_open(dbpath, &st, &e);
    if (r == 0) {
        /* SQLite may open it read-only: then every write must fail. */
        r = st_run_create(st, "rollout", "driver", NULL, &r2, &e);
        st_close(st);
    }
    cr_assert_eq(r, AF_EDB, "code %d: %s", r, e.msg);
    cr_assert_not_null(strstr(e.msg, dbpath), "names the file: %s", e.msg);
    cr_assert(strstr(e.msg, "read") != NULL || strstr(e.msg, "open") != NULL,
              "says what happened: %s", e.msg);
    cr_assert_eq(mount(NULL, mnt, NULL, MS_REMOUNT, "size=4m"), 0);
    st = open_ok();
    cr_assert_eq(st_check(st, &e), 0, "%s", e.msg);
    cr_assert_eq(st_run_get(st, r1, &run, &e), 0, "%s", e.msg);
    st_run_clear(&run);
    cr_assert_eq(st_run_get(st, r1 + 1, &run, &e), AF_ENOTFOUND);
    st_close(st);
    unmount_small();
}

/* Overwrite every page after the first (the schema) with garbage. */
static void
corrupt_pages(const char *path)
{
    static char junk[4096];
    struct stat sb;
    int fd = open(path, O_WRONLY);
    off_t off;

    cr_assert_geq(fd, 0);
    cr_assert_eq(fstat(fd, &sb), 0);
    memset(junk, 0x5a, sizeof(junk));
    for (off = 4096; off < sb.st_size; off += 4096)
        cr_assert_eq(pwrite(fd, junk, sizeof(junk), off), (ssize_t)4096);
    close(fd);
}

Test(st, corrupt_file_gives_its_sqlite_error_not_no_unfinished_run)
{
    struct af_err e = {0};
    struct st *st = open_ok();
    int64_t run = 0;
    int r;

    for (int i = 0; i < 20; i++)
        cr_assert_eq(st_run_create(st, "rollout", "driver", NULL, &run, &e), 0);
    st_close(st);
    cr_assert_eq(raw_exec(dbpath, "PRAGMA wal_checkpoint(TRUNCATE)"),
                 SQLITE_OK);
    corrupt_pages(dbpath);
    st = NULL;
    r = st_open(dbpath, &st, &e);
    if (r == 0) {
        r = st_run_last_unfinished(st, &run, &e);
        st_close(st);
    }
    cr_assert_eq(r, AF_EDB, "code %d: %s", r, e.msg);
    cr_assert_not_null(strstr(e.msg, "malformed"), "SQLite's words: %s", e.msg);
}

/* ---- locks per node set, read-only opening, default path, schema 2 ---- */

Test(st, node_locks_let_disjoint_node_sets_work_side_by_side)
{
    struct af_err e = {0};
    struct st *a = open_ok(), *b = open_ok(), *c = open_ok();
    const char *rollout[] = {"npu001", "npu002", "npu003"};
    const char *facts[] = {"npu010", "npu011"};
    const char *overlap[] = {"npu010", "npu002"};
    const char *later[] = {"npu002"};
    char want[96];

    cr_assert_eq(st_lock_nodes(a, rollout, 3, &e), 0, "%s", e.msg);
    cr_assert_eq(st_lock_nodes(b, facts, 2, &e), 0,
                 "other nodes lock beside: %s", e.msg);
    cr_assert_eq(st_lock_nodes(c, overlap, 2, &e), AF_ELOCKED);
    snprintf(want, sizeof(want), "node npu010 is in use by pid %ld",
             (long)getpid());
    cr_assert_not_null(strstr(e.msg, want), "message: %s", e.msg);
    cr_assert_not_null(strstr(e.msg, dbpath), "names the file: %s", e.msg);
    /* The whole-file lock waits for no one. */
    cr_assert_eq(st_lock(c, &e), AF_ELOCKED);
    cr_assert_not_null(strstr(e.msg, "in use by pid"), "%s", e.msg);
    st_close(b);
    /* The failed call kept nothing: npu010 is free now, npu002 is not. */
    cr_assert_eq(st_lock_nodes(c, facts, 2, &e), 0, "%s", e.msg);
    cr_assert_eq(st_lock_nodes(c, later, 1, &e), AF_ELOCKED);
    st_close(a);
    cr_assert_eq(st_lock_nodes(c, later, 1, &e), 0, "%s", e.msg);
    cr_assert_eq(st_lock(c, &e), 0, "alone now: %s", e.msg);
    st_close(c);
}

Test(st, whole_file_lock_holds_off_every_node_lock)
{
    struct af_err e = {0};
    struct st *a = open_ok(), *b = open_ok();
    const char *one[] = {"npu001"};
    char want[96];

    cr_assert_eq(st_lock(a, &e), 0, "%s", e.msg);
    cr_assert_eq(st_lock_nodes(b, one, 1, &e), AF_ELOCKED);
    snprintf(want, sizeof(want), "node npu001 is in use by pid %ld (no run",
             (long)getpid());
    cr_assert_not_null(strstr(e.msg, want), "message: %s", e.msg);
    st_close(a);
    cr_assert_eq(st_lock_nodes(b, one, 1, &e), 0, "%s", e.msg);
    st_close(b);
}

Test(st, read_only_open_never_creates_and_refuses_writes)
{
    struct af_err e = {0};
    struct st *st = NULL, *w, *ro = NULL;
    struct st_run *runs = NULL;
    const char *one[] = {"npu001"};
    int64_t run = 0;
    size_t n = 0;

    cr_assert_eq(st_open_ro(dbpath, &st, &e), AF_ENOTFOUND);
    cr_assert_null(st);
    cr_assert_not_null(strstr(e.msg, "no state file at"), "%s", e.msg);
    cr_assert_neq(access(dbpath, F_OK), 0, "a file was created");

    w = open_ok();
    cr_assert_eq(st_run_create(w, "rollout", "driver", NULL, &run, &e), 0);
    cr_assert_eq(st_lock_nodes(w, one, 1, &e), 0);
    /* Readers work while a writer holds its lock. */
    cr_assert_eq(st_open_ro(dbpath, &ro, &e), 0, "%s", e.msg);
    cr_assert_eq(st_run_list(ro, &runs, &n, &e), 0, "%s", e.msg);
    cr_assert_eq(n, 1);
    st_runs_free(runs, n);
    cr_assert_eq(st_run_set_status(ro, run, ST_RUN_DONE, NULL, &e), AF_EINPUT);
    cr_assert_not_null(strstr(e.msg, "read-only"), "%s", e.msg);
    cr_assert_eq(st_event(ro, run, NULL, "note", "x"), AF_EINPUT);
    st_close(ro);
    st_close(w);
}

Test(st, default_state_path_is_beside_the_inventory)
{
    struct af_err e = {0};
    char *p, inv[256], *db;
    struct st *st;
    struct stat sb;

    p = st_default_path("/etc/fleet/rack7.yaml");
    cr_assert_str_eq(p, "/etc/fleet/.ascend-fleet/rack7.db");
    free(p);
    p = st_default_path("inventory.yml");
    cr_assert_str_eq(p, ".ascend-fleet/inventory.db");
    free(p);
    p = st_default_path("./hosts");
    cr_assert_str_eq(p, "./.ascend-fleet/hosts.db");
    free(p);

    snprintf(inv, sizeof(inv), "%s/inventory.yaml", tmpdir);
    db = st_default_path(inv);
    cr_assert_eq(st_make_dir(db, &e), 0, "%s", e.msg);
    cr_assert_eq(st_make_dir(db, &e), 0, "an existing directory is fine");
    cr_assert_eq(st_open(db, &st, &e), 0, "%s", e.msg);
    st_close(st);
    cr_assert_eq(unlink(db), 0);
    *strrchr(db, '/') = '\0';
    cr_assert_eq(stat(db, &sb), 0);
    cr_assert_eq(sb.st_mode & 0777, 0700, "directory mode %o",
                 sb.st_mode & 0777);
    cr_assert_eq(rmdir(db), 0, "%s: %s", db, strerror(errno));
    free(db);
}

/* Take the file back to schema 1 (runs without 'interrupted', no node
 * identity columns). */
static void
downgrade_to_schema_1(void)
{
    cr_assert_eq(
        raw_exec(dbpath,
                 "BEGIN;"
                 "ALTER TABLE hccn_results DROP COLUMN node_address;"
                 "ALTER TABLE hccn_results DROP COLUMN host_key;"
                 "ALTER TABLE run_nodes DROP COLUMN host_key;"
                 "ALTER TABLE facts DROP COLUMN address;"
                 "ALTER TABLE facts DROP COLUMN host_key;"
                 "CREATE TABLE r1 (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                 "created INTEGER NOT NULL, updated INTEGER NOT NULL, "
                 "cmdline TEXT NOT NULL, stages TEXT NOT NULL, options TEXT "
                 "NOT NULL DEFAULT '{}' CHECK (json_valid(options)), status "
                 "TEXT NOT NULL CHECK (status IN ('planned', 'running', "
                 "'paused', 'failed', 'done', 'aborted')), reason TEXT, pid "
                 "INTEGER, host TEXT, owner_since INTEGER);"
                 "INSERT INTO r1 SELECT * FROM runs;"
                 "DROP TABLE runs;"
                 "ALTER TABLE r1 RENAME TO runs;"
                 "CREATE INDEX runs_status ON runs (status, id);"
                 /* Tables of later schemas. */
                 "DROP TABLE IF EXISTS step_log_chunks;"
                 "DROP TABLE IF EXISTS step_logs;"
                 "UPDATE meta SET value = '1' WHERE key = 'schema_version';"
                 "COMMIT;"),
        SQLITE_OK);
}

Test(st, schema_1_file_is_migrated_and_keeps_runs_nodes_and_ids)
{
    struct af_err e = {0};
    struct st *st = open_ok();
    struct st_node node;
    int64_t r1 = 0, r2 = 0, r3 = 0, last = 0;
    char *v;

    cr_assert_eq(st_run_create(st, "rollout a", "driver", NULL, &r1, &e), 0);
    cr_assert_eq(st_run_create(st, "rollout b", "driver", NULL, &r2, &e), 0);
    cr_assert_eq(
        st_node_upsert(st, r2, "n1", "10.0.0.1", 0, ST_NODE_RUNNING, NULL, &e),
        0);
    cr_assert_eq(st_run_set_status(st, r2, ST_RUN_DONE, NULL, &e), 0);
    st_close(st);
    downgrade_to_schema_1();
    cr_assert_eq(raw_exec(dbpath, "UPDATE runs SET status = 'interrupted' "
                                  "WHERE id = 1"),
                 SQLITE_CONSTRAINT, "schema 1 has no 'interrupted'");

    st = open_ok();
    v = raw_query1(dbpath, "SELECT value FROM meta WHERE key = "
                           "'schema_version'");
    /* Migrated to the latest version (later migrations add to it). */
    cr_assert_eq(atoi(v), ST_SCHEMA_VERSION);
    free(v);
    cr_assert_eq(st_check(st, &e), 0, "%s", e.msg);
    cr_assert_eq(st_node_get(st, r2, "n1", &node, &e), 0, "%s", e.msg);
    cr_assert_str_eq(node.address, "10.0.0.1");
    st_node_clear(&node);
    cr_assert_eq(st_run_create(st, "rollout c", "driver", NULL, &r3, &e), 0);
    cr_assert_eq(r3, r2 + 1, "ids go on after migration (%lld)", (long long)r3);
    cr_assert_eq(st_run_set_status(st, r3, ST_RUN_DONE, NULL, &e), 0);
    /* interrupted: unfinished, so a bare resume picks it. */
    cr_assert_eq(st_run_set_status(st, r1, ST_RUN_INTERRUPTED, "SIGINT", &e), 0,
                 "%s", e.msg);
    cr_assert_str_eq(st_run_status_name(ST_RUN_INTERRUPTED), "interrupted");
    cr_assert_eq(st_run_last_unfinished(st, &last, &e), 0);
    cr_assert_eq(last, r1);
    cr_assert_eq(st_run_set_status(st, r1, ST_RUN_ABORTED, "given up", &e), 0);
    cr_assert_eq(st_run_last_unfinished(st, &last, &e), AF_ENOTFOUND,
                 "an aborted run is never picked");
    /* Foreign keys still hold on the rebuilt table. */
    cr_assert_eq(
        st_node_upsert(st, 99, "n1", NULL, 0, ST_NODE_RUNNING, NULL, &e),
        AF_ENOTFOUND);
    st_close(st);
}

/* ---- node identity ---- */

Test(st, node_identity_is_recorded_for_run_nodes_facts_and_hccn_rows)
{
    struct af_err e = {0};
    struct st *st = open_ok(), *ro = NULL;
    struct st_ident id = {"10.0.0.7", "SHA256:abc"};
    struct st_ident other = {"10.0.0.8", "SHA256:xyz"};
    struct st_hccn h, *rows = NULL;
    struct af_kv kv;
    size_t n = 0;
    int64_t run = 0;
    char *a = NULL, *k = NULL, diff[256];
    char n1[] = "n1", ip[] = "192.168.100.1", addr[] = "10.0.0.7";
    char key[] = "SHA256:abc";

    cr_assert_eq(st_run_create(st, "rollout", "driver", NULL, &run, &e), 0);
    cr_assert_eq(
        st_node_upsert(st, run, "n1", "10.0.0.7", 0, ST_NODE_PENDING, NULL, &e),
        0);
    cr_assert_eq(st_node_set_ident(st, run, "n1", &id, &e), 0, "%s", e.msg);
    cr_assert_eq(st_node_set_ident(st, run, "n2", &id, &e), AF_ENOTFOUND);
    cr_assert_eq(st_node_ident(st, run, "n1", &a, &k, &e), 0, "%s", e.msg);
    cr_assert_str_eq(a, "10.0.0.7");
    cr_assert_str_eq(k, "SHA256:abc");
    free(a);
    free(k);

    af_kv_init(&kv);
    af_kv_add(&kv, "os_id", "debian");
    cr_assert_eq(st_facts_put(st, "n1", &kv, &e), 0);
    cr_assert_eq(st_facts_set_ident(st, "n1", &id, &e), 0, "%s", e.msg);
    af_kv_free(&kv);
    cr_assert_eq(st_facts_ident(st, "n1", &a, &k, &e), 0, "%s", e.msg);
    cr_assert_str_eq(k, "SHA256:abc");
    free(a);
    free(k);
    cr_assert_eq(st_facts_ident(st, "n9", &a, &k, &e), AF_ENOTFOUND);

    memset(&h, 0, sizeof(h));
    h.node = n1;
    h.npu = 0;
    h.address = ip;
    h.status = ST_HCCN_VERIFIED;
    h.node_address = addr;
    h.host_key = key;
    cr_assert_eq(st_hccn_put(st, &h, &e), 0, "%s", e.msg);
    cr_assert_eq(st_hccn_get(st, "n1", &rows, &n, &e), 0, "%s", e.msg);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(rows[0].node_address, "10.0.0.7");
    cr_assert_str_eq(rows[0].host_key, "SHA256:abc");
    st_hccn_free(rows, n);
    st_close(st);

    /* A read-only file from before identities: rows read with NULLs. */
    cr_assert_eq(raw_exec(dbpath, "ALTER TABLE hccn_results DROP COLUMN "
                                  "node_address; ALTER TABLE hccn_results "
                                  "DROP COLUMN host_key;"),
                 SQLITE_OK);
    cr_assert_eq(st_open_ro(dbpath, &ro, &e), 0, "%s", e.msg);
    cr_assert_eq(st_hccn_get(ro, NULL, &rows, &n, &e), 0, "%s", e.msg);
    cr_assert_eq(n, 1);
    cr_assert_null(rows[0].host_key);
    st_hccn_free(rows, n);
    st_close(ro);

    cr_assert_eq(st_ident_diff(&id, &id, diff, sizeof(diff)), 0);
    cr_assert_str_eq(diff, "");
    cr_assert_eq(st_ident_diff(&id, &other, diff, sizeof(diff)), 1);
    cr_assert_str_eq(diff, "address 10.0.0.7 -> 10.0.0.8, host key "
                           "SHA256:abc -> SHA256:xyz");
    other.address = NULL; /* unknown: not compared */
    cr_assert_eq(st_ident_diff(&id, &other, diff, sizeof(diff)), 1);
    cr_assert_str_eq(diff, "host key SHA256:abc -> SHA256:xyz");
}

Test(st, run_lock_probe_sees_a_holder_of_the_runs_nodes_only)
{
    struct af_err e = {0};
    struct st *st = open_ok(), *b = open_ok(), *ro = NULL;
    const char *mine[] = {"n1"}, *others[] = {"n3"};
    int64_t run = 0;

    cr_assert_eq(st_run_create(st, "rollout", "driver", NULL, &run, &e), 0);
    cr_assert_eq(
        st_node_upsert(st, run, "n1", NULL, 0, ST_NODE_PENDING, NULL, &e), 0);
    cr_assert_eq(
        st_node_upsert(st, run, "n2", NULL, 0, ST_NODE_PENDING, NULL, &e), 0);
    cr_assert_eq(st_open_ro(dbpath, &ro, &e), 0, "%s", e.msg);
    /* No lock file yet: free, and the probe creates none. */
    cr_assert_eq(st_run_lock_probe(ro, run, &e), 0, "%s", e.msg);
    cr_assert_eq(st_lock_nodes(b, others, 1, &e), 0, "%s", e.msg);
    cr_assert_eq(st_run_lock_probe(ro, run, &e), 0, "other nodes: %s", e.msg);
    cr_assert_eq(st_lock_nodes(st, mine, 1, &e), 0, "%s", e.msg);
    cr_assert_eq(st_run_lock_probe(ro, run, &e), AF_ELOCKED);
    cr_assert(strstr(e.msg, "node n1 is in use by pid") != NULL, "%s", e.msg);
    st_close(st);
    cr_assert_eq(st_run_lock_probe(ro, run, &e), 0, "%s", e.msg);
    st_close(b);
    st_close(ro);
}
