/* SPDX-License-Identifier: MIT */
/*
 * Integration tests of what `rollout`, `resume` and `rollout --plan` print
 * (issue 11): --json is JSON Lines from the first byte to the last, every
 * object with "v", "type" and the typed members; piped lines carry
 * ISO-8601 timestamps with zone; the recap names each final state's nodes
 * with durations and the slowest nodes; on a terminal (a pty here) the
 * live line shows nodes finished, ETAs and the push's bytes, rate and ETA.
 *
 * Nodes npu051..npu060 of the shared rack, reset to fresh before and after
 * each test (ro-fixture.c).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <regex.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "af-mem.h"
#include "ro-fixture.h"
#include "tjson.h"

#define OUT_TEST(name) Test(rollout_out, name, .fini = ro_fini, .timeout = 600)

#define RO_ARGS "-i %s --state %s --packages %s --stage prereq,npu --settle 1 "

#define DRIVER_PKG "Ascend-hdk-910-npu-driver_24.1.0_linux-x86_64.run"

/* The members every rollout event has (null where they do not apply). */
static const char *const typed[] = {
    "v",      "type",   "ts",        "run",   "node",   "step",
    "action", "status", "exit_code", "bytes", "reason", "duration_ms",
};

/* Events of one --json run: every line parsed (a line that is not a JSON
 * object with "v":1, "type" and the typed members fails the test). */
struct evs {
    struct jv **v;
    size_t n;
};

static void
evs_parse(struct evs *e, const char *out)
{
    char *copy = af_strdup(out), *line, *save = NULL;
    size_t k;

    memset(e, 0, sizeof(*e));
    cr_assert(out[0] != '\0', "no output");
    cr_assert_eq(out[strlen(out) - 1], '\n', "the last line is not ended");
    for (line = strtok_r(copy, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        struct jv *v = json_parse(line);

        cr_assert_not_null(v, "not JSON: '%s'", line);
        cr_assert_eq(v->t, J_OBJ, "not an object: '%s'", line);
        for (k = 0; k < sizeof(typed) / sizeof(typed[0]); k++)
            cr_assert_not_null(jget(v, typed[k]), "no \"%s\" in '%s'", typed[k],
                               line);
        cr_assert_eq(jnum(v, "v"), 1.0, "%s", line);
        cr_assert_eq(jget(v, "type")->t, J_STR, "%s", line);
        cr_assert_eq(jget(v, "ts")->t, J_NUM, "%s", line);
        e->v = af_reallocarray(e->v, e->n + 1, sizeof(*e->v));
        e->v[e->n++] = v;
    }
    free(copy);
}

static void
evs_free(struct evs *e)
{
    size_t i;

    for (i = 0; i < e->n; i++)
        jv_free(e->v[i]);
    free(e->v);
}

static int
is(const struct jv *v, const char *key, const char *want)
{
    const struct jv *m = jget(v, key);

    return m != NULL && m->t == J_STR && strcmp(m->s, want) == 0;
}

static size_t
count_type(const struct evs *e, const char *type)
{
    size_t i, n = 0;

    for (i = 0; i < e->n; i++)
        n += is(e->v[i], "type", type);
    return n;
}

/* The last event of a type, or NULL. */
static const struct jv *
last_type(const struct evs *e, const char *type)
{
    size_t i;

    for (i = e->n; i-- > 0;)
        if (is(e->v[i], "type", type))
            return e->v[i];
    return NULL;
}

static long long
file_size(const char *path)
{
    struct stat st;

    cr_assert_eq(stat(path, &st), 0, "%s: %s", path, strerror(errno));
    return (long long)st.st_size;
}

/* ---- JSON Lines ---------------------------------------------------------- */

OUT_TEST(plan_json_is_typed_json_lines)
{
    struct th_result r;
    struct evs e;
    const struct jv *x;
    char *pk = af_strdup(packages("")), *drv;
    long long drv_size;
    size_t i;

    drv = af_asprintf("%s/%s", pk, DRIVER_PKG);
    drv_size = file_size(drv);
    ro_setup(51, 53, "fresh");
    /* --plan --json: plan rows and the plan's end, nothing else. */
    fleet(&r, RO_SHORT_TIMEOUT, "rollout " RO_ARGS "--plan --json", ctx.inv,
          ctx.state, pk);
    cr_expect_eq(r.status, 0, "exit %d\n%s", r.status, r.err);
    evs_parse(&e, r.out);
    cr_expect_eq(count_type(&e, "plan"), 3 * 6, "%s", r.out);
    cr_expect_eq(count_type(&e, "plan_end"), 1);
    cr_expect_eq(count_type(&e, "plan") + 1, e.n, "%s", r.out);
    for (i = 0; i < e.n; i++) {
        x = e.v[i];
        if (!is(x, "type", "plan") || !is(x, "step", "driver"))
            continue;
        cr_expect(is(x, "action", "install"), "%s", r.out);
        cr_expect(is(x, "version", "24.1.0"));
        cr_expect(is(x, "package", DRIVER_PKG));
        cr_expect_eq(jnum(x, "bytes"), (double)drv_size);
        cr_expect(is(x, "stage", "npu"));
        cr_expect_eq(jget(x, "run")->t, J_NULL);
    }
    x = last_type(&e, "plan_end");
    cr_expect(x != NULL && is(x, "stages", "prereq,npu"));
    evs_free(&e);
    th_result_free(&r);
    free(drv);
    free(pk);
}

OUT_TEST(rollout_and_resume_json_are_typed_json_lines)
{
    struct th_result r;
    struct evs e;
    const struct jv *s, *st, *x;
    char *pk = af_strdup(packages("")), *drv;
    long long drv_size;
    size_t i, pushes = 0, steps_ok = 0;

    drv = af_asprintf("%s/%s", pk, DRIVER_PKG);
    drv_size = file_size(drv);
    ro_setup(51, 53, "fresh");
    ctl_set(53, "fault-install-fail", NULL);

    /* The rollout: npu053's installer fails. */
    fleet(&r, RO_RUN_TIMEOUT,
          "rollout " RO_ARGS "--yes --batch 100%% --max-fail 1 --json", ctx.inv,
          ctx.state, pk);
    cr_expect_eq(r.status, 1, "exit %d\n%s", r.status, r.err);
    evs_parse(&e, r.out);
    cr_expect(is(e.v[0], "type", "plan"), "first line: not a plan row");
    for (i = 0; i < e.n; i++) {
        x = e.v[i];
        if (is(x, "type", "node") && is(x, "what", "push")) {
            pushes++;
            cr_expect(is(x, "status", "ok"));
            if (is(x, "step", "driver"))
                cr_expect_eq(jnum(x, "bytes"), (double)drv_size, "push bytes");
            cr_expect_eq(jget(x, "duration_ms")->t, J_NUM);
            cr_expect(jget(x, "package")->t == J_STR);
            cr_expect_eq(jget(x, "exit_code")->t, J_NULL);
        }
        if (is(x, "type", "node") && is(x, "what", "step") &&
            is(x, "status", "ok")) {
            steps_ok++;
            cr_expect_eq(jnum(x, "exit_code"), 0.0);
            cr_expect_eq(jget(x, "duration_ms")->t, J_NUM);
        }
        if (is(x, "type", "node") && is(x, "what", "failed")) {
            cr_expect(is(x, "node", "npu053"));
            cr_expect(is(x, "status", "failed"));
            cr_expect(is(x, "step", "driver"), "the failed step");
            cr_expect_eq(jnum(x, "exit_code"), 1.0, "the installer's code");
            cr_expect(jget(x, "reason")->t == J_STR &&
                          strstr(jstr(x, "reason"), "driver") != NULL,
                      "reason");
            cr_expect_eq(jget(x, "duration_ms")->t, J_NUM);
        }
    }
    /* npu051, npu052 push driver and firmware; npu053 only the driver. */
    cr_expect_eq(pushes, 5, "%s", r.out);
    cr_expect_geq(steps_ok, 2 * 5 + 2, "%s", r.out);
    cr_expect_eq(count_type(&e, "result"), 3);
    cr_expect_eq(count_type(&e, "summary"), 1);
    s = e.v[e.n - 1];
    cr_assert(is(s, "type", "summary"), "the last line is not the summary");
    cr_expect(is(s, "verdict", "finished with failures"));
    cr_expect(is(s, "status", "failed"));
    st = jget(s, "states");
    cr_assert(st != NULL && st->t == J_OBJ);
    cr_expect(is(jget(st, "done"), "nodes", "npu[051-052]"));
    cr_expect_eq(jnum(jget(st, "done"), "count"), 2.0);
    cr_expect_eq(jget(jget(st, "done"), "max_ms")->t, J_NUM);
    cr_expect(is(jget(st, "step failed"), "nodes", "npu053"));
    x = jget(s, "slowest");
    cr_assert(x != NULL && x->t == J_ARR && x->n == 3, "slowest");
    cr_expect(jnum(x->kids[0], "duration_ms") >=
              jnum(x->kids[1], "duration_ms"));
    cr_expect(strstr(jstr(s, "text"), "Run ") == jstr(s, "text"));
    evs_free(&e);
    th_result_free(&r);
    /* The event log keeps its text for the state file's readers. */
    cr_expect_geq(sql_int(ctx.state, "SELECT count(*) FROM events WHERE "
                                     "kind = 'push' AND text LIKE "
                                     "'%%: pushed %%'"),
                  5);

    /* resume: a resume event first, then plan, node events and summary. */
    cr_assert_eq(th_rack("fault npu053 clear fault-install-fail"), 0);
    fleet(&r, RO_RUN_TIMEOUT, "resume --state %s --yes --json", ctx.state);
    cr_expect_eq(r.status, 0, "exit %d\n%s", r.status, r.err);
    evs_parse(&e, r.out);
    cr_expect(is(e.v[0], "type", "resume"), "first line: not resume");
    cr_expect_eq(jnum(e.v[0], "run"), 1.0);
    cr_expect_gt(count_type(&e, "plan"), 0);
    s = e.v[e.n - 1];
    cr_assert(is(s, "type", "summary"));
    cr_expect(is(s, "verdict", "done"));
    cr_expect(is(jget(jget(s, "states"), "done"), "nodes", "npu[051-053]"),
              "%s", r.out);
    evs_free(&e);
    th_result_free(&r);
    free(drv);
    free(pk);
}

/* ---- piped text --------------------------------------------------------- */

static int
matches(const char *re, const char *s)
{
    regex_t rx;
    int ok;

    cr_assert_eq(regcomp(&rx, re, REG_EXTENDED | REG_NEWLINE | REG_NOSUB), 0,
                 "%s", re);
    ok = regexec(&rx, s, 0, NULL, 0) == 0;
    regfree(&rx);
    return ok;
}

#define ISO                                                                   \
    "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}[+-][0-" \
    "9]{2}:[0-9]{2}"

OUT_TEST(piped_lines_have_iso_timestamps_and_the_run_ends_with_a_recap)
{
    struct th_result r;
    char *copy, *line, *save = NULL;
    int events = 0, in_plan = 0;

    ro_setup(54, 56, "fresh");
    ctl_set(56, "fault-install-fail", NULL);
    fleet(&r, RO_RUN_TIMEOUT,
          "rollout " RO_ARGS "--yes --batch 1,100%% --max-fail 1", ctx.inv,
          ctx.state, packages(""));
    cr_expect_eq(r.status, 1, "exit %d\n%s\n%s", r.status, r.out, r.err);
    /* Every line is the plan, an event with its ISO-8601 time, the recap
     * or the closing line; no live line (no escape, no carriage return). */
    copy = af_strdup(r.out);
    for (line = strtok_r(copy, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "Plan (", 6) == 0) {
            in_plan = 1;
            continue;
        }
        if (in_plan && line[0] == ' ')
            continue;
        in_plan = 0;
        if (strncmp(line, "Recap of run ", 13) == 0)
            break;
        cr_expect(matches("^" ISO " ", line), "no ISO-8601 time: '%s'", line);
        events++;
    }
    free(copy);
    cr_expect_gt(events, 20, "%s", r.out);
    cr_expect(strchr(r.out, '\033') == NULL && strchr(r.out, '\r') == NULL,
              "a live line in piped output");
    cr_expect(matches("^" ISO " +batch 1/2: 1 node \\(", r.out), "%s", r.out);
    cr_expect(matches("^" ISO " +batch 2/2: 2 nodes \\(", r.out), "%s", r.out);
    /* One line per node and package pushed, with size and time. */
    cr_expect(matches("^" ISO " npu054 +driver: pushed " DRIVER_PKG
                      " \\([0-9.]+ KiB in [0-9]+\\.[0-9]{2} s\\)$",
                      r.out),
              "%s", r.out);
    cr_expect(matches("^" ISO " npu055 +firmware: pushed "
                      "Ascend-hdk-910-npu-firmware_7.5.0.2.220.run "
                      "\\([0-9.]+ KiB in [0-9]+\\.[0-9]{2} s\\)$",
                      r.out),
              "%s", r.out);
    /* The recap: per state the nodes, their count and durations, then the
     * slowest nodes; then the closing line. */
    cr_expect(matches("^Recap of run 1 \\([0-9.]+ s\\):$", r.out), "%s", r.out);
    cr_expect(matches("^  done +2 nodes +npu\\[054-055\\]  \\(median [0-9.]+ "
                      "s, longest [0-9.]+ s\\)$",
                      r.out),
              "%s", r.out);
    cr_expect(
        matches("^  step failed +1 node +npu056  \\([0-9.]+ s\\)$", r.out),
        "%s", r.out);
    cr_expect(matches("^  slowest: npu05[45] [0-9.]+ s, npu05[45] [0-9.]+ s, "
                      "npu056 [0-9.]+ s$",
                      r.out),
              "%s", r.out);
    cr_expect(
        matches("^Run 1 finished with failures: 2 done: npu\\[054-055\\], "
                "1 step failed: npu056$",
                r.out),
        "%s", r.out);
    th_result_free(&r);
}

/* Plan rows in the order the steps run, the action column aligned. */
OUT_TEST(plan_rows_run_in_order_with_aligned_columns)
{
    struct th_result r;
    char *plan, *line, *save = NULL;
    const char *order[] = {
        "build_deps_debian", "build_deps_rpm", "hwhiaiuser_group",
        "hwhiaiuser_user",   "driver",         "firmware"};
    size_t k = 0;
    int col = -1;

    ro_setup(54, 55, "fresh");
    fleet(&r, RO_SHORT_TIMEOUT, "rollout " RO_ARGS "--plan", ctx.inv, ctx.state,
          packages(""));
    cr_expect_eq(r.status, 0, "%s", r.err);
    plan = plan_lines(r.out);
    for (line = strtok_r(plan, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save), k++) {
        const char *p = line + 2;
        int c;

        cr_assert_lt(k, 6, "%s", r.out);
        cr_expect(strncmp(p, order[k], strlen(order[k])) == 0 &&
                      p[strlen(order[k])] == ' ',
                  "row %zu is not %s: %s", k, order[k], r.out);
        while (*p && *p != ' ')
            p++;
        while (*p == ' ')
            p++;
        c = (int)(p - line);
        if (col < 0)
            col = c;
        cr_expect_eq(c, col, "column of '%s'", line);
        cr_expect(strstr(line, ": npu[054-055]") != NULL, "%s", line);
    }
    cr_expect_eq(k, 6, "%s", r.out);
    free(plan);
    th_result_free(&r);
}

/* ---- the terminal ------------------------------------------------------- */

/* Run AF_BIN with the words of cmd on a pty (stdout and stderr on it, 200
 * columns); everything it printed in *out; returns the exit code. */
static int
pty_run(char **out, int timeout_s, const char *cmd)
{
    struct winsize ws = {.ws_row = 50, .ws_col = 200};
    char *text = af_strdup(cmd), *w, *save = NULL;
    const char *argv[64];
    long long deadline = now_ms() + (long long)timeout_s * 1000;
    size_t len = 0, cap = 65536;
    int n = 0, master, status;
    pid_t pid;

    argv[n++] = AF_BIN;
    for (w = strtok_r(text, " ", &save); w && n < 63;
         w = strtok_r(NULL, " ", &save))
        argv[n++] = w;
    argv[n] = NULL;
    *out = af_malloc(cap);
    pid = forkpty(&master, NULL, NULL, &ws);
    cr_assert_geq(pid, 0, "forkpty: %s", strerror(errno));
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);

        if (in >= 0)
            dup2(in, 0);
        execv(AF_BIN, (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    for (;;) {
        struct pollfd p = {master, POLLIN, 0};
        ssize_t got;

        if (now_ms() > deadline) {
            kill(pid, SIGKILL);
            break;
        }
        if (poll(&p, 1, 200) <= 0)
            continue;
        if (len + 4096 > cap)
            *out = af_realloc(*out, cap *= 2);
        got = read(master, *out + len, cap - len - 1);
        if (got <= 0)
            break; /* EIO: the child and its pty are gone */
        len += (size_t)got;
    }
    (*out)[len] = '\0';
    close(master);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    free(text);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

OUT_TEST(terminal_live_line_shows_nodes_finished_and_etas)
{
    char *out, *cmd;
    int rc;

    ro_setup(57, 59, "fresh");
    cmd = af_asprintf("rollout " RO_ARGS "--yes --batch 1", ctx.inv, ctx.state,
                      packages(""));
    rc = pty_run(&out, RO_RUN_TIMEOUT, cmd);
    cr_expect_eq(rc, 0, "exit %d\n%s", rc, out);
    /* The live line is redrawn in place: "\r\033[K[batch ...". */
    cr_expect(matches("\r\033\\[K\\[batch 1/3\\] 0/3 nodes finished \\| ETA "
                      "batch --, run --",
                      out),
              "%s", out);
    /* Once a node is done its duration gives ETAs for the batch and the
     * run. */
    cr_expect(matches("\\[batch [23]/3\\] [12]/3 nodes finished \\| ETA batch "
                      "[0-9.]+ s, run [0-9.]+ s",
                      out),
              "no ETA in:\n%s", out);
    /* Node lines on a terminal keep the short time. */
    cr_expect(matches("[0-9]{2}:[0-9]{2}:[0-9]{2} npu057 +done \\(", out), "%s",
              out);
    cr_expect(strstr(out, "Recap of run 1 (") != NULL, "%s", out);
    free(cmd);
    free(out);
}

/* A package big enough to watch: a sparse file under the driver's name (it
 * is pushed in full, then its installer fails its self-check). */
OUT_TEST(terminal_live_line_shows_push_bytes_rate_and_eta)
{
    char *dir, *path, *cmd, *out;
    const char *pk = packages("");
    int fd, rc;

    ro_setup(60, 60, "fresh");
    dir = af_asprintf("%s/bigpkgs", ctx.dir);
    cr_assert_eq(mkdir(dir, 0755), 0);
    path = af_asprintf("%s/%s", dir, DRIVER_PKG);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    cr_assert_geq(fd, 0);
    cr_assert_eq(ftruncate(fd, 192LL * 1024 * 1024), 0);
    close(fd);
    free(path);
    path = af_asprintf("cp %s/Ascend-hdk-910-npu-firmware_7.5.0.2.220.run %s",
                       pk, dir);
    cr_assert_eq(system(path), 0);
    free(path);
    cmd = af_asprintf("rollout " RO_ARGS "--yes --max-fail 1", ctx.inv,
                      ctx.state, dir);
    rc = pty_run(&out, RO_RUN_TIMEOUT, cmd);
    cr_expect_eq(rc, 1, "exit %d\n%s", rc, out);
    cr_expect(matches("\\| push [0-9.]+ (B|KiB|MiB) / 192\\.0 MiB, [0-9.]+ "
                      "MiB/s, ETA ([0-9.]+ s|--|[0-9]+m[0-9]{2}s) \\|",
                      out),
              "no push progress in:\n%s", out);
    cr_expect(matches("npu060 +driver: pushed " DRIVER_PKG
                      " \\(192\\.0 MiB in [0-9.]+ s\\)",
                      out),
              "%s", out);
    free(cmd);
    free(out);
    free(dir);
}

/* An error that stops the command is an event on stdout too (and a message
 * on stderr): stdout stays JSON Lines. */
OUT_TEST(an_error_is_a_json_event_and_a_message)
{
    struct th_result r;
    struct evs e;

    ro_setup(51, 51, "fresh");
    fleet(&r, RO_SHORT_TIMEOUT, "resume 99 --state %s --yes --json", ctx.state);
    cr_expect_eq(r.status, 2, "exit %d\n%s", r.status, r.err);
    evs_parse(&e, r.out);
    cr_assert_eq(e.n, 1, "%s", r.out);
    cr_expect(is(e.v[0], "type", "error"));
    cr_expect(strstr(jstr(e.v[0], "reason"), "no run 99") != NULL, "%s", r.out);
    cr_expect(strstr(r.err, "ascend-fleet resume: ") != NULL &&
                  strstr(r.err, "no run 99") != NULL,
              "%s", r.err);
    evs_free(&e);
    th_result_free(&r);
}
