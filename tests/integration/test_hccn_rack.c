/* SPDX-License-Identifier: MIT */
/*
 * `ascend-fleet hccn apply|verify` and `ascend-fleet ranktable` against the
 * shared simulated rack. The tests write their own inventory (nodes
 * npu017..npu036 of the rack, the manual recipe's four planes with a
 * gateway and detect IP on plane 0) and state file into a temp dir, put
 * the nodes they use into the "full" state (driver loaded, so hccn_tool
 * works) first, and put them back to fresh, with every fault cleared, at
 * the end.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "af-mem.h"
#include "harness.h"

#define FIRST_NODE  17 /* npu017 has inventory index 0 in our inventory */
#define NNODES      20 /* npu017 .. npu036 */
#define RUN_TIMEOUT 600

static char tmpdir[] = "/tmp/af-test-hccn-XXXXXX";
static char inv_path[256];
static char state_path[256];

static char *
node_name(int n)
{
    return af_asprintf("npu%03d", n);
}

/* Planned address of NPU i of the node with inventory index k. */
static char *
planned(int k, int i)
{
    return af_asprintf("192.168.%d.%d", 100 + i % 4, 101 + 2 * k - i / 4);
}

static char *
node_addr(const char *node)
{
    char *path = af_asprintf("%s/nodes/%s/addr", AF_RACK_DIR, node);
    char buf[64] = "";
    FILE *f = fopen(path, "r");

    cr_assert_not_null(f, "node %s has no addr file", node);
    cr_assert_not_null(fgets(buf, sizeof(buf), f));
    fclose(f);
    free(path);
    buf[strcspn(buf, "\n")] = '\0';
    return af_strdup(buf);
}

static void
write_inventory(void)
{
    FILE *f;
    int n;

    cr_assert_not_null(mkdtemp(tmpdir));
    snprintf(inv_path, sizeof(inv_path), "%s/inventory.yaml", tmpdir);
    snprintf(state_path, sizeof(state_path), "%s/state.db", tmpdir);
    f = fopen(inv_path, "w");
    cr_assert_not_null(f);
    fprintf(f,
            "defaults:\n"
            "  user: root\n"
            "  identity: %s/id_ed25519\n"
            "  known_hosts: %s/known_hosts\n"
            "  connect_timeout: 10\n"
            "hosts:\n",
            AF_RACK_DIR, AF_RACK_DIR);
    for (n = FIRST_NODE; n < FIRST_NODE + NNODES; n++) {
        char *name = node_name(n), *addr = node_addr(name);

        fprintf(f, "  - {name: %s, address: %s}\n", name, addr);
        free(name);
        free(addr);
    }
    fprintf(f, "hccn:\n"
               "  netmask: 255.255.255.0\n"
               "  planes:\n"
               "    - {subnet: 192.168.100.0/24, gateway: 192.168.100.1, "
               "detect: 192.168.100.1}\n"
               "    - 192.168.101.0/24\n"
               "    - 192.168.102.0/24\n"
               "    - 192.168.103.0/24\n");
    cr_assert_eq(fclose(f), 0);
}

/* Run ascend-fleet with "-i INV --state STATE" after the subcommand words
 * (those before the first word starting with '-'). */
static void
fleet(struct th_result *r, const char *fmt, ...)
{
    va_list ap;
    char *line, *save = NULL, *w;
    const char *argv[64];
    int n = 0, inserted = 0;

    va_start(ap, fmt);
    cr_assert_neq(vasprintf(&line, fmt, ap), -1);
    va_end(ap);
    argv[n++] = AF_BIN;
    for (w = strtok_r(line, " ", &save); w && n < 58;
         w = strtok_r(NULL, " ", &save)) {
        if (!inserted && w[0] == '-') {
            argv[n++] = "-i";
            argv[n++] = inv_path;
            argv[n++] = "--state";
            argv[n++] = state_path;
            inserted = 1;
        }
        argv[n++] = w;
    }
    if (!inserted) {
        argv[n++] = "-i";
        argv[n++] = inv_path;
        argv[n++] = "--state";
        argv[n++] = state_path;
    }
    argv[n] = NULL;
    cr_assert_eq(th_run(r, RUN_TIMEOUT, argv), 0, "cannot run %s", AF_BIN);
    cr_assert_not(r->timed_out, "ascend-fleet %s timed out", line);
    free(line);
}

/* The nodes first..last (rack numbers) as one word list for rack.sh. */
static char *
node_list(int first, int last)
{
    char *s = af_strdup(""), *t;
    int n;

    for (n = first; n <= last; n++) {
        t = af_asprintf("%s%snpu%03d", s, *s ? " " : "", n);
        free(s);
        s = t;
    }
    return s;
}

static void
reset_nodes(int first, int last, const char *state)
{
    char *list = node_list(first, last);

    cr_assert_eq(th_rack("reset %s --state %s", list, state), 0,
                 "rack.sh reset %s --state %s failed", list, state);
    free(list);
}

/* Value of key in the node's /etc/hccn.conf (last line wins), or NULL. */
static char *
conf_value(const char *node, const char *key)
{
    char *conf = th_node_file(node, "/etc/hccn.conf"), *p, *val = NULL;
    size_t kl = strlen(key);

    if (conf == NULL)
        return NULL;
    for (p = conf; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, key, kl) == 0 && p[kl] == '=') {
            free(val);
            val = af_strndup(p + kl + 1, strcspn(p + kl + 1, "\n"));
        }
    }
    free(conf);
    return val;
}

/* Lines of the node's events.log that record an hccn set. */
static int
hccn_set_events(const char *node)
{
    char *log = th_node_file(node, "/var/lib/fleet-sim/events.log"), *p;
    int n = 0;

    if (log == NULL)
        return 0;
    for (p = log; (p = strstr(p, " hccn set ")) != NULL; p++)
        n++;
    free(log);
    return n;
}

static void
expect_planned_conf(int first, int last)
{
    int n, i;

    for (n = first; n <= last; n++) {
        char *name = node_name(n);

        for (i = 0; i < 8; i++) {
            char key[32];
            char *want = planned(n - FIRST_NODE, i), *got;

            snprintf(key, sizeof(key), "address_%d", i);
            got = conf_value(name, key);
            cr_expect(got != NULL && strcmp(got, want) == 0,
                      "%s NPU %d: hccn.conf has %s, plan %s", name, i,
                      got ? got : "(none)", want);
            free(got);
            free(want);
        }
        free(name);
    }
}

static void
setup(void)
{
    write_inventory();
}

static void
remove_tmpdir(void)
{
    char *cmd = af_asprintf("rm -rf %s", tmpdir);

    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", tmpdir);
    free(cmd);
}

/* Back to fresh whatever happened (no assertions: cleanup must finish). */
static void
teardown_16(void)
{
    char *list = node_list(17, 32);

    if (th_rack("reset %s --state fresh", list) != 0)
        fprintf(stderr, "cannot reset %s\n", list);
    free(list);
    remove_tmpdir();
}

static void
teardown_faults(void)
{
    char *list = node_list(33, 36);

    th_rack("fault npu035 clear hccn-fail-3");
    th_rack("fault npu036 clear link-down-5");
    if (th_rack("reset %s --state fresh", list) != 0)
        fprintf(stderr, "cannot reset %s\n", list);
    free(list);
    remove_tmpdir();
}

/* 16 nodes: apply, apply again, ranktable refused, verify, rank table. */
Test(hccn,
     apply_is_idempotent_and_ranktable_follows_verify,
     .init = setup,
     .fini = teardown_16,
     .timeout = 1500)
{
    struct th_result r;
    int before[16], n, i, k;
    char *rt_path, *py;

    reset_nodes(17, 32, "full");

    fleet(&r, "hccn apply --limit npu[017-032]");
    cr_expect_eq(r.status, 0, "apply exited %d:\n%s%s", r.status, r.out, r.err);
    cr_expect(strstr(r.out, "applied: npu[017-032]") != NULL,
              "apply report:\n%s", r.out);
    th_result_free(&r);
    expect_planned_conf(17, 32);
    for (n = 17; n <= 32; n++) {
        char *name = node_name(n), *gw = conf_value(name, "gateway_4");

        before[n - 17] = hccn_set_events(name);
        cr_expect(before[n - 17] > 0, "%s logged no hccn set", name);
        cr_expect(gw != NULL && strcmp(gw, "192.168.100.1") == 0,
                  "%s NPU 4 gateway %s", name, gw ? gw : "(none)");
        free(gw);
        free(name);
    }

    /* Again: nothing to do, nothing set. */
    fleet(&r, "hccn apply --limit npu[017-032]");
    cr_expect_eq(r.status, 0, "second apply exited %d:\n%s%s", r.status, r.out,
                 r.err);
    cr_expect(strstr(r.out, "unchanged: npu[017-032]") != NULL,
              "second apply report:\n%s", r.out);
    th_result_free(&r);
    for (n = 17; n <= 32; n++) {
        char *name = node_name(n);

        cr_expect_eq(hccn_set_events(name), before[n - 17],
                     "%s: the second apply set something", name);
        free(name);
    }

    /* Not verified yet: the rank table is refused, naming the NPUs. */
    fleet(&r, "ranktable --limit npu[017-032]");
    cr_expect_eq(r.status, 1, "ranktable before verify exited %d", r.status);
    cr_expect(strstr(r.err, "npu017 NPU 0-7") != NULL, "refusal:\n%s", r.err);
    cr_expect_eq(r.out[0], '\0', "a refused rank table printed:\n%s", r.out);
    th_result_free(&r);

    fleet(&r, "hccn verify --limit npu[017-032]");
    cr_expect_eq(r.status, 0, "verify exited %d:\n%s%s", r.status, r.out,
                 r.err);
    cr_expect(strstr(r.out, "verified: npu[017-032]") != NULL,
              "verify report:\n%s", r.out);
    th_result_free(&r);

    rt_path = af_asprintf("%s/hccl.json", tmpdir);
    fleet(&r, "ranktable --limit npu[017-032] -o %s", rt_path);
    cr_expect_eq(r.status, 0, "ranktable exited %d:\n%s", r.status, r.err);
    th_result_free(&r);

    /* Parse with a real JSON parser; one line per device. */
    py = af_asprintf("import json,sys\n"
                     "t=json.load(open(sys.argv[1]))\n"
                     "print(t['version'],t['status'],t['server_count'],"
                     "len(t['server_list']))\n"
                     "for s in t['server_list']:\n"
                     "  for d in s['device']:\n"
                     "    print(s['server_id'],d['device_id'],d['device_ip'],"
                     "d['rank_id'])\n");
    {
        const char *argv[] = {"python3", "-c", py, rt_path, NULL};
        char *line, *save = NULL;
        char version[16], status[16], sid[64], ip[32];
        int count, nservers, dev, rank;

        cr_assert_eq(th_run(&r, 60, argv), 0);
        cr_assert_eq(r.status, 0, "rank table does not parse: %s", r.err);
        line = strtok_r(r.out, "\n", &save);
        cr_assert_not_null(line);
        cr_assert_eq(
            sscanf(line, "%15s %15s %d %d", version, status, &count, &nservers),
            4);
        cr_expect_str_eq(version, "1.0");
        cr_expect_str_eq(status, "completed");
        cr_expect_eq(count, 16);
        cr_expect_eq(nservers, 16);
        for (k = 0; k < 16; k++) {
            char *name = node_name(17 + k), *addr = node_addr(name);

            for (i = 0; i < 8; i++) {
                char *want = planned(k, i);

                line = strtok_r(NULL, "\n", &save);
                cr_assert_not_null(line, "rank table ends early");
                cr_assert_eq(
                    sscanf(line, "%63s %d %31s %d", sid, &dev, ip, &rank), 4);
                cr_expect_str_eq(sid, addr);
                cr_expect_eq(dev, i);
                cr_expect_str_eq(ip, want, "rank %d: device_ip %s, plan %s",
                                 rank, ip, want);
                cr_expect_eq(rank, k * 8 + i);
                free(want);
            }
            free(addr);
            free(name);
        }
        cr_expect_null(strtok_r(NULL, "\n", &save), "extra devices");
        th_result_free(&r);
    }
    free(py);
    free(rt_path);
}

/* A wrong address, a failing hccn_tool and a down link, on 4 nodes. */
Test(hccn,
     faults_are_refused_reported_and_corrected,
     .init = setup,
     .fini = teardown_faults,
     .timeout = 1200)
{
    struct th_result r;
    char *got, *want;

    reset_nodes(33, 36, "full");
    fleet(&r, "hccn apply --limit npu[033-036]");
    cr_assert_eq(r.status, 0, "apply exited %d:\n%s%s", r.status, r.out, r.err);
    th_result_free(&r);

    /* npu034 NPU 2 configured by hand with another address. */
    cr_assert_eq(th_rack("exec npu034 -- /usr/local/Ascend/driver/tools/"
                         "hccn_tool -i 2 -ip -s address 192.168.102.77 "
                         "netmask 255.255.255.0"),
                 0);
    want = planned(34 - FIRST_NODE, 2);
    fleet(&r, "hccn apply --limit npu[033-036]");
    cr_expect_eq(r.status, 1, "apply with a changed address exited %d",
                 r.status);
    {
        char *msg = af_asprintf(
            "refused: npu034: NPU 2: configured 192.168.102.77 differs from "
            "plan %s; rerun with --force to change it",
            want);

        cr_expect(strstr(r.out, msg) != NULL, "report:\n%s", r.out);
        free(msg);
    }
    cr_expect(strstr(r.out, "unchanged: npu[033,035-036]") != NULL,
              "report:\n%s", r.out);
    th_result_free(&r);
    got = conf_value("npu034", "address_2");
    cr_expect(got && strcmp(got, "192.168.102.77") == 0,
              "refused address was changed to %s", got ? got : "(none)");
    free(got);

    fleet(&r, "hccn apply --limit npu[033-036] --force");
    cr_expect_eq(r.status, 0, "apply --force exited %d:\n%s", r.status, r.out);
    cr_expect(strstr(r.out, "applied: npu034") != NULL, "report:\n%s", r.out);
    th_result_free(&r);
    got = conf_value("npu034", "address_2");
    cr_expect(got && strcmp(got, want) == 0, "npu034 NPU 2 now %s, plan %s",
              got ? got : "(none)", want);
    free(got);
    free(want);

    /* npu035 loses its settings and NPU 3's hccn_tool fails. */
    cr_assert_eq(th_rack("exec npu035 -- rm -f /etc/hccn.conf"), 0);
    cr_assert_eq(th_rack("fault npu035 set hccn-fail-3"), 0);
    fleet(&r, "hccn apply --limit npu[033-036]");
    cr_expect_eq(r.status, 1, "apply with a failing tool exited %d", r.status);
    cr_expect(strstr(r.out, "failed: npu035: NPU 3: setting the address "
                            "failed: Cmd execute failed! device 3") != NULL,
              "report:\n%s", r.out);
    cr_expect(strstr(r.out, "unchanged: npu[033-034,036]") != NULL,
              "report:\n%s", r.out);
    th_result_free(&r);
    /* The other NPUs of that node were still applied. */
    got = conf_value("npu035", "address_4");
    want = planned(35 - FIRST_NODE, 4);
    cr_expect(got && strcmp(got, want) == 0, "npu035 NPU 4 %s, plan %s",
              got ? got : "(none)", want);
    free(got);
    free(want);
    cr_assert_eq(th_rack("fault npu035 clear hccn-fail-3"), 0);
    fleet(&r, "hccn apply --limit npu[033-036]");
    cr_expect_eq(r.status, 0, "apply after the fault exited %d:\n%s", r.status,
                 r.out);
    cr_expect(strstr(r.out, "applied: npu035") != NULL, "report:\n%s", r.out);
    th_result_free(&r);

    /* A down link on npu036 NPU 5. */
    cr_assert_eq(th_rack("fault npu036 set link-down-5"), 0);
    fleet(&r, "hccn verify --limit npu[033-036]");
    cr_expect_eq(r.status, 1, "verify with a down link exited %d", r.status);
    cr_expect(strstr(r.out, "failed: npu036: NPU 5: link DOWN") != NULL,
              "report:\n%s", r.out);
    th_result_free(&r);
    fleet(&r, "ranktable --limit npu[033-036]");
    cr_expect_eq(r.status, 1, "ranktable with a down link exited %d", r.status);
    cr_expect(strstr(r.err, "npu036 NPU 5") != NULL, "refusal:\n%s", r.err);
    th_result_free(&r);
    cr_assert_eq(th_rack("fault npu036 clear link-down-5"), 0);

    fleet(&r, "hccn verify --limit npu[033-036]");
    cr_expect_eq(r.status, 0, "verify after the fault exited %d:\n%s", r.status,
                 r.out);
    th_result_free(&r);
}

static void
teardown_unset(void)
{
    char *list = node_list(33, 36);

    if (th_rack("reset %s --state fresh", list) != 0)
        fprintf(stderr, "cannot reset %s\n", list);
    free(list);
    remove_tmpdir();
}

/*
 * A never-configured NPU reads as an empty value (npu034), 0.0.0.0
 * (npu035) or a failing `hccn_tool -ip -g` (npu036) while /etc/hccn.conf
 * has no address_N line: all mean unset, so apply configures them; facts
 * show them unset ("") and `hccn plan` says "set".
 */
Test(hccn,
     never_configured_npus_read_as_unset_in_every_form,
     .init = setup,
     .fini = teardown_unset,
     .timeout = 1200)
{
    static const char *const forms[] = {"empty", "zero", "error"};
    struct th_result r;
    int n;

    reset_nodes(34, 36, "full");
    for (n = 34; n <= 36; n++) {
        cr_assert_eq(th_rack("exec npu%03d -- rm -f /etc/hccn.conf", n), 0);
        cr_assert_eq(
            th_rack("fault npu%03d set hccn-unset %s", n, forms[n - 34]), 0);
    }
    fleet(&r, "facts --json --limit npu[034-036]");
    cr_expect_eq(r.status, 0, "facts exited %d:\n%s%s", r.status, r.out, r.err);
    cr_expect_null(strstr(r.out, "\"hccn.2.address\": \"0.0.0.0\""), "%s",
                   r.out);
    th_result_free(&r);
    fleet(&r, "hccn plan --limit npu[034-036]");
    cr_expect_null(strstr(r.out, "unknown"), "plan:\n%s%s", r.out, r.err);
    th_result_free(&r);

    fleet(&r, "hccn apply --limit npu[034-036]");
    cr_expect_eq(r.status, 0, "apply exited %d:\n%s%s", r.status, r.out, r.err);
    cr_expect(strstr(r.out, "applied: npu[034-036]") != NULL,
              "apply report:\n%s%s", r.out, r.err);
    th_result_free(&r);
    expect_planned_conf(34, 36);
}

/* One integer from the state file (sqlite3_mprintf formatting), -1 on
 * any error. */
static long long
sql_int(const char *db, const char *fmt, ...)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *s = NULL;
    long long v = -1;
    char *sql;
    va_list ap;

    va_start(ap, fmt);
    sql = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(h, sql, -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(h);
    sqlite3_free(sql);
    return v;
}

static void
teardown_ident(void)
{
    char *list = node_list(33, 34);

    if (th_rack("reset %s --state fresh", list) != 0)
        fprintf(stderr, "cannot reset %s\n", list);
    free(list);
    remove_tmpdir();
}

/* A copy of our inventory at path with every "from" replaced by "to"
 * (one pass), and known_hosts pointing at kh when kh is not NULL. */
static void
inventory_variant(const char *path,
                  const char *const *from,
                  const char *const *to,
                  size_t n,
                  const char *kh)
{
    char *inv = th_slurp(inv_path, NULL), *p;
    FILE *f = fopen(path, "w");
    size_t i;

    cr_assert_not_null(inv);
    cr_assert_not_null(f);
    for (p = inv; *p;) {
        for (i = 0; i < n; i++)
            if (strncmp(p, from[i], strlen(from[i])) == 0)
                break;
        if (i < n) {
            fputs(to[i], f);
            p += strlen(from[i]);
        } else if (kh != NULL && strncmp(p, "  known_hosts: ", 15) == 0) {
            fprintf(f, "  known_hosts: %s\n", kh);
            p += strcspn(p, "\n") + 1;
        } else {
            fputc(*p++, f);
        }
    }
    cr_assert_eq(fclose(f), 0);
    free(inv);
}

/*
 * hccn results are bound to the machine (address and host key) they were
 * recorded on: an inventory whose node names point at other addresses, or
 * whose known_hosts trusts another key for a node's address, gets no rank
 * table from them.
 */
Test(hccn,
     ranktable_refuses_results_recorded_on_other_machines,
     .init = setup,
     .fini = teardown_ident,
     .timeout = 900)
{
    struct th_result r;
    char *a33 = node_addr("npu033"), *a34 = node_addr("npu034");
    char *w33 = af_asprintf("name: npu033, address: %s}", a33);
    char *w34 = af_asprintf("name: npu034, address: %s}", a34);
    char *s33 = af_asprintf("name: npu033, address: %s}", a34);
    char *s34 = af_asprintf("name: npu034, address: %s}", a33);
    const char *from[2] = {w33, w34}, *to[2] = {s33, s34};
    char *other = af_asprintf("%s/other.yaml", tmpdir);
    char *khp = af_asprintf("%s/kh", tmpdir);
    char *kh = th_slurp(AF_RACK_DIR "/known_hosts", NULL), *line, *save = NULL;
    FILE *f;
    long long nid;

    reset_nodes(33, 34, "full");
    fleet(&r, "hccn apply --limit npu[033-034]");
    cr_assert_eq(r.status, 0, "apply: %s%s", r.out, r.err);
    th_result_free(&r);
    fleet(&r, "hccn verify --limit npu[033-034]");
    cr_assert_eq(r.status, 0, "verify: %s%s", r.out, r.err);
    th_result_free(&r);
    /* Each row carries the node's address and a SHA-256 host key. */
    nid = sql_int(state_path,
                  "SELECT count(*) FROM hccn_results WHERE node IN "
                  "('npu033', 'npu034') AND host_key LIKE 'SHA256:%%' AND "
                  "node_address = CASE node WHEN 'npu033' THEN '%s' "
                  "ELSE '%s' END",
                  a33, a34);
    cr_expect_eq(nid, 16, "rows with the node's identity: %lld", nid);
    fleet(&r, "ranktable --limit npu[033-034]");
    cr_expect_eq(r.status, 0, "ranktable: %s", r.err);
    th_result_free(&r);

    /* Same names, swapped addresses: refused, naming both and why. */
    inventory_variant(other, from, to, 2, NULL);
    {
        const char *argv[] = {AF_BIN,    "ranktable",    "-i",
                              other,     "--state",      state_path,
                              "--limit", "npu[033-034]", NULL};
        char *want33 = af_asprintf("npu033: address %s -> %s", a33, a34);

        cr_assert_eq(th_run(&r, 60, argv), 0);
        cr_expect_eq(r.status, 1, "exit %d: %s", r.status, r.err);
        cr_expect(strstr(r.err, want33) != NULL &&
                      strstr(r.err, "npu034: address") != NULL &&
                      strstr(r.err, "other machines") != NULL,
                  "refusal:\n%s", r.err);
        cr_expect_str_eq(r.out, "", "a rank table was written");
        th_result_free(&r);
        free(want33);
    }

    /* Same addresses, but known_hosts trusts npu034's key for npu033's
     * address: refused as another machine. */
    f = fopen(khp, "w");
    cr_assert_not_null(f);
    for (line = strtok_r(kh, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        size_t al = strcspn(line, " ");

        if (al == strlen(a34) && strncmp(line, a34, al) == 0)
            fprintf(f, "%s%s\n", a33, line + al);
        else if (!(al == strlen(a33) && strncmp(line, a33, al) == 0))
            fprintf(f, "%s\n", line);
    }
    cr_assert_eq(fclose(f), 0);
    inventory_variant(other, NULL, NULL, 0, khp);
    {
        const char *argv[] = {AF_BIN,    "ranktable", "-i",
                              other,     "--state",   state_path,
                              "--limit", "npu033",    NULL};

        cr_assert_eq(th_run(&r, 60, argv), 0);
        cr_expect_eq(r.status, 1, "exit %d: %s", r.status, r.err);
        cr_expect(strstr(r.err, "npu033: host key SHA256:") != NULL,
                  "refusal:\n%s", r.err);
        th_result_free(&r);
    }
    free(kh);
    free(khp);
    free(other);
    free(w33);
    free(w34);
    free(s33);
    free(s34);
    free(a33);
    free(a34);
}
