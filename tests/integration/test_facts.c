/* SPDX-License-Identifier: MIT */
/*
 * Integration tests of `ascend-fleet facts` against the shared simulated
 * rack: the agent is pushed to a fresh node once and reused after, a
 * damaged agent copy is replaced, an agent of another protocol version is a
 * clear per-node error, the node states (fresh, driver installed, loaded or
 * not, full stack) and an unhealthy chip show in the folded summary, --json
 * gives per-node records, and the facts land in the SQLite state file.
 * Uses npu051..npu057 and resets every node it touches back to fresh.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "af-mem.h"
#include "af-proto.h"
#include "af-sha256.h"
#include "harness.h"
#include "tjson.h"

#define RACK_SH       AF_SOURCE_DIR "/tests/rack/rack.sh"
#define AGENT_X86     AF_BINARY_DIR "/agent/ascend-fleet-agent-x86_64"
#define AGENT_DIR     "/var/lib/ascend-fleet/agent"
#define AGENT_NAME    "ascend-fleet-agent"
#define FACTS_TIMEOUT 120

/* ------------------------------------------------------------ helpers */

/* SHA-256 (hex) of a host file; "" if it cannot be read. */
static void
file_sha(const char *path, char hex[65])
{
    size_t n;
    char *data = th_slurp(path, &n);

    hex[0] = '\0';
    if (data != NULL)
        af_sha256_hex(data, n, hex);
    free(data);
}

/* The hash (and so the directory name) of the x86_64 agent this build
 * carries. */
static void
agent_sha(char hex[65])
{
    file_sha(AGENT_X86, hex);
    cr_assert_eq(strlen(hex), 64, "cannot read %s", AGENT_X86);
}

/* Host path of the agent copy on node (caller frees). */
static char *
agent_copy_path(const char *node)
{
    char sha[65];

    agent_sha(sha);
    return af_asprintf("%s/nodes/%s/upper%s/%s/%s", AF_RACK_DIR, node,
                       AGENT_DIR, sha, AGENT_NAME);
}

/* Run argv (a rack.sh exec of script on node); fails the test unless it
 * exits 0. */
static void
node_sh_argv(const char *node, const char *script, const char *const *argv)
{
    struct th_result r;

    cr_assert_eq(th_run(&r, 60, argv), 0);
    cr_assert_eq(r.status, 0, "on %s: '%s' exited %d: %s", node, script,
                 r.status, r.err);
    th_result_free(&r);
}

/* Run a shell script inside node (rack.sh exec); fails the test unless it
 * exits 0. */
static void
node_sh(const char *node, const char *script)
{
    const char *argv[] = {RACK_SH, "exec", "--dir", AF_RACK_DIR, node,
                          "--",    "sh",   "-c",    script,      NULL};

    node_sh_argv(node, script, argv);
}

/* As node_sh, with $1 = arg in the script. */
static void
node_sh_arg(const char *node, const char *script, const char *arg)
{
    const char *argv[] = {RACK_SH, "exec", "--dir", AF_RACK_DIR, node, "--",
                          "sh",    "-c",   script,  "sh",        arg,  NULL};

    node_sh_argv(node, script, argv);
}

static void
rack_ok(const char *what, int rc)
{
    cr_assert_eq(rc, 0, "rack.sh %s failed (%d)", what, rc);
}

/* The value of "KEY=" in a file on node (caller frees), or NULL. */
static char *
node_file_value(const char *node, const char *path, const char *key)
{
    char *text = th_node_file(node, path);
    char *want, *p, *res = NULL;

    if (text == NULL)
        return NULL;
    want = af_asprintf("%s=", key);
    for (p = text; p != NULL; p = strchr(p, '\n')) {
        if (*p == '\n')
            p++;
        if (strncmp(p, want, strlen(want)) == 0) {
            res = af_strdup(p + strlen(want));
            res[strcspn(res, "\n")] = '\0';
            break;
        }
    }
    free(want);
    free(text);
    return res;
}

/* A fresh temp directory for a state file (caller frees and removes). */
static char *
state_dir(void)
{
    char tmpl[] = "/tmp/af-test-facts-XXXXXX";

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

/* ascend-fleet facts with a state file in dir and the given --limit. */
static void
facts(struct th_result *r,
      const char *dir,
      const char *limit,
      const char *extra)
{
    cr_assert_eq(th_fleet(r, FACTS_TIMEOUT,
                          "facts --state %s/state.db --limit %s %s", dir, limit,
                          extra ? extra : ""),
                 0);
    cr_assert(!r->timed_out, "facts did not end within %d s", FACTS_TIMEOUT);
}

static void
reset_fresh(const char *nodes)
{
    th_rack("reset %s --state fresh", nodes);
}

static void
undo_051_052(void)
{
    reset_fresh("npu051 npu052");
}

static void
undo_053(void)
{
    reset_fresh("npu053");
}

static void
undo_054_055(void)
{
    reset_fresh("npu054 npu055");
}

static void
undo_055(void)
{
    reset_fresh("npu055");
}

static void
undo_056_057(void)
{
    th_rack("fault npu057 clear health");
    reset_fresh("npu056 npu057");
}

/* ------------------------------------------------------------- tests */

Test(facts,
     fresh_node_gets_the_agent_once_then_reuses_it,
     .timeout = 300,
     .fini = undo_051_052)
{
    char *dir = state_dir();
    struct th_result r;
    char sha[65], got[65];
    struct stat sb;

    rack_ok("reset", th_rack("reset npu051 npu052 --state fresh"));
    agent_sha(sha);

    facts(&r, dir, "npu[051-052]", NULL);
    cr_expect_eq(r.status, 0, "exit %d, stderr: %s", r.status, r.err);
    cr_expect_not_null(strstr(r.out, "driver     none: npu[051-052]\n"),
                       "output:\n%s", r.out);
    cr_expect_not_null(strstr(r.out, "arch       x86_64: npu[051-052]\n"),
                       "output:\n%s", r.out);
    cr_expect_not_null(strstr(r.out, "2 nodes answered (agent pushed to 2)\n"),
                       "output:\n%s", r.out);
    th_result_free(&r);

    /* The copy on each node is this build's agent, in a 0700 directory. */
    for (int i = 1; i <= 2; i++) {
        char node[16];
        char *copy, *cdir;

        snprintf(node, sizeof(node), "npu05%d", i);
        copy = agent_copy_path(node);
        file_sha(copy, got);
        cr_expect_str_eq(got, sha, "%s holds a wrong agent copy", node);
        cdir = af_strdup(copy);
        *strrchr(cdir, '/') = '\0';
        cr_assert_eq(stat(cdir, &sb), 0, "%s: no %s", node, cdir);
        cr_expect_eq(sb.st_mode & 0777, 0700, "%s: mode %o", cdir,
                     sb.st_mode & 0777);
        cr_expect_eq(sb.st_uid, 0);
        free(cdir);
        free(copy);
    }

    facts(&r, dir, "npu[051-052]", NULL);
    cr_expect_eq(r.status, 0, "exit %d, stderr: %s", r.status, r.err);
    cr_expect_not_null(strstr(r.out, "2 nodes answered (agent pushed to 0)\n"),
                       "second run pushed again:\n%s", r.out);
    th_result_free(&r);
    remove_tree(dir);
}

/* Push to npu053, damage its copy with script ($1 = the copy's path on
 * the node), check the next run replaces it and still answers. */
static void
damaged_copy_is_replaced(const char *script)
{
    char *dir = state_dir();
    char *copy = agent_copy_path("npu053");
    char *cmd;
    struct th_result r;
    char sha[65], got[65];

    rack_ok("reset", th_rack("reset npu053 --state fresh"));
    agent_sha(sha);
    facts(&r, dir, "npu053", NULL);
    cr_assert_eq(r.status, 0, "exit %d, stderr: %s", r.status, r.err);
    cr_assert_not_null(strstr(r.out, "(agent pushed to 1)"));
    th_result_free(&r);

    cmd = af_asprintf("%s/%s/%s", AGENT_DIR, sha, AGENT_NAME);
    node_sh_arg("npu053", script, cmd);
    free(cmd);
    file_sha(copy, got);
    cr_assert_str_neq(got, sha, "the copy was not damaged");

    facts(&r, dir, "npu053", NULL);
    cr_expect_eq(r.status, 0, "exit %d, output:\n%s\nstderr: %s", r.status,
                 r.out, r.err);
    cr_expect_not_null(strstr(r.out, "1 nodes answered (agent pushed to 1)\n"),
                       "output:\n%s\nstderr: %s", r.out, r.err);
    cr_expect_not_null(strstr(r.out, "arch       x86_64: npu053\n"),
                       "output:\n%s", r.out);
    th_result_free(&r);
    file_sha(copy, got);
    cr_expect_str_eq(got, sha, "the damaged copy is still there");

    /* And the repaired copy is reused. */
    facts(&r, dir, "npu053", NULL);
    cr_expect_eq(r.status, 0);
    cr_expect_not_null(strstr(r.out, "(agent pushed to 0)"), "output:\n%s",
                       r.out);
    th_result_free(&r);
    free(copy);
    remove_tree(dir);
}

Test(facts,
     agent_copy_overwritten_with_garbage_is_replaced,
     .timeout = 300,
     .fini = undo_053)
{
    damaged_copy_is_replaced("head -c 4096 /dev/urandom > \"$1\"");
}

Test(facts, truncated_agent_copy_is_replaced, .timeout = 300, .fini = undo_053)
{
    damaged_copy_is_replaced(
        "head -c 20000 \"$1\" > \"$1.t\" && cat \"$1.t\" > \"$1\" && "
        "rm -f \"$1.t\"");
}

Test(facts,
     agent_of_another_protocol_fails_only_its_node,
     .timeout = 300,
     .fini = undo_054_055)
{
    char *dir = state_dir();
    char sha[65];
    char *script, *proto;
    struct th_result r;

    rack_ok("reset", th_rack("reset npu054 npu055 --state fresh"));
    agent_sha(sha);
    /* An agent that greets with protocol 99 and the right hash, then
     * waits. The probe checks the copy's hash before running it, so the
     * node's login shell plays that agent (bash reads .bashrc for the
     * commands sshd runs). */
    script = af_asprintf(
        "printf '#!/bin/sh\\necho \"AFAGENT 99 0 x86_64 %s\"\\n"
        "exec cat >/dev/null\\n' > /root/agent99 && "
        "{ echo 'case \"$BASH_EXECUTION_STRING\" in *%s*) exec /bin/sh "
        "/root/agent99 ;; esac'; cat /root/.bashrc; } > /root/.bashrc.new && "
        "mv /root/.bashrc.new /root/.bashrc",
        sha, AGENT_NAME);
    node_sh("npu054", script);
    free(script);

    facts(&r, dir, "npu[054-055]", NULL);
    cr_expect_eq(r.status, 1, "exit %d, stderr: %s", r.status, r.err);
    cr_expect_not_null(strstr(r.out, "arch       x86_64: npu055\n"),
                       "output:\n%s", r.out);
    cr_expect_not_null(strstr(r.out, "1 nodes answered"), "output:\n%s", r.out);
    cr_expect_not_null(strstr(r.out, ": npu054\n"),
                       "npu054 is not named as failed:\n%s", r.out);
    cr_expect_null(strstr(r.out, "x86_64: npu[054"),
                   "npu054's facts were used:\n%s", r.out);
    cr_expect_not_null(strstr(r.err, "npu054"), "stderr: %s", r.err);
    cr_expect_not_null(strstr(r.err, "protocol 99"), "stderr: %s", r.err);
    proto = af_asprintf("%d", AF_PROTO_VERSION);
    cr_expect_not_null(strstr(r.err, proto), "stderr: %s", r.err);
    cr_expect_null(strstr(r.err, "npu055"), "stderr: %s", r.err);
    free(proto);
    th_result_free(&r);
    remove_tree(dir);
}

Test(facts,
     driver_state_shows_the_installed_driver_loaded_or_not,
     .timeout = 300,
     .fini = undo_055)
{
    char *dir = state_dir();
    char *ver, *want;
    struct th_result r;

    rack_ok("reset", th_rack("reset npu055 --state driver"));
    ver = node_file_value("npu055", "/usr/local/Ascend/driver/version.info",
                          "Version");
    cr_assert_not_null(ver, "no driver version.info on npu055");
    cr_assert_neq(strlen(ver), 0);

    /* After the boot the driver is installed and loaded. */
    facts(&r, dir, "npu055", NULL);
    cr_expect_eq(r.status, 0, "exit %d, stderr: %s", r.status, r.err);
    want = af_asprintf("driver     %s: npu055\n", ver);
    cr_expect_not_null(strstr(r.out, want), "output:\n%s", r.out);
    free(want);
    want = af_asprintf("loaded     %s: npu055\n", ver);
    cr_expect_not_null(strstr(r.out, want), "output:\n%s", r.out);
    free(want);
    cr_expect_not_null(strstr(r.out, "cann       none: npu055\n"),
                       "output:\n%s", r.out);
    th_result_free(&r);

    /* Installed but not loaded (as right after an install, before the
     * reboot): the driver is there, npu-smi sees none. */
    rack_ok("fault clear", th_rack("fault npu055 clear loaded-driver"));
    facts(&r, dir, "npu055", NULL);
    cr_expect_eq(r.status, 0, "exit %d, stderr: %s", r.status, r.err);
    want = af_asprintf("driver     %s: npu055\n", ver);
    cr_expect_not_null(strstr(r.out, want), "output:\n%s", r.out);
    free(want);
    cr_expect_not_null(strstr(r.out, "loaded     none: npu055\n"),
                       "output:\n%s", r.out);
    th_result_free(&r);
    free(ver);
    remove_tree(dir);
}

Test(facts,
     full_state_shows_the_whole_stack_and_healthy_npus,
     .timeout = 300,
     .fini = undo_056_057)
{
    char *dir = state_dir();
    char *drv, *fw, *cann, *want;
    struct th_result r;

    rack_ok("reset", th_rack("reset npu056 --state full"));
    drv = node_file_value("npu056", "/usr/local/Ascend/driver/version.info",
                          "Version");
    fw = node_file_value("npu056", "/usr/local/Ascend/firmware/version.info",
                         "Version");
    cann = node_file_value("npu056",
                           "/usr/local/Ascend/ascend-toolkit/latest/"
                           "x86_64-linux/ascend_toolkit_install.info",
                           "version");
    cr_assert(drv && fw && cann, "npu056 is not fully installed");

    facts(&r, dir, "npu056", NULL);
    cr_expect_eq(r.status, 0, "exit %d, stderr: %s", r.status, r.err);
    want = af_asprintf("driver     %s: npu056\n", drv);
    cr_expect_not_null(strstr(r.out, want), "output:\n%s", r.out);
    free(want);
    want = af_asprintf("loaded     %s: npu056\n", drv);
    cr_expect_not_null(strstr(r.out, want), "output:\n%s", r.out);
    free(want);
    want = af_asprintf("firmware   %s: npu056\n", fw);
    cr_expect_not_null(strstr(r.out, want), "output:\n%s", r.out);
    free(want);
    want = af_asprintf("cann       %s: npu056\n", cann);
    cr_expect_not_null(strstr(r.out, want), "output:\n%s", r.out);
    free(want);
    cr_expect_not_null(strstr(r.out, "npu        8 x 910B: npu056\n"),
                       "output:\n%s", r.out);
    cr_expect_not_null(strstr(r.out, "health:    8 OK\n"), "output:\n%s",
                       r.out);
    th_result_free(&r);
    free(cann);
    free(fw);
    free(drv);
    remove_tree(dir);
}

Test(facts,
     unhealthy_chip_is_named_in_the_health_line,
     .timeout = 300,
     .fini = undo_056_057)
{
    char *dir = state_dir();
    struct th_result r;

    rack_ok("reset", th_rack("reset npu056 npu057 --state full"));
    rack_ok("fault set health",
            th_rack("fault npu057 set health 'OK OK OK Warning OK OK OK OK'"));
    facts(&r, dir, "npu[056-057]", NULL);
    cr_expect_eq(r.status, 0, "exit %d, stderr: %s", r.status, r.err);
    cr_expect_not_null(strstr(r.out, "health:    15 OK, 1 Warning: npu057\n"),
                       "output:\n%s", r.out);
    th_result_free(&r);

    facts(&r, dir, "npu057", "--json");
    {
        struct jv *doc = jsonl_parse(r.out);
        const struct jv *f;

        cr_assert_eq(jsonl_count(doc, "node"), 1, "%s", r.out);
        f = jget(jsonl_nth(doc, "node", 0), "facts");
        cr_assert_not_null(f);
        cr_expect_str_eq(jstr(f, "npu.3.health"), "Warning");
        cr_expect_str_eq(jstr(f, "npu.2.health"), "OK");
        cr_expect_str_eq(jstr(f, "npu_count"), "8");
        jv_free(doc);
    }
    th_result_free(&r);
    remove_tree(dir);
}

Test(facts,
     json_gives_one_record_per_node,
     .timeout = 300,
     .fini = undo_051_052)
{
    char *dir = state_dir();
    struct th_result r;
    struct jv *doc;

    rack_ok("reset", th_rack("reset npu051 npu052 --state fresh"));
    facts(&r, dir, "npu[051-052]", "--json");
    cr_expect_eq(r.status, 0, "exit %d, stderr: %s", r.status, r.err);
    doc = jsonl_parse(r.out);
    cr_expect_eq(doc->n, 3, "two nodes and a summary:\n%s", r.out);
    cr_expect_eq(jnum(jsonl_nth(doc, "summary", 0), "ok"), 2);
    cr_expect_eq(jnum(jsonl_nth(doc, "summary", 0), "agent_pushed"), 2);
    for (size_t i = 0; i < jsonl_count(doc, "node"); i++) {
        const struct jv *n = jsonl_nth(doc, "node", i), *f, *pushed;
        char name[32];

        snprintf(name, sizeof(name), "npu05%zu", i + 1);
        cr_expect_str_eq(jstr(n, "name"), name);
        cr_expect_str_eq(jstr(n, "status"), "ok");
        pushed = jget(n, "agent_pushed");
        cr_assert(pushed && pushed->t == J_BOOL);
        cr_expect_eq(pushed->b, 1, "%s: agent not pushed on a fresh node",
                     name);
        f = jget(n, "facts");
        cr_assert(f && f->t == J_OBJ, "%s has no facts object", name);
        cr_expect_str_eq(jstr(f, "hostname"), name);
        cr_expect_str_eq(jstr(f, "arch"), "x86_64");
        cr_expect_str_eq(jstr(f, "driver_version"), "");
        cr_expect_str_eq(jstr(f, "npu_count"), "0");
        cr_expect_eq(strlen(jstr(f, "boot_id")), 36);
    }
    jv_free(doc);
    th_result_free(&r);
    remove_tree(dir);
}

/* One value from the state file with the sqlite3 CLI (caller frees), the
 * trailing newline removed. */
static char *
sql_value(const char *db, const char *query)
{
    const char *argv[] = {"sqlite3", db, query, NULL};
    struct th_result r;
    char *v;

    cr_assert_eq(th_run(&r, 30, argv), 0, "cannot run sqlite3");
    cr_assert_eq(r.status, 0, "sqlite3 '%s': %s", query, r.err);
    v = af_strdup(r.out);
    v[strcspn(v, "\n")] = '\0';
    th_result_free(&r);
    return v;
}

Test(facts,
     facts_are_stored_in_the_state_file,
     .timeout = 300,
     .fini = undo_051_052)
{
    char *dir = state_dir();
    char *db = af_asprintf("%s/state.db", dir);
    char *v, *rows1, *rows2, *t1, *t2;
    struct th_result r;

    facts(&r, dir, "npu[051-052]", NULL);
    cr_expect_eq(r.status, 0, "exit %d, stderr: %s", r.status, r.err);
    th_result_free(&r);

    v = sql_value(db, "select value from facts where node='npu051' and "
                      "key='arch'");
    cr_expect_str_eq(v, "x86_64");
    free(v);
    v = sql_value(db, "select value from facts where node='npu052' and "
                      "key='hostname'");
    cr_expect_str_eq(v, "npu052");
    free(v);
    v = sql_value(db, "select count(distinct node) from facts");
    cr_expect_str_eq(v, "2");
    free(v);
    v = sql_value(db, "select count(*) from facts where gathered_at < "
                      "1700000000000");
    cr_expect_str_eq(v, "0", "gathered_at is not unix ms");
    free(v);

    /* A second gathering replaces the set, it does not add to it. */
    rows1 = sql_value(db, "select count(*) from facts where node='npu051'");
    t1 = sql_value(db, "select max(gathered_at) from facts where "
                       "node='npu051'");
    usleep(20000);
    facts(&r, dir, "npu051", NULL);
    cr_expect_eq(r.status, 0);
    th_result_free(&r);
    rows2 = sql_value(db, "select count(*) from facts where node='npu051'");
    t2 = sql_value(db, "select min(gathered_at) from facts where "
                       "node='npu051'");
    cr_expect_str_eq(rows1, rows2);
    cr_expect_gt(atoll(t2), atoll(t1), "the set was not replaced");
    v = sql_value(db, "pragma integrity_check");
    cr_expect_str_eq(v, "ok");
    free(v);
    free(t2);
    free(t1);
    free(rows2);
    free(rows1);
    free(db);
    remove_tree(dir);
}

/* A node's fact values reach the terminal escaped: no raw ESC or BEL. */
Test(facts, node_values_are_escaped_for_the_terminal, .timeout = 300)
{
    char *dir = state_dir();
    struct th_result r;

    rack_ok("reset", th_rack("reset npu058 --state full"));
    node_sh("npu058", "printf 'ID=\"deb\\033]0;owned\\007ian\"\\n"
                      "VERSION_ID=\"12\\033[2J\"\\n' > /etc/os-release");
    facts(&r, dir, "npu058", NULL);
    cr_expect_eq(r.status, 0, "exit %d, stderr: %s", r.status, r.err);
    cr_expect_null(strchr(r.out, '\033'), "raw ESC in:\n%s", r.out);
    cr_expect_null(strchr(r.out, '\007'), "raw BEL in:\n%s", r.out);
    cr_expect_not_null(strstr(r.out, "deb\\x1b]0;owned\\x07ian"), "output:\n%s",
                       r.out);
    th_result_free(&r);
    rack_ok("reset", th_rack("reset npu058 --state full"));
    remove_tree(dir);
}

/* Equal errors fold: 12 nodes refusing the same key give one line. */
Test(facts, equal_errors_fold_into_one_line, .timeout = 300)
{
    char *dir = state_dir(), *script;
    const char *argv[] = {"sh", "-c", NULL, NULL};
    struct th_result r;

    script = af_asprintf(
        "set -e; cd %s; ssh-keygen -q -t ed25519 -N '' -f stranger; "
        "sed -e 's#^  identity: .*#  identity: %s/stranger#' "
        "-e 's#^  known_hosts: .*#  known_hosts: %s/known_hosts#' "
        "%s/inventory.yaml > inv.yaml; "
        "%s facts -i inv.yaml --state %s/state.db --limit npu[001-012]",
        dir, dir, AF_RACK_DIR, AF_RACK_DIR, AF_BIN, dir);
    argv[2] = script;
    cr_assert_eq(th_run(&r, 120, argv), 0);
    cr_expect_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    cr_expect_not_null(strstr(r.err, "npu[001-012]: public key "),
                       "stderr:\n%s", r.err);
    cr_expect_null(strstr(r.err, "npu001:"), "not folded:\n%s", r.err);
    th_result_free(&r);
    free(script);
    remove_tree(dir);
}
