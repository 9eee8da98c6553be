/* SPDX-License-Identifier: MIT */
/*
 * The `gateway:` key of an inventory group (inventory/inv-gateway.c):
 * which gateway each node's pushes go through, and the load errors with
 * their FILE:LINE:COL.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "af-err.h"
#include "inv.h"

#define DATA AF_SOURCE_DIR "/tests/unit/data/inventory/"

static void
expect_error(const char *file, int line, int col, const char *needle)
{
    struct af_err e = {0};
    struct inv *inv = NULL;
    char path[512], prefix[600];

    snprintf(path, sizeof(path), DATA "%s", file);
    snprintf(prefix, sizeof(prefix), "%s:%d:%d: ", path, line, col);
    cr_assert_eq(inv_load(path, &inv, &e), AF_EINPUT, "%s: %s", file, e.msg);
    cr_assert_null(inv);
    cr_assert(strncmp(e.msg, prefix, strlen(prefix)) == 0,
              "%s: '%s' does not start with '%s'", file, e.msg, prefix);
    cr_assert(strstr(e.msg, needle) != NULL, "%s: '%s' lacks '%s'", file, e.msg,
              needle);
}

static const char *
gw_name(const struct inv *inv, const char *node)
{
    const struct inv_node *nd = inv_find(inv, node), *gw;

    cr_assert_not_null(nd, "no node %s", node);
    gw = inv_gateway(inv, nd);
    return gw != NULL ? gw->name : "-";
}

Test(inv_gateway, members_go_through_their_groups_gateway)
{
    struct af_err e = {0};
    struct inv *inv = NULL;

    setenv("HOME", "/home/tester", 1);
    cr_assert_eq(inv_load(DATA "gateway-ok.yaml", &inv, &e), 0, "%s", e.msg);
    cr_assert_str_eq(gw_name(inv, "npu001"), "npu002");
    cr_assert_str_eq(gw_name(inv, "npu004"), "npu002");
    /* The gateway itself, and a group without one, push directly. */
    cr_assert_str_eq(gw_name(inv, "npu002"), "-");
    cr_assert_str_eq(gw_name(inv, "npu006"), "npu005");
    cr_assert_str_eq(gw_name(inv, "npu007"), "-");
    inv_free(inv);
}

Test(inv_gateway, bad_gateways_are_rejected_with_their_position)
{
    setenv("HOME", "/home/tester", 1);
    expect_error("gateway-not-member.yaml", 3, 14,
                 "gateway 'npu009' of group 'rack01' is not a host of that "
                 "group");
    expect_error("gateway-overlap.yaml", 7, 5,
                 "host 'npu004' of group 'rack02' is also in group 'rack01', "
                 "which has a gateway too");
    expect_error("gateway-not-string.yaml", 3, 14, "'gateway' must be");
}
