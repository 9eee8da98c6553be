/* SPDX-License-Identifier: MIT */
/*
 * The shell scripts of the shipped playbook (playbooks/ascend.yaml) run on
 * a node of the shared simulated rack exactly as the rollout runs them
 * (["/bin/sh", "-c", SCRIPT, "sh", ARG...], values as arguments): the CANN
 * te/hccl wheels are found in latest/lib64 (CANN >= 7) or in
 * latest/fwkacllib/lib64, and the line written to
 * /etc/profile.d/ascend-fleet.sh quotes the install path so that nothing
 * in it runs at login. Uses npu046 and resets it to fresh.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "af-err.h"
#include "af-mem.h"
#include "harness.h"
#include "pb.h"

#define RACK_SH  AF_SOURCE_DIR "/tests/rack/rack.sh"
#define PLAYBOOK AF_SOURCE_DIR "/playbooks/ascend.yaml"
#define NODE     "npu046"

static void
reset_node(void)
{
    th_rack("reset " NODE " --state fresh");
}

/* The -c script of a shipped step (caller frees). */
static char *
step_script(const char *name)
{
    struct pb *pb = NULL;
    struct af_err e;
    const struct pb_step *s;
    char *const *argv;
    char *script;
    size_t n = 0;

    cr_assert_eq(pb_load(PLAYBOOK, &pb, &e), 0, "%s", e.msg);
    s = pb_step_find(pb, name);
    cr_assert_not_null(s, "no step %s", name);
    argv = pb_step_argv(s, 0, &n);
    cr_assert(n >= 3 && strcmp(argv[0], "/bin/sh") == 0 &&
                  strcmp(argv[1], "-c") == 0,
              "%s is not a /bin/sh -c step", name);
    script = af_strdup(argv[2]);
    pb_free(pb);
    return script;
}

/* Run argv (NULL-terminated, after "sh -c") on the node; returns the exit
 * status, r keeps the output. */
static int
node_run(struct th_result *r, const char *const *args)
{
    const char *argv[16] = {RACK_SH, "exec", "--dir", AF_RACK_DIR, NODE, "--"};
    size_t n = 6;

    for (; *args != NULL && n < 15; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    cr_assert_eq(th_run(r, 120, argv), 0);
    return r->status;
}

static void
node_ok(const char *script, const char *arg)
{
    const char *args[] = {"sh", "-c", script, "sh", arg, NULL};
    struct th_result r;

    cr_assert_eq(node_run(&r, args), 0, "'%s' failed: %s", script, r.err);
    th_result_free(&r);
}

/* cann_wheels with install path inst and a python that logs its argv. */
static void
wheels_found_in(const char *inst, const char *dir)
{
    char *script = step_script("cann_wheels"), *log;
    const char *args[] = {"sh", "-c", script, "sh", inst, "/root/py", NULL};
    struct th_result r;
    char *want;

    node_ok("printf '#!/bin/sh\\necho \"$*\" >> /root/py.log\\n' > /root/py "
            "&& chmod 755 /root/py && rm -f /root/py.log",
            "");
    node_ok("mkdir -p \"$1\" && touch \"$1/te-0.4.0-py3-none-any.whl\" "
            "\"$1/hccl-0.1.0-py3-none-any.whl\"",
            dir);
    cr_expect_eq(node_run(&r, args), 0, "wheels step failed: %s", r.err);
    th_result_free(&r);
    log = th_node_file(NODE, "/root/py.log");
    cr_assert_not_null(log, "pip was not run");
    want = af_asprintf("--force-reinstall %s/te-0.4.0-py3-none-any.whl\n", dir);
    cr_expect_not_null(strstr(log, want), "pip log: %s", log);
    free(want);
    want =
        af_asprintf("--force-reinstall %s/hccl-0.1.0-py3-none-any.whl\n", dir);
    cr_expect_not_null(strstr(log, want), "pip log: %s", log);
    free(want);
    free(log);
    free(script);
}

Test(node_scripts,
     cann_wheels_in_lib64_of_cann_7,
     .timeout = 200,
     .fini = reset_node)
{
    wheels_found_in("/opt/c7", "/opt/c7/ascend-toolkit/latest/lib64");
}

Test(node_scripts,
     cann_wheels_in_fwkacllib_lib64_of_older_cann,
     .timeout = 200,
     .fini = reset_node)
{
    wheels_found_in("/opt/c6", "/opt/c6/ascend-toolkit/latest/fwkacllib/lib64");
}

Test(node_scripts,
     missing_wheels_name_both_places,
     .timeout = 200,
     .fini = reset_node)
{
    char *script = step_script("cann_wheels");
    const char *args[] = {"sh",        "-c",        script, "sh",
                          "/opt/none", "/bin/true", NULL};
    struct th_result r;

    cr_expect_eq(node_run(&r, args), 1);
    cr_expect_not_null(strstr(r.err, "missing wheel: te-*-py3-none-any.whl "
                                     "in /opt/none/ascend-toolkit/latest/"
                                     "lib64 or /opt/none/ascend-toolkit/"
                                     "latest/fwkacllib/lib64"),
                       "%s", r.err);
    th_result_free(&r);
    free(script);
}

/* The profile line quotes the path: a login shell sources the file of an
 * odd path and runs nothing from it. */
Test(node_scripts,
     profile_line_is_quoted_and_runs_nothing_at_login,
     .timeout = 200,
     .fini = reset_node)
{
    static const char odd[] = "/opt/it's $(touch /root/pwned) `touch "
                              "/root/pwned2`;x";
    char *script = step_script("cann_env"), *env, *prof;
    const char *login[] = {"bash", "-lc", "echo ASCEND=$ASCEND_OK", NULL};
    struct th_result r;

    cr_assert_eq(th_rack("reset " NODE " --state fresh"), 0);
    env = af_asprintf("%s/ascend-toolkit", odd);
    node_ok("mkdir -p \"$1\" && echo 'export ASCEND_OK=yes' > "
            "\"$1/set_env.sh\"",
            env);
    node_ok(script, odd);
    node_ok(script, odd); /* idempotent: the line is added once */
    prof = th_node_file(NODE, "/etc/profile.d/ascend-fleet.sh");
    cr_assert_not_null(prof);
    cr_expect_str_eq(prof, ". '/opt/it'\\''s $(touch /root/pwned) `touch "
                           "/root/pwned2`;x/ascend-toolkit/set_env.sh'\n");
    cr_expect_eq(node_run(&r, login), 0, "login shell: %s", r.err);
    cr_expect_not_null(strstr(r.out, "ASCEND=yes\n"), "%s", r.out);
    th_result_free(&r);
    {
        char *p1 = th_node_file(NODE, "/root/pwned");
        char *p2 = th_node_file(NODE, "/root/pwned2");

        cr_expect_null(p1, "$(...) ran at login");
        cr_expect_null(p2, "`...` ran at login");
        free(p1);
        free(p2);
    }
    free(prof);
    free(env);
    free(script);
}
