/* SPDX-License-Identifier: MIT */
/*
 * Integration tests of `ascend-fleet rollout` and `resume` on the shared
 * simulated rack: a full prereq+npu rollout in batches with rolling reboots,
 * re-running a finished rollout, firmware-first ordering when a driver is
 * overwritten, the failure budget, each injectable fault (installer fails,
 * installer hangs, node never comes back, node unreachable), kill -9 of
 * ascend-fleet at several points followed by `resume`, the state file lock
 * and plan-only runs.
 *
 * Only nodes npu017..npu048 of the shared rack are used; each test resets
 * its nodes to fresh before it starts and after it ends (also after a
 * failed assertion, from the fini). Each test has its own temporary
 * directory with its own inventory and state file. The vendor packages are
 * built once per build directory into /tmp/af-rollout-pkgs-<hash> and
 * removed when the test binary ends. Every command is bounded in time.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <criterion/hooks.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "af-mem.h"
#include "harness.h"

/* Bounds (seconds) of one rollout command. */
#define RO_RUN_TIMEOUT   300
#define RO_SHORT_TIMEOUT 60
/* Simulated install and reboot times set on every node of a test. */
#define RO_INSTALL_S "0.3"
#define RO_REBOOT_S  "1"

/* The per-test fixture: a temporary directory, the nodes, a background
 * ascend-fleet (0 when none). Each test runs in its own process. */
struct ro_ctx {
    char dir[64];
    char state[128];
    char inv[128];
    char bgout[128];
    int first, last;
    pid_t bg;
    const char *user; /* login user (NULL: root) */
    int become;       /* become: sudo in the inventory */
};

static struct ro_ctx ctx;

/* ---- small helpers ----------------------------------------------------- */

static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static long long
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
node_name(char *buf, size_t n, int i)
{
    snprintf(buf, n, "npu%03d", i);
}

/* "npu017 npu018 ..." for first..last (caller frees). */
static char *
node_words(int first, int last)
{
    size_t cap = (size_t)(last - first + 1) * 8 + 1;
    char *s = af_calloc(cap, 1);
    size_t len = 0;
    int i;

    for (i = first; i <= last; i++)
        len += (size_t)snprintf(s + len, cap - len, "%snpu%03d",
                                i > first ? " " : "", i);
    return s;
}

/* Hash of the build directory: names the package cache. */
static unsigned
build_key(void)
{
    const char *p = AF_BINARY_DIR;
    unsigned h = 2166136261u;

    for (; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return h;
}

static void
rm_rf(const char *path)
{
    struct th_result r;
    const char *argv[] = {"rm", "-rf", "--", path, NULL};

    if (th_run(&r, 60, argv) == 0)
        th_result_free(&r);
}

/*
 * The vendor packages dir for tag ("" = the default versions, "-new" =
 * driver 24.1.1 and firmware 7.5.0.3.220), built once per build directory
 * (mkpackages.sh takes a few seconds). Returns a static path.
 */
static const char *
packages(const char *tag)
{
    static char path[PATH_MAX];
    char tmp[PATH_MAX + 32], done[PATH_MAX + 16];
    struct th_result r;
    int newer = strcmp(tag, "-new") == 0;
    const char *argv[] = {"/bin/sh",
                          AF_SOURCE_DIR "/tests/rack/fake/mkpackages.sh",
                          "--out",
                          tmp,
                          newer ? "--driver" : NULL,
                          "24.1.1",
                          "--firmware",
                          "7.5.0.3.220",
                          NULL};

    snprintf(path, sizeof(path), "/tmp/af-rollout-pkgs-%08x%s", build_key(),
             tag);
    snprintf(done, sizeof(done), "%s/.complete", path);
    if (access(done, F_OK) == 0)
        return path;
    snprintf(tmp, sizeof(tmp), "%s.tmp%d", path, (int)getpid());
    rm_rf(tmp);
    cr_assert_eq(th_run(&r, 120, argv), 0, "cannot run mkpackages.sh");
    cr_assert_eq(r.status, 0, "mkpackages.sh failed: %s", r.err);
    th_result_free(&r);
    {
        char mark[PATH_MAX + 48];
        int fd;

        snprintf(mark, sizeof(mark), "%s/.complete", tmp);
        fd = open(mark, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        cr_assert_geq(fd, 0);
        close(fd);
    }
    rm_rf(path);
    cr_assert_eq(rename(tmp, path), 0, "rename %s: %s", tmp, strerror(errno));
    return path;
}

/* The package caches belong to this test binary: remove them at its end. */
ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
    char path[PATH_MAX];

    (void)stats;
    snprintf(path, sizeof(path), "/tmp/af-rollout-pkgs-%08x", build_key());
    rm_rf(path);
    snprintf(path, sizeof(path), "/tmp/af-rollout-pkgs-%08x-new", build_key());
    rm_rf(path);
}

/*
 * Run AF_BIN with the words of fmt (split on single spaces; no word may
 * contain a space), bounded by timeout_s.
 */
static void fleet(struct th_result *r, int timeout_s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
fleet(struct th_result *r, int timeout_s, const char *fmt, ...)
{
    const char *argv[64];
    char *text = NULL, *save = NULL, *w;
    va_list ap;
    int n = 0;

    va_start(ap, fmt);
    cr_assert_geq(vasprintf(&text, fmt, ap), 0);
    va_end(ap);
    argv[n++] = AF_BIN;
    for (w = strtok_r(text, " ", &save); w && n < 63;
         w = strtok_r(NULL, " ", &save))
        argv[n++] = w;
    argv[n] = NULL;
    cr_assert_eq(th_run(r, timeout_s, argv), 0, "cannot run %s", AF_BIN);
    free(text);
    cr_assert_eq(r->timed_out, 0, "'%s' did not end within %d s:\n%s\n%s", fmt,
                 timeout_s, r->out, r->err);
}

/* ---- the state file ---------------------------------------------------- */

/* First column of the first row of sql on the state file, as an integer;
 * -1 when the file cannot be read or the query has no row. */
static long long sql_int(const char *db, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static long long
sql_int(const char *db, const char *fmt, ...)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *s = NULL;
    long long v = -1;
    char *sql;
    va_list ap;

    if (access(db, F_OK) != 0)
        return -1;
    va_start(ap, fmt);
    sql = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_busy_timeout(h, 5000);
        if (sqlite3_prepare_v2(h, sql, -1, &s, NULL) == SQLITE_OK &&
            sqlite3_step(s) == SQLITE_ROW)
            v = sqlite3_column_int64(s, 0);
    }
    sqlite3_finalize(s);
    sqlite3_close(h);
    sqlite3_free(sql);
    return v;
}

/* As sql_int, text (caller frees), NULL when there is none. */
static char *sql_text(const char *db, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static char *
sql_text(const char *db, const char *fmt, ...)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *s = NULL;
    char *v = NULL, *sql;
    va_list ap;

    if (access(db, F_OK) != 0)
        return NULL;
    va_start(ap, fmt);
    sql = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_busy_timeout(h, 5000);
        if (sqlite3_prepare_v2(h, sql, -1, &s, NULL) == SQLITE_OK &&
            sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0) != NULL)
            v = af_strdup((const char *)sqlite3_column_text(s, 0));
    }
    sqlite3_finalize(s);
    sqlite3_close(h);
    sqlite3_free(sql);
    return v;
}

#define LAST_RUN "(SELECT max(id) FROM runs)"

static char *
run_status(void)
{
    return sql_text(ctx.state, "SELECT status FROM runs WHERE id = " LAST_RUN);
}

static char *
node_status(const char *node)
{
    return sql_text(ctx.state,
                    "SELECT status FROM run_nodes WHERE run = " LAST_RUN
                    " AND node = '%s'",
                    node);
}

static char *
node_reason(const char *node)
{
    return sql_text(ctx.state,
                    "SELECT reason FROM run_nodes WHERE run = " LAST_RUN
                    " AND node = '%s'",
                    node);
}

/* ---- the nodes --------------------------------------------------------- */

/* Lines of node's events.log whose event text is `what` or starts with
 * `what ` (the text follows "<unix-time> "). */
static int
count_events(const char *node, const char *what)
{
    char *log = th_node_file(node, "/var/lib/fleet-sim/events.log");
    size_t wl = strlen(what);
    int n = 0;
    char *line, *save = NULL;

    if (log == NULL)
        return 0;
    for (line = strtok_r(log, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char *t = strchr(line, ' ');

        if (t == NULL)
            continue;
        t++;
        if (strncmp(t, what, wl) == 0 && (t[wl] == '\0' || t[wl] == ' '))
            n++;
    }
    free(log);
    return n;
}

/* Line number (0-based) of the first event starting with what; -1 if none. */
static int
event_line(const char *node, const char *what)
{
    char *log = th_node_file(node, "/var/lib/fleet-sim/events.log");
    size_t wl = strlen(what);
    int i = 0, found = -1;
    char *line, *save = NULL;

    if (log == NULL)
        return -1;
    for (line = strtok_r(log, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save), i++) {
        char *t = strchr(line, ' ');

        if (t != NULL && strncmp(t + 1, what, wl) == 0) {
            found = i;
            break;
        }
    }
    free(log);
    return found;
}

/* The driver version loaded on node (trailing newline removed), or "". */
static char *
loaded_driver(const char *node)
{
    char *v = th_node_file(node, "/var/lib/fleet-sim/loaded-driver");

    if (v == NULL)
        return af_strdup("");
    v[strcspn(v, "\n")] = '\0';
    return v;
}

static void
ctl_set(int i, const char *file, const char *value)
{
    char node[16];

    node_name(node, sizeof(node), i);
    if (value != NULL)
        cr_assert_eq(th_rack("fault %s set %s %s", node, file, value), 0);
    else
        cr_assert_eq(th_rack("fault %s set %s", node, file), 0);
}

/* Install and reboot times of every node of the test. */
static void
set_times(const char *install_s, const char *reboot_s)
{
    int i;

    for (i = ctx.first; i <= ctx.last; i++) {
        ctl_set(i, "install-seconds", install_s);
        ctl_set(i, "reboot-seconds", reboot_s);
    }
}

/* An inventory of nodes first..last with the rack's key and known_hosts. */
static void
write_inventory(int reboot_timeout)
{
    FILE *f = fopen(ctx.inv, "w");
    int i;

    cr_assert_not_null(f);
    fprintf(f,
            "defaults:\n"
            "  user: %s\n"
            "%s"
            "  port: 22\n"
            "  identity: %s/id_ed25519\n"
            "  known_hosts: %s/known_hosts\n"
            "  connect_timeout: 5\n"
            "  reboot_command: /usr/local/sbin/fleet-sim-reboot\n"
            "  reboot_timeout: %d\n"
            "groups:\n"
            "  rollout:\n"
            "    hosts:\n",
            ctx.user ? ctx.user : "root", ctx.become ? "  become: sudo\n" : "",
            AF_RACK_DIR, AF_RACK_DIR, reboot_timeout);
    for (i = ctx.first; i <= ctx.last; i++) {
        char node[16], *path, addr[64] = "";
        FILE *a;

        node_name(node, sizeof(node), i);
        path = af_asprintf("%s/nodes/%s/addr", AF_RACK_DIR, node);
        a = fopen(path, "r");
        cr_assert_not_null(a, "no %s", path);
        cr_assert_not_null(fgets(addr, sizeof(addr), a));
        fclose(a);
        free(path);
        addr[strcspn(addr, "\n")] = '\0';
        fprintf(f, "      - {name: \"%s\", address: \"%s\"}\n", node, addr);
    }
    cr_assert_eq(fclose(f), 0);
}

/*
 * Fixture: nodes first..last reset to `state` (fresh, driver), install and
 * reboot times set, a temporary directory with inventory.yaml (reboot
 * timeout 60 s) and the path of a state file.
 */
static void
ro_setup(int first, int last, const char *state)
{
    char *words = node_words(first, last);

    memset(&ctx, 0, sizeof(ctx));
    ctx.first = first;
    ctx.last = last;
    snprintf(ctx.dir, sizeof(ctx.dir), "/tmp/af-rollout-XXXXXX");
    cr_assert_not_null(mkdtemp(ctx.dir));
    snprintf(ctx.state, sizeof(ctx.state), "%s/state.db", ctx.dir);
    snprintf(ctx.inv, sizeof(ctx.inv), "%s/inventory.yaml", ctx.dir);
    snprintf(ctx.bgout, sizeof(ctx.bgout), "%s/bg.out", ctx.dir);
    cr_assert_eq(th_rack("reset %s --state %s", words, state), 0,
                 "cannot reset %s", words);
    free(words);
    set_times(RO_INSTALL_S, RO_REBOOT_S);
    write_inventory(60);
}

/* After each test, also a failed one: no background process, fresh nodes,
 * no temporary files. */
static void
ro_fini(void)
{
    if (ctx.bg > 0) {
        kill(ctx.bg, SIGKILL);
        waitpid(ctx.bg, NULL, 0);
        ctx.bg = 0;
    }
    if (ctx.first > 0) {
        char *words = node_words(ctx.first, ctx.last);

        th_rack("reset %s --state fresh", words);
        free(words);
    }
    if (ctx.dir[0] != '\0') {
        char mnt[96];

        /* A test that put the state on a small file system. */
        snprintf(mnt, sizeof(mnt), "%s/mnt", ctx.dir);
        umount2(mnt, MNT_DETACH);
        rm_rf(ctx.dir);
    }
}

/* ---- a background ascend-fleet (for kill -9 and the lock) --------------- */

/* Start AF_BIN with the words of fmt, output to ctx.bgout; sets ctx.bg. */
static void spawn_fleet(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static void
spawn_fleet(const char *fmt, ...)
{
    const char *argv[64];
    char *text = NULL, *save = NULL, *w;
    va_list ap;
    int n = 0;
    pid_t pid;

    va_start(ap, fmt);
    cr_assert_geq(vasprintf(&text, fmt, ap), 0);
    va_end(ap);
    argv[n++] = AF_BIN;
    for (w = strtok_r(text, " ", &save); w && n < 63;
         w = strtok_r(NULL, " ", &save))
        argv[n++] = w;
    argv[n] = NULL;
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        int out =
            open(ctx.bgout, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
        int in = open("/dev/null", O_RDONLY);

        if (out < 0 || in < 0)
            _exit(127);
        dup2(in, 0);
        dup2(out, 1);
        dup2(out, 2);
        execv(AF_BIN, (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    free(text);
    ctx.bg = pid;
}

/* Wait for the background process; its exit code, -1 if it did not exit
 * normally within timeout_s (it is then killed). */
static int
wait_bg(int timeout_s)
{
    long long deadline = now_ms() + (long long)timeout_s * 1000;
    int status;

    for (;;) {
        pid_t w = waitpid(ctx.bg, &status, WNOHANG);

        if (w == ctx.bg)
            break;
        if (now_ms() >= deadline) {
            kill(ctx.bg, SIGKILL);
            waitpid(ctx.bg, &status, 0);
            ctx.bg = 0;
            return -1;
        }
        sleep_ms(20);
    }
    ctx.bg = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* kill -9 the background process and reap it. */
static void
kill9_bg(void)
{
    cr_assert_gt(ctx.bg, 0);
    cr_assert_eq(kill(ctx.bg, SIGKILL), 0);
    cr_assert_eq(waitpid(ctx.bg, NULL, 0), ctx.bg);
    ctx.bg = 0;
}

static char *
bg_output(void)
{
    char buf[65536];
    FILE *f = fopen(ctx.bgout, "r");
    size_t n = 0;

    if (f != NULL) {
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
    }
    buf[n] = '\0';
    return af_strdup(buf);
}

/* Is a process whose command line contains pattern running inside node? */
static int
node_runs(const char *node, const char *pattern)
{
    char *root = af_asprintf("%s/nodes/%s/root", AF_RACK_DIR, node);
    DIR *d = opendir("/proc");
    struct dirent *de;
    int found = 0;

    cr_assert_not_null(d);
    while (!found && (de = readdir(d)) != NULL) {
        char link[PATH_MAX], path[300], cmd[4096];
        ssize_t n;
        int fd;

        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        snprintf(path, sizeof(path), "/proc/%s/root", de->d_name);
        n = readlink(path, link, sizeof(link) - 1);
        if (n <= 0)
            continue;
        link[n] = '\0';
        if (strcmp(link, root) != 0)
            continue;
        snprintf(path, sizeof(path), "/proc/%s/cmdline", de->d_name);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        n = read(fd, cmd, sizeof(cmd) - 1);
        close(fd);
        if (n <= 0)
            continue;
        for (ssize_t k = 0; k < n; k++)
            if (cmd[k] == '\0')
                cmd[k] = ' ';
        cmd[n] = '\0';
        found = strstr(cmd, pattern) != NULL;
    }
    closedir(d);
    free(root);
    return found;
}

/* Poll sql (an integer query) until it is >= want; 1 when it got there
 * before timeout_s, else 0. The background process must not have ended. */
static int
wait_sql_geq(long long want, int timeout_s, const char *sql)
{
    long long deadline = now_ms() + (long long)timeout_s * 1000;

    while (now_ms() < deadline) {
        if (sql_int(ctx.state, "%s", sql) >= want)
            return 1;
        if (ctx.bg > 0 && waitpid(ctx.bg, NULL, WNOHANG) == ctx.bg) {
            ctx.bg = 0;
            return 0;
        }
        sleep_ms(20);
    }
    return 0;
}

/* ---- common checks ------------------------------------------------------ */

/*
 * Every node of the test: done in the last run, the driver (and firmware)
 * installed exactly once, rebooted exactly once, driver 24.1.0 loaded.
 */
static void
expect_npu_done_once(void)
{
    int i;

    for (i = ctx.first; i <= ctx.last; i++) {
        char node[16], *st, *drv;

        node_name(node, sizeof(node), i);
        st = node_status(node);
        cr_expect_str_eq(st ? st : "(none)", "done", "%s is %s", node,
                         st ? st : "not in the run");
        free(st);
        cr_expect_eq(count_events(node, "install driver"), 1,
                     "%s: driver installed %d times", node,
                     count_events(node, "install driver"));
        cr_expect_eq(count_events(node, "install firmware"), 1,
                     "%s: firmware installed %d times", node,
                     count_events(node, "install firmware"));
        cr_expect_eq(count_events(node, "reboot"), 1, "%s: rebooted %d times",
                     node, count_events(node, "reboot"));
        drv = loaded_driver(node);
        cr_expect_str_eq(drv, "24.1.0", "%s: loaded driver '%s'", node, drv);
        free(drv);
    }
}

/* The plan part of a rollout's output: the lines after "Plan" that are
 * indented (caller frees). */
static char *
plan_lines(const char *out)
{
    const char *p = strstr(out, "Plan (");
    const char *end;

    if (p == NULL)
        return af_strdup("");
    p = strchr(p, '\n');
    if (p == NULL)
        return af_strdup("");
    p++;
    end = p;
    while (*end == ' ') {
        const char *nl = strchr(end, '\n');

        end = nl ? nl + 1 : end + strlen(end);
    }
    return af_asprintf("%.*s", (int)(end - p), p);
}

#define RO_TEST(name) Test(rollout, name, .fini = ro_fini, .timeout = 800)

/* ---- the tests ----------------------------------------------------------- */

RO_TEST(full_npu_rollout_on_16_nodes_in_batches)
{
    struct th_result r;
    int i;

    ro_setup(17, 32, "fresh");
    fleet(&r, RO_RUN_TIMEOUT,
          "rollout -i %s --state %s --packages %s --stage prereq,npu --yes "
          "--batch 1,25%% --settle 1",
          ctx.inv, ctx.state, packages(""));
    cr_assert_eq(r.status, 0, "exit %d\n%s\n%s", r.status, r.out, r.err);
    {
        char *st = run_status();

        cr_expect_str_eq(st ? st : "", "done");
        free(st);
    }
    cr_expect_eq(sql_int(ctx.state, "SELECT count(*) FROM run_nodes WHERE "
                                    "run = " LAST_RUN " AND status = 'done'"),
                 16);
    /* 1, then 25 % of 16 = 4 per batch: 1 + 4 + 4 + 4 + 3. */
    cr_expect_eq(sql_int(ctx.state, "SELECT count(DISTINCT batch) FROM "
                                    "run_nodes WHERE run = " LAST_RUN),
                 5);
    cr_expect_eq(sql_int(ctx.state, "SELECT count(*) FROM run_nodes WHERE "
                                    "run = " LAST_RUN " AND batch = 0"),
                 1);
    cr_expect_eq(sql_int(ctx.state, "SELECT max(n) FROM (SELECT count(*) "
                                    "AS n FROM run_nodes WHERE run = " LAST_RUN
                                    " GROUP BY batch)"),
                 4);
    expect_npu_done_once();
    for (i = ctx.first; i <= ctx.last; i++) {
        char node[16];
        int d, f;

        node_name(node, sizeof(node), i);
        d = event_line(node, "install driver");
        f = event_line(node, "install firmware");
        cr_expect(d >= 0 && f > d,
                  "%s: on a fresh node the driver goes first (driver line "
                  "%d, firmware line %d)",
                  node, d, f);
        /* The reboot comes after both installs: one reboot per phase. */
        cr_expect_gt(event_line(node, "reboot"), f, "%s", node);
        cr_expect_eq(count_events(node, "os-install"), 1,
                     "%s: prereq installed %d times", node,
                     count_events(node, "os-install"));
    }
    /* A batch's reboots only start once the previous batch is done. */
    cr_expect_eq(sql_int(ctx.state,
                         "SELECT count(*) FROM run_nodes a JOIN run_nodes b "
                         "ON a.run = b.run AND b.batch = a.batch + 1 "
                         "JOIN node_steps s ON s.run = b.run AND "
                         "s.node = b.node AND s.step = 'driver' "
                         "WHERE a.run = " LAST_RUN " AND s.started < "
                         "a.updated"),
                 0,
                 "a node's driver started before its previous batch "
                 "ended");
    th_result_free(&r);
}

RO_TEST(rerun_of_a_finished_rollout_changes_nothing)
{
    struct th_result r;
    char *plan;
    int i;

    ro_setup(33, 34, "fresh");
    fleet(&r, RO_RUN_TIMEOUT,
          "rollout -i %s --state %s --packages %s --stage prereq,npu --yes "
          "--batch 2 --settle 1",
          ctx.inv, ctx.state, packages(""));
    cr_assert_eq(r.status, 0, "exit %d\n%s\n%s", r.status, r.out, r.err);
    th_result_free(&r);
    expect_npu_done_once();

    fleet(&r, RO_RUN_TIMEOUT,
          "rollout -i %s --state %s --packages %s --stage prereq,npu --yes "
          "--batch 2 --settle 1",
          ctx.inv, ctx.state, packages(""));
    cr_assert_eq(r.status, 0, "exit %d\n%s\n%s", r.status, r.out, r.err);
    plan = plan_lines(r.out);
    cr_assert_neq(plan[0], '\0', "no plan printed:\n%s", r.out);
    {
        char *copy = af_strdup(plan), *line, *save = NULL;

        for (line = strtok_r(copy, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save))
            cr_expect(strstr(line, "skip") != NULL,
                      "second run plans work: '%s'", line);
        free(copy);
    }
    free(plan);
    cr_expect_eq(sql_int(ctx.state, "SELECT count(*) FROM runs"), 2);
    {
        char *st = run_status();

        cr_expect_str_eq(st ? st : "", "done");
        free(st);
    }
    cr_expect_eq(sql_int(ctx.state, "SELECT count(*) FROM node_steps WHERE "
                                    "run = " LAST_RUN " AND attempt > 0"),
                 0, "the second run started steps");
    for (i = ctx.first; i <= ctx.last; i++) {
        char node[16];

        node_name(node, sizeof(node), i);
        cr_expect_eq(count_events(node, "install driver"), 1, "%s", node);
        cr_expect_eq(count_events(node, "install firmware"), 1, "%s", node);
        cr_expect_eq(count_events(node, "os-install"), 1, "%s", node);
        cr_expect_eq(count_events(node, "reboot"), 1, "%s", node);
    }
    th_result_free(&r);
}

RO_TEST(overwriting_a_driver_installs_firmware_first)
{
    struct th_result r;
    const char *pk = packages("-new");
    int i;

    ro_setup(35, 36, "driver");
    fleet(&r, RO_RUN_TIMEOUT,
          "rollout -i %s --state %s --packages %s --stage npu --yes "
          "--batch 2 --settle 1",
          ctx.inv, ctx.state, pk);
    cr_assert_eq(r.status, 0, "exit %d\n%s\n%s", r.status, r.out, r.err);
    cr_expect(strstr(r.out, "upgrade 24.1.0 -> 24.1.1") != NULL,
              "no driver upgrade wording in the plan:\n%s", r.out);
    cr_expect(strstr(r.out, "upgrade 7.5.0.2.220 -> 7.5.0.3.220") != NULL,
              "no firmware upgrade wording in the plan:\n%s", r.out);
    for (i = ctx.first; i <= ctx.last; i++) {
        char node[16], *drv;
        int d, f;

        node_name(node, sizeof(node), i);
        d = event_line(node, "install driver 24.1.1");
        f = event_line(node, "install firmware 7.5.0.3.220");
        cr_expect(f >= 0 && d > f,
                  "%s: firmware must go first when a driver is installed "
                  "(firmware line %d, driver line %d)",
                  node, f, d);
        cr_expect_eq(count_events(node, "install driver"), 1, "%s", node);
        cr_expect_eq(count_events(node, "install firmware"), 1, "%s", node);
        cr_expect_eq(count_events(node, "reboot"), 1, "%s", node);
        drv = loaded_driver(node);
        cr_expect_str_eq(drv, "24.1.1", "%s", node);
        free(drv);
    }
    th_result_free(&r);
}

RO_TEST(failure_budget_stops_the_run)
{
    struct th_result r;
    char *st;
    int i;

    ro_setup(37, 42, "fresh");
    /* --batch 2: npu037 and npu038 make the first batch; both fail. */
    ctl_set(37, "fault-install-fail", NULL);
    ctl_set(38, "fault-install-fail", NULL);
    fleet(&r, RO_RUN_TIMEOUT,
          "rollout -i %s --state %s --packages %s --stage prereq,npu --yes "
          "--batch 2 --max-fail 1 --settle 1",
          ctx.inv, ctx.state, packages(""));
    cr_expect_eq(r.status, 4, "exit %d (want 4, budget)\n%s\n%s", r.status,
                 r.out, r.err);
    cr_expect_eq(sql_int(ctx.state,
                         "SELECT batch FROM run_nodes WHERE run = " LAST_RUN
                         " AND node = 'npu037'"),
                 0);
    cr_expect_eq(sql_int(ctx.state,
                         "SELECT batch FROM run_nodes WHERE run = " LAST_RUN
                         " AND node = 'npu038'"),
                 0);
    st = run_status();
    cr_expect_str_eq(st ? st : "", "failed");
    free(st);
    st = sql_text(ctx.state, "SELECT reason FROM runs WHERE id = " LAST_RUN);
    cr_expect(st != NULL && strstr(st, "failure budget") != NULL,
              "run reason: %s", st ? st : "(none)");
    free(st);
    for (i = 37; i <= 38; i++) {
        char node[16];

        node_name(node, sizeof(node), i);
        st = node_status(node);
        cr_expect_str_eq(st ? st : "", "failed", "%s", node);
        free(st);
    }
    for (i = 39; i <= 42; i++) {
        char node[16];

        node_name(node, sizeof(node), i);
        cr_expect_eq(count_events(node, "install"), 0,
                     "%s (a later batch) was started", node);
        cr_expect_eq(count_events(node, "reboot"), 0, "%s", node);
        st = node_status(node);
        cr_expect_str_eq(st ? st : "", "pending", "%s", node);
        free(st);
    }
    th_result_free(&r);
}

RO_TEST(failing_installer_fails_its_node_with_step_and_last_line)
{
    struct th_result r;
    char *st, *why;

    ro_setup(33, 34, "fresh");
    ctl_set(33, "fault-install-fail", NULL);
    fleet(&r, RO_RUN_TIMEOUT,
          "rollout -i %s --state %s --packages %s --stage prereq,npu --yes "
          "--batch 2 --max-fail 1 --settle 1",
          ctx.inv, ctx.state, packages(""));
    cr_expect_eq(r.status, 1, "exit %d\n%s\n%s", r.status, r.out, r.err);
    st = node_status("npu033");
    cr_expect_str_eq(st ? st : "", "failed");
    free(st);
    why = node_reason("npu033");
    cr_expect(why != NULL && strstr(why, "driver") != NULL &&
                  strstr(why, "simulated fault") != NULL,
              "reason should name the step and the installer's last line: "
              "%s",
              why ? why : "(none)");
    free(why);
    cr_expect_eq(sql_int(ctx.state,
                         "SELECT count(*) FROM failed_steps WHERE "
                         "run = " LAST_RUN " AND node = 'npu033' AND "
                         "step = 'driver' AND exit_code <> 0 AND "
                         "output_tail LIKE '%%simulated fault%%'"),
                 1);
    cr_expect_eq(count_events("npu033", "install"), 0);
    cr_expect_eq(count_events("npu033", "reboot"), 0);
    st = node_status("npu034");
    cr_expect_str_eq(st ? st : "", "done", "the other node");
    free(st);
    cr_expect_eq(count_events("npu034", "install driver"), 1);
    th_result_free(&r);
}

RO_TEST(hanging_installer_times_out_and_the_run_ends)
{
    struct th_result r;
    char *pb = NULL, *src, *p, *st, *why;
    FILE *f;
    long long t0;

    ro_setup(35, 35, "fresh");
    /* A playbook copy whose driver step times out after 5 s. */
    src = NULL;
    {
        FILE *in = fopen(AF_SOURCE_DIR "/playbooks/ascend.yaml", "r");
        size_t n;

        cr_assert_not_null(in);
        src = af_calloc(1 << 20, 1);
        n = fread(src, 1, (1 << 20) - 1, in);
        fclose(in);
        src[n] = '\0';
    }
    p = strstr(src, "\n  driver:\n");
    cr_assert_not_null(p, "no driver step in the shipped playbook");
    p = strstr(p, "    timeout: 1800\n");
    cr_assert_not_null(p);
    memcpy(p, "    timeout: 5   \n", strlen("    timeout: 1800\n"));
    pb = af_asprintf("%s/playbook.yaml", ctx.dir);
    f = fopen(pb, "w");
    cr_assert_not_null(f);
    fputs(src, f);
    cr_assert_eq(fclose(f), 0);
    free(src);

    ctl_set(35, "fault-install-hang", NULL);
    t0 = now_ms();
    fleet(&r, 120,
          "rollout -i %s --state %s --packages %s --playbook %s --stage "
          "prereq,npu "
          "--yes --batch 1 --max-fail 1 --settle 1",
          ctx.inv, ctx.state, packages(""), pb);
    cr_expect_eq(r.status, 1, "exit %d\n%s\n%s", r.status, r.out, r.err);
    cr_expect_lt(now_ms() - t0, 60000, "the run took %lld ms", now_ms() - t0);
    st = node_status("npu035");
    cr_expect_str_eq(st ? st : "", "failed");
    free(st);
    why = node_reason("npu035");
    cr_expect(why != NULL && strstr(why, "driver") != NULL &&
                  strstr(why, "timed out") != NULL,
              "reason: %s", why ? why : "(none)");
    free(why);
    cr_expect(strstr(r.out, "timeout") != NULL, "%s", r.out);
    st = run_status();
    cr_expect(st != NULL && strcmp(st, "running") != 0, "run status %s",
              st ? st : "(none)");
    free(st);
    cr_expect_eq(count_events("npu035", "reboot"), 0);
    free(pb);
    th_result_free(&r);
}

RO_TEST(node_that_never_comes_back_fails_with_reboot_timeout)
{
    struct th_result r;
    char *st, *why;
    long long t0;

    ro_setup(37, 38, "fresh");
    write_inventory(15);
    ctl_set(37, "fault-no-return", NULL);
    t0 = now_ms();
    fleet(&r, 180,
          "rollout -i %s --state %s --packages %s --stage prereq,npu --yes "
          "--batch 2 --max-fail 1 --settle 1",
          ctx.inv, ctx.state, packages(""));
    cr_expect_eq(r.status, 1, "exit %d\n%s\n%s", r.status, r.out, r.err);
    cr_expect_lt(now_ms() - t0, 90000, "the run took %lld ms", now_ms() - t0);
    st = node_status("npu037");
    cr_expect_str_eq(st ? st : "", "failed");
    free(st);
    why = node_reason("npu037");
    cr_expect(why != NULL && strstr(why, "15 s") != NULL, "reason: %s",
              why ? why : "(none)");
    free(why);
    cr_expect(strstr(r.out, "reboot timeout") != NULL, "%s", r.out);
    cr_expect_eq(count_events("npu037", "reboot"), 1);
    st = node_status("npu038");
    cr_expect_str_eq(st ? st : "", "done", "the other node");
    free(st);
    th_result_free(&r);
}

RO_TEST(unreachable_node_is_shown_and_the_others_finish)
{
    struct th_result r;
    char *plan, *st;

    ro_setup(39, 40, "fresh");
    cr_assert_eq(th_rack("fault npu039 down"), 0);
    /* --max-fail 1: the unreachable node alone does not stop the run
     * (with the default 0 no batch starts at all: budget exceeded). */
    fleet(&r, RO_RUN_TIMEOUT,
          "rollout -i %s --state %s --packages %s --stage prereq,npu --yes "
          "--batch 2 --max-fail 1 --settle 1",
          ctx.inv, ctx.state, packages(""));
    cr_expect(r.status == 1 || r.status == 4, "exit %d\n%s\n%s", r.status,
              r.out, r.err);
    plan = plan_lines(r.out);
    cr_expect(strstr(plan, "unreachable") != NULL &&
                  strstr(plan, "npu039") != NULL,
              "plan does not show npu039 unreachable:\n%s", r.out);
    free(plan);
    st = node_status("npu039");
    cr_expect_str_eq(st ? st : "", "unreachable");
    free(st);
    st = node_status("npu040");
    cr_expect_str_eq(st ? st : "", "done");
    free(st);
    cr_expect_eq(count_events("npu040", "install driver"), 1);
    cr_expect_eq(count_events("npu040", "reboot"), 1);
    th_result_free(&r);
}

/*
 * kill -9 scenarios: start the rollout in the background on 2 nodes
 * (--batch 1), kill it when cond holds, resume, check the end state.
 */
static void
kill_and_resume(const char *what, const char *sql, const char *installer)
{
    struct th_result r;
    char *out;

    spawn_fleet(
        "rollout -i %s --state %s --packages %s --stage prereq,npu --yes "
        "--batch 1 --settle 1",
        ctx.inv, ctx.state, packages(""));
    cr_assert(wait_sql_geq(1, 120, sql), "never reached %s:\n%s", what,
              (out = bg_output()));
    if (installer != NULL) {
        long long deadline = now_ms() + 20000;

        while (!node_runs(installer, "npu-driver") && now_ms() < deadline)
            sleep_ms(20);
        cr_assert(node_runs(installer, "npu-driver"),
                  "no driver installer running on %s", installer);
    }
    kill9_bg();
    out = run_status();
    cr_assert_str_eq(out ? out : "", "running",
                     "killed %s, but the run is not running", what);
    free(out);

    fleet(&r, RO_RUN_TIMEOUT, "resume --state %s", ctx.state);
    cr_assert_eq(r.status, 0, "resume after kill %s: exit %d\n%s\n%s", what,
                 r.status, r.out, r.err);
    out = run_status();
    cr_expect_str_eq(out ? out : "", "done");
    free(out);
    expect_npu_done_once();
    th_result_free(&r);
}

RO_TEST(kill_during_install_then_resume)
{
    ro_setup(43, 44, "fresh");
    ctl_set(43, "install-seconds", "3");
    kill_and_resume("during the driver install",
                    "SELECT count(*) FROM node_steps WHERE run = " LAST_RUN
                    " AND node = 'npu043' AND step = 'driver' AND "
                    "status = 'running'",
                    "npu043");
}

RO_TEST(kill_between_reboot_sent_and_node_back_then_resume)
{
    ro_setup(45, 46, "fresh");
    ctl_set(45, "reboot-seconds", "4");
    kill_and_resume("while npu045 reboots",
                    "SELECT count(*) FROM run_nodes WHERE run = " LAST_RUN
                    " AND node = 'npu045' AND status = 'rebooting'",
                    NULL);
}

/*
 * A node caught mid-reboot whose NPU is unhealthy once it is back: resume
 * must see from the boot_id that the reboot happened and fail the node's
 * verification, exactly as an uninterrupted run does, and never send a
 * second reboot for the same step.
 */
RO_TEST(resume_after_reboot_verifies_and_never_reboots_again)
{
    struct th_result r;
    char *out;

    ro_setup(45, 45, "fresh");
    ctl_set(45, "reboot-seconds", "4");
    spawn_fleet("rollout -i %s --state %s --packages %s --stage prereq,npu "
                "--yes --batch 1 --settle 1",
                ctx.inv, ctx.state, packages(""));
    cr_assert(wait_sql_geq(1, 120,
                           "SELECT count(*) FROM events WHERE run = " LAST_RUN
                           " AND node = 'npu045' AND kind = 'reboot-sent'"),
              "the reboot was never sent:\n%s", (out = bg_output()));
    kill9_bg();
    ctl_set(45, "health", "'OK OK OK Warning OK OK OK OK'");
    fleet(&r, RO_RUN_TIMEOUT, "resume --state %s", ctx.state);
    cr_expect(r.status == 1 || r.status == 4, "exit %d\n%s\n%s", r.status,
              r.out, r.err);
    cr_expect_eq(count_events("npu045", "reboot"), 1,
                 "npu045 rebooted %d times for one step:\n%s",
                 count_events("npu045", "reboot"), r.out);
    out = node_status("npu045");
    cr_expect_str_eq(out ? out : "", "failed");
    free(out);
    out = node_reason("npu045");
    cr_expect(out != NULL && strstr(out, "verify failed") != NULL &&
                  strstr(out, "npu_health_ok") != NULL,
              "reason: %s", out ? out : "(none)");
    free(out);
    th_result_free(&r);
}

RO_TEST(kill_between_batches_then_resume)
{
    ro_setup(47, 48, "fresh");
    kill_and_resume("after the first batch",
                    "SELECT count(*) FROM run_nodes WHERE run = " LAST_RUN
                    " AND node = 'npu047' AND status = 'done'",
                    NULL);
}

RO_TEST(second_process_on_the_same_state_file_is_refused)
{
    struct th_result r;
    int rc;

    ro_setup(41, 41, "fresh");
    ctl_set(41, "install-seconds", "3");
    spawn_fleet(
        "rollout -i %s --state %s --packages %s --stage prereq,npu --yes "
        "--batch 1 --settle 1",
        ctx.inv, ctx.state, packages(""));
    cr_assert(wait_sql_geq(1, 60,
                           "SELECT count(*) FROM node_steps WHERE step = "
                           "'driver' AND status = 'running'"),
              "the first rollout never started its driver step");
    fleet(&r, RO_SHORT_TIMEOUT,
          "rollout -i %s --state %s --packages %s --stage prereq,npu --yes "
          "--batch 1",
          ctx.inv, ctx.state, packages(""));
    cr_expect_eq(r.status, 3, "exit %d\n%s\n%s", r.status, r.out, r.err);
    cr_expect(strstr(r.err, "in use by pid") != NULL, "message: %s", r.err);
    th_result_free(&r);
    fleet(&r, RO_SHORT_TIMEOUT, "resume --state %s", ctx.state);
    cr_expect_eq(r.status, 3, "resume: exit %d\n%s\n%s", r.status, r.out,
                 r.err);
    cr_expect(strstr(r.err, "in use by pid") != NULL, "message: %s", r.err);
    th_result_free(&r);
    /* The first one is not disturbed. */
    rc = wait_bg(120);
    cr_expect_eq(rc, 0, "the first rollout ended with %d", rc);
    cr_expect_eq(count_events("npu041", "install driver"), 1);
    cr_expect_eq(count_events("npu041", "reboot"), 1);
}

RO_TEST(plan_only_prints_the_plan_and_changes_nothing)
{
    struct th_result r;
    char *plan;
    int i;

    ro_setup(42, 43, "fresh");
    fleet(&r, RO_SHORT_TIMEOUT,
          "rollout -i %s --state %s --packages %s --stage npu --plan", ctx.inv,
          ctx.state, packages(""));
    /* Fresh nodes lack the driver's run user: blocked, with the reason. */
    cr_expect(strstr(r.out, "blocked (user HwHiAiUser missing: run the "
                            "prereq stage first): npu[042-043]") != NULL,
              "plan:\n%s", r.out);
    th_result_free(&r);
    fleet(&r, RO_SHORT_TIMEOUT,
          "rollout -i %s --state %s --packages %s --stage prereq,npu --plan",
          ctx.inv, ctx.state, packages(""));
    cr_expect_eq(r.status, 0, "exit %d\n%s\n%s", r.status, r.out, r.err);
    plan = plan_lines(r.out);
    /* Folded: one line per outcome naming both nodes as a range. */
    cr_expect(strstr(plan, "install 24.1.0: npu[042-043]") != NULL, "plan:\n%s",
              r.out);
    cr_expect(strstr(plan, "install 7.5.0.2.220: npu[042-043]") != NULL,
              "plan:\n%s", r.out);
    free(plan);
    cr_expect(sql_int(ctx.state, "SELECT count(*) FROM runs") <= 0,
              "--plan created a run");
    cr_expect(sql_int(ctx.state, "SELECT count(*) FROM events WHERE run IS "
                                 "NOT NULL") <= 0,
              "--plan logged run events");
    for (i = ctx.first; i <= ctx.last; i++) {
        char node[16];

        node_name(node, sizeof(node), i);
        cr_expect_eq(count_events(node, "install"), 0, "%s", node);
        cr_expect_eq(count_events(node, "reboot"), 0, "%s", node);
        cr_expect_eq(count_events(node, "os-install"), 0, "%s", node);
    }
    th_result_free(&r);
}

/* "Accepted publickey for USER" lines in node's sshd log so far. */
static int
logins_as(const char *node, const char *user)
{
    char *p = af_asprintf("%s/nodes/%s/sshd.log", AF_RACK_DIR, node);
    char *log = th_slurp(p, NULL), *want, *q;
    int n = 0;

    want = af_asprintf("Accepted publickey for %s ", user);
    for (q = log; q != NULL && (q = strstr(q, want)) != NULL; q++)
        n++;
    free(want);
    free(log);
    free(p);
    return n;
}

/* A non-root login with become: sudo installs, reboots and verifies. */
RO_TEST(full_npu_rollout_as_a_non_root_user_through_sudo)
{
    struct th_result r;
    int root0, fleet0;

    ro_setup(45, 48, "fresh");
    ctx.user = "fleet";
    ctx.become = 1;
    write_inventory(60);
    root0 = logins_as("npu045", "root");
    fleet0 = logins_as("npu045", "fleet");
    fleet(&r, RO_RUN_TIMEOUT,
          "rollout -i %s --state %s --packages %s --stage prereq,npu --yes "
          "--batch 2 --settle 1",
          ctx.inv, ctx.state, packages(""));
    cr_assert_eq(r.status, 0, "exit %d\n%s\n%s", r.status, r.out, r.err);
    {
        char *st = run_status();

        cr_expect_str_eq(st ? st : "", "done");
        free(st);
    }
    expect_npu_done_once();
    cr_expect_eq(logins_as("npu045", "root"), root0, "logged in as root");
    cr_expect_gt(logins_as("npu045", "fleet"), fleet0);
    th_result_free(&r);
}

/* sudo that wants a password: the node fails at once, saying so. */
RO_TEST(sudo_wanting_a_password_fails_the_node_fast)
{
    struct th_result r;
    struct timespec t0, t1;
    double dt;
    char *why;

    ro_setup(45, 46, "fresh");
    ctx.user = "fleetpw";
    ctx.become = 1;
    write_inventory(60);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    fleet(&r, RO_RUN_TIMEOUT,
          "rollout -i %s --state %s --packages %s --stage prereq,npu --yes "
          "--settle 1",
          ctx.inv, ctx.state, packages(""));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    dt = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    cr_expect_neq(r.status, 0, "%s", r.out);
    cr_expect_lt(dt, 30.0, "took %.1f s", dt);
    cr_expect_not_null(strstr(r.out, "a password is required") != NULL
                           ? r.out
                           : strstr(r.err, "a password is required"),
                       "out:\n%s\nerr:\n%s", r.out, r.err);
    why = node_reason("npu045");
    cr_expect(why != NULL && strstr(why, "a password is required") != NULL,
              "npu045: %s", why ? why : "(no reason)");
    free(why);
    cr_expect_eq(count_events("npu045", "install driver"), 0);
    th_result_free(&r);
}

RO_TEST(full_disk_mid_run_starts_no_further_step_and_says_why)
{
    static char block[4096];
    char mnt[96], filler[128];
    long long filled_at, later;
    char *out;
    int fd, rc;

    ro_setup(50, 50, "fresh");
    snprintf(mnt, sizeof(mnt), "%s/mnt", ctx.dir);
    cr_assert_eq(mkdir(mnt, 0700), 0);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=4m,mode=0700") != 0)
        cr_skip_test("cannot mount a tmpfs here: %s", strerror(errno));
    snprintf(ctx.state, sizeof(ctx.state), "%s/state.db", mnt);
    snprintf(filler, sizeof(filler), "%s/filler", mnt);
    ctl_set(50, "install-seconds", "3");
    spawn_fleet("rollout -i %s --state %s --packages %s --stage prereq,npu "
                "--yes --batch 1 --settle 1",
                ctx.inv, ctx.state, packages(""));
    cr_assert(wait_sql_geq(1, 60,
                           "SELECT count(*) FROM node_steps WHERE step = "
                           "'driver' AND status = 'running'"),
              "the rollout never started its driver step");
    /* The disk fills up while the driver installs. */
    fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert_geq(fd, 0);
    memset(block, 'x', sizeof(block));
    while (write(fd, block, sizeof(block)) > 0)
        ;
    close(fd);
    {
        struct timespec ts;

        /* Steps record wall-clock milliseconds. */
        clock_gettime(CLOCK_REALTIME, &ts);
        filled_at = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    }
    rc = wait_bg(120);
    out = bg_output();
    cr_expect_neq(rc, 0, "the rollout ended with 0 on a full disk:\n%s", out);
    cr_expect(strstr(out, "state write failed") != NULL,
              "says a state write failed:\n%s", out);
    cr_expect(strstr(out, "No space left on device") != NULL ||
                  strstr(out, "full") != NULL,
              "says why:\n%s", out);
    free(out);
    cr_assert_eq(unlink(filler), 0);
    /* The file is whole; no step started once the disk was full. */
    cr_expect_eq(sql_int(ctx.state, "SELECT count(*) FROM "
                                    "pragma_integrity_check WHERE "
                                    "integrity_check = 'ok'"),
                 1);
    later = sql_int(ctx.state,
                    "SELECT count(*) FROM node_steps WHERE started > %lld",
                    filled_at);
    cr_expect_eq(later, 0, "%lld steps started on a full disk", later);
    cr_expect_eq(count_events("npu050", "reboot"), 0,
                 "the node was rebooted after the disk filled");
    cr_assert_eq(umount2(mnt, 0), 0, "umount: %s", strerror(errno));
}
