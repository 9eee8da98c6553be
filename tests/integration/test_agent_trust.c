/* SPDX-License-Identifier: MIT */
/*
 * Integration tests of odd and hostile nodes as the agent client sees them,
 * on the shared simulated rack: an agent that answers garbage (a malformed
 * body, a raw NUL, 8 MiB without '=', implausible facts) fails only its
 * node with a clear reason and every run still ends; a login shell that
 * prints a banner does not stop the agent; a node whose agent directory
 * another user could write is refused; the probe checks the agent's hash
 * before running it.
 *
 * A hostile agent is planted in the node's /root/.bashrc (bash reads it
 * for the commands sshd runs): for any command that would start the agent
 * it runs /root/fake-agent.sh instead, which greets correctly and then
 * answers the first request as /root/fake-mode says. Uses npu044..npu046
 * and resets every node it touches back to fresh.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "af-mem.h"
#include "af-sha256.h"
#include "harness.h"

#define RACK_SH     AF_SOURCE_DIR "/tests/rack/rack.sh"
#define AGENT_X86   AF_BINARY_DIR "/agent/ascend-fleet-agent-x86_64"
#define AGENT_DIR   "/var/lib/ascend-fleet/agent"
#define AGENT_NAME  "ascend-fleet-agent"
#define RUN_TIMEOUT 180

/* ------------------------------------------------------------ helpers */

static void
agent_sha(char hex[65])
{
    size_t n;
    char *data = th_slurp(AGENT_X86, &n);

    cr_assert_not_null(data, "cannot read %s", AGENT_X86);
    af_sha256_hex(data, n, hex);
    free(data);
}

/* Run a shell script inside node, $1 = arg; fails the test unless it
 * exits 0. */
static void
node_sh(const char *node, const char *script, const char *arg)
{
    const char *argv[] = {RACK_SH, "exec", "--dir", AF_RACK_DIR, node, "--",
                          "sh",    "-c",   script,  "sh",        arg,  NULL};
    struct th_result r;

    cr_assert_eq(th_run(&r, 60, argv), 0);
    cr_assert_eq(r.status, 0, "on %s: '%s' exited %d: %s", node, script,
                 r.status, r.err);
    th_result_free(&r);
}

static char *
state_dir(void)
{
    char tmpl[] = "/tmp/af-test-trust-XXXXXX";

    cr_assert_not_null(mkdtemp(tmpl));
    return af_strdup(tmpl);
}

static void
remove_tree(char *dir)
{
    const char *argv[] = {"rm", "-rf", dir, NULL};
    struct th_result r;

    if (th_run(&r, 30, argv) == 0)
        th_result_free(&r);
    free(dir);
}

static void
reset_nodes(void)
{
    th_rack("reset npu044 npu045 npu046 --state fresh");
}

/* ascend-fleet facts on limit with a state file in dir. */
static void
facts(struct th_result *r, const char *dir, const char *limit)
{
    cr_assert_eq(th_fleet(r, RUN_TIMEOUT,
                          "facts --state %s/state.db --limit %s", dir, limit),
                 0);
    cr_assert(!r->timed_out, "facts did not end within %d s:\n%s\n%s",
              RUN_TIMEOUT, r->out, r->err);
}

/*
 * The hostile agent: greets as this build's agent, answers the first
 * request as /root/fake-mode says, then reads on without answering.
 */
static const char fake_agent[] =
    "echo \"AFAGENT 1 0.0.0 x86_64 $(cat /root/fake-sha)\"\n"
    "IFS= read -r req || exit 0\n"
    "case $(cat /root/fake-mode) in\n"
    "hello) printf 'AFP ok 6\\nhello\\n' ;;\n"
    "nul) printf 'AFP ok 5\\na=\\000b\\n' ;;\n"
    "big) printf 'AFP ok 8388608\\n'; head -c 8388608 /dev/zero | tr "
    "'\\000' x ;;\n"
    "many) printf 'AFP ok 8388606\\n'; yes a= | head -c 8388606 ;;\n"
    "npus) printf 'AFP ok 21\\nnpu_count=2000000000\\n' ;;\n"
    "esac\n"
    "exec cat >/dev/null\n";

/* Plant the hostile agent on node, answering in mode. */
static void
plant_fake_agent(const char *node, const char *mode)
{
    char sha[65];
    char *script;

    agent_sha(sha);
    node_sh(node, "printf '%s' \"$1\" > /root/fake-agent.sh", fake_agent);
    node_sh(node, "printf '%s\\n' \"$1\" > /root/fake-sha", sha);
    node_sh(node, "printf '%s\\n' \"$1\" > /root/fake-mode", mode);
    script = af_asprintf(
        "{ printf '%%s\\n' 'case \"$BASH_EXECUTION_STRING\" in *%s*) exec "
        "/bin/sh /root/fake-agent.sh ;; esac'; cat /root/.bashrc; } > "
        "/root/.bashrc.new && mv /root/.bashrc.new /root/.bashrc",
        "\"$1\"");
    node_sh(node, script, AGENT_NAME);
    free(script);
}

/* ------------------------------------------------------------- tests */

/* facts on npu044 (hostile, in mode) and npu045: npu044 fails with why,
 * npu045 answers, its stored facts survive, and the run ends. */
static void
garbage_fails_only_its_node(const char *mode, const char *why)
{
    char *dir = state_dir();
    struct th_result r;

    cr_assert_eq(th_rack("reset npu044 npu045 --state fresh"), 0);
    facts(&r, dir, "npu[044-045]");
    cr_assert_eq(r.status, 0, "exit %d, stderr: %s", r.status, r.err);
    th_result_free(&r);

    plant_fake_agent("npu044", mode);
    facts(&r, dir, "npu[044-045]");
    cr_expect_eq(r.status, 1, "exit %d\n%s\nstderr: %s", r.status, r.out,
                 r.err);
    cr_expect_not_null(strstr(r.out, "1 nodes answered"), "output:\n%s", r.out);
    cr_expect_not_null(strstr(r.out, "1 failed: npu044"), "output:\n%s", r.out);
    cr_expect_not_null(strstr(r.err, "npu044"), "stderr: %s", r.err);
    cr_expect_not_null(strstr(r.err, why), "stderr does not say '%s': %s", why,
                       r.err);
    cr_expect_null(strstr(r.err, "npu045"), "stderr: %s", r.err);
    th_result_free(&r);

    /* The facts stored before are kept, not wiped by an empty set. */
    {
        char *q = af_asprintf("%s/state.db", dir);
        const char *argv[] = {"sqlite3", q,
                              "select value from facts where node='npu044' "
                              "and key='hostname'",
                              NULL};

        cr_assert_eq(th_run(&r, 30, argv), 0);
        cr_expect_str_eq(r.out, "npu044\n", "stored facts of npu044: '%s'",
                         r.out);
        th_result_free(&r);
        free(q);
    }
    remove_tree(dir);
}

Test(trust,
     malformed_answer_fails_its_node_with_a_reason,
     .timeout = 400,
     .fini = reset_nodes)
{
    garbage_fails_only_its_node("hello", "malformed answer to 'facts'");
}

Test(trust,
     raw_nul_in_an_answer_fails_its_node,
     .timeout = 400,
     .fini = reset_nodes)
{
    garbage_fails_only_its_node("nul", "NUL byte");
}

Test(trust,
     eight_mib_answer_without_equals_fails_its_node,
     .timeout = 400,
     .fini = reset_nodes)
{
    garbage_fails_only_its_node("big", "npu044");
}

/* A rollout with a node whose agent answers garbage ends (today it hangs
 * with the node running): that node fails with the reason, which exceeds
 * the default failure budget of 0, so the run stops with exit 4. */
Test(trust,
     rollout_with_a_garbage_agent_ends_and_fails_that_node,
     .timeout = 400,
     .fini = reset_nodes)
{
    char *dir = state_dir();
    struct th_result r;

    cr_assert_eq(th_rack("reset npu044 npu045 --state fresh"), 0);
    plant_fake_agent("npu044", "hello");
    cr_assert_eq(th_fleet(&r, RUN_TIMEOUT,
                          "rollout --state %s/state.db --packages %s "
                          "--stage prereq --yes --limit npu[044-045]",
                          dir, dir),
                 0);
    cr_assert(!r.timed_out, "rollout did not end within %d s:\n%s\n%s",
              RUN_TIMEOUT, r.out, r.err);
    cr_expect_eq(r.status, 4, "exit %d\n%s\nstderr: %s", r.status, r.out,
                 r.err);
    cr_expect_not_null(strstr(r.out, "unreachable: npu044"), "output:\n%s",
                       r.out);
    cr_expect(strstr(r.out, "malformed answer") != NULL ||
                  strstr(r.err, "malformed answer") != NULL,
              "no reason given:\n%s\nstderr: %s", r.out, r.err);
    th_result_free(&r);
    remove_tree(dir);
}

Test(trust,
     two_billion_npus_are_implausible_facts,
     .timeout = 400,
     .fini = reset_nodes)
{
    garbage_fails_only_its_node("npus", "implausible facts: npu_count");
}

/* 8 MiB of "a=\n" lines as facts: refused from the header on, and the
 * whole run stays small (it cost 455 MB before the bounds). */
Test(trust,
     eight_mib_of_empty_facts_is_refused_cheaply,
     .timeout = 400,
     .fini = reset_nodes)
{
    struct rusage ru;

    garbage_fails_only_its_node("many", "implausible facts: an answer of");
    cr_assert_eq(getrusage(RUSAGE_CHILDREN, &ru), 0);
    cr_expect_lt(ru.ru_maxrss, 160 * 1024, "a child peaked at %ld KiB",
                 ru.ru_maxrss);
}

/* Prepend script to node's /root/.bashrc (read for sshd's commands). */
static void
bashrc_prepend(const char *node, const char *script)
{
    node_sh(node,
            "{ printf '%s\\n' \"$1\"; cat /root/.bashrc; } > /root/.bashrc.new "
            "&& mv /root/.bashrc.new /root/.bashrc",
            script);
}

/* A login banner of ~60 KiB (lines, then text without a newline) before
 * the greeting: the agent still serves, exec output is as ssh gives it. */
Test(trust,
     noisy_bashrc_does_not_stop_the_agent,
     .timeout = 400,
     .fini = reset_nodes)
{
    char *dir = state_dir();
    struct th_result r;

    cr_assert_eq(th_rack("reset npu044 npu045 --state fresh"), 0);
    bashrc_prepend("npu044", "echo 'Welcome to npu044'; "
                             "seq 1 3500 | sed 's/^/banner line /'; "
                             "printf 'no newline here'");
    bashrc_prepend("npu045", "echo 'Authorized use only' >&2");
    facts(&r, dir, "npu[044-045]");
    cr_expect_eq(r.status, 0, "exit %d\n%s\nstderr: %s", r.status, r.out,
                 r.err);
    cr_expect_not_null(strstr(r.out, "2 nodes answered (agent pushed to 2)"),
                       "output:\n%s\nstderr: %s", r.out, r.err);
    th_result_free(&r);
    /* Again, with the agent in place (the probe execs it at once). */
    facts(&r, dir, "npu[044-045]");
    cr_expect_eq(r.status, 0, "exit %d\n%s\nstderr: %s", r.status, r.out,
                 r.err);
    cr_expect_not_null(strstr(r.out, "2 nodes answered (agent pushed to 0)"),
                       "output:\n%s\nstderr: %s", r.out, r.err);
    th_result_free(&r);

    cr_assert_eq(th_fleet(&r, RUN_TIMEOUT,
                          "exec --limit npu044 -- echo from-the-command"),
                 0);
    cr_expect_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_expect_not_null(strstr(r.out, "Welcome to npu044\n"), "%s", r.out);
    cr_expect_not_null(strstr(r.out, "no newline herefrom-the-command\n"), "%s",
                       r.out);
    th_result_free(&r);
    remove_tree(dir);
}

/* More than 64 KiB of noise: a clear error for that node only. */
Test(trust,
     endless_login_noise_is_a_clear_error,
     .timeout = 400,
     .fini = reset_nodes)
{
    char *dir = state_dir();
    struct th_result r;

    cr_assert_eq(th_rack("reset npu044 npu045 --state fresh"), 0);
    bashrc_prepend("npu044", "seq 1 20000");
    facts(&r, dir, "npu[044-045]");
    cr_expect_eq(r.status, 1, "exit %d\n%s\nstderr: %s", r.status, r.out,
                 r.err);
    cr_expect_not_null(strstr(r.out, "1 failed: npu044"), "output:\n%s", r.out);
    cr_expect_not_null(strstr(r.err, "npu044: agent did not greet (more "
                                     "than 64 KiB of other output first"),
                       "stderr: %s", r.err);
    th_result_free(&r);
    remove_tree(dir);
}

/*
 * A script in place of the agent copy on node (its path as the probe
 * computes it) that leaves /root/ran-fake-agent behind and greets as this
 * build's agent; then mode_script runs with $1 = the copy's path.
 */
static void
plant_copy(const char *node, const char *mode_script)
{
    char sha[65];
    char *path, *script;

    agent_sha(sha);
    path = af_asprintf("%s/%s/%s", AGENT_DIR, sha, AGENT_NAME);
    script = af_asprintf(
        "umask 077 && mkdir -p \"${1%%/*}\" && chmod 700 \"${1%%/*}\" && "
        "printf '#!/bin/sh\\ntouch /root/ran-fake-agent\\n"
        "echo \"AFAGENT 1 0.0.0 x86_64 %s\"\\nexec cat >/dev/null\\n' > "
        "\"$1\" && chmod 700 \"$1\"",
        sha);
    node_sh(node, script, path);
    node_sh(node, mode_script, path);
    free(script);
    free(path);
}

static int
fake_copy_ran(const char *node)
{
    char *f = th_node_file(node, "/root/ran-fake-agent");

    free(f);
    return f != NULL;
}

/* StrictModes: a copy another user could have swapped is never run. */
static void
unsafe_node_is_refused(const char *mode_script, const char *unsafe)
{
    char *dir = state_dir();
    struct th_result r;

    cr_assert_eq(th_rack("reset npu044 npu045 --state fresh"), 0);
    plant_copy("npu044", mode_script);
    facts(&r, dir, "npu[044-045]");
    cr_expect_eq(r.status, 1, "exit %d\n%s\nstderr: %s", r.status, r.out,
                 r.err);
    cr_expect_not_null(strstr(r.out, "1 failed: npu044"), "output:\n%s", r.out);
    cr_expect_not_null(strstr(r.err, "npu044: refusing the node: unsafe "),
                       "stderr: %s", r.err);
    cr_expect_not_null(strstr(r.err, unsafe), "stderr: %s", r.err);
    cr_expect_not(fake_copy_ran("npu044"), "the unsafe copy was run");
    th_result_free(&r);
    remove_tree(dir);
}

Test(trust,
     group_writable_agent_dir_refuses_the_node,
     .timeout = 400,
     .fini = reset_nodes)
{
    unsafe_node_is_refused("chmod 777 \"${1%/*}\"", AGENT_DIR "/");
}

Test(trust,
     agent_copy_of_another_user_refuses_the_node,
     .timeout = 400,
     .fini = reset_nodes)
{
    unsafe_node_is_refused("chown 1000 \"$1\"", "/" AGENT_NAME " (another");
}

Test(trust,
     world_writable_node_dir_refuses_the_node,
     .timeout = 400,
     .fini = reset_nodes)
{
    unsafe_node_is_refused("chmod 1777 /var/lib/ascend-fleet",
                           "/var/lib/ascend-fleet (another");
}

/* The probe checks the copy's hash before it runs it: a wrong copy, even
 * one that greets with the right hash, is replaced without running. */
Test(trust,
     agent_copy_is_hash_checked_before_it_runs,
     .timeout = 400,
     .fini = reset_nodes)
{
    char *dir = state_dir();
    struct th_result r;

    cr_assert_eq(th_rack("reset npu044 npu045 --state fresh"), 0);
    plant_copy("npu044", "true");
    facts(&r, dir, "npu[044-045]");
    cr_expect_eq(r.status, 0, "exit %d\n%s\nstderr: %s", r.status, r.out,
                 r.err);
    cr_expect_not_null(strstr(r.out, "2 nodes answered (agent pushed to 2)"),
                       "output:\n%s", r.out);
    cr_expect_not(fake_copy_ran("npu044"), "the wrong copy was run");
    th_result_free(&r);

    /* Everything the push created on the fresh npu045 is the login user's
     * alone (0700/0600, owned by root here). */
    {
        const char *argv[] = {
            RACK_SH,  "exec", "--dir", AF_RACK_DIR,
            "npu045", "--",   "find",  "/var/lib/ascend-fleet",
            "-perm",  "/077", "-o",    "!",
            "-user",  "0",    NULL};

        cr_assert_eq(th_run(&r, 60, argv), 0);
        cr_expect_eq(r.status, 0, "%s", r.err);
        cr_expect_str_eq(r.out, "", "not 0700/0600: %s", r.out);
        th_result_free(&r);
    }
    remove_tree(dir);
}
