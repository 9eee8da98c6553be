/* SPDX-License-Identifier: MIT */
/*
 * Integration tests of `ascend-fleet exec` against the shared simulated
 * rack: folded output on 50 nodes, one block per node when outputs differ,
 * the JSON document, a node that is down, a node that accepts TCP but never
 * speaks, unknown and changed host keys, a command that fails on one node,
 * output over the cap, --limit with groups and exclusions, usage errors and
 * a command timeout. Uses npu001..npu050; every fault a test sets is undone
 * by the test's fini function, which also runs when an assertion fails.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "af-buf.h"
#include "af-mem.h"
#include "harness.h"
#include "tjson.h"

#define RACK_INV AF_RACK_DIR "/inventory.yaml"
#define RACK_SH  AF_SOURCE_DIR "/tests/rack/rack.sh"
/* connect_timeout of the rack's inventory, in seconds. */
#define RACK_CONNECT_TIMEOUT 5
/* handshake_timeout of the rack's inventory (a mute node ends there). */
#define RACK_HANDSHAKE_TIMEOUT 10
/* Where the changed-host-key test keeps the node's real key meanwhile. */
#define SAVED_KEY "/tmp/af-test-exec-npu012.key"

/* ------------------------------------------------------------ helpers */

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Number of (non-overlapping) occurrences of needle in hay. */
static int
count_of(const char *hay, const char *needle)
{
    int n = 0;
    size_t len = strlen(needle);

    for (const char *p = strstr(hay, needle); p; p = strstr(p + len, needle))
        n++;
    return n;
}

static char *
node_addr(const char *node)
{
    char *path = af_asprintf("%s/nodes/%s/addr", AF_RACK_DIR, node);
    char *addr = th_slurp(path, NULL);

    free(path);
    cr_assert_not_null(addr, "node %s has no addr file", node);
    addr[strcspn(addr, "\n")] = '\0';
    return addr;
}

/* Nodes in the shared rack (directories with an addr file). */
static int
rack_size(void)
{
    DIR *d = opendir(AF_RACK_DIR "/nodes");
    struct dirent *de;
    int n = 0;

    cr_assert_not_null(d, "no rack in %s", AF_RACK_DIR);
    while ((de = readdir(d)) != NULL) {
        char *p = af_asprintf("%s/nodes/%s/addr", AF_RACK_DIR, de->d_name);

        if (de->d_name[0] != '.' && access(p, F_OK) == 0)
            n++;
        free(p);
    }
    closedir(d);
    return n;
}

/* Run ascend-fleet with an explicit argv after the program name. */
static void
fleet_argv(struct th_result *r, int timeout_s, const char *const *args)
{
    const char *argv[64];
    int n = 0;

    argv[n++] = AF_BIN;
    for (int i = 0; args[i] != NULL && n < 63; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    cr_assert_eq(th_run(r, timeout_s, argv), 0, "cannot run %s", AF_BIN);
    cr_assert(!r->timed_out, "ascend-fleet did not end within %d s", timeout_s);
}

static void
rack_ok(const char *what, int rc)
{
    cr_assert_eq(rc, 0, "rack.sh %s failed (%d)", what, rc);
}

/* exec --json writes JSON Lines: "node" records, then one "summary".
 * Check every line is an object of schema version 1 and gather them into
 * one document {"nodes":[...],"summary":{...}} for the checks below. */
static struct jv *
exec_jsonl_doc(const char *out)
{
    struct af_buf doc;
    const char *p = out, *nl;
    char *sum = NULL;
    int nn = 0;
    struct jv *v;

    af_buf_init(&doc, 0);
    af_buf_puts(&doc, "{\"nodes\":[");
    for (; *p; p = nl + 1) {
        char *line;
        struct jv *lv;
        const char *type;

        nl = strchr(p, '\n');
        cr_assert_not_null(nl, "JSON Lines output not ending in newline");
        line = af_strndup(p, (size_t)(nl - p));
        lv = json_parse(line);
        cr_assert_not_null(lv, "not a JSON line: %s", line);
        cr_assert_eq(jnum(lv, "v"), 1.0, "no schema version: %s", line);
        type = jstr(lv, "type");
        cr_assert_not_null(type, "untyped line: %s", line);
        if (strcmp(type, "node") == 0) {
            af_buf_puts(&doc, nn++ ? "," : "");
            af_buf_puts(&doc, line);
        } else if (strcmp(type, "summary") == 0) {
            sum = af_strdup(line);
        }
        jv_free(lv);
        free(line);
    }
    af_buf_puts(&doc, "],\"summary\":");
    af_buf_puts(&doc, sum ? sum : "null");
    af_buf_puts(&doc, "}");
    free(sum);
    v = json_parse(doc.data);
    af_buf_free(&doc);
    return v;
}

/* Parse r->out as JSON and check the members every exec document has:
 * nodes (array of objects with every per-node member of the right type)
 * and summary (counts that add up to total = the number of records). */
static struct jv *
exec_json(const struct th_result *r)
{
    static const char *const keys[] = {"name",      "address", "status",
                                       "exit_code", "stdout",  "stderr",
                                       "truncated"};
    struct jv *doc = exec_jsonl_doc(r->out);
    const struct jv *nodes, *sum;
    double total;

    cr_assert_not_null(doc, "not a JSON document:\n%s", r->out);
    cr_assert_eq(doc->t, J_OBJ);
    nodes = jget(doc, "nodes");
    cr_assert_not_null(nodes, "no \"nodes\"");
    cr_assert_eq(nodes->t, J_ARR);
    for (size_t i = 0; i < nodes->n; i++) {
        const struct jv *n = nodes->kids[i];
        const char *st;

        cr_assert_eq(n->t, J_OBJ);
        for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
            cr_assert_not_null(jget(n, keys[k]), "record %zu has no \"%s\"", i,
                               keys[k]);
        st = jstr(n, "status");
        cr_assert(strcmp(st, "ok") == 0 || strcmp(st, "failed") == 0 ||
                      strcmp(st, "unreachable") == 0 ||
                      strcmp(st, "timeout") == 0,
                  "bad status \"%s\"", st);
        cr_assert_eq(jget(n, "truncated")->t, J_BOOL);
        cr_assert_eq(jget(n, "stdout")->t, J_STR);
        cr_assert_eq(jget(n, "stderr")->t, J_STR);
        /* An exit code exactly when the command ran to its end. */
        if (strcmp(st, "ok") == 0 || strcmp(st, "failed") == 0)
            cr_assert_eq(jget(n, "exit_code")->t, J_NUM);
        else
            cr_assert_eq(jget(n, "exit_code")->t, J_NULL);
    }
    sum = jget(doc, "summary");
    cr_assert_not_null(sum, "no \"summary\"");
    total = jnum(sum, "total");
    cr_assert_eq(total, (double)nodes->n);
    cr_assert_eq(jnum(sum, "ok") + jnum(sum, "failed") +
                     jnum(sum, "unreachable") +
                     (jget(sum, "timeout") ? jnum(sum, "timeout") : 0),
                 total, "summary counts do not add up to %g", total);
    return doc;
}

/* How many records of doc have status st. */
static int
jcount_status(const struct jv *doc, const char *st)
{
    const struct jv *nodes = jget(doc, "nodes");
    int n = 0;

    for (size_t i = 0; i < nodes->n; i++)
        if (strcmp(jstr(nodes->kids[i], "status"), st) == 0)
            n++;
    return n;
}

/* --------------------------------------------------------- fault undo */

static void
undo_down_npu010(void)
{
    th_rack("fault npu010 up");
}

static void
undo_mute_npu011(void)
{
    /* unmute refuses a node that is not muted; up brings it back in any
     * case. */
    th_rack("fault npu011 up");
}

static void
undo_rekey_npu012(void)
{
    if (access(SAVED_KEY, F_OK) == 0) {
        th_rack("rekey npu012 --key " SAVED_KEY);
        unlink(SAVED_KEY);
    }
}

/* ------------------------------------------------------------- tests */

Test(exec, identical_output_folds_into_one_block_on_50_nodes, .timeout = 120)
{
    struct th_result r;
    double t0 = now_s();

    cr_assert_eq(th_fleet(&r, 90, "exec --limit npu[001-050] -- echo same"), 0);
    cr_expect_eq(r.status, 0, "exit %d, stderr: %s", r.status, r.err);
    cr_expect_eq(count_of(r.out, "npu[001-050] (exit 0)\n"), 1,
                 "no single folded block:\n%s", r.out);
    /* Exactly one block: one header, the output once. */
    cr_expect_eq(count_of(r.out, "(exit"), 1, "more than one block:\n%s",
                 r.out);
    cr_expect_eq(count_of(r.out, "\nsame\n"), 1, "output:\n%s", r.out);
    cr_expect_not_null(strstr(r.out, "50 ok, 0 failed, 0 unreachable\n"),
                       "summary:\n%s", r.out);
    cr_log_info("exec on 50 nodes: %.2f s", now_s() - t0);
    th_result_free(&r);
}

Test(exec, different_outputs_give_one_block_per_node, .timeout = 60)
{
    struct th_result r;

    cr_assert_eq(th_fleet(&r, 45, "exec --limit npu[001-006] -- uname -n"), 0);
    cr_expect_eq(r.status, 0, "exit %d, stderr: %s", r.status, r.err);
    cr_expect_eq(count_of(r.out, "(exit 0)"), 6, "output:\n%s", r.out);
    for (int i = 1; i <= 6; i++) {
        char *block = af_asprintf("npu%03d (exit 0)\n---------------\n"
                                  "npu%03d\n",
                                  i, i);

        cr_expect_not_null(strstr(r.out, block), "no block for npu%03d:\n%s", i,
                           r.out);
        free(block);
    }
    cr_expect_not_null(strstr(r.out, "6 ok, 0 failed, 0 unreachable\n"));
    th_result_free(&r);
}

Test(exec, json_has_one_record_per_node, .timeout = 60)
{
    struct th_result r;
    struct jv *doc;
    const struct jv *nodes, *sum;

    cr_assert_eq(
        th_fleet(&r, 45, "exec --json --limit npu[001-010] -- uname -n"), 0);
    cr_expect_eq(r.status, 0, "exit %d, stderr: %s", r.status, r.err);
    doc = exec_json(&r);
    nodes = jget(doc, "nodes");
    cr_expect_eq(nodes->n, 10);
    for (int i = 1; i <= 10; i++) {
        char name[16], out[16];
        const struct jv *n;
        char *addr;

        snprintf(name, sizeof(name), "npu%03d", i);
        snprintf(out, sizeof(out), "npu%03d\n", i);
        n = jnode(doc, name);
        cr_assert_not_null(n, "no record for %s", name);
        addr = node_addr(name);
        cr_expect_str_eq(jstr(n, "address"), addr);
        free(addr);
        cr_expect_str_eq(jstr(n, "status"), "ok");
        cr_expect_eq(jnum(n, "exit_code"), 0);
        cr_expect_str_eq(jstr(n, "stdout"), out);
        cr_expect_str_eq(jstr(n, "stderr"), "");
        cr_expect_eq(jget(n, "truncated")->b, 0);
    }
    sum = jget(doc, "summary");
    cr_expect_eq(jnum(sum, "ok"), 10);
    cr_expect_eq(jnum(sum, "failed"), 0);
    cr_expect_eq(jnum(sum, "unreachable"), 0);
    jv_free(doc);
    th_result_free(&r);
}

Test(exec, json_keeps_stderr_and_exit_code_apart, .timeout = 60)
{
    struct th_result r;
    struct jv *doc;
    const struct jv *n;

    cr_assert_eq(th_fleet(&r, 45,
                          "exec --json --limit npu[001-002] -- "
                          "'printf \"out \\\"q\\\"\\t\\\\\\\\x\\n\"; "
                          "echo err >&2; exit 3'"),
                 0);
    cr_expect_eq(r.status, 1, "exit %d, stderr: %s", r.status, r.err);
    doc = exec_json(&r);
    n = jnode(doc, "npu002");
    cr_assert_not_null(n);
    cr_expect_str_eq(jstr(n, "status"), "failed");
    cr_expect_eq(jnum(n, "exit_code"), 3);
    cr_expect_str_eq(jstr(n, "stdout"), "out \"q\"\t\\x\n");
    cr_expect_str_eq(jstr(n, "stderr"), "err\n");
    cr_expect_eq(jnum(jget(doc, "summary"), "failed"), 2);
    jv_free(doc);
    th_result_free(&r);
}

Test(exec,
     node_down_is_unreachable_and_others_succeed,
     .timeout = 120,
     .fini = undo_down_npu010)
{
    struct th_result r;
    struct jv *doc;
    const struct jv *n;

    rack_ok("fault npu010 down", th_rack("fault npu010 down"));
    cr_assert_eq(th_fleet(&r, 60, "exec --limit npu[001-020] -- echo up"), 0);
    cr_expect_eq(r.status, 1, "exit %d, stderr: %s", r.status, r.err);
    cr_expect_not_null(
        strstr(r.out, "19 ok, 0 failed, 1 unreachable: npu010\n"),
        "summary:\n%s", r.out);
    cr_expect_not_null(strstr(r.out, "npu[001-009,011-020] (exit 0)\n"),
                       "output:\n%s", r.out);
    cr_expect_not_null(strstr(r.out, "npu010 (unreachable)\n"), "output:\n%s",
                       r.out);
    th_result_free(&r);

    cr_assert_eq(
        th_fleet(&r, 60, "exec --json --limit npu[009-011] -- echo up"), 0);
    cr_expect_eq(r.status, 1);
    doc = exec_json(&r);
    n = jnode(doc, "npu010");
    cr_assert_not_null(n);
    cr_expect_str_eq(jstr(n, "status"), "unreachable");
    cr_expect_eq(jcount_status(doc, "ok"), 2);
    cr_expect_str_eq(jstr(jnode(doc, "npu009"), "stdout"), "up\n");
    jv_free(doc);
    th_result_free(&r);
}

/* The operator is told why: the connection was refused. */
Test(exec,
     node_down_message_says_connection_refused,
     .timeout = 60,
     .fini = undo_down_npu010)
{
    struct th_result r;

    rack_ok("fault npu010 down", th_rack("fault npu010 down"));
    cr_assert_eq(th_fleet(&r, 30, "exec --limit npu010 -- true"), 0);
    cr_expect_eq(r.status, 1);
    cr_expect_not_null(strstr(r.out, "npu010 (unreachable)"), "output:\n%s",
                       r.out);
    cr_expect_not_null(strcasestr(r.out, "connection refused"),
                       "the message does not say the connection was "
                       "refused:\n%s",
                       r.out);
    th_result_free(&r);
}

Test(exec,
     mute_node_times_out_and_the_run_still_ends,
     .timeout = 120,
     .fini = undo_mute_npu011)
{
    struct th_result r;
    struct jv *doc;
    const struct jv *n;
    double t0, dt;

    rack_ok("fault npu011 mute", th_rack("fault npu011 mute"));
    t0 = now_s();
    cr_assert_eq(th_fleet(&r, 60, "exec --limit npu[001-020] -- echo up"), 0);
    dt = now_s() - t0;
    cr_expect_eq(r.status, 1, "exit %d, stderr: %s", r.status, r.err);
    cr_expect_lt(dt, RACK_HANDSHAKE_TIMEOUT + 3.0,
                 "the run took %.1f s with one mute node", dt);
    cr_expect_not_null(strstr(r.out, "npu011 (timeout)\n"), "output:\n%s",
                       r.out);
    cr_expect_not_null(strstr(r.out, "19 ok"), "output:\n%s", r.out);
    cr_expect_not_null(strstr(r.out, "1 timeout: npu011"), "output:\n%s",
                       r.out);
    th_result_free(&r);

    t0 = now_s();
    cr_assert_eq(th_fleet(&r, 60, "exec --json --limit npu[010-012] -- true"),
                 0);
    dt = now_s() - t0;
    cr_expect_lt(dt, RACK_HANDSHAKE_TIMEOUT + 3.0, "took %.1f s", dt);
    doc = exec_json(&r);
    n = jnode(doc, "npu011");
    cr_assert_not_null(n);
    cr_expect_str_eq(jstr(n, "status"), "timeout");
    cr_expect_eq(jcount_status(doc, "ok"), 2);
    cr_expect_eq(jnum(jget(doc, "summary"), "timeout"), 1);
    jv_free(doc);
    th_result_free(&r);
}

/* A copy of the rack's inventory in a temp dir, with an absolute identity
 * path and the known_hosts file next to it (relative, as the rack's).
 * kh_content NULL = an empty known_hosts. Returns the dir (caller frees
 * and removes). */
static char *
inventory_copy(const char *kh_content)
{
    char tmpl[] = "/tmp/af-test-exec-XXXXXX";
    char *dir, *inv, *out, *kh;
    char *text = th_slurp(RACK_INV, NULL);
    FILE *f;
    const char *p;

    cr_assert_not_null(text);
    cr_assert_not_null(mkdtemp(tmpl));
    dir = af_strdup(tmpl);
    inv = af_asprintf("%s/inventory.yaml", dir);
    f = fopen(inv, "w");
    cr_assert_not_null(f);
    p = strstr(text, "identity: id_ed25519");
    cr_assert_not_null(p, "the rack's inventory has no relative identity");
    fwrite(text, 1, (size_t)(p - text), f);
    fprintf(f, "identity: %s/id_ed25519", AF_RACK_DIR);
    fputs(p + strlen("identity: id_ed25519"), f);
    fclose(f);
    kh = af_asprintf("%s/known_hosts", dir);
    f = fopen(kh, "w");
    cr_assert_not_null(f);
    if (kh_content)
        fputs(kh_content, f);
    fclose(f);
    out = dir;
    free(kh);
    free(inv);
    free(text);
    return out;
}

static void
remove_dir(char *dir)
{
    char *inv = af_asprintf("%s/inventory.yaml", dir);
    char *kh = af_asprintf("%s/known_hosts", dir);

    unlink(inv);
    unlink(kh);
    rmdir(dir);
    free(kh);
    free(inv);
    free(dir);
}

/* The known_hosts line of addr in the rack's known_hosts ("addr type key"),
 * without newline (caller frees). */
static char *
rack_known_host(const char *addr)
{
    char *kh = th_slurp(AF_RACK_DIR "/known_hosts", NULL);
    char *want = af_asprintf("%s ", addr), *line, *res = NULL, *save = NULL;

    cr_assert_not_null(kh);
    for (line = strtok_r(kh, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save))
        if (strncmp(line, want, strlen(want)) == 0)
            res = af_strdup(line);
    cr_assert_not_null(res, "%s is not in the rack's known_hosts", addr);
    free(want);
    free(kh);
    return res;
}

Test(exec, unknown_host_key_fails_then_accept_new_records_it, .timeout = 120)
{
    char *dir = inventory_copy(NULL);
    char *inv = af_asprintf("%s/inventory.yaml", dir);
    char *khp = af_asprintf("%s/known_hosts", dir);
    const char *strict[] = {"exec",         "-i", inv,    "--limit",
                            "npu[001-003]", "--", "true", NULL};
    const char *accept[] = {
        "exec",        "-i",         inv,  "--limit", "npu[001-003]",
        "--host-keys", "accept-new", "--", "true",    NULL};
    struct th_result r;
    char *kh;

    fleet_argv(&r, 60, strict);
    cr_expect_eq(r.status, 1, "exit %d, stderr: %s", r.status, r.err);
    cr_expect_not_null(strstr(r.out, "0 ok, 0 failed, 3 unreachable: "
                                     "npu[001-003]"),
                       "output:\n%s", r.out);
    /* One folded block: each node's address and key fingerprint differ. */
    cr_expect_eq(count_of(r.out, "unknown host key"), 1, "output:\n%s", r.out);
    cr_expect_eq(count_of(r.out, "accept-new"), 1, "output:\n%s", r.out);
    cr_expect_not_null(strstr(r.out,
                              "npu[001-003] (unreachable)\n"
                              "---------------\nunknown host key for "
                              "<address> (ssh-ed25519 SHA256:<fingerprint>) "
                              "not in "),
                       "output:\n%s", r.out);
    th_result_free(&r);
    kh = th_slurp(khp, NULL);
    cr_expect_str_eq(kh, "", "strict mode wrote to known_hosts:\n%s", kh);
    free(kh);

    fleet_argv(&r, 60, accept);
    cr_expect_eq(r.status, 0, "exit %d, output:\n%s", r.status, r.out);
    cr_expect_not_null(strstr(r.out, "3 ok, 0 failed, 0 unreachable\n"));
    th_result_free(&r);

    /* Each node's real key is recorded, once. */
    kh = th_slurp(khp, NULL);
    cr_assert_not_null(kh);
    cr_expect_eq(count_of(kh, "\n"), 3, "known_hosts:\n%s", kh);
    for (int i = 1; i <= 3; i++) {
        char name[16];
        char *addr, *line, *withnl;

        snprintf(name, sizeof(name), "npu%03d", i);
        addr = node_addr(name);
        line = rack_known_host(addr);
        withnl = af_asprintf("%s\n", line);
        cr_expect_not_null(strstr(kh, withnl), "'%s' not in:\n%s", line, kh);
        free(withnl);
        free(line);
        free(addr);
    }
    free(kh);

    /* Now strict mode knows them. */
    fleet_argv(&r, 60, strict);
    cr_expect_eq(r.status, 0, "exit %d, output:\n%s", r.status, r.out);
    th_result_free(&r);

    free(khp);
    free(inv);
    remove_dir(dir);
}

Test(exec,
     changed_host_key_is_refused_even_with_accept_new,
     .timeout = 180,
     .fini = undo_rekey_npu012)
{
    char *rackkh = th_slurp(AF_RACK_DIR "/known_hosts", NULL);
    char *dir = inventory_copy(rackkh);
    char *inv = af_asprintf("%s/inventory.yaml", dir);
    char *khp = af_asprintf("%s/known_hosts", dir);
    const char *accept[] = {
        "exec",        "-i",         inv,  "--limit",  "npu[011-013]",
        "--host-keys", "accept-new", "--", "hostname", NULL};
    const char *cp[] = {"cp", AF_RACK_DIR "/nodes/npu012/ssh_host_ed25519_key",
                        SAVED_KEY, NULL};
    struct th_result r;
    char *kh;

    cr_assert_eq(th_run(&r, 10, cp), 0);
    cr_assert_eq(r.status, 0, "cannot save npu012's key: %s", r.err);
    th_result_free(&r);
    rack_ok("rekey npu012", th_rack("rekey npu012"));

    fleet_argv(&r, 60, accept);
    cr_expect_eq(r.status, 1, "exit %d, output:\n%s", r.status, r.out);
    cr_expect_not_null(strstr(r.out, "npu012 (unreachable)\n"), "output:\n%s",
                       r.out);
    cr_expect_not_null(strstr(r.out, "CHANGED"), "output:\n%s", r.out);
    cr_expect_not_null(strstr(r.out, "2 ok, 0 failed, 1 unreachable: npu012"),
                       "output:\n%s", r.out);
    th_result_free(&r);
    kh = th_slurp(khp, NULL);
    cr_expect_str_eq(kh, rackkh, "known_hosts was changed");
    free(kh);

    /* Strict mode (the rack's own inventory) refuses it as well. */
    cr_assert_eq(th_fleet(&r, 60, "exec --limit npu012 -- true"), 0);
    cr_expect_eq(r.status, 1);
    cr_expect_not_null(strstr(r.out, "CHANGED"), "output:\n%s", r.out);
    th_result_free(&r);
    kh = th_slurp(AF_RACK_DIR "/known_hosts", NULL);
    cr_expect_str_eq(kh, rackkh, "the rack's known_hosts was changed");
    free(kh);

    /* Undo and check the node is itself again. */
    undo_rekey_npu012();
    cr_assert_eq(th_fleet(&r, 60, "exec --limit npu012 -- hostname"), 0);
    cr_expect_eq(r.status, 0, "output:\n%s", r.out);
    th_result_free(&r);

    free(khp);
    free(inv);
    remove_dir(dir);
    free(rackkh);
}

Test(exec, command_failing_on_one_node_fails_the_run, .timeout = 60)
{
    struct th_result r;

    cr_assert_eq(th_fleet(&r, 45,
                          "exec --limit npu[001-005] -- "
                          "'test $(hostname) != npu003'"),
                 0);
    cr_expect_eq(r.status, 1, "exit %d, stderr: %s", r.status, r.err);
    cr_expect_not_null(strstr(r.out, "4 ok, 1 failed: npu003, 0 unreachable\n"),
                       "output:\n%s", r.out);
    cr_expect_not_null(strstr(r.out, "npu003 (exit 1)\n"), "output:\n%s",
                       r.out);
    cr_expect_not_null(strstr(r.out, "npu[001-002,004-005] (exit 0)\n"),
                       "output:\n%s", r.out);
    th_result_free(&r);
}

Test(exec, output_over_the_cap_is_truncated_not_fatal, .timeout = 60)
{
    const char *json[] = {"exec",
                          "-i",
                          RACK_INV,
                          "--json",
                          "--limit",
                          "npu[001-003]",
                          "--max-output",
                          "1000",
                          "--",
                          "head -c 5000 /dev/zero | tr '\\0' a",
                          NULL};
    const char *fold[] = {
        "exec",    "-i",           RACK_INV,
        "--limit", "npu[001-003]", "--max-output",
        "1000",    "--",           "head -c 5000 /dev/zero | tr '\\0' a",
        NULL};
    struct th_result r;
    struct jv *doc;
    const struct jv *nodes;
    char *a1000 = af_malloc(1001), *line;

    memset(a1000, 'a', 1000);
    a1000[1000] = '\0';
    fleet_argv(&r, 45, json);
    cr_expect_eq(r.status, 0, "exit %d, stderr: %s", r.status, r.err);
    doc = exec_json(&r);
    nodes = jget(doc, "nodes");
    cr_assert_eq(nodes->n, 3);
    for (size_t i = 0; i < nodes->n; i++) {
        const struct jv *n = nodes->kids[i];

        cr_expect_str_eq(jstr(n, "status"), "ok");
        cr_expect_eq(jget(n, "truncated")->b, 1, "%s not truncated",
                     jstr(n, "name"));
        cr_expect_str_eq(jstr(n, "stdout"), a1000, "%s kept %zu bytes",
                         jstr(n, "name"), strlen(jstr(n, "stdout")));
    }
    jv_free(doc);
    th_result_free(&r);

    fleet_argv(&r, 45, fold);
    cr_expect_eq(r.status, 0, "exit %d, stderr: %s", r.status, r.err);
    cr_expect_not_null(strstr(r.out, "npu[001-003] (exit 0)\n"), "output:\n%s",
                       r.out);
    cr_expect_eq(count_of(r.out, "truncated"), 1, "output:\n%s", r.out);
    cr_expect_not_null(strstr(r.out, "[output truncated at 1000 bytes]"),
                       "output:\n%s", r.out);
    line = af_asprintf("\n%s\n", a1000);
    cr_expect_not_null(strstr(r.out, line), "no line of 1000 bytes:\n%s",
                       r.out);
    cr_expect_null(strstr(r.out, "aaaa\naaaa"), "more than kept:\n%s", r.out);
    free(line);
    th_result_free(&r);
    free(a1000);
}

Test(exec, limit_takes_groups_and_exclusions, .timeout = 120)
{
    int total = rack_size();
    struct th_result r;
    char *want;

    cr_assert_geq(total, 50);
    cr_assert_eq(th_fleet(&r, 90, "exec --limit rack01 -- true"), 0);
    cr_expect_eq(r.status, 0, "output:\n%s", r.out);
    want = af_asprintf("%d ok, 0 failed, 0 unreachable\n", total);
    cr_expect_not_null(strstr(r.out, want), "output:\n%s", r.out);
    free(want);
    th_result_free(&r);

    cr_assert_eq(th_fleet(&r, 45, "exec --limit npu[001-005],!npu002 -- true"),
                 0);
    cr_expect_eq(r.status, 0, "output:\n%s", r.out);
    cr_expect_not_null(strstr(r.out, "npu[001,003-005] (exit 0)\n"),
                       "output:\n%s", r.out);
    cr_expect_not_null(strstr(r.out, "4 ok, 0 failed, 0 unreachable\n"));
    th_result_free(&r);

    /* A group minus one node. */
    cr_assert_eq(th_fleet(&r, 90, "exec --limit rack01,!npu002 -- true"), 0);
    cr_expect_eq(r.status, 0, "output:\n%s", r.out);
    want = af_asprintf("%d ok, 0 failed, 0 unreachable\n", total - 1);
    cr_expect_not_null(strstr(r.out, want), "output:\n%s", r.out);
    free(want);
    want = af_asprintf("npu[001,003-%03d] (exit 0)\n", total);
    cr_expect_not_null(strstr(r.out, want), "output:\n%s", r.out);
    free(want);
    th_result_free(&r);
}

Test(exec, usage_errors_exit_2, .timeout = 60)
{
    struct th_result r;

    cr_assert_eq(th_fleet(&r, 20, "exec"), 0);
    cr_expect_eq(r.status, 2, "no command: exit %d", r.status);
    cr_expect_not_null(strstr(r.err, "no command"), "stderr: %s", r.err);
    th_result_free(&r);

    cr_assert_eq(th_fleet(&r, 20, "exec --"), 0);
    cr_expect_eq(r.status, 2, "empty command after --: exit %d", r.status);
    th_result_free(&r);

    cr_assert_eq(th_fleet(&r, 20, "exec -f 0 -- true"), 0);
    cr_expect_eq(r.status, 2, "-f 0: exit %d", r.status);
    cr_expect_not_null(strstr(r.err, "--fanout"), "stderr: %s", r.err);
    th_result_free(&r);

    cr_assert_eq(th_fleet(&r, 20, "exec --fanout many -- true"), 0);
    cr_expect_eq(r.status, 2, "--fanout many: exit %d", r.status);
    cr_expect_not_null(strstr(r.err, "many"), "stderr: %s", r.err);
    th_result_free(&r);

    cr_assert_eq(th_fleet(&r, 20, "exec --limit gpu[1-2] -- true"), 0);
    cr_expect_eq(r.status, 2, "unknown --limit: exit %d", r.status);
    cr_expect_not_null(strstr(r.err, "gpu[1-2]"), "stderr: %s", r.err);
    cr_expect_not_null(strstr(r.err, "matches no node"), "stderr: %s", r.err);
    cr_expect_str_eq(r.out, "", "a usage error ran something:\n%s", r.out);
    th_result_free(&r);

    cr_assert_eq(th_fleet(&r, 20, "exec --no-such-option -- true"), 0);
    cr_expect_eq(r.status, 2, "unknown option: exit %d", r.status);
    th_result_free(&r);
}

Test(exec, command_timeout_ends_the_run, .timeout = 60)
{
    struct th_result r;
    struct jv *doc;
    double t0 = now_s(), dt;

    cr_assert_eq(th_fleet(&r, 30,
                          "exec --json --timeout 2 "
                          "--limit npu[001-004] -- sleep 30"),
                 0);
    dt = now_s() - t0;
    cr_expect_lt(dt, 10.0, "a 2 s command timeout took %.1f s", dt);
    cr_expect_geq(dt, 1.9, "the run ended after %.1f s, before the timeout",
                  dt);
    cr_expect_eq(r.status, 1, "exit %d, stderr: %s", r.status, r.err);
    doc = exec_json(&r);
    cr_expect_eq(jcount_status(doc, "timeout"), 4, "output:\n%s", r.out);
    cr_expect_eq(jnum(jget(doc, "summary"), "timeout"), 4);
    jv_free(doc);
    th_result_free(&r);

    t0 = now_s();
    cr_assert_eq(th_fleet(&r, 30,
                          "exec --timeout 2 --limit npu[001-004] -- "
                          "sleep 30"),
                 0);
    dt = now_s() - t0;
    cr_expect_lt(dt, 10.0, "took %.1f s", dt);
    cr_expect_eq(r.status, 1);
    cr_expect_not_null(strstr(r.out, "npu[001-004] (timeout)\n"), "output:\n%s",
                       r.out);
    cr_expect_not_null(strstr(r.out, "4 timeout: npu[001-004]"), "output:\n%s",
                       r.out);
    th_result_free(&r);
}

/* The known_hosts text of the rack without the lines of node addr. */
static char *
kh_without(const char *rackkh, const char *addr)
{
    struct af_buf b;
    const char *p = rackkh, *nl;
    size_t al = strlen(addr);

    af_buf_init(&b, 0);
    for (; *p; p = nl ? nl + 1 : p + strlen(p)) {
        nl = strchr(p, '\n');
        if (strncmp(p, addr, al) == 0 && p[al] == ' ')
            continue;
        af_buf_append(&b, p, nl ? (size_t)(nl + 1 - p) : strlen(p));
    }
    af_buf_append(&b, "", 1);
    return af_buf_steal(&b);
}

Test(exec, revoked_host_key_is_refused_in_every_mode, .timeout = 180)
{
    char *rackkh = th_slurp(AF_RACK_DIR "/known_hosts", NULL);
    char *pub =
        th_slurp(AF_RACK_DIR "/nodes/npu014/ssh_host_ed25519_key.pub", NULL);
    char *addr = th_slurp(AF_RACK_DIR "/nodes/npu014/addr", NULL), *kh, *dir;
    char *inv, *khp, *text;
    struct th_result r;

    cr_assert(rackkh && pub && addr);
    addr[strcspn(addr, " \n")] = '\0';
    pub[strcspn(pub, "\n")] = '\0';
    /*
     * npu014's key revoked (under a host pattern that is not its address:
     * a revoked key is refused for every host) while its plain line is
     * still there; npu015's plain line removed, so accept-new would record
     * an unknown key; a @cert-authority line that must be skipped.
     */
    kh = kh_without(rackkh, "nothing");
    text = af_asprintf("@cert-authority *.example %s\n%s@revoked other %s\n",
                       pub, kh, pub);
    free(kh);
    dir = inventory_copy(text);
    inv = af_asprintf("%s/inventory.yaml", dir);
    khp = af_asprintf("%s/known_hosts", dir);
    {
        const char *strict[] = {"exec",         "-i", inv,        "--limit",
                                "npu[013-014]", "--", "hostname", NULL};

        fleet_argv(&r, 60, strict);
        cr_expect_eq(r.status, 1, "exit %d, output:\n%s", r.status, r.out);
        cr_expect_not_null(strstr(r.out, "REVOKED"), "output:\n%s", r.out);
        cr_expect_not_null(strstr(r.out, "1 ok, 0 failed, 1 unreachable: "
                                         "npu014"),
                           "output:\n%s", r.out);
        th_result_free(&r);
    }
    {
        const char *accept[] = {
            "exec",        "-i",         inv,  "--limit", "npu014",
            "--host-keys", "accept-new", "--", "true",    NULL};
        char *after;

        /* Unknown (its plain line gone) and revoked: still refused, and
         * accept-new records nothing. */
        kh = kh_without(text, addr);
        free(text);
        text = kh;
        {
            FILE *f = fopen(khp, "w");

            cr_assert_not_null(f);
            fputs(text, f);
            fclose(f);
        }
        fleet_argv(&r, 60, accept);
        cr_expect_eq(r.status, 1, "exit %d, output:\n%s", r.status, r.out);
        cr_expect_not_null(strstr(r.out, "REVOKED"), "output:\n%s", r.out);
        th_result_free(&r);
        after = th_slurp(khp, NULL);
        cr_expect_str_eq(after, text, "a revoked key was recorded");
        free(after);
    }
    free(khp);
    free(inv);
    remove_dir(dir);
    free(text);
    free(pub);
    free(addr);
    free(rackkh);
}
