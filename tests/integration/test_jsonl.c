/* SPDX-License-Identifier: MIT */
/*
 * Integration tests of the machine-readable and the folded output on the
 * shared simulated rack: with --json, facts, hccn plan|apply|verify, status,
 * runs, inventory show and stage print JSON Lines from the first byte to the
 * last (every line an object with "v" and "type", the node names and
 * statuses as they really are); a node that was reached and refused is
 * "failed", not "unreachable" (facts, hccn, copy, gather); and in text mode the
 * same failure on several nodes prints once, with the folded node set, for
 * exec, copy, gather, facts, stage and hccn.
 *
 * Uses npu023..npu026 as live nodes and npu027..npu029 through port 1,
 * where nothing listens (each refuses with its own address), in an
 * inventory of its own; resets every node it changes.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "af-mem.h"
#include "harness.h"
#include "st.h"
#include "tjson.h"

#define JL_TIMEOUT 240
#define JL_REFUSED "connect to <address> port 1: Connection refused"

/* The test's own directory: inventory.yaml, state.db, packages/. */
struct jl {
    char dir[64];
    char inv[128];
    char state[128];
};

static char *
jl_node_addr(const char *node)
{
    char *path = af_asprintf("%s/nodes/%s/addr", AF_RACK_DIR, node);
    char *text = th_slurp(path, NULL);

    cr_assert_not_null(text, "node %s has no addr file", node);
    text[strcspn(text, "\n")] = '\0';
    free(path);
    return text;
}

/* npu023..026 as they are, npu027..029 on port 1, and an hccn plan. */
static void
jl_setup(struct jl *t)
{
    FILE *f;
    int n;

    snprintf(t->dir, sizeof(t->dir), "/tmp/af-test-jsonl-XXXXXX");
    cr_assert_not_null(mkdtemp(t->dir));
    snprintf(t->inv, sizeof(t->inv), "%s/inventory.yaml", t->dir);
    snprintf(t->state, sizeof(t->state), "%s/state.db", t->dir);
    f = fopen(t->inv, "w");
    cr_assert_not_null(f);
    fprintf(f,
            "defaults:\n  user: root\n  identity: %s/id_ed25519\n"
            "  known_hosts: %s/known_hosts\n  connect_timeout: 10\n"
            "hosts:\n",
            AF_RACK_DIR, AF_RACK_DIR);
    for (n = 23; n <= 29; n++) {
        char name[16], *addr;

        snprintf(name, sizeof(name), "npu%03d", n);
        addr = jl_node_addr(name);
        fprintf(f, "  - {name: %s, address: %s%s}\n", name, addr,
                n >= 27 ? ", port: 1" : "");
        free(addr);
    }
    fprintf(f, "hccn:\n  netmask: 255.255.255.0\n  planes:\n"
               "    - {subnet: 192.168.100.0/24, gateway: 192.168.100.1}\n"
               "    - 192.168.101.0/24\n    - 192.168.102.0/24\n"
               "    - 192.168.103.0/24\n");
    cr_assert_eq(fclose(f), 0);
}

static void
jl_teardown(struct jl *t)
{
    char *cmd = af_asprintf("rm -rf '%s'", t->dir);

    cr_expect_eq(system(cmd), 0);
    free(cmd);
}

/* Run ascend-fleet SUB... -i INV ARGS (words of fmt, split on spaces). */
static void
jl_run(struct th_result *r, const struct jl *t, const char *fmt, ...)
{
    const char *argv[48];
    char *line, *save = NULL, *w;
    va_list ap;
    int n = 0, inserted = 0;

    va_start(ap, fmt);
    cr_assert_neq(vasprintf(&line, fmt, ap), -1);
    va_end(ap);
    argv[n++] = AF_BIN;
    for (w = strtok_r(line, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        if (!inserted && w[0] == '-') {
            argv[n++] = "-i";
            argv[n++] = t->inv;
            inserted = 1;
        }
        argv[n++] = w;
        cr_assert_lt(n, 44);
    }
    if (!inserted) {
        argv[n++] = "-i";
        argv[n++] = t->inv;
    }
    argv[n] = NULL;
    cr_assert_eq(th_run(r, JL_TIMEOUT, argv), 0);
    cr_assert(!r->timed_out, "'%s' did not end", fmt);
    free(line);
}

static size_t
count_of(const char *hay, const char *needle)
{
    size_t c = 0;
    const char *p;

    for (p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        c++;
    return c;
}

/* The node line of name, which must exist. */
static const struct jv *
jl_node(const struct jv *lines, const char *name)
{
    const struct jv *n = jsonl_find(lines, "node", "name", name);

    cr_assert_not_null(n, "no node line for %s", name);
    return n;
}

/* The last line, which must be the one summary. */
static const struct jv *
jl_summary(const struct jv *lines)
{
    const struct jv *last = lines->kids[lines->n - 1];

    cr_assert_gt(lines->n, 0);
    cr_assert_eq(jsonl_count(lines, "summary"), 1);
    cr_assert_str_eq(jstr(last, "type"), "summary");
    return last;
}

static void
jl_reset_live(void)
{
    th_rack("reset npu023 npu024 npu025 npu026 --state fresh");
}

/* ------------------------------------------------------------ facts */

Test(jsonl,
     facts_is_json_lines_and_a_refused_node_is_failed,
     .timeout = 600,
     .fini = jl_reset_live)
{
    static const char *const names[] = {"npu023", "npu024", "npu025", "npu027"};
    struct jl t;
    struct th_result r;
    struct jv *lines;
    const struct jv *n, *sum;
    size_t i;

    jl_setup(&t);
    cr_assert_eq(th_rack("reset npu023 npu024 npu025 --state fresh"), 0);
    /* npu025 is reached, and refused: its agent directory is unsafe. */
    cr_assert_eq(th_rack("exec npu025 -- sh -c 'mkdir -p "
                         "/var/lib/ascend-fleet && chmod 1777 "
                         "/var/lib/ascend-fleet'"),
                 0);
    jl_run(&r, &t, "facts --json --state %s --limit npu[023-025],npu027",
           t.state);
    cr_expect_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    lines = jsonl_parse(r.out);
    cr_assert_eq(lines->n, 5, "4 nodes and a summary expected:\n%s", r.out);
    for (i = 0; i < 4; i++) {
        n = jsonl_nth(lines, "node", i);
        cr_assert_not_null(n);
        cr_expect_str_eq(jstr(n, "name"), names[i], "inventory order");
    }
    for (i = 0; i < 2; i++) {
        char *addr = jl_node_addr(names[i]);

        n = jl_node(lines, names[i]);
        cr_expect_str_eq(jstr(n, "status"), "ok");
        cr_expect_str_eq(jstr(n, "address"), addr);
        cr_expect_eq(jget(n, "error")->t, J_NULL);
        cr_expect_str_eq(jstr(jget(n, "facts"), "hostname"), names[i]);
        cr_expect_geq(jnum(n, "duration_ms"), 0);
        free(addr);
    }
    n = jl_node(lines, "npu025");
    cr_expect_str_eq(jstr(n, "status"), "failed", "reached, then refused");
    cr_expect_not_null(strstr(jstr(n, "error"), "refusing the node: unsafe"),
                       "%s", jstr(n, "error"));
    n = jl_node(lines, "npu027");
    cr_expect_str_eq(jstr(n, "status"), "unreachable");
    cr_expect_not_null(strstr(jstr(n, "error"), "Connection refused"));
    sum = jl_summary(lines);
    cr_expect_eq(jnum(sum, "ok"), 2);
    cr_expect_eq(jnum(sum, "failed"), 1);
    cr_expect_eq(jnum(sum, "unreachable"), 1);
    cr_expect_eq(jnum(sum, "timeout"), 0);
    cr_expect_eq(jnum(sum, "total"), 4);
    jv_free(lines);
    th_result_free(&r);

    /* The text summary says the same. */
    jl_run(&r, &t, "facts --state %s --limit npu[023-025],npu027", t.state);
    cr_expect_eq(r.status, 1);
    cr_expect_not_null(strstr(r.out, "2 nodes answered (agent pushed to "),
                       "%s", r.out);
    cr_expect_not_null(
        strstr(r.out, "), 1 failed: npu025, 1 unreachable: npu027\n"), "%s",
        r.out);
    cr_expect_not_null(strstr(r.err, "npu025: refusing the node: unsafe"), "%s",
                       r.err);
    th_result_free(&r);

    /* copy and gather, through the agent too, say the same. */
    jl_run(&r, &t, "copy --json --limit npu025,npu027 %s /tmp/jl-copy", t.inv);
    cr_expect_eq(r.status, 1);
    lines = jsonl_parse(r.out);
    cr_expect_str_eq(jstr(jl_node(lines, "npu025"), "status"), "failed");
    cr_expect_str_eq(jstr(jl_node(lines, "npu027"), "status"), "unreachable");
    cr_expect_eq(jnum(jl_summary(lines), "failed"), 1);
    jv_free(lines);
    th_result_free(&r);
    jl_run(&r, &t, "gather --json --limit npu025,npu027 /etc/hostname %s",
           t.dir);
    cr_expect_eq(r.status, 1);
    lines = jsonl_parse(r.out);
    cr_expect_str_eq(jstr(jl_node(lines, "npu025"), "status"), "failed");
    cr_expect_str_eq(jstr(jl_node(lines, "npu027"), "status"), "unreachable");
    jv_free(lines);
    th_result_free(&r);
    jl_teardown(&t);
}

/* ------------------------------------------------------------- hccn */

Test(jsonl,
     hccn_plan_apply_verify_are_json_lines,
     .timeout = 600,
     .fini = jl_reset_live)
{
    struct jl t;
    struct th_result r;
    struct jv *lines;
    const struct jv *n, *sum, *npus;

    jl_setup(&t);
    cr_assert_eq(th_rack("reset npu023 npu024 --state full"), 0);
    cr_assert_eq(th_rack("reset npu025 --state fresh"), 0);
    cr_assert_eq(th_rack("exec npu025 -- sh -c 'mkdir -p "
                         "/var/lib/ascend-fleet && chmod 1777 "
                         "/var/lib/ascend-fleet'"),
                 0);
    jl_run(&r, &t, "hccn plan --json --state %s --limit npu[023-024]", t.state);
    cr_expect_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    lines = jsonl_parse(r.out);
    cr_assert_eq(jsonl_count(lines, "node"), 2, "%s", r.out);
    n = jl_node(lines, "npu023");
    npus = jget(n, "npus");
    cr_assert(npus != NULL && npus->t == J_ARR && npus->n == 8, "%s", r.out);
    cr_expect_str_eq(jstr(npus->kids[0], "address"), "192.168.100.101");
    cr_expect_str_eq(jstr(n, "change"), "no facts");
    sum = jl_summary(lines);
    cr_expect_eq(jget(sum, "valid")->b, 1);
    cr_expect_eq(jnum(sum, "total"), 2);
    cr_expect_eq(jnum(sum, "npus"), 8);
    jv_free(lines);
    th_result_free(&r);

    jl_run(&r, &t, "hccn apply --json --state %s --limit npu[023-025],npu027",
           t.state);
    cr_expect_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    lines = jsonl_parse(r.out);
    cr_assert_eq(jsonl_count(lines, "node"), 4, "%s", r.out);
    n = jl_node(lines, "npu025");
    cr_expect_str_eq(jstr(n, "status"), "failed", "reached, then refused");
    cr_expect_not_null(strstr(jstr(n, "error"), "refusing the node: unsafe"));
    cr_expect_str_eq(jstr(jl_node(lines, "npu023"), "status"), "applied");
    n = jl_node(lines, "npu024");
    cr_expect_str_eq(jstr(n, "status"), "applied");
    cr_expect_eq(jnum(n, "changed"), 8);
    npus = jget(n, "npus");
    cr_assert(npus != NULL && npus->n == 8);
    cr_expect_str_eq(jstr(npus->kids[0], "status"), "set");
    n = jl_node(lines, "npu027");
    cr_expect_str_eq(jstr(n, "status"), "unreachable");
    cr_expect_not_null(strstr(jstr(n, "error"), "Connection refused"));
    sum = jl_summary(lines);
    cr_expect_eq(jnum(sum, "applied"), 2);
    cr_expect_eq(jnum(sum, "failed"), 1);
    cr_expect_eq(jnum(sum, "unreachable"), 1);
    cr_expect_eq(jnum(sum, "total"), 4);
    jv_free(lines);
    th_result_free(&r);

    jl_run(&r, &t, "hccn verify --json --state %s --limit npu[023-024]",
           t.state);
    cr_expect_eq(r.status, 0, "exit %d: %s\n%s", r.status, r.err, r.out);
    lines = jsonl_parse(r.out);
    cr_expect_str_eq(jstr(jl_node(lines, "npu023"), "status"), "verified");
    cr_expect_str_eq(jstr(jl_node(lines, "npu024"), "status"), "verified");
    sum = jl_summary(lines);
    cr_expect_eq(jnum(sum, "verified"), 2);
    cr_expect_eq(jnum(sum, "total"), 2);
    jv_free(lines);
    th_result_free(&r);
    jl_teardown(&t);
}

/* ----------------------------------------------- status, runs, inventory */

/* A run as a rollout leaves it: npu023 done, npu024 failed in its step. */
static int64_t
jl_make_run(const struct jl *t)
{
    struct st *st = NULL;
    int64_t id = 0;

    cr_assert_eq(st_open(t->state, &st, NULL), 0);
    cr_assert_eq(
        st_run_create(st, "rollout --stage npu", "npu", NULL, &id, NULL), 0);
    cr_assert_eq(
        st_node_upsert(st, id, "npu023", NULL, 0, ST_NODE_DONE, NULL, NULL), 0);
    cr_assert_eq(st_node_upsert(st, id, "npu024", NULL, 0, ST_NODE_FAILED,
                                "driver: exit 3", NULL),
                 0);
    cr_assert_eq(st_step_set(st, id, "npu023", "npu", "driver", ST_STEP_RUNNING,
                             ST_NO_EXIT, "install 24.1.0", NULL, 0, 0, NULL),
                 0);
    cr_assert_eq(st_step_set(st, id, "npu023", "npu", "driver", ST_STEP_DONE, 0,
                             NULL, "installed\n", 10, 0, NULL),
                 0);
    cr_assert_eq(st_step_set(st, id, "npu024", "npu", "driver", ST_STEP_RUNNING,
                             ST_NO_EXIT, "install 24.1.0", NULL, 0, 0, NULL),
                 0);
    cr_assert_eq(st_step_set(st, id, "npu024", "npu", "driver", ST_STEP_FAILED,
                             3, NULL, "no space\n", 9, 0, NULL),
                 0);
    cr_assert_eq(
        st_run_set_status(st, id, ST_RUN_FAILED, "1 node failed", NULL), 0);
    st_close(st);
    return id;
}

Test(jsonl, status_runs_inventory_are_json_lines, .timeout = 120)
{
    struct jl t;
    struct th_result r;
    struct jv *lines;
    const struct jv *n, *sum, *run;
    int64_t id;

    jl_setup(&t);
    id = jl_make_run(&t);
    jl_run(&r, &t, "status --json --state %s", t.state);
    cr_expect_eq(r.status, 1, "a failed run exits 1: %s", r.err);
    lines = jsonl_parse(r.out);
    run = lines->kids[0];
    cr_expect_str_eq(jstr(run, "type"), "run", "the run comes first");
    cr_expect_eq(jnum(run, "id"), (double)id);
    cr_expect_str_eq(jstr(run, "status"), "failed");
    cr_expect_str_eq(jstr(jl_node(lines, "npu023"), "status"), "done");
    n = jl_node(lines, "npu024");
    cr_expect_str_eq(jstr(n, "status"), "failed");
    cr_expect_str_eq(jstr(n, "reason"), "driver: exit 3");
    cr_assert_eq(jsonl_count(lines, "step"), 2, "%s", r.out);
    n = jsonl_find(lines, "step", "node", "npu024");
    cr_assert_not_null(n);
    cr_expect_str_eq(jstr(n, "step"), "driver");
    cr_expect_str_eq(jstr(n, "status"), "failed");
    cr_expect_eq(jnum(n, "exit_code"), 3);
    cr_expect_str_eq(jstr(n, "output_tail"), "no space\n");
    cr_expect_geq(jnum(n, "duration_ms"), 0);
    /* Each node's steps follow its node line. */
    cr_expect_str_eq(jstr(lines->kids[1], "name"), "npu023");
    cr_expect_str_eq(jstr(lines->kids[2], "type"), "step");
    cr_expect_str_eq(jstr(lines->kids[2], "node"), "npu023");
    sum = jl_summary(lines);
    cr_expect_eq(jnum(sum, "done"), 1);
    cr_expect_eq(jnum(sum, "failed"), 1);
    cr_expect_eq(jnum(sum, "total"), 2);
    jv_free(lines);
    th_result_free(&r);

    jl_run(&r, &t, "runs --json --state %s", t.state);
    cr_expect_eq(r.status, 0, "%s", r.err);
    lines = jsonl_parse(r.out);
    cr_assert_eq(lines->n, 2, "%s", r.out);
    run = jsonl_nth(lines, "run", 0);
    cr_assert_not_null(run);
    cr_expect_eq(jnum(run, "id"), (double)id);
    cr_expect_str_eq(jstr(run, "cmdline"), "rollout --stage npu");
    cr_expect_str_eq(jstr(run, "reason"), "1 node failed");
    cr_expect_eq(jnum(jl_summary(lines), "total"), 1);
    jv_free(lines);
    th_result_free(&r);

    jl_run(&r, &t, "inventory show --json --limit npu[023-029]");
    cr_expect_eq(r.status, 0, "%s", r.err);
    lines = jsonl_parse(r.out);
    cr_assert_eq(jsonl_count(lines, "node"), 7, "%s", r.out);
    cr_expect_str_eq(jstr(jsonl_nth(lines, "node", 0), "name"), "npu023");
    n = jl_node(lines, "npu027");
    cr_expect_eq(jnum(n, "port"), 1);
    cr_expect_eq(jget(n, "groups")->t, J_ARR);
    cr_expect_eq(jnum(jl_summary(lines), "total"), 7);
    jv_free(lines);
    th_result_free(&r);
    jl_teardown(&t);
}

/* ---------------------------------------------------- folded errors */

/* A small package for stage in t->dir/packages. */
static char *
jl_packages(const struct jl *t)
{
    char *dir = af_asprintf("%s/packages", t->dir);
    char *cmd = af_asprintf(
        "mkdir -p %s && { printf '#!/bin/sh\\nexit 0\\n'; head -c 65536 "
        "/dev/urandom; } > %s/Ascend-cann-toolkit_8.0.RC2_linux-x86_64.run",
        dir, dir);

    cr_assert_eq(system(cmd), 0);
    free(cmd);
    return dir;
}

/*
 * Three nodes refusing connections, each at its own address: the reason
 * prints once, with the folded set, and names no single node's address.
 */
static void
jl_expect_folded(const char *cmd, const char *all)
{
    static const char *const nodes[] = {"npu027", "npu028", "npu029"};
    size_t i;

    cr_expect_eq(count_of(all, JL_REFUSED), 1, "%s: the reason not once:\n%s",
                 cmd, all);
    cr_expect_not_null(strstr(all, "npu[027-029]"), "%s: no folded set:\n%s",
                       cmd, all);
    for (i = 0; i < 3; i++) {
        char *addr = jl_node_addr(nodes[i]), *port = af_asprintf("%s ", addr);

        cr_expect_null(strstr(all, port), "%s: names %s:\n%s", cmd, addr, all);
        free(port);
        free(addr);
    }
}

Test(jsonl, unreachable_nodes_fold_into_one_block, .timeout = 300)
{
    struct jl t;
    struct th_result r;
    char *pkgs, *all;

    jl_setup(&t);
    pkgs = jl_packages(&t);

    jl_run(&r, &t, "exec --limit npu[027-029] -- true");
    cr_expect_eq(r.status, 1);
    cr_expect_not_null(
        strstr(r.out, "---------------\nnpu[027-029] "
                      "(unreachable)\n---------------\n" JL_REFUSED "\n"),
        "one block:\n%s", r.out);
    cr_expect_not_null(strstr(r.out, "0 ok, 0 failed, 3 unreachable: "
                                     "npu[027-029]\n"),
                       "%s", r.out);
    jl_expect_folded("exec", r.out);
    th_result_free(&r);

    jl_run(&r, &t, "copy --limit npu[027-029] %s /tmp/x", t.inv);
    cr_expect_eq(r.status, 1);
    cr_expect_not_null(strstr(r.out, "npu[027-029] (unreachable)\n"), "%s",
                       r.out);
    jl_expect_folded("copy", r.out);
    th_result_free(&r);

    jl_run(&r, &t, "gather --limit npu[027-029] /etc/hostname %s", t.dir);
    cr_expect_eq(r.status, 1);
    jl_expect_folded("gather", r.out);
    th_result_free(&r);

    jl_run(&r, &t, "facts --state %s --limit npu[027-029]", t.state);
    cr_expect_eq(r.status, 1);
    cr_expect_not_null(strstr(r.err, "npu[027-029]: " JL_REFUSED "\n"), "%s",
                       r.err);
    all = af_asprintf("%s%s", r.out, r.err);
    jl_expect_folded("facts", all);
    free(all);
    th_result_free(&r);

    jl_run(&r, &t, "stage --limit npu[027-029] --packages %s --stage cann",
           pkgs);
    cr_expect_eq(r.status, 1, "%s", r.err);
    cr_expect_not_null(strstr(r.err, "npu[027-029]: " JL_REFUSED "\n"), "%s",
                       r.err);
    all = af_asprintf("%s%s", r.out, r.err);
    jl_expect_folded("stage", all);
    free(all);
    th_result_free(&r);

    jl_run(&r, &t, "hccn apply --state %s --limit npu[027-029]", t.state);
    cr_expect_eq(r.status, 1);
    cr_expect_not_null(
        strstr(r.out, "unreachable: npu[027-029]: " JL_REFUSED "\n"), "%s",
        r.out);
    jl_expect_folded("hccn apply", r.out);
    th_result_free(&r);

    /* A node alone keeps its own message, address and all. */
    jl_run(&r, &t, "exec --limit npu027 -- true");
    cr_expect_null(strstr(r.out, "<address>"), "%s", r.out);
    cr_expect_not_null(strstr(r.out, "port 1: Connection refused"), "%s",
                       r.out);
    th_result_free(&r);
    free(pkgs);
    jl_teardown(&t);
}

/* stage --json: a "package" line per node and package, then "summary". */
Test(jsonl, stage_is_json_lines, .timeout = 300, .fini = jl_reset_live)
{
    struct jl t;
    struct th_result r;
    struct jv *lines;
    const struct jv *p, *sum;
    char *pkgs;

    jl_setup(&t);
    pkgs = jl_packages(&t);
    jl_run(&r, &t,
           "stage --json --limit npu023,npu027 --packages %s --stage cann",
           pkgs);
    cr_expect_eq(r.status, 1, "%s", r.err);
    lines = jsonl_parse(r.out);
    p = jsonl_find(lines, "package", "node", "npu023");
    cr_assert_not_null(p, "%s", r.out);
    cr_expect_str_eq(jstr(p, "status"), "pushed");
    cr_expect_str_eq(jstr(p, "package"),
                     "Ascend-cann-toolkit_8.0.RC2_linux-x86_64.run");
    cr_expect_eq(jget(p, "error")->t, J_NULL);
    p = jsonl_find(lines, "package", "node", "npu027");
    cr_assert_not_null(p, "%s", r.out);
    cr_expect_str_eq(jstr(p, "status"), "failed");
    cr_expect_eq(jget(p, "package")->t, J_NULL, "failed before any package");
    cr_expect_not_null(strstr(jstr(p, "error"), "Connection refused"));
    sum = jl_summary(lines);
    cr_expect_eq(jnum(sum, "ok"), 1);
    cr_expect_eq(jnum(sum, "failed"), 1);
    cr_expect_eq(jnum(sum, "total"), 2);
    jv_free(lines);
    th_result_free(&r);
    th_rack("exec npu023 -- rm -rf /var/lib/ascend-fleet/packages");
    free(pkgs);
    jl_teardown(&t);
}
