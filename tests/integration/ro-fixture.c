/* SPDX-License-Identifier: MIT */
/* The rollout tests' fixture (see ro-fixture.h). */
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
#include "ro-fixture.h"

struct ro_ctx ctx;

/* ---- small helpers ----------------------------------------------------- */

void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

long long
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
node_name(char *buf, size_t n, int i)
{
    snprintf(buf, n, "npu%03d", i);
}

/* "npu017 npu018 ..." for first..last (caller frees). */
char *
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
unsigned
build_key(void)
{
    const char *p = AF_BINARY_DIR;
    unsigned h = 2166136261u;

    for (; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return h;
}

void
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
const char *
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
void fleet(struct th_result *r, int timeout_s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void
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
long long sql_int(const char *db, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

long long
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
char *sql_text(const char *db, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

char *
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

char *
run_status(void)
{
    return sql_text(ctx.state, "SELECT status FROM runs WHERE id = " LAST_RUN);
}

char *
node_status(const char *node)
{
    return sql_text(ctx.state,
                    "SELECT status FROM run_nodes WHERE run = " LAST_RUN
                    " AND node = '%s'",
                    node);
}

char *
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
int
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
int
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
char *
loaded_driver(const char *node)
{
    char *v = th_node_file(node, "/var/lib/fleet-sim/loaded-driver");

    if (v == NULL)
        return af_strdup("");
    v[strcspn(v, "\n")] = '\0';
    return v;
}

void
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
void
set_times(const char *install_s, const char *reboot_s)
{
    int i;

    for (i = ctx.first; i <= ctx.last; i++) {
        ctl_set(i, "install-seconds", install_s);
        ctl_set(i, "reboot-seconds", reboot_s);
    }
}

/* An inventory of nodes first..last with the rack's key and known_hosts. */
void
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
void
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
void
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
void spawn_fleet(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void
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
int
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
void
kill9_bg(void)
{
    cr_assert_gt(ctx.bg, 0);
    cr_assert_eq(kill(ctx.bg, SIGKILL), 0);
    cr_assert_eq(waitpid(ctx.bg, NULL, 0), ctx.bg);
    ctx.bg = 0;
}

char *
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
int
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
int
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
void
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
char *
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
