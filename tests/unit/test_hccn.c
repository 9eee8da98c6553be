/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the hccn address plan: the manual recipe's layout, 910
 * multi-node and A2 plans, per-host pins, every validation error, rank table
 * JSON and the plan-versus-node verdict. Inventories are the fixtures under
 * tests/unit/data/hccn/, read with inv_load.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "af-err.h"
#include "hccn.h"
#include "inv.h"

#define DATA AF_SOURCE_DIR "/tests/unit/data/hccn/"

struct loaded {
    struct inv *inv;
    struct hccn_plan *plan;
    int rc;
    struct af_err err;
};

static struct loaded
load(const char *name)
{
    struct loaded l;
    struct af_err e;
    char path[512];
    int r;

    memset(&l, 0, sizeof(l));
    snprintf(path, sizeof(path), "%s%s", DATA, name);
    r = inv_load(path, &l.inv, &e);
    cr_assert_eq(r, 0, "inv_load %s: %s", name, e.msg);
    l.rc = hccn_plan_build(l.inv, &l.plan, &l.err);
    return l;
}

static void
unload(struct loaded *l)
{
    hccn_plan_free(l->plan);
    inv_free(l->inv);
}

static const char *
addr(const struct loaded *l, size_t node, int npu)
{
    const struct hccn_addr *a = hccn_plan_get(l->plan, node, npu);

    cr_assert_not_null(a, "no address for node %zu NPU %d", node, npu);
    return a->address;
}

/* 1 when some error of the plan contains every one of the needles. */
static int
has_error(const struct loaded *l, const char *n1, const char *n2)
{
    const char *const *errs;
    size_t n, i;

    errs = hccn_plan_errors(l->plan, &n);
    for (i = 0; i < n; i++)
        if (strstr(errs[i], n1) != NULL && (n2 == NULL || strstr(errs[i], n2)))
            return 1;
    return 0;
}

static void
dump_errors(const struct loaded *l)
{
    const char *const *errs;
    size_t n, i;

    errs = hccn_plan_errors(l->plan, &n);
    for (i = 0; i < n; i++)
        cr_log_info("hccn error: %s", errs[i]);
}

static unsigned
ip_u32(const char *s)
{
    unsigned a, b, c, d;

    cr_assert_eq(sscanf(s, "%u.%u.%u.%u", &a, &b, &c, &d), 4, "ip %s", s);
    return (a << 24) | (b << 16) | (c << 8) | d;
}

static int
u32_cmp(const void *x, const void *y)
{
    unsigned a = *(const unsigned *)x, b = *(const unsigned *)y;

    return a < b ? -1 : a > b;
}

Test(hccn, recipe_layout_is_exact)
{
    static const char *const want[8] = {
        "192.168.100.101", "192.168.101.101", "192.168.102.101",
        "192.168.103.101", "192.168.100.100", "192.168.101.100",
        "192.168.102.100", "192.168.103.100",
    };
    struct loaded l = load("recipe.yaml");
    int i;

    cr_assert_eq(l.rc, 0, "build: %s", l.err.msg);
    cr_assert(hccn_plan_valid(l.plan));
    cr_assert_eq(hccn_plan_npus(l.plan), 8);
    cr_assert_eq(hccn_plan_nodes(l.plan), 1);
    for (i = 0; i < 8; i++) {
        const struct hccn_addr *a = hccn_plan_get(l.plan, 0, i);

        cr_assert_str_eq(a->address, want[i], "NPU %d", i);
        cr_assert_str_eq(a->netmask, "255.255.255.0", "NPU %d", i);
        cr_assert_eq(a->plane, i % 4, "NPU %d", i);
        cr_assert_str_eq(a->gateway, "", "NPU %d", i);
        cr_assert_str_eq(a->detect, "", "NPU %d", i);
        cr_assert_eq(a->pinned, 0);
    }
    cr_assert_null(hccn_plan_get(l.plan, 0, 8));
    cr_assert_null(hccn_plan_get(l.plan, 1, 0));
    unload(&l);
}

Test(hccn, recipe_planes_keep_node0_and_number_others_upward)
{
    struct loaded l = load("recipe-3.yaml");
    int i;

    cr_assert_eq(l.rc, 0, "build: %s", l.err.msg);
    for (i = 0; i < 8; i++) {
        char want[3][16];
        const struct hccn_addr *a;
        int n;

        for (n = 0; n < 3; n++) {
            snprintf(want[n], sizeof(want[n]), "192.168.%d.%d", 100 + i % 4,
                     101 + 2 * n - i / 4);
            cr_assert_str_eq(addr(&l, (size_t)n, i), want[n], "node %d NPU %d",
                             n, i);
        }
        a = hccn_plan_get(l.plan, 2, i);
        snprintf(want[0], sizeof(want[0]), "192.168.%d.1", 100 + i % 4);
        cr_assert_str_eq(a->gateway, want[0], "NPU %d", i);
        cr_assert_str_eq(a->detect, want[0], "NPU %d", i);
    }
    unload(&l);
}

Test(hccn, cluster_910_128_nodes_unique_and_planar)
{
    struct loaded l = load("910-128.yaml");
    unsigned *all;
    size_t n, k = 0;
    int i;

    cr_assert_eq(l.rc, 0, "build: %s", l.err.msg);
    cr_assert_eq(hccn_plan_nodes(l.plan), 128);
    all = calloc(128 * 8, sizeof(*all));
    cr_assert_not_null(all);
    for (n = 0; n < 128; n++)
        for (i = 0; i < 8; i++) {
            const struct hccn_addr *a = hccn_plan_get(l.plan, n, i);
            const struct hccn_addr *z = hccn_plan_get(l.plan, 0, i);
            const struct hccn_addr *twin = hccn_plan_get(l.plan, n, i ^ 4);
            unsigned ip = ip_u32(a->address);

            /* same NPU index -> same /16 on every node */
            cr_assert_eq(ip >> 16, ip_u32(z->address) >> 16, "node %zu NPU %d",
                         n, i);
            /* NPU i and i+4 share a plane; 0..3 are all different */
            cr_assert_eq(a->plane, i % 4);
            cr_assert_eq(ip >> 16, ip_u32(twin->address) >> 16);
            cr_assert_eq(ip >> 16, (10u << 8 | (100u + (unsigned)i % 4)));
            cr_assert_str_eq(a->netmask, "255.255.0.0");
            cr_assert_neq(ip & 0xffffu, 0u);
            cr_assert_neq(ip & 0xffffu, 0xffffu);
            all[k++] = ip;
        }
    qsort(all, k, sizeof(*all), u32_cmp);
    for (n = 1; n < k; n++)
        cr_assert_neq(all[n], all[n - 1], "duplicate address %u", all[n]);
    /* Node 127 NPU 0: host 101 + 2*127 = 355 = 10.100.1.99 */
    cr_assert_str_eq(addr(&l, 127, 0), "10.100.1.99");
    cr_assert_str_eq(addr(&l, 127, 4), "10.100.1.98");
    free(all);
    unload(&l);
}

Test(hccn, appending_nodes_never_renumbers_existing_ones)
{
    struct loaded small = load("910-4.yaml");
    struct loaded big = load("910-128.yaml");
    size_t n;
    int i;

    cr_assert_eq(small.rc, 0, "build: %s", small.err.msg);
    cr_assert_eq(big.rc, 0, "build: %s", big.err.msg);
    for (n = 0; n < 4; n++)
        for (i = 0; i < 8; i++) {
            const struct hccn_addr *a = hccn_plan_get(small.plan, n, i);
            const struct hccn_addr *b = hccn_plan_get(big.plan, n, i);

            cr_assert_str_eq(a->address, b->address, "node %zu NPU %d", n, i);
            cr_assert_str_eq(a->gateway, b->gateway);
            cr_assert_str_eq(a->detect, b->detect);
        }
    cr_assert_str_eq(addr(&small, 0, 0), "10.100.0.101");
    cr_assert_str_eq(addr(&small, 0, 7), "10.103.0.100");
    unload(&small);
    unload(&big);
}

Test(hccn, a2_single_subnet_packs_all_npus_upward)
{
    struct loaded l = load("a2.yaml");
    size_t n;
    int i;

    cr_assert_eq(l.rc, 0, "build: %s", l.err.msg);
    for (n = 0; n < 16; n++)
        for (i = 0; i < 8; i++) {
            const struct hccn_addr *a = hccn_plan_get(l.plan, n, i);
            char want[16];

            snprintf(want, sizeof(want), "10.20.0.%zu", 2 + 8 * n + (size_t)i);
            cr_assert_str_eq(a->address, want, "node %zu NPU %d", n, i);
            cr_assert_eq(a->plane, 0);
            cr_assert_str_eq(a->netmask, "255.255.255.0");
            cr_assert_str_eq(a->gateway, "10.20.0.1");
            cr_assert_str_eq(a->detect, "10.20.0.1");
        }
    unload(&l);
}

Test(hccn, per_host_lists_and_slot_override_the_plan)
{
    struct loaded l = load("override.yaml");
    const struct hccn_addr *a;

    cr_assert_eq(l.rc, 0, "build: %s", l.err.msg);
    /* npu001 untouched */
    cr_assert_str_eq(addr(&l, 0, 0), "192.168.100.101");
    /* npu002 pinned */
    a = hccn_plan_get(l.plan, 1, 0);
    cr_assert_str_eq(a->address, "192.168.100.201");
    cr_assert_eq(a->pinned, 1);
    cr_assert_str_eq(a->detect, "192.168.100.254");
    cr_assert_str_eq(a->gateway, "192.168.100.1", "gateway from the plane");
    cr_assert_str_eq(addr(&l, 1, 7), "192.168.103.200");
    cr_assert_str_eq(hccn_plan_get(l.plan, 1, 7)->detect, "192.168.103.254");
    /* npu003 generated from slot 5: 101 + 10 - i/4 */
    a = hccn_plan_get(l.plan, 2, 3);
    cr_assert_str_eq(a->address, "192.168.103.111");
    cr_assert_eq(a->pinned, 0);
    cr_assert_str_eq(addr(&l, 2, 4), "192.168.100.110");
    unload(&l);
}

Test(hccn, explicit_layout_takes_host_lists)
{
    struct loaded l = load("explicit.yaml");
    const struct hccn_addr *a;

    cr_assert_eq(l.rc, 0, "build: %s", l.err.msg);
    a = hccn_plan_get(l.plan, 0, 7);
    cr_assert_str_eq(a->address, "10.20.0.9");
    cr_assert_str_eq(a->netmask, "255.255.255.0");
    cr_assert_eq(a->plane, -1);
    cr_assert_str_eq(a->gateway, "");
    a = hccn_plan_get(l.plan, 1, 0);
    cr_assert_str_eq(a->address, "10.20.0.12");
    cr_assert_str_eq(a->gateway, "10.20.0.1");
    unload(&l);
}

Test(hccn, address_errors_name_node_and_npu)
{
    struct loaded l = load("err-addr.yaml");
    size_t n;

    cr_assert_eq(l.rc, AF_EINPUT);
    dump_errors(&l);
    hccn_plan_errors(l.plan, &n);
    cr_assert_not(hccn_plan_valid(l.plan));
    cr_assert(has_error(&l,
                        "npu017 NPU 0: 192.168.100.100 is also the address "
                        "of npu001 NPU 4",
                        NULL));
    cr_assert(has_error(&l,
                        "err-addr.yaml:12:15: npu017 NPU 1: 10.0.0.5 is "
                        "outside its subnet 192.168.101.0/24",
                        NULL));
    cr_assert(has_error(&l,
                        "err-addr.yaml:13:15: npu017 NPU 2: 192.168.102.0 "
                        "is the network address of 192.168.102.0/24",
                        NULL));
    cr_assert(has_error(&l,
                        "npu017 NPU 3: 192.168.103.255 is the broadcast "
                        "address of 192.168.103.0/24",
                        NULL));
    cr_assert(has_error(&l,
                        "npu017 NPU 4: 192.168.100.1 is also the gateway "
                        "of plane 0",
                        NULL));
    cr_assert(has_error(&l,
                        "npu017 NPU 7: 192.168.103.50 is also the detect "
                        "IP of plane 3",
                        NULL));
    cr_assert_eq(n, 6, "exactly the six planted errors, got %zu", n);
    /* e carries the first one */
    cr_assert_neq(strstr(l.err.msg, "npu017 NPU"), NULL, "%s", l.err.msg);
    /* the good NPUs of the bad node are still planned */
    cr_assert_str_eq(addr(&l, 16, 5), "192.168.101.250");
    unload(&l);
}

Test(hccn, plane_too_small_for_the_nodes)
{
    struct loaded l = load("err-capacity.yaml");

    cr_assert_eq(l.rc, AF_EINPUT);
    dump_errors(&l);
    cr_assert(has_error(&l,
                        "plane 2 subnet 192.168.102.0/24 holds at most 253 "
                        "addresses, 130 nodes need 260",
                        NULL));
    cr_assert(has_error(&l,
                        "plane 0 subnet 192.168.100.0/24: first_host 101, "
                        "group_step -1, node_step 2 run out of the subnet "
                        "at node 77 (npu078)",
                        NULL));
    cr_assert(
        has_error(&l, "npu078 NPU 0: 192.168.100.255 is the broadcast", NULL));
    cr_assert(has_error(&l,
                        "npu079 NPU 4: host number 256 is outside its "
                        "subnet 192.168.100.0/24 (plane 0)",
                        NULL));
    /* 8 plane errors + 420 NPU errors: the list keeps HCCN_MAX_ERRORS and
     * counts the rest in a last line */
    {
        size_t n;
        const char *const *errs = hccn_plan_errors(l.plan, &n);

        cr_assert_eq(n, HCCN_MAX_ERRORS + 1, "got %zu errors", n);
        cr_assert_str_eq(errs[n - 1], "... and 228 more errors");
    }
    /* section-level errors come first, so e names the root cause */
    cr_assert_neq(strstr(l.err.msg, "holds at most"), NULL, "%s", l.err.msg);
    unload(&l);
}

Test(hccn, plane_definition_errors_have_positions)
{
    struct loaded l = load("err-planes.yaml");

    cr_assert_eq(l.rc, AF_EINPUT);
    dump_errors(&l);
    cr_assert(has_error(&l, "err-planes.yaml:10:",
                        "gateway 192.168.1.1 is "
                        "outside its subnet "
                        "192.168.101.0/24"));
    cr_assert(has_error(&l,
                        "err-planes.yaml:11:16: hccn plane 2 subnet: "
                        "192.168.102.5/24 is not a network address (did "
                        "you mean 192.168.102.0/24?)",
                        NULL));
    cr_assert(has_error(&l,
                        "err-planes.yaml:12:16: hccn plane 3 subnet: "
                        "192.168.103.0/16 disagrees with netmask "
                        "255.255.255.0",
                        NULL));
    unload(&l);
}

Test(hccn, bad_netmask_is_rejected)
{
    struct loaded l = load("err-netmask.yaml");

    cr_assert_eq(l.rc, AF_EINPUT);
    cr_assert(has_error(&l,
                        "err-netmask.yaml:6:12: hccn netmask: "
                        "'255.0.255.0' is not a netmask",
                        NULL),
              "%s", l.err.msg);
    unload(&l);
}

Test(hccn, unknown_section_key_reports_file_line_col)
{
    struct loaded l = load("err-section.yaml");

    cr_assert_eq(l.rc, AF_EINPUT);
    cr_assert_neq(strstr(l.err.msg, "err-section.yaml:7:3: hccn: unknown key "
                                    "'frist_host'"),
                  NULL, "%s", l.err.msg);
    unload(&l);
}

Test(hccn, malformed_host_overrides_report_positions)
{
    struct loaded l = load("err-host.yaml");

    cr_assert_eq(l.rc, AF_EINPUT);
    dump_errors(&l);
    cr_assert(has_error(&l,
                        "err-host.yaml:8:23: npu002 hccn device_ips: 7 "
                        "addresses for 8 NPUs",
                        NULL));
    cr_assert(has_error(&l,
                        "err-host.yaml:11:16: npu003 hccn: unknown key "
                        "'device_ip'",
                        NULL));
    cr_assert(has_error(&l, "err-host.yaml:13:",
                        "npu004 hccn detect_ips: "
                        "'192.168.101.x' is not an "
                        "IPv4 address"));
    /* npu001 is fine and still planned */
    cr_assert_str_eq(addr(&l, 0, 0), "192.168.100.101");
    unload(&l);
}

Test(hccn, missing_section_is_not_found)
{
    struct inv *inv = NULL;
    struct hccn_plan *plan = (struct hccn_plan *)1;
    struct af_err e;

    cr_assert_eq(inv_load(AF_SOURCE_DIR "/tests/unit/data/hccn/"
                                        "no-hccn.yaml",
                          &inv, &e),
                 0, "%s", e.msg);
    cr_assert_eq(hccn_plan_build(inv, &plan, &e), AF_ENOTFOUND);
    cr_assert_null(plan);
    cr_assert_neq(strstr(e.msg, "no hccn section"), NULL, "%s", e.msg);
    inv_free(inv);
}

Test(hccn, ranktable_for_two_nodes_is_exact)
{
    static const char want[] = "{\n"
                               "  \"version\": \"1.0\",\n"
                               "  \"server_count\": \"2\",\n"
                               "  \"server_list\": [\n"
                               "    {\n"
                               "      \"server_id\": \"10.1.0.12\",\n"
                               "      \"device\": [\n"
                               "        {\"device_id\": \"0\", \"device_ip\": "
                               "\"192.168.100.103\", \"rank_id\": \"0\"},\n"
                               "        {\"device_id\": \"1\", \"device_ip\": "
                               "\"192.168.101.103\", \"rank_id\": \"1\"},\n"
                               "        {\"device_id\": \"2\", \"device_ip\": "
                               "\"192.168.102.103\", \"rank_id\": \"2\"},\n"
                               "        {\"device_id\": \"3\", \"device_ip\": "
                               "\"192.168.103.103\", \"rank_id\": \"3\"},\n"
                               "        {\"device_id\": \"4\", \"device_ip\": "
                               "\"192.168.100.102\", \"rank_id\": \"4\"},\n"
                               "        {\"device_id\": \"5\", \"device_ip\": "
                               "\"192.168.101.102\", \"rank_id\": \"5\"},\n"
                               "        {\"device_id\": \"6\", \"device_ip\": "
                               "\"192.168.102.102\", \"rank_id\": \"6\"},\n"
                               "        {\"device_id\": \"7\", \"device_ip\": "
                               "\"192.168.103.102\", \"rank_id\": \"7\"}\n"
                               "      ]\n"
                               "    },\n"
                               "    {\n"
                               "      \"server_id\": \"10.1.0.13\",\n"
                               "      \"device\": [\n"
                               "        {\"device_id\": \"0\", \"device_ip\": "
                               "\"192.168.100.105\", \"rank_id\": \"8\"},\n"
                               "        {\"device_id\": \"1\", \"device_ip\": "
                               "\"192.168.101.105\", \"rank_id\": \"9\"},\n"
                               "        {\"device_id\": \"2\", \"device_ip\": "
                               "\"192.168.102.105\", \"rank_id\": \"10\"},\n"
                               "        {\"device_id\": \"3\", \"device_ip\": "
                               "\"192.168.103.105\", \"rank_id\": \"11\"},\n"
                               "        {\"device_id\": \"4\", \"device_ip\": "
                               "\"192.168.100.104\", \"rank_id\": \"12\"},\n"
                               "        {\"device_id\": \"5\", \"device_ip\": "
                               "\"192.168.101.104\", \"rank_id\": \"13\"},\n"
                               "        {\"device_id\": \"6\", \"device_ip\": "
                               "\"192.168.102.104\", \"rank_id\": \"14\"},\n"
                               "        {\"device_id\": \"7\", \"device_ip\": "
                               "\"192.168.103.104\", \"rank_id\": \"15\"}\n"
                               "      ]\n"
                               "    }\n"
                               "  ],\n"
                               "  \"status\": \"completed\"\n"
                               "}\n";
    struct loaded l = load("recipe-3.yaml");
    const size_t idx[2] = {1, 2};
    const char *const ids[2] = {"a\"b", "node_1"};
    struct af_err e;
    char *json = NULL;

    cr_assert_eq(l.rc, 0, "build: %s", l.err.msg);
    cr_assert_eq(hccn_ranktable_json(l.plan, l.inv, idx, 2, NULL, &json, &e), 0,
                 "%s", e.msg);
    cr_assert_str_eq(json, want);
    free(json);
    /* server ids given by the caller are JSON-escaped */
    cr_assert_eq(hccn_ranktable_json(l.plan, l.inv, idx, 2, ids, &json, &e), 0,
                 "%s", e.msg);
    cr_assert_neq(strstr(json, "\"server_id\": \"a\\\"b\""), NULL, "%s", json);
    free(json);
    unload(&l);
}

Test(hccn, ranktable_refuses_bad_input)
{
    struct loaded l = load("recipe-3.yaml");
    struct loaded bad = load("err-addr.yaml");
    const size_t twice[2] = {0, 0}, out[1] = {3}, one[1] = {0};
    const char *const same[2] = {"x", "x"};
    const size_t two[2] = {0, 1};
    char long_id[80];
    const char *const longs[1] = {long_id};
    struct af_err e;
    char sentinel[] = "sentinel";
    char *json = sentinel;

    memset(long_id, 'a', 65);
    long_id[65] = '\0';
    cr_assert_eq(hccn_ranktable_json(l.plan, l.inv, twice, 2, NULL, &json, &e),
                 AF_EINPUT);
    cr_assert_null(json);
    cr_assert_eq(hccn_ranktable_json(l.plan, l.inv, out, 1, NULL, &json, &e),
                 AF_EINPUT);
    cr_assert_eq(hccn_ranktable_json(l.plan, l.inv, two, 2, same, &json, &e),
                 AF_EINPUT);
    cr_assert_eq(hccn_ranktable_json(l.plan, l.inv, one, 1, longs, &json, &e),
                 AF_EINPUT);
    cr_assert_eq(hccn_ranktable_json(l.plan, l.inv, one, 0, NULL, &json, &e),
                 AF_EINPUT);
    cr_assert_eq(
        hccn_ranktable_json(bad.plan, bad.inv, one, 1, NULL, &json, &e),
        AF_EINPUT);
    cr_assert_neq(strstr(e.msg, "plan has errors"), NULL, "%s", e.msg);
    unload(&l);
    unload(&bad);
}

Test(hccn, diff_classifies_current_settings)
{
    struct loaded l = load("recipe.yaml");
    const struct hccn_addr *a;

    cr_assert_eq(l.rc, 0, "build: %s", l.err.msg);
    a = hccn_plan_get(l.plan, 0, 4);
    cr_assert_eq(hccn_plan_diff(a, "192.168.100.100", "255.255.255.0"),
                 HCCN_SAME);
    cr_assert_eq(hccn_plan_diff(a, "192.168.100.100", NULL), HCCN_SAME);
    cr_assert_eq(hccn_plan_diff(a, NULL, NULL), HCCN_SET);
    cr_assert_eq(hccn_plan_diff(a, "", ""), HCCN_SET);
    cr_assert_eq(hccn_plan_diff(a, "0.0.0.0", "0.0.0.0"), HCCN_SET);
    cr_assert_eq(hccn_plan_diff(a, "192.168.100.101", "255.255.255.0"),
                 HCCN_CHANGE);
    cr_assert_eq(hccn_plan_diff(a, "192.168.100.100", "255.255.0.0"),
                 HCCN_CHANGE);
    cr_assert_eq(hccn_plan_diff(a, "garbage", "255.255.255.0"), HCCN_CHANGE);
    cr_assert_str_eq(hccn_diff_str(HCCN_SAME), "same");
    cr_assert_str_eq(hccn_diff_str(HCCN_SET), "set");
    cr_assert_str_eq(hccn_diff_str(HCCN_CHANGE), "change");
    unload(&l);
}

Test(hccn, overlapping_planes_are_rejected)
{
    struct loaded l = load("err-overlap.yaml");

    cr_assert_eq(l.rc, AF_EINPUT);
    cr_assert(has_error(&l, "err-overlap.yaml:6:",
                        "hccn plane 1 subnet 10.1.0.0/16 overlaps plane 0 "
                        "subnet 10.0.0.0/8"),
              "%s", l.err.msg);
    unload(&l);
}

Test(hccn, explicit_layout_needs_lists_and_checks_gateways)
{
    struct loaded l = load("err-explicit.yaml");

    cr_assert_eq(l.rc, AF_EINPUT);
    dump_errors(&l);
    cr_assert(has_error(&l, "err-explicit.yaml:7:",
                        "npu001 NPU 7: gateway "
                        "10.30.0.1 is outside "
                        "10.20.0.0/24"));
    cr_assert(has_error(&l,
                        "npu002: layout explicit needs device_ips (8 "
                        "addresses)",
                        NULL));
    cr_assert_str_eq(hccn_plan_get(l.plan, 0, 0)->gateway, "10.20.0.1");
    unload(&l);
}

/* Found by fuzz_yaml: a section without planes gives an empty entry table,
 * which was sorted through a NULL pointer (UBSan aborts here). */
Test(hccn, section_without_planes_is_an_error_not_ub)
{
    struct loaded l = load("no-planes.yaml");

    cr_assert_eq(l.rc, AF_EINPUT, "rc %d: %s", l.rc, l.err.msg);
    cr_assert_not_null(l.plan);
    unload(&l);
}
