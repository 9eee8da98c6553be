/* SPDX-License-Identifier: MIT */
/*
 * The defaults file through the binary: runs and status find the state
 * file named in it, the operator's file wins over the system one, --state
 * wins over both, and a bad file stops every command with exit 2 and
 * FILE:LINE:COL. AF_SYSCONFDIR, HOME and XDG_CONFIG_HOME point into the
 * test's own directory, so the real /etc and ~ are never read. No node of
 * the rack is used.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "af-err.h"
#include "af-mem.h"
#include "harness.h"
#include "st.h"

static char dir[] = "/tmp/af-test-defaults-XXXXXX";

static char *
at(const char *rel)
{
    return af_asprintf("%s/%s", dir, rel);
}

static void
setup(void)
{
    static const char *const sub[] = {"etc", "home", "xdg", "xdg/ascend-fleet"};
    size_t i;
    char *p;

    cr_assert_not_null(mkdtemp(dir));
    for (i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
        p = at(sub[i]);
        cr_assert_eq(mkdir(p, 0755), 0, "%s: %s", p, strerror(errno));
        free(p);
    }
    p = at("etc");
    setenv("AF_SYSCONFDIR", p, 1);
    free(p);
    p = at("home");
    setenv("HOME", p, 1);
    free(p);
    p = at("xdg");
    setenv("XDG_CONFIG_HOME", p, 1);
    free(p);
}

static void
teardown(void)
{
    char *cmd = af_asprintf("rm -rf '%s'", dir);

    if (system(cmd) != 0) {
        /* best effort */
    }
    free(cmd);
}

TestSuite(defaults_file, .init = setup, .fini = teardown, .timeout = 120);

static void
put(const char *rel, const char *text)
{
    char *p = at(rel);
    FILE *f = fopen(p, "w");

    cr_assert_not_null(f, "%s: %s", p, strerror(errno));
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
    free(p);
}

/* A state file at dir/rel holding one interrupted run of command. */
static char *
make_state(const char *rel, const char *command)
{
    struct af_err e = {0};
    struct st *st = NULL;
    int64_t run = 0;
    char *db = at(rel);

    cr_assert_eq(st_open(db, &st, &e), 0, "%s", e.msg);
    cr_assert_eq(st_run_create(st, command, "driver", NULL, &run, &e), 0);
    cr_assert_eq(
        st_run_set_status(st, run, ST_RUN_INTERRUPTED, "by SIGINT", &e), 0);
    st_close(st);
    return db;
}

/* Run the binary with up to three arguments (NULL-ended). */
static void
fleet(struct th_result *r, const char *a, const char *b, const char *c)
{
    const char *argv[] = {AF_BIN, a, b, c, NULL};

    cr_assert_eq(th_run(r, 60, argv), 0);
}

Test(defaults_file, runs_and_status_use_the_state_file_it_names)
{
    struct th_result r;
    char *db = make_state("sys.db", "rollout from-system-file");
    char *text = af_asprintf("# site defaults\nfanout: 32\nstate: %s\n", db);

    put("etc/config.yaml", text);
    fleet(&r, "runs", NULL, NULL);
    cr_expect_eq(r.status, 0, "runs exited %d: %s", r.status, r.err);
    cr_expect_not_null(strstr(r.out, "from-system-file"), "runs:\n%s", r.out);
    th_result_free(&r);
    fleet(&r, "status", "1", NULL);
    /* 1: the run did not succeed (2 would be a missing state file). */
    cr_expect_eq(r.status, 1, "status exited %d: %s", r.status, r.err);
    cr_expect_not_null(strstr(r.out, "interrupted"), "status:\n%s", r.out);
    th_result_free(&r);
    free(text);
    free(db);
}

Test(defaults_file, operators_file_then_state_option_win)
{
    struct th_result r;
    char *sys = make_state("sys.db", "rollout from-system-file");
    char *user = make_state("user.db", "rollout from-user-file");
    char *cli = make_state("cli.db", "rollout from-command-line");
    char *text = af_asprintf("state: %s\n", sys);

    put("etc/config.yaml", text);
    free(text);
    put("xdg/ascend-fleet/config.yaml", "state: ~/../user.db\n");
    fleet(&r, "runs", NULL, NULL);
    cr_expect_eq(r.status, 0, "runs exited %d: %s", r.status, r.err);
    cr_expect_not_null(strstr(r.out, "from-user-file"), "runs:\n%s", r.out);
    cr_expect_null(strstr(r.out, "from-system-file"), "runs:\n%s", r.out);
    th_result_free(&r);
    fleet(&r, "runs", "--state", cli);
    cr_expect_eq(r.status, 0, "runs exited %d: %s", r.status, r.err);
    cr_expect_not_null(strstr(r.out, "from-command-line"), "runs:\n%s", r.out);
    cr_expect_null(strstr(r.out, "from-user-file"), "runs:\n%s", r.out);
    th_result_free(&r);
    free(sys);
    free(user);
    free(cli);
}

Test(defaults_file, a_bad_file_exits_2_with_file_line_col)
{
    static const char *const cmds[][2] = {
        {"runs", NULL},         {"status", NULL},    {"rollout", "--plan"},
        {"inventory", "check"}, {"ranktable", NULL}, {"facts", NULL},
    };
    struct th_result r;
    char *path = at("xdg/ascend-fleet/config.yaml");
    char *want = af_asprintf("ascend-fleet: %s:3:1: unknown key 'stat' "
                             "(known: fanout, state, host_keys, ssh_config, "
                             "inventory)\n",
                             path);
    size_t i;

    put("etc/config.yaml", "fanout: 8\n");
    put("xdg/ascend-fleet/config.yaml", "fanout: 8\n\nstat: x.db\n");
    for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        fleet(&r, cmds[i][0], cmds[i][1], NULL);
        cr_expect_eq(r.status, 2, "%s exited %d", cmds[i][0], r.status);
        cr_expect_str_eq(r.err, want, "%s", cmds[i][0]);
        cr_expect_str_empty(r.out, "%s", cmds[i][0]);
        th_result_free(&r);
    }
    /* A bad value in the system file is found the same way. */
    put("etc/config.yaml", "fanout: 8\nhost_keys: maybe\n");
    fleet(&r, "runs", NULL, NULL);
    free(want);
    free(path);
    path = at("etc/config.yaml");
    want = af_asprintf("ascend-fleet: %s:2:12: 'host_keys' is strict or "
                       "accept-new, not 'maybe'\n",
                       path);
    cr_expect_eq(r.status, 2, "runs exited %d", r.status);
    cr_expect_str_eq(r.err, want);
    th_result_free(&r);
    free(want);
    free(path);
}

Test(defaults_file, help_works_with_a_bad_file)
{
    static const char *const cmds[] = {"runs", "status", "rollout",   "resume",
                                       "exec", "facts",  "ranktable", "stage"};
    struct th_result r;
    size_t i;

    put("xdg/ascend-fleet/config.yaml", "fanout: [\n");
    for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        fleet(&r, cmds[i], "--help", NULL);
        cr_expect_eq(r.status, 0, "%s --help exited %d: %s", cmds[i], r.status,
                     r.err);
        cr_expect(strstr(r.out, "usage: ascend-fleet") != NULL, "%s: no help",
                  cmds[i]);
        th_result_free(&r);
    }
    /* The bad file is still told once the command would run. */
    fleet(&r, "runs", NULL, NULL);
    cr_expect_eq(r.status, 2);
    cr_expect(strstr(r.err, "config.yaml:") != NULL, "%s", r.err);
    th_result_free(&r);
}
