/* SPDX-License-Identifier: MIT */
/*
 * Integration tests of resume as a command of its own, on the simulated
 * rack: it confirms like rollout (nothing starts off a terminal without
 * --yes), a bare resume passes by a run a live rollout holds, and a run is
 * bound to the machines it recorded (a node whose host key changed is
 * refused unless --force). Uses nodes npu027..npu031 of the shared rack.
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

#define RS_TEST(name) Test(resume, name, .fini = rs_fini, .timeout = 800)

#define RO_ARGS "rollout -i %s --state %s --packages %s --stage prereq,npu"

/* The host key of npu029, kept while a test has changed it. */
#define SAVED_KEY "/tmp/af-test-resume-npu029-key"

static void
rs_fini(void)
{
    if (access(SAVED_KEY, F_OK) == 0) {
        th_rack("rekey npu029 --key " SAVED_KEY);
        unlink(SAVED_KEY);
    }
    th_rack("fault npu027 clear fault-install-fail");
    th_rack("fault npu029 clear fault-install-fail");
    th_rack("fault npu030 clear fault-install-fail");
    th_rack("fault npu028 up"); /* from down or mute, whatever happened */
    ro_fini();
}

RS_TEST(resume_off_a_terminal_starts_nothing_without_yes)
{
    struct th_result r;
    long long events, updated, gathered;
    char *st;

    fleet(&r, RO_SHORT_TIMEOUT, "resume --help");
    cr_expect_eq(r.status, 0);
    cr_expect(strstr(r.out, "usage: ascend-fleet resume") != NULL &&
                  strstr(r.out, "--yes") != NULL &&
                  strstr(r.out, "--force") != NULL,
              "resume --help:\n%s", r.out);
    th_result_free(&r);

    ro_setup(27, 28, "fresh");
    ctl_set(27, "fault-install-fail", NULL);
    fleet(&r, RO_RUN_TIMEOUT,
          RO_ARGS " --yes --batch 2 --max-fail 2 --settle 1", ctx.inv,
          ctx.state, packages(""));
    cr_assert_eq(r.status, 1, "exit %d\n%s\n%s", r.status, r.out, r.err);
    th_result_free(&r);
    cr_assert_eq(th_rack("fault npu027 clear fault-install-fail"), 0);
    events = sql_int(ctx.state, "SELECT count(*) FROM events");
    updated = sql_int(ctx.state, "SELECT updated FROM runs WHERE id = 1");
    gathered = sql_int(ctx.state, "SELECT max(gathered_at) FROM facts");

    /* The harness runs commands with stdin from /dev/null. */
    fleet(&r, RO_SHORT_TIMEOUT, "resume --state %s", ctx.state);
    cr_expect_eq(r.status, 2, "exit %d\n%s\n%s", r.status, r.out, r.err);
    cr_expect(strstr(r.err, "--yes") != NULL && strstr(r.err, "run 1") != NULL,
              "message:\n%s", r.err);
    th_result_free(&r);
    cr_expect_eq(sql_int(ctx.state, "SELECT count(*) FROM events"), events,
                 "events were recorded");
    cr_expect_eq(sql_int(ctx.state, "SELECT updated FROM runs WHERE id = 1"),
                 updated, "the run was changed");
    cr_expect_eq(sql_int(ctx.state, "SELECT max(gathered_at) FROM facts"),
                 gathered, "facts were gathered");
    cr_expect_eq(count_events("npu027", "install driver"), 0,
                 "npu027's driver was installed without --yes");

    /* Bad options are refused before anything is recorded, with --plan
     * too. */
    {
        static const char *const bad[] = {
            "--batch abc", "--batch 0",  "--max-fail -1",
            "--settle -3", "--settle x", "--timeout x",
        };
        size_t i;

        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            fleet(&r, RO_SHORT_TIMEOUT, "resume --yes --state %s %s", ctx.state,
                  bad[i]);
            cr_expect_eq(r.status, 2, "resume %s: exit %d\n%s\n%s", bad[i],
                         r.status, r.out, r.err);
            cr_expect(strstr(r.out, "Resuming") == NULL, "resume %s:\n%s",
                      bad[i], r.out);
            th_result_free(&r);
            fleet(&r, RO_SHORT_TIMEOUT, "resume --plan --state %s %s",
                  ctx.state, bad[i]);
            cr_expect_eq(r.status, 2, "resume --plan %s: exit %d\n%s", bad[i],
                         r.status, r.err);
            th_result_free(&r);
        }
        cr_expect_eq(sql_int(ctx.state, "SELECT count(*) FROM events"), events,
                     "a refused resume recorded events");
        cr_expect_eq(
            sql_int(ctx.state, "SELECT updated FROM runs WHERE id = 1"),
            updated, "a refused resume changed the run");
    }

    /* With --yes it finishes the run. */
    fleet(&r, RO_RUN_TIMEOUT, "resume --yes --state %s", ctx.state);
    cr_expect_eq(r.status, 0, "exit %d\n%s\n%s", r.status, r.out, r.err);
    th_result_free(&r);
    st = run_status();
    cr_expect_str_eq(st ? st : "", "done");
    free(st);
    cr_expect_eq(count_events("npu027", "install driver"), 1);
    cr_expect_eq(count_events("npu028", "install driver"), 1);
}

RS_TEST(bare_resume_passes_by_a_run_a_live_rollout_holds)
{
    struct th_result r;
    char *out, *st;

    ro_setup(30, 31, "fresh");
    /* Run 1, on npu030, fails and stays unfinished. */
    ctl_set(30, "fault-install-fail", NULL);
    fleet(&r, RO_RUN_TIMEOUT,
          RO_ARGS " --yes --limit npu030 --max-fail 1 --settle 1", ctx.inv,
          ctx.state, packages(""));
    cr_assert_eq(r.status, 1, "exit %d\n%s\n%s", r.status, r.out, r.err);
    th_result_free(&r);
    cr_assert_eq(th_rack("fault npu030 clear fault-install-fail"), 0);
    /* Run 2, on npu031, is live (a slow driver install). */
    ctl_set(31, "install-seconds", "40");
    spawn_fleet(RO_ARGS " --yes --limit npu031 --settle 1", ctx.inv, ctx.state,
                packages(""));
    cr_assert(wait_sql_geq(1, 120,
                           "SELECT count(*) FROM node_steps WHERE run = 2 "
                           "AND node = 'npu031' AND step = 'driver' AND "
                           "status = 'running'"),
              "run 2 never started its driver:\n%s", (out = bg_output()));

    /* The newest unfinished run is busy: resume takes run 1. */
    fleet(&r, RO_RUN_TIMEOUT, "resume --yes --state %s", ctx.state);
    cr_expect_eq(r.status, 0, "exit %d\n%s\n%s", r.status, r.out, r.err);
    cr_expect(strstr(r.out, "Resuming run 1") != NULL, "%s\n%s", r.out, r.err);
    th_result_free(&r);
    st = sql_text(ctx.state, "SELECT status FROM runs WHERE id = 1");
    cr_expect_str_eq(st ? st : "", "done");
    free(st);

    /* Read-only commands work beside the live rollout. */
    fleet(&r, RO_SHORT_TIMEOUT, "status 2 --state %s", ctx.state);
    cr_expect(r.status != 3 && strstr(r.out, "npu031") != NULL,
              "status beside a holder: exit %d\n%s\n%s", r.status, r.out,
              r.err);
    th_result_free(&r);

    /* Now only the busy run is unfinished: exit 3, naming it. */
    fleet(&r, RO_SHORT_TIMEOUT, "resume --yes --state %s", ctx.state);
    cr_expect_eq(r.status, 3, "exit %d\n%s\n%s", r.status, r.out, r.err);
    cr_expect(strstr(r.err, "run 2 is busy") != NULL &&
                  strstr(r.err, "npu031") != NULL,
              "message:\n%s", r.err);
    th_result_free(&r);
    st = sql_text(ctx.state, "SELECT status FROM runs WHERE id = 2");
    cr_expect_str_eq(st ? st : "", "running", "run 2 was touched");
    free(st);
}

/* Point the test's inventory at a private copy of the rack's known_hosts
 * (written before the run, so the inventory itself never changes). */
static char *
private_known_hosts(void)
{
    char *kh = af_asprintf("%s/known_hosts", ctx.dir);
    char *rack = th_slurp(AF_RACK_DIR "/known_hosts", NULL);
    char *inv = th_slurp(ctx.inv, NULL), *p;
    char *from = af_asprintf("known_hosts: %s/known_hosts", AF_RACK_DIR);
    FILE *f;

    cr_assert_not_null(rack);
    cr_assert_not_null(inv);
    f = fopen(kh, "w");
    cr_assert_not_null(f);
    fputs(rack, f);
    cr_assert_eq(fclose(f), 0);
    p = strstr(inv, from);
    cr_assert_not_null(p, "inventory:\n%s", inv);
    f = fopen(ctx.inv, "w");
    cr_assert_not_null(f);
    fprintf(f, "%.*sknown_hosts: %s%s", (int)(p - inv), inv, kh,
            p + strlen(from));
    cr_assert_eq(fclose(f), 0);
    free(from);
    free(inv);
    free(rack);
    return kh;
}

/* Replace the line of addr in the known_hosts file kh with node's key. */
static void
trust_new_key(const char *kh, const char *node, const char *addr)
{
    char *old = th_slurp(kh, NULL), *line, *save = NULL;
    char *pubp =
        af_asprintf("%s/nodes/%s/ssh_host_ed25519_key.pub", AF_RACK_DIR, node);
    char *pub = th_slurp(pubp, NULL);
    FILE *f = fopen(kh, "w");
    size_t al = strlen(addr);

    cr_assert_not_null(old);
    cr_assert_not_null(pub);
    cr_assert_not_null(f);
    for (line = strtok_r(old, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save))
        if (!(strncmp(line, addr, al) == 0 && line[al] == ' '))
            fprintf(f, "%s\n", line);
    /* "type base64 comment": the comment is left out. */
    pub[strcspn(pub, "\n")] = '\0';
    if (strchr(pub, ' ') != NULL && strchr(strchr(pub, ' ') + 1, ' '))
        *strchr(strchr(pub, ' ') + 1, ' ') = '\0';
    fprintf(f, "%s %s\n", addr, pub);
    cr_assert_eq(fclose(f), 0);
    free(pub);
    free(pubp);
    free(old);
}

RS_TEST(resume_refuses_a_node_whose_host_key_changed_unless_forced)
{
    struct th_result r;
    const char *cp[] = {"cp", AF_RACK_DIR "/nodes/npu029/ssh_host_ed25519_key",
                        SAVED_KEY, NULL};
    char *kh, *addr, *key1, *key2, *st;

    ro_setup(29, 29, "fresh");
    kh = private_known_hosts();
    ctl_set(29, "fault-install-fail", NULL);
    fleet(&r, RO_RUN_TIMEOUT, RO_ARGS " --yes --max-fail 1 --settle 1", ctx.inv,
          ctx.state, packages(""));
    cr_assert_eq(r.status, 1, "exit %d\n%s\n%s", r.status, r.out, r.err);
    th_result_free(&r);
    cr_assert_eq(th_rack("fault npu029 clear fault-install-fail"), 0);
    key1 = sql_text(ctx.state, "SELECT host_key FROM run_nodes WHERE run = 1 "
                               "AND node = 'npu029'");
    addr = sql_text(ctx.state, "SELECT address FROM run_nodes WHERE run = 1 "
                               "AND node = 'npu029'");
    cr_assert(key1 != NULL && strncmp(key1, "SHA256:", 7) == 0,
              "recorded host key: %s", key1 ? key1 : "(none)");
    cr_assert_not_null(addr);
    cr_expect_eq(sql_int(ctx.state,
                         "SELECT count(*) FROM facts WHERE node = "
                         "'npu029' AND host_key = '%s' AND "
                         "address = '%s'",
                         key1, addr),
                 sql_int(ctx.state, "SELECT count(*) FROM facts WHERE node = "
                                    "'npu029'"),
                 "facts carry the node's identity");

    /* The machine behind npu029 changes; the operator trusts its key. */
    cr_assert_eq(th_run(&r, 10, cp), 0);
    cr_assert_eq(r.status, 0, "cannot save npu029's key: %s", r.err);
    th_result_free(&r);
    cr_assert_eq(th_rack("rekey npu029"), 0);
    trust_new_key(kh, "npu029", addr);

    fleet(&r, RO_RUN_TIMEOUT, "resume --yes --state %s", ctx.state);
    cr_expect_eq(r.status, 2, "exit %d\n%s\n%s", r.status, r.out, r.err);
    cr_expect(strstr(r.err, "npu029: host key ") != NULL &&
                  strstr(r.err, key1) != NULL &&
                  strstr(r.err, "--force") != NULL,
              "message:\n%s", r.err);
    th_result_free(&r);
    cr_expect_eq(count_events("npu029", "install driver"), 0,
                 "the driver was installed on the other machine");
    st = run_status();
    cr_expect_str_eq(st ? st : "", "failed", "the refused resume ran");
    free(st);

    /* --force: continues on the new machine and records its key. */
    fleet(&r, RO_RUN_TIMEOUT, "resume --yes --force --state %s", ctx.state);
    cr_expect_eq(r.status, 0, "exit %d\n%s\n%s", r.status, r.out, r.err);
    th_result_free(&r);
    key2 = sql_text(ctx.state, "SELECT host_key FROM run_nodes WHERE run = 1 "
                               "AND node = 'npu029'");
    cr_expect(key2 != NULL && strncmp(key2, "SHA256:", 7) == 0 &&
                  strcmp(key1, key2) != 0,
              "host key after --force: %s (was %s)", key2 ? key2 : "(none)",
              key1);
    st = run_status();
    cr_expect_str_eq(st ? st : "", "done");
    free(st);
    cr_expect_eq(count_events("npu029", "install driver"), 1);
    free(key2);
    free(key1);
    free(addr);
    free(kh);
}

/* resume over part of a failed run with stdout to a file: no crash, the
 * run stays unfinished, and the whole report is in the file. */
RS_TEST(resume_with_a_limit_keeps_its_output_when_stdout_is_a_file)
{
    struct th_result r;
    char *out, *cmd, *text, *st;
    const char *sh[] = {"sh", "-c", NULL, NULL};

    ro_setup(27, 28, "fresh");
    out = af_asprintf("%s/resume.out", ctx.dir);
    cr_assert_eq(th_rack("fault npu028 down"), 0);
    fleet(&r, RO_RUN_TIMEOUT,
          RO_ARGS " --yes --batch 2 --max-fail 1 --settle 1", ctx.inv,
          ctx.state, packages(""));
    cr_expect_eq(r.status, 1, "exit %d\n%s\n%s", r.status, r.out, r.err);
    th_result_free(&r);
    cmd = af_asprintf("exec %s resume --yes --state %s --limit '!npu028' "
                      ">%s",
                      AF_BIN, ctx.state, out);
    sh[2] = cmd;
    cr_assert_eq(th_run(&r, RO_RUN_TIMEOUT, sh), 0);
    cr_expect_eq(r.status, 1, "exit %d\n%s", r.status, r.err);
    cr_expect(strstr(r.err, "AddressSanitizer") == NULL &&
                  strstr(r.err, "runtime error") == NULL,
              "crashed:\n%s", r.err);
    th_result_free(&r);
    text = th_slurp(out, NULL);
    cr_expect(text != NULL && strstr(text, "Resuming run 1") != NULL &&
                  strstr(text, "Run 1 ") != NULL,
              "output file:\n%s", text ? text : "(none)");
    free(text);
    st = run_status();
    cr_expect(st != NULL && strcmp(st, "done") != 0, "run marked %s",
              st ? st : "(none)");
    free(st);
    cr_assert_eq(th_rack("fault npu028 up"), 0);
    free(cmd);
    free(out);
}

/* Empty the known_hosts file kh. */
static void
forget_keys(const char *kh)
{
    FILE *f = fopen(kh, "w");

    cr_assert_not_null(f);
    cr_assert_eq(fclose(f), 0);
}

/* --host-keys and --max-fail given to resume are applied and recorded,
 * and a later bare resume keeps them. */
RS_TEST(resume_applies_and_records_host_keys_and_max_fail)
{
    struct th_result r;
    char *kh, *v, *khtext;

    ro_setup(30, 30, "fresh");
    kh = private_known_hosts();
    forget_keys(kh);
    ctl_set(30, "fault-install-fail", NULL);
    fleet(&r, RO_RUN_TIMEOUT,
          RO_ARGS " --yes --max-fail 2 --settle 1 --host-keys accept-new",
          ctx.inv, ctx.state, packages(""));
    cr_assert_eq(r.status, 1, "exit %d\n%s\n%s", r.status, r.out, r.err);
    th_result_free(&r);
    cr_assert_eq(th_rack("fault npu030 clear fault-install-fail"), 0);
    forget_keys(kh);

    /* strict given: the now unknown key is refused, nothing recorded in
     * known_hosts, and the options are the run's from now on. */
    fleet(&r, RO_RUN_TIMEOUT,
          "resume --yes --state %s --host-keys strict --max-fail 1", ctx.state);
    cr_expect_eq(r.status, 1, "exit %d\n%s\n%s", r.status, r.out, r.err);
    cr_expect(strstr(r.out, "unknown host key") != NULL ||
                  strstr(r.err, "unknown host key") != NULL,
              "strict was not applied:\n%s\n%s", r.out, r.err);
    th_result_free(&r);
    khtext = th_slurp(kh, NULL);
    cr_expect_str_eq(khtext ? khtext : "", "", "strict wrote known_hosts");
    free(khtext);
    v = sql_text(ctx.state,
                 "SELECT json_extract(options, '$.host_keys') || ' ' || "
                 "json_extract(options, '$.max_fail') FROM runs WHERE id = 1");
    cr_expect_str_eq(v ? v : "", "strict 1", "options recorded: %s", v);
    free(v);
    v = sql_text(ctx.state, "SELECT cmdline FROM runs WHERE id = 1");
    cr_expect(v != NULL && strstr(v, "--host-keys strict") != NULL,
              "cmdline: %s", v ? v : "(none)");
    free(v);

    /* A bare resume keeps strict. */
    fleet(&r, RO_RUN_TIMEOUT, "resume --yes --state %s", ctx.state);
    cr_expect_eq(r.status, 1, "exit %d\n%s\n%s", r.status, r.out, r.err);
    th_result_free(&r);
    cr_expect_eq(count_events("npu030", "install driver"), 0);

    /* accept-new given: the key is recorded and the run finishes. */
    fleet(&r, RO_RUN_TIMEOUT, "resume --yes --state %s --host-keys accept-new",
          ctx.state);
    cr_expect_eq(r.status, 0, "exit %d\n%s\n%s", r.status, r.out, r.err);
    th_result_free(&r);
    khtext = th_slurp(kh, NULL);
    cr_expect(khtext != NULL && khtext[0] != '\0', "no key recorded");
    free(khtext);
    v = run_status();
    cr_expect_str_eq(v ? v : "", "done");
    free(v);
    cr_expect_eq(count_events("npu030", "install driver"), 1);
    free(kh);
}

/* SIGINT while facts are gathered (npu028 is mute: its handshake takes
 * until the handshake timeout): nothing starts, no run is recorded, exit
 * 130 once the facts are in. */
RS_TEST(sigint_while_facts_are_gathered_records_no_run)
{
    char *out;
    int rc;

    ro_setup(27, 28, "fresh");
    cr_assert_eq(th_rack("fault npu028 mute"), 0);
    spawn_fleet(RO_ARGS " --yes --max-fail 2 --settle 1", ctx.inv, ctx.state,
                packages(""));
    sleep_ms(1500);
    cr_assert_eq(kill(ctx.bg, SIGINT), 0);
    rc = wait_bg(120);
    out = bg_output();
    cr_expect_eq(rc, 130, "exit %d:\n%s", rc, out);
    cr_expect(strstr(out, "stopping once the facts are in") != NULL, "%s", out);
    cr_expect(strstr(out, "nothing was recorded") != NULL, "%s", out);
    cr_expect(strstr(out, "Plan") == NULL, "planned after SIGINT:\n%s", out);
    free(out);
    cr_expect_eq(sql_int(ctx.state, "SELECT count(*) FROM runs"), 0,
                 "a run was recorded");
    cr_expect_eq(count_events("npu027", "install"), 0);
    cr_assert_eq(th_rack("fault npu028 up"), 0);
}

/* SIGINT once the first batch is done: the second batch never starts,
 * the run is interrupted, and resume installs and reboots each node
 * once. */
RS_TEST(sigint_after_the_first_batch_then_resume_installs_each_node_once)
{
    struct th_result r;
    char *out, *st;
    int rc;

    ro_setup(31, 32, "fresh");
    ctl_set(32, "install-seconds", "3");
    spawn_fleet(RO_ARGS " --yes --batch 1 --settle 1", ctx.inv, ctx.state,
                packages(""));
    cr_assert(
        wait_sql_geq(1, 180,
                     "SELECT count(*) FROM run_nodes WHERE run = " LAST_RUN
                     " AND status = 'done'"),
        "no node finished:\n%s", (out = bg_output()));
    cr_assert_eq(kill(ctx.bg, SIGINT), 0);
    rc = wait_bg(90);
    out = bg_output();
    cr_expect_eq(rc, 130, "exit %d:\n%s", rc, out);
    cr_expect(strstr(out, "ascend-fleet resume") != NULL, "%s", out);
    free(out);
    st = run_status();
    cr_expect_str_eq(st ? st : "", "interrupted");
    free(st);
    fleet(&r, RO_RUN_TIMEOUT, "resume --yes --state %s", ctx.state);
    cr_expect_eq(r.status, 0, "resume: exit %d\n%s\n%s", r.status, r.out,
                 r.err);
    th_result_free(&r);
    st = run_status();
    cr_expect_str_eq(st ? st : "", "done");
    free(st);
    expect_npu_done_once();
}
