/* SPDX-License-Identifier: MIT */
/*
 * Integration tests of the run lifecycle an operator drives by hand on the
 * simulated rack: options checked before anything is recorded, resume of
 * an unknown run and of part of a run, --timeout over install steps,
 * SIGINT/SIGTERM/SIGHUP during a rollout followed by resume, what resume
 * records, the exit code of --plan and the plan's layout. Uses nodes
 * npu017..npu048 of the shared rack, reset before and after each test.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "af-mem.h"
#include "ro-fixture.h"
#include "tjson.h"

#define LC_TEST(name) Test(lifecycle, name, .fini = ro_fini, .timeout = 800)

#define RO_ARGS "rollout -i %s --state %s --packages %s --stage prereq,npu"

/* No crash report of any kind in a command's stderr. */
static void
expect_no_crash(const struct th_result *r, const char *what)
{
    cr_expect(r->status >= 0, "%s: killed by a signal\n%s", what, r->err);
    cr_expect(strstr(r->err, "AddressSanitizer") == NULL &&
                  strstr(r->err, "runtime error") == NULL &&
                  strstr(r->err, "LeakSanitizer") == NULL,
              "%s crashed:\n%s", what, r->err);
}

LC_TEST(resume_of_an_unknown_run_is_a_clean_usage_error)
{
    struct th_result r;

    ro_setup(17, 17, "fresh");
    fleet(&r, RO_SHORT_TIMEOUT, "resume 99 --yes --state %s", ctx.state);
    expect_no_crash(&r, "resume 99");
    cr_expect_eq(r.status, 2, "exit %d\n%s\n%s", r.status, r.out, r.err);
    cr_expect(strstr(r.err, "99") != NULL, "message: %s", r.err);
    th_result_free(&r);
}

LC_TEST(bad_options_are_refused_before_anything_is_recorded)
{
    static const char *const bad[] = {
        "--batch abc",   "--batch 0",   "--batch 1,abc", "--max-fail -1",
        "--max-fail 5x", "--settle -3", "--settle x",
    };
    struct th_result r;
    size_t i;
    int plan;

    ro_setup(17, 17, "fresh");
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        for (plan = 0; plan < 2; plan++) {
            char opt[32];

            fleet(&r, RO_SHORT_TIMEOUT, RO_ARGS " %s %s", ctx.inv, ctx.state,
                  packages(""), bad[i], plan ? "--plan" : "--yes");
            expect_no_crash(&r, bad[i]);
            cr_expect_eq(r.status, 2, "%s%s: exit %d\n%s\n%s", bad[i],
                         plan ? " --plan" : "", r.status, r.out, r.err);
            snprintf(opt, sizeof(opt), "%.*s", (int)strcspn(bad[i], " "),
                     bad[i]);
            cr_expect(strstr(r.err, opt) != NULL, "%s: message: %s", bad[i],
                      r.err);
            cr_expect(strstr(r.out, "Plan") == NULL,
                      "%s: planned before checking:\n%s", bad[i], r.out);
            th_result_free(&r);
        }
    }
    cr_expect(sql_int(ctx.state, "SELECT count(*) FROM runs") <= 0,
              "a run was recorded");
    cr_expect(sql_int(ctx.state, "SELECT count(*) FROM facts") <= 0,
              "facts were gathered");
    /* Nothing unfinished for a bare resume to pick (no state file was even
     * created: refused options leave nothing behind). */
    fleet(&r, RO_SHORT_TIMEOUT, "resume --yes --state %s", ctx.state);
    cr_expect_eq(r.status, 2, "%s", r.err);
    cr_expect(strstr(r.err, "no unfinished run") != NULL ||
                  strstr(r.err, "no state file") != NULL,
              "%s", r.err);
    th_result_free(&r);
}

LC_TEST(resume_with_a_limit_leaves_the_rest_of_the_run_unfinished)
{
    struct th_result r;
    char *st;

    ro_setup(17, 19, "fresh");
    cr_assert_eq(th_rack("fault npu019 down"), 0);
    fleet(&r, RO_RUN_TIMEOUT,
          RO_ARGS " --yes --batch 3 --max-fail 1 --settle 1", ctx.inv,
          ctx.state, packages(""));
    cr_expect_eq(r.status, 1, "exit %d\n%s\n%s", r.status, r.out, r.err);
    th_result_free(&r);
    fleet(&r, RO_RUN_TIMEOUT, "resume --yes --state %s --limit !npu019",
          ctx.state);
    expect_no_crash(&r, "resume --limit");
    cr_expect_eq(r.status, 1, "exit %d\n%s\n%s", r.status, r.out, r.err);
    cr_expect(strstr(r.out, "Run 1 ") != NULL, "no summary:\n%s", r.out);
    st = run_status();
    cr_expect(st != NULL && strcmp(st, "done") != 0,
              "a run with npu019 unreachable was marked %s",
              st ? st : "(none)");
    free(st);
    st = node_status("npu019");
    cr_expect_str_eq(st ? st : "", "unreachable");
    free(st);
    th_result_free(&r);
}

LC_TEST(timeout_caps_install_steps_and_kills_the_installer)
{
    struct th_result r;
    long long t0 = now_ms();
    char *why;

    ro_setup(35, 35, "fresh");
    ctl_set(35, "fault-install-hang", NULL);
    fleet(&r, 120,
          RO_ARGS " --yes --batch 1 --max-fail 1 --settle 1 --timeout 5",
          ctx.inv, ctx.state, packages(""));
    cr_expect_eq(r.status, 1, "exit %d\n%s\n%s", r.status, r.out, r.err);
    cr_expect_lt(now_ms() - t0, 60000,
                 "the run took %lld ms (the playbook's "
                 "1800 s applied?)",
                 now_ms() - t0);
    why = node_reason("npu035");
    cr_expect(why != NULL && strstr(why, "driver") != NULL &&
                  strstr(why, "timed out after 5 s") != NULL,
              "reason: %s", why ? why : "(none)");
    free(why);
    cr_expect(strstr(r.out, "timeout") != NULL, "%s", r.out);
    cr_expect(!node_runs("npu035", "npu-driver"),
              "the hanging installer still runs on npu035");
    th_result_free(&r);
}

/* The run's recorded status and reason. */
static void
expect_interrupted(void)
{
    char *st = run_status(), *why;

    cr_expect_str_eq(st ? st : "", "interrupted", "run status");
    free(st);
    why = sql_text(ctx.state, "SELECT reason FROM runs WHERE id = " LAST_RUN);
    cr_expect(why != NULL && strstr(why, "interrupted") != NULL, "reason: %s",
              why ? why : "(none)");
    free(why);
}

static void
resume_to_done(void)
{
    struct th_result r;
    char *st;

    fleet(&r, RO_RUN_TIMEOUT, "resume --yes --state %s", ctx.state);
    cr_expect_eq(r.status, 0, "resume: exit %d\n%s\n%s", r.status, r.out,
                 r.err);
    st = run_status();
    cr_expect_str_eq(st ? st : "", "done");
    free(st);
    expect_npu_done_once();
    th_result_free(&r);
}

LC_TEST(sigint_lets_the_step_finish_records_interrupted_and_resume_ends_it)
{
    char *out, *act;
    int rc;

    ro_setup(43, 44, "fresh");
    ctl_set(43, "install-seconds", "3");
    spawn_fleet(RO_ARGS " --yes --batch 1 --settle 1", ctx.inv, ctx.state,
                packages(""));
    cr_assert(
        wait_sql_geq(1, 120,
                     "SELECT count(*) FROM node_steps WHERE run = " LAST_RUN
                     " AND node = 'npu043' AND step = 'driver' AND "
                     "status = 'running'"),
        "the driver never started:\n%s", (out = bg_output()));
    cr_assert_eq(kill(ctx.bg, SIGINT), 0);
    rc = wait_bg(60);
    out = bg_output();
    cr_expect_eq(rc, 130, "exit %d:\n%s", rc, out);
    cr_expect(strstr(out, "ascend-fleet resume") != NULL,
              "no next command:\n%s", out);
    free(out);
    expect_interrupted();
    /* The step in flight finished (exit code recorded), nothing else began. */
    cr_expect_eq(sql_int(ctx.state,
                         "SELECT exit_code FROM node_steps WHERE "
                         "run = " LAST_RUN " AND node = 'npu043' AND "
                         "step = 'driver'"),
                 0);
    cr_expect_eq(count_events("npu044", "install"), 0, "npu044 was started");
    resume_to_done();
    /* Resume records what happened: the driver was installed. */
    act =
        sql_text(ctx.state, "SELECT status || ' ' || action FROM node_steps "
                            "WHERE run = " LAST_RUN " AND node = 'npu043' AND "
                            "step = 'driver'");
    cr_expect(act != NULL && strncmp(act, "done install", 12) == 0,
              "driver step recorded as '%s'", act ? act : "(none)");
    free(act);
}

LC_TEST(sigterm_and_sighup_while_rebooting_detach_and_resume_ends_it)
{
    static const int sigs[2] = {SIGTERM, SIGHUP};
    int k;

    for (k = 0; k < 2; k++) {
        char *out, *st;
        long long t0;
        int rc;

        ro_setup(45, 45, "fresh");
        /* Long enough that waiting for the node would show. */
        ctl_set(45, "reboot-seconds", "20");
        spawn_fleet(RO_ARGS " --yes --batch 1 --settle 1", ctx.inv, ctx.state,
                    packages(""));
        cr_assert(
            wait_sql_geq(1, 120,
                         "SELECT count(*) FROM events WHERE run = " LAST_RUN
                         " AND node = 'npu045' AND "
                         "kind = 'reboot-sent'"),
            "the reboot was never sent:\n%s", (out = bg_output()));
        t0 = now_ms();
        cr_assert_eq(kill(ctx.bg, sigs[k]), 0);
        rc = wait_bg(30);
        out = bg_output();
        cr_expect_eq(rc, 143, "signal %d: exit %d:\n%s", sigs[k], rc, out);
        cr_expect_lt(now_ms() - t0, 12000,
                     "waited %lld ms for a rebooting node", now_ms() - t0);
        free(out);
        expect_interrupted();
        st = node_status("npu045");
        cr_expect_str_eq(st ? st : "", "rebooting");
        free(st);
        resume_to_done();
        ro_fini();
    }
}

LC_TEST(second_sigint_exits_at_once_and_resume_ends_it)
{
    char *out;
    long long t0;
    int rc;

    ro_setup(47, 47, "fresh");
    ctl_set(47, "install-seconds", "8");
    spawn_fleet(RO_ARGS " --yes --batch 1 --settle 1", ctx.inv, ctx.state,
                packages(""));
    cr_assert(
        wait_sql_geq(1, 120,
                     "SELECT count(*) FROM node_steps WHERE run = " LAST_RUN
                     " AND node = 'npu047' AND step = 'driver' AND "
                     "status = 'running'"),
        "the driver never started:\n%s", (out = bg_output()));
    t0 = now_ms();
    cr_assert_eq(kill(ctx.bg, SIGINT), 0);
    sleep_ms(300);
    cr_assert_eq(kill(ctx.bg, SIGINT), 0);
    rc = wait_bg(30);
    cr_expect_eq(rc, 130, "exit %d:\n%s", rc, (out = bg_output()));
    cr_expect_lt(now_ms() - t0, 4000, "the second SIGINT took %lld ms",
                 now_ms() - t0);
    expect_interrupted();
    resume_to_done();
}

LC_TEST(plan_exits_1_when_a_node_is_blocked_or_unreachable)
{
    struct th_result r;

    ro_setup(42, 43, "fresh");
    fleet(&r, RO_SHORT_TIMEOUT,
          "rollout -i %s --state %s --packages %s --stage npu --plan", ctx.inv,
          ctx.state, packages(""));
    cr_expect_eq(r.status, 1, "blocked: exit %d\n%s\n%s", r.status, r.out,
                 r.err);
    th_result_free(&r);
    fleet(&r, RO_SHORT_TIMEOUT, RO_ARGS " --plan", ctx.inv, ctx.state,
          packages(""));
    cr_expect_eq(r.status, 0, "exit %d\n%s\n%s", r.status, r.out, r.err);
    th_result_free(&r);
    cr_assert_eq(th_rack("fault npu043 down"), 0);
    fleet(&r, RO_SHORT_TIMEOUT, RO_ARGS " --plan", ctx.inv, ctx.state,
          packages(""));
    cr_expect_eq(r.status, 1, "unreachable: exit %d\n%s\n%s", r.status, r.out,
                 r.err);
    th_result_free(&r);
}

/* Width of the first column of the plan rows, and a check per row. */
static void
expect_aligned(const char *plan)
{
    char *copy = af_strdup(plan), *line, *save = NULL;
    size_t w = 0, col = 0;

    for (line = strtok_r(copy, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        size_t n = strcspn(line + 2, " ");

        if (n > w)
            w = n;
    }
    free(copy);
    copy = af_strdup(plan);
    save = NULL;
    for (line = strtok_r(copy, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        col = 2 + w + 1;
        cr_expect(strlen(line) > col && line[col - 1] == ' ' &&
                      line[col] != ' ',
                  "plan row not aligned at column %zu: '%s'", col, line);
    }
    free(copy);
}

LC_TEST(plan_rows_run_in_order_aligned_and_words_are_not_doubled)
{
    struct th_result r;
    char *plan, *p, *d, *f;

    ro_setup(33, 34, "fresh");
    fleet(&r, RO_SHORT_TIMEOUT, RO_ARGS " --plan", ctx.inv, ctx.state,
          packages(""));
    plan = plan_lines(r.out);
    cr_assert_neq(plan[0], '\0', "no plan:\n%s", r.out);
    expect_aligned(plan);
    /* Fresh nodes: prereq steps, then the driver, then the firmware. */
    p = strstr(plan, "os-");
    d = strstr(plan, "driver ");
    f = strstr(plan, "firmware ");
    cr_expect(d != NULL && f != NULL && d < f,
              "driver must be listed before firmware:\n%s", plan);
    cr_expect(p == NULL || p < d, "prereq after the driver:\n%s", plan);
    free(plan);
    th_result_free(&r);

    fleet(&r, RO_RUN_TIMEOUT, RO_ARGS " --yes --batch 1 --settle 1", ctx.inv,
          ctx.state, packages(""));
    cr_expect_eq(r.status, 0, "exit %d\n%s\n%s", r.status, r.out, r.err);
    cr_expect(strstr(r.out, ": 1 node (") != NULL, "no singular:\n%s", r.out);
    cr_expect(strstr(r.out, ": 1 nodes") == NULL, "1 nodes:\n%s", r.out);
    th_result_free(&r);
    fleet(&r, RO_RUN_TIMEOUT, RO_ARGS " --yes --batch 2 --settle 1", ctx.inv,
          ctx.state, packages(""));
    cr_expect_eq(r.status, 0, "exit %d\n%s\n%s", r.status, r.out, r.err);
    th_result_free(&r);
    fleet(&r, RO_SHORT_TIMEOUT, "status --state %s", ctx.state);
    cr_expect(strstr(r.out, "skip (") == NULL && strstr(r.out, "(skip") == NULL,
              "doubled words in status:\n%s", r.out);
    th_result_free(&r);
}

/* Append text to the file at path. */
static void
append_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "a");

    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
}

LC_TEST(resume_applies_and_records_its_options_and_refuses_changed_inputs)
{
    struct th_result r;
    char *pk = NULL, *v, *extra;
    const char *cp[] = {"cp", "-a", packages(""), NULL, NULL};

    ro_setup(21, 22, "fresh");
    /* A private copy of the packages: the test changes the set. */
    pk = af_asprintf("%s/pk", ctx.dir);
    cp[3] = pk;
    cr_assert_eq(th_run(&r, 60, cp), 0);
    cr_assert_eq(r.status, 0, "cp: %s", r.err);
    th_result_free(&r);
    cr_assert_eq(th_rack("fault npu022 down"), 0);
    fleet(&r, RO_RUN_TIMEOUT,
          "rollout -i %s --state %s --packages %s --stage prereq,npu --yes "
          "--batch 2 --max-fail 1 --settle 1",
          ctx.inv, ctx.state, pk);
    cr_expect_eq(r.status, 1, "exit %d\n%s\n%s", r.status, r.out, r.err);
    th_result_free(&r);
    cr_assert_eq(th_rack("fault npu022 up"), 0);

    /* A package more: refused, with the difference, nothing recorded. */
    extra = af_asprintf("%s/extra-tool.run", pk);
    append_file(extra, "#!/bin/sh\n");
    fleet(&r, RO_SHORT_TIMEOUT, "resume --yes --state %s --batch 1", ctx.state);
    cr_expect_eq(r.status, 2, "exit %d\n%s\n%s", r.status, r.out, r.err);
    cr_expect(strstr(r.err, "+extra-tool.run") != NULL &&
                  strstr(r.err, "--force") != NULL,
              "no difference shown:\n%s", r.err);
    th_result_free(&r);
    cr_expect_eq(count_events("npu022", "install"), 0);
    cr_assert_eq(unlink(extra), 0);
    free(extra);

    /* The inventory edited: refused too. */
    append_file(ctx.inv, "# edited\n");
    fleet(&r, RO_SHORT_TIMEOUT, "resume --yes --state %s", ctx.state);
    cr_expect_eq(r.status, 2, "exit %d\n%s\n%s", r.status, r.out, r.err);
    cr_expect(strstr(r.err, "inventory") != NULL, "%s", r.err);
    th_result_free(&r);
    v = sql_text(ctx.state, "SELECT json_extract(options, '$.batch') FROM "
                            "runs WHERE id = " LAST_RUN);
    cr_expect_str_eq(v ? v : "", "2", "a refused resume changed the run");
    free(v);

    /* --force with new options: applied and recorded. */
    fleet(&r, RO_RUN_TIMEOUT,
          "resume --yes --state %s --force --batch 1 --timeout 300", ctx.state);
    cr_expect_eq(r.status, 0, "exit %d\n%s\n%s", r.status, r.out, r.err);
    th_result_free(&r);
    v = sql_text(ctx.state, "SELECT json_extract(options, '$.batch') || ' ' || "
                            "json_extract(options, '$.timeout') FROM runs "
                            "WHERE id = " LAST_RUN);
    cr_expect_str_eq(v ? v : "", "1 300", "options recorded: %s", v);
    free(v);
    v = sql_text(ctx.state, "SELECT cmdline FROM runs WHERE id = " LAST_RUN);
    cr_expect(v != NULL && strstr(v, "resume") != NULL &&
                  strstr(v, "--batch 1") != NULL,
              "cmdline: %s", v ? v : "(none)");
    free(v);
    v = run_status();
    cr_expect_str_eq(v ? v : "", "done");
    free(v);
    cr_expect_eq(count_events("npu022", "install driver"), 1);
    cr_expect_eq(count_events("npu021", "install driver"), 1);
    free(pk);
}

/* Every line of out is one JSON object with "v":1; returns how many have
 * the type. */
static int
json_lines(const char *out, const char *type)
{
    char *copy = af_strdup(out), *line, *save = NULL;
    int n = 0, lines = 0;

    for (line = strtok_r(copy, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        struct jv *v = json_parse(line);

        lines++;
        cr_expect_not_null(v, "not JSON: '%s'", line);
        if (v == NULL)
            continue;
        cr_expect_eq(jnum(v, "v"), 1.0, "no \"v\":1 in '%s'", line);
        if (jstr(v, "type") && strcmp(jstr(v, "type"), type) == 0)
            n++;
        jv_free(v);
    }
    cr_expect_gt(lines, 0, "no output");
    free(copy);
    return n;
}

LC_TEST(json_is_json_lines_from_the_first_byte_to_the_last)
{
    struct th_result r;

    ro_setup(25, 26, "fresh");
    fleet(&r, RO_SHORT_TIMEOUT, RO_ARGS " --plan --json", ctx.inv, ctx.state,
          packages(""));
    cr_expect_eq(r.status, 0, "exit %d\n%s\n%s", r.status, r.out, r.err);
    cr_expect_gt(json_lines(r.out, "plan"), 4, "%s", r.out);
    th_result_free(&r);
    fleet(&r, RO_RUN_TIMEOUT, RO_ARGS " --yes --batch 2 --settle 1 --json",
          ctx.inv, ctx.state, packages(""));
    cr_expect_eq(r.status, 0, "exit %d\n%s\n%s", r.status, r.out, r.err);
    cr_expect_eq(json_lines(r.out, "result"), 2, "%s", r.out);
    cr_expect_eq(json_lines(r.out, "summary"), 1, "%s", r.out);
    cr_expect(strstr(r.out, "\"exit_code\":0") != NULL &&
                  strstr(r.out, "\"duration_ms\":") != NULL,
              "%s", r.out);
    th_result_free(&r);
}
