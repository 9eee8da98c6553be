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

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "af-mem.h"
#include "ro-fixture.h"

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

    fleet(&r, RO_RUN_TIMEOUT, "resume --yes --state %s", ctx.state);
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
    fleet(&r, RO_RUN_TIMEOUT, "resume --yes --state %s", ctx.state);
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
    fleet(&r, RO_SHORT_TIMEOUT, "resume --yes --state %s", ctx.state);
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

/* Lines of the node's sshd log (all boots) that contain what. */
static int
sshd_log_count(const char *node, const char *what)
{
    char *path = af_asprintf("%s/nodes/%s/sshd.log", AF_RACK_DIR, node);
    FILE *f = fopen(path, "r");
    char line[1024];
    int n = 0;

    free(path);
    if (f == NULL)
        return 0;
    while (fgets(line, sizeof(line), f) != NULL)
        n += strstr(line, what) != NULL;
    fclose(f);
    return n;
}

/*
 * Sessions a rollout costs a node: the facts session serves the node's
 * batch (kept, not closed and opened again), a rebooting node is watched
 * with TCP connects and gets one new session once it is back, and that
 * session verifies it. So two authenticated sessions per node, where the
 * rollout used to open one more per batch and poll with full sessions.
 */
RO_TEST(one_session_for_facts_and_batch_and_one_after_the_reboot)
{
    struct th_result r;
    int before[4], i;
    char node[16];

    ro_setup(41, 44, "fresh");
    fleet(&r, RO_RUN_TIMEOUT,
          "rollout -i %s --state %s --packages %s --stage prereq --yes "
          "--batch 100%%",
          ctx.inv, ctx.state, packages(""));
    cr_assert_eq(r.status, 0, "exit %d\n%s\n%s", r.status, r.out, r.err);
    th_result_free(&r);
    for (i = 0; i < 4; i++) {
        node_name(node, sizeof(node), ctx.first + i);
        before[i] = sshd_log_count(node, "Accepted publickey");
    }
    fleet(&r, RO_RUN_TIMEOUT,
          "rollout -i %s --state %s --packages %s --stage npu --yes "
          "--batch 1,100%% --settle 1",
          ctx.inv, ctx.state, packages(""));
    cr_assert_eq(r.status, 0, "exit %d\n%s\n%s", r.status, r.out, r.err);
    for (i = 0; i < 4; i++) {
        int n;

        node_name(node, sizeof(node), ctx.first + i);
        cr_expect_eq(count_events(node, "reboot"), 1, "%s", node);
        n = sshd_log_count(node, "Accepted publickey") - before[i];
        cr_expect_eq(n, 2,
                     "%s: %d authenticated sessions for facts, its batch "
                     "and after its reboot (want 2)",
                     node, n);
    }
    cr_expect_eq(sql_int(ctx.state, "SELECT count(*) FROM run_nodes WHERE "
                                    "run = " LAST_RUN " AND status = 'done'"),
                 4);
    th_result_free(&r);
}
