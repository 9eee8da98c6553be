/* SPDX-License-Identifier: MIT */
/*
 * Inventory loading (defaults, group vars, host overrides, address pairing,
 * path expansion, nodes in several groups), every load error with its exact
 * FILE:LINE:COL, and --limit selection.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "af-err.h"
#include "af-yaml.h"
#include "inv.h"

#define DATA AF_SOURCE_DIR "/tests/unit/data/inventory/"

static struct inv *
load_valid(void)
{
    struct af_err e = {0};
    struct inv *inv = NULL;

    setenv("HOME", "/home/tester", 1);
    cr_assert_eq(inv_load(DATA "valid.yaml", &inv, &e), 0, "%s", e.msg);
    cr_assert_not_null(inv);
    return inv;
}

static const struct inv_node *
node(const struct inv *inv, const char *name)
{
    const struct inv_node *nd = inv_find(inv, name);

    cr_assert_not_null(nd, "no node %s", name);
    cr_assert_str_eq(nd->name, name);
    return nd;
}

/*
 * Load DATA file, expect code and a message that starts with exactly
 * "PATH:LINE:COL: " and contains needle.
 */
static void
expect_error(const char *file, int code, int line, int col, const char *needle)
{
    struct af_err e = {0};
    struct inv *inv = (struct inv *)1;
    char path[512], prefix[600];
    int r;

    snprintf(path, sizeof(path), DATA "%s", file);
    snprintf(prefix, sizeof(prefix), "%s:%d:%d: ", path, line, col);
    r = inv_load(path, &inv, &e);
    cr_assert_eq(r, code, "%s: got %d (%s), wanted %d", file, r, e.msg, code);
    cr_assert_null(inv, "%s: inventory returned on error", file);
    cr_assert_eq(e.code, code);
    cr_assert(strncmp(e.msg, prefix, strlen(prefix)) == 0,
              "%s: message '%s' does not start with '%s'", file, e.msg, prefix);
    cr_assert(strstr(e.msg, needle) != NULL, "%s: message '%s' lacks '%s'",
              file, e.msg, needle);
}

static int
in_group(const struct inv_node *nd, const char *g)
{
    size_t i;

    for (i = 0; i < nd->ngroups; i++)
        if (strcmp(nd->groups[i], g) == 0)
            return 1;
    return 0;
}

Test(inv, valid_file_counts_nodes_and_groups)
{
    struct inv *inv = load_valid();
    static const char *order[] = {"npu001", "npu002",  "npu003",
                                  "npu004", "login01", "npu005",
                                  "npu006", "mgmt01",  "bastion"};
    size_t i;

    cr_assert_eq(inv->nnodes, 9);
    for (i = 0; i < 9; i++) {
        cr_assert_str_eq(inv->nodes[i].name, order[i]);
        cr_assert_eq(inv->nodes[i].index, i);
        cr_assert_str_eq(inv->nodes[i].file, DATA "valid.yaml");
    }
    cr_assert_eq(inv->ngroups, 3);
    cr_assert_str_eq(inv->groups[0], "rack01");
    cr_assert_str_eq(inv->groups[1], "rack02");
    cr_assert_str_eq(inv->groups[2], "spare");
    cr_assert_null(inv_find(inv, "npu007"));
    cr_assert_null(inv_find(inv, "rack01"));
    cr_assert_eq(inv_group_index(inv, "spare"), 2);
    cr_assert_eq(inv_group_index(inv, "npu001"), -1);
    inv_free(inv);
}

Test(inv, defaults_group_vars_and_host_settings_layer)
{
    struct inv *inv = load_valid();
    const struct inv_node *n2 = node(inv, "npu002");
    const struct inv_node *login = node(inv, "login01");
    const struct inv_node *n5 = node(inv, "npu005");
    const struct inv_node *mgmt = node(inv, "mgmt01");

    /* defaults + rack01 vars */
    cr_assert_str_eq(n2->user, "ops");
    cr_assert_eq(n2->port, 2201);
    cr_assert_eq(n2->connect_timeout, 15);
    cr_assert_eq(n2->reboot_timeout, 900);
    cr_assert_eq(n2->command_timeout, INV_DEFAULT_COMMAND_TIMEOUT);
    cr_assert_str_eq(n2->reboot_command, "systemctl reboot");
    cr_assert_str_eq(n2->install_path, "/usr/local/Ascend");
    /* host item overrides */
    cr_assert_str_eq(login->user, "admin");
    cr_assert_str_eq(login->identity, "/etc/fleet/admin_key");
    cr_assert_eq(login->port, 2201);
    /* rack02 vars, built-in port */
    cr_assert_eq(n5->port, 22);
    cr_assert_eq(n5->command_timeout, 1200);
    cr_assert_eq(n5->reboot_timeout, INV_DEFAULT_REBOOT_TIMEOUT);
    /* ungrouped host */
    cr_assert_str_eq(mgmt->reboot_command, "/sbin/reboot -f");
    cr_assert_str_eq(mgmt->install_path, "/opt/Ascend");
    cr_assert_eq(mgmt->ngroups, 0);
    cr_assert_eq(mgmt->port, 22);
    cr_assert_str_eq(mgmt->user, "ops");
    inv_free(inv);
}

Test(inv, built_in_defaults_apply_without_defaults_section)
{
    struct af_err e = {0};
    struct inv *inv = NULL;
    const struct inv_node *nd;

    setenv("HOME", "/home/tester", 1);
    cr_assert_eq(inv_load(DATA "single-name.yaml", &inv, &e), 0, "%s", e.msg);
    nd = node(inv, "npu01");
    cr_assert_str_eq(nd->address, "npu01");
    cr_assert_str_eq(nd->user, "root");
    cr_assert_eq(nd->port, 22);
    cr_assert_str_eq(nd->identity, "/home/tester/.ssh/id_ed25519");
    cr_assert_str_eq(nd->known_hosts, "/home/tester/.ssh/known_hosts");
    cr_assert_eq(nd->connect_timeout, 10);
    cr_assert_eq(nd->command_timeout, 600);
    cr_assert_str_eq(nd->reboot_command, "systemctl reboot");
    cr_assert_eq(nd->reboot_timeout, 600);
    cr_assert_str_eq(nd->install_path, "/usr/local/Ascend");
    cr_assert_null(nd->hccn);
    cr_assert_null(inv->hccn);
    inv_free(inv);
}

Test(inv, address_ranges_pair_in_order_and_default_to_name)
{
    struct inv *inv = load_valid();

    cr_assert_str_eq(node(inv, "npu001")->address, "10.1.0.11");
    cr_assert_str_eq(node(inv, "npu004")->address, "10.1.0.14");
    cr_assert_str_eq(node(inv, "login01")->address, "10.1.9.1");
    cr_assert_str_eq(node(inv, "npu006")->address, "npu006");
    cr_assert_str_eq(node(inv, "bastion")->address, "bastion");
    inv_free(inv);
}

Test(inv, tilde_and_relative_paths_expand)
{
    struct inv *inv = load_valid();
    const struct inv_node *n1 = node(inv, "npu001");
    const struct inv_node *mgmt = node(inv, "mgmt01");

    cr_assert_str_eq(n1->identity, DATA "keys/id_fleet");
    cr_assert_str_eq(n1->known_hosts, "/home/tester/fleet/known_hosts");
    cr_assert_str_eq(mgmt->known_hosts, "/etc/ssh/ssh_known_hosts");
    inv_free(inv);
}

Test(inv, host_in_two_groups_with_same_address_joins_both)
{
    struct inv *inv = load_valid();
    const struct inv_node *n1 = node(inv, "npu001");
    const struct inv_node *n2 = node(inv, "npu002");

    cr_assert_eq(n1->ngroups, 2);
    cr_assert_str_eq(n1->groups[0], "rack01");
    cr_assert_str_eq(n1->groups[1], "rack02");
    cr_assert_eq(n2->ngroups, 1);
    cr_assert(in_group(n2, "rack01"));
    cr_assert(!in_group(n2, "rack02"));
    /* Where the node was first written. */
    cr_assert_eq(n1->line, 11);
    cr_assert_eq(n1->col, 15);
    inv_free(inv);
}

Test(inv, hccn_sections_are_kept_as_pointers)
{
    struct inv *inv = load_valid();
    const struct inv_node *n5 = node(inv, "npu005");
    const struct inv_node *n6 = node(inv, "npu006");

    cr_assert_not_null(inv->hccn);
    cr_assert_eq(inv->hccn->type, AF_YMAP);
    cr_assert_not_null(af_yaml_get(inv->hccn, "netmask"));
    cr_assert_not_null(n5->hccn);
    cr_assert_eq(n5->hccn, n6->hccn);
    cr_assert_str_eq(af_yaml_get(n5->hccn, "device_ip")->scalar,
                     "192.168.100.[1-8]");
    cr_assert_null(node(inv, "npu001")->hccn);
    inv_free(inv);
}

Test(inv, syntax_error_reports_position)
{
    expect_error("bad-syntax.yaml", AF_EYAML, 4, 1, "did not find expected");
}

Test(inv, missing_file_reports_errno)
{
    struct af_err e = {0};
    struct inv *inv = NULL;

    cr_assert_eq(inv_load(DATA "does-not-exist.yaml", &inv, &e), -ENOENT);
    cr_assert_null(inv);
    cr_assert(strstr(e.msg, "does-not-exist.yaml") != NULL, "%s", e.msg);
}

Test(inv, unknown_keys_say_where_keys_are_allowed)
{
    expect_error("unknown-top.yaml", AF_EINPUT, 3, 1,
                 "unknown key 'hostz' at the top level (allowed: defaults, "
                 "groups, hosts, hccn, ssh_config)");
    expect_error("unknown-defaults.yaml", AF_EINPUT, 3, 3,
                 "unknown key 'usr' in defaults (allowed: user, port,");
    expect_error("unknown-group-key.yaml", AF_EINPUT, 4, 5,
                 "unknown key 'children' in group 'rack01' (allowed: vars, "
                 "hosts, gateway)");
    expect_error("unknown-host-key.yaml", AF_EINPUT, 3, 5,
                 "unknown key 'adress' in a host entry (allowed: name, "
                 "address, hccn, user,");
    expect_error("unknown-vars-key.yaml", AF_EINPUT, 4, 7,
                 "unknown key 'ansible_user' in 'vars' of group 'rack01'");
}

Test(inv, wrong_types_are_rejected)
{
    expect_error("hosts-not-list.yaml", AF_EINPUT, 4, 7,
                 "'hosts' in group 'rack01' must be a list, not a mapping");
    expect_error("groups-not-map.yaml", AF_EINPUT, 2, 3,
                 "'groups' must be a mapping of group names, not a list");
    expect_error("port-not-int.yaml", AF_EINPUT, 2, 9,
                 "'port' must be an integer, got 'ssh'");
    expect_error("timeout-list.yaml", AF_EINPUT, 3, 21,
                 "'reboot_timeout' must be an integer, not a list");
    expect_error("user-list.yaml", AF_EINPUT, 3, 11,
                 "'user' must be a string, not a list");
    expect_error("hccn-not-map.yaml", AF_EINPUT, 3, 11,
                 "'hccn' must be a mapping, not a scalar");
    expect_error("top-not-map.yaml", AF_EINPUT, 1, 1,
                 "the inventory must be a mapping");
}

Test(inv, bad_ports_are_rejected)
{
    expect_error("port-range.yaml", AF_EINPUT, 3, 11,
                 "'port' must be a TCP port (1..65535), got 70000");
    expect_error("port-zero.yaml", AF_EINPUT, 4, 13,
                 "'port' must be a TCP port (1..65535), got 0");
}

Test(inv, bad_timeouts_are_rejected)
{
    expect_error("timeout-zero.yaml", AF_EINPUT, 2, 20,
                 "'connect_timeout' must be positive seconds");
    expect_error("timeout-negative.yaml", AF_EINPUT, 3, 22,
                 "'command_timeout' must be positive seconds (1..604800), "
                 "got -5");
}

Test(inv, address_range_must_pair_with_name_range)
{
    expect_error("range-mismatch.yaml", AF_EINPUT, 5, 18,
                 "name expands to 32 hosts but address to 31");
    expect_error("single-address.yaml", AF_EINPUT, 3, 14,
                 "name expands to 2 hosts but address is the single address "
                 "'10.1.0.1'");
}

Test(inv, duplicate_names_are_rejected_with_first_position)
{
    expect_error("dup-name.yaml", AF_EINPUT, 5, 15,
                 "duplicate node name 'npu03' (first defined at line 4, "
                 "column 15)");
    expect_error("dup-name-ungrouped.yaml", AF_EINPUT, 5, 5,
                 "duplicate node name 'npu01' (first defined at line 3, "
                 "column 13)");
    expect_error("dup-name-address.yaml", AF_EINPUT, 9, 18,
                 "node 'npu01' is also defined at line 4, column 15 with "
                 "address 10.0.0.1:22");
}

Test(inv, duplicate_address_and_port_is_rejected)
{
    expect_error("dup-address.yaml", AF_EINPUT, 5, 14,
                 "address 10.0.0.1:22 of node 'npu02' is already used by "
                 "node 'npu01' (line 2, column 11)");
}

Test(inv, empty_missing_and_bad_names_are_rejected)
{
    expect_error("empty-name.yaml", AF_EINPUT, 2, 11, "empty host name");
    expect_error("no-name.yaml", AF_EINPUT, 2, 5, "host entry without 'name'");
    expect_error("bad-name-range.yaml", AF_EINPUT, 2, 11,
                 "'name': reversed range '3-1' in 'npu[3-1]'");
}

Test(inv, group_named_like_a_host_is_rejected)
{
    expect_error("group-host-collision.yaml", AF_EINPUT, 2, 3,
                 "group 'login01' has the same name as the host defined at "
                 "line 5, column 5");
}

Test(inv, null_settings_are_unset_and_inherit)
{
    struct af_err e = {0};
    struct inv *inv = NULL;
    const struct inv_node *a, *b;

    setenv("HOME", "/home/tester", 1);
    cr_assert_eq(inv_load(DATA "null-settings.yaml", &inv, &e), 0, "%s", e.msg);
    a = node(inv, "npu01");
    b = node(inv, "npu02");
    /* `user: ~` and `identity: null` on the host: the group's values. */
    cr_assert_str_eq(a->user, "ops");
    cr_assert_str_eq(a->identity, "/keys/fleet");
    /* `user:` / `identity: ~` in the group: the defaults' values. */
    cr_assert_str_eq(b->user, "root");
    cr_assert_str_eq(b->identity, "/home/tester/.ssh/id_ed25519");
    cr_assert_eq(b->port, 2200);
    inv_free(inv);
}

Test(inv, values_that_reach_a_node_must_be_safe)
{
    expect_error("unsafe-install-path.yaml", AF_EINPUT, 4, 21,
                 "'install_path' character '$' is not allowed (allowed: "
                 "letters, digits and / . _ - + , : @ % =), got "
                 "'/opt/asc$(touch X)'");
    expect_error("space-install-path.yaml", AF_EINPUT, 3, 19,
                 "'install_path' spaces are not allowed");
    expect_error("newline-install-path.yaml", AF_EINPUT, 2, 17,
                 "'install_path' byte 0x0a is not allowed");
    expect_error("relative-install-path.yaml", AF_EINPUT, 2, 17,
                 "'install_path' must be an absolute path, got 'opt/ascend'");
    expect_error("unsafe-user.yaml", AF_EINPUT, 2, 25,
                 "'user' must be a login name");
    expect_error("unsafe-reboot.yaml", AF_EINPUT, 2, 19,
                 "'reboot_command' word 'reboot;': character ';' is not "
                 "allowed");
}

Test(inv, other_rejections)
{
    expect_error("tilde-user.yaml", AF_EINPUT, 2, 13, "only '~/' is expanded");
    expect_error("tilde-alone.yaml", AF_EINPUT, 2, 13,
                 "'identity': only '~/' is expanded, not '~'");
    expect_error("nul-user.yaml", AF_EYAML, 3, 11,
                 "NUL character (\\0) inside a value");
    expect_error("no-nodes.yaml", AF_EINPUT, 1, 1,
                 "the inventory defines no nodes");
}

/* ---- inv_select ------------------------------------------------------- */

/* Select with limit and compare with the space-separated names in want. */
static void
expect_select(const struct inv *inv, const char *limit, const char *want)
{
    struct af_err e = {0};
    size_t *idx = NULL, n = 0, i = 0;
    char got[512] = "";
    int r = inv_select(inv, limit, &idx, &n, &e);

    cr_assert_eq(r, 0, "--limit %s: %s", limit ? limit : "(null)", e.msg);
    for (i = 0; i < n; i++) {
        if (i > 0)
            strcat(got, " ");
        strcat(got, inv->nodes[idx[i]].name);
        if (i > 0)
            cr_assert_lt(idx[i - 1], idx[i], "not in inventory order");
    }
    cr_assert_str_eq(got, want, "--limit %s", limit ? limit : "(null)");
    free(idx);
}

static void
expect_select_error(const struct inv *inv, const char *limit, const char *msg)
{
    struct af_err e = {0};
    size_t *idx = (size_t *)1, n = 7;

    cr_assert_eq(inv_select(inv, limit, &idx, &n, &e), AF_EINPUT, "%s", limit);
    cr_assert_null(idx);
    cr_assert_eq(n, 0);
    cr_assert_str_eq(e.msg, msg);
}

Test(inv, select_all_without_limit)
{
    struct inv *inv = load_valid();
    const char *all = "npu001 npu002 npu003 npu004 login01 npu005 npu006 "
                      "mgmt01 bastion";

    expect_select(inv, NULL, all);
    inv_free(inv);
}

Test(inv, select_with_an_empty_limit_is_an_error)
{
    struct inv *inv = load_valid();

    expect_select_error(inv, "",
                        "--limit: empty pattern (leave --limit out "
                        "to select every node)");
    inv_free(inv);
}

Test(inv, select_by_pattern_group_and_at_group)
{
    struct inv *inv = load_valid();

    expect_select(inv, "npu[002-003]", "npu002 npu003");
    expect_select(inv, "rack02", "npu001 npu005 npu006");
    expect_select(inv, "@rack02", "npu001 npu005 npu006");
    expect_select(inv, "mgmt01,npu[001,004]", "npu001 npu004 mgmt01");
    expect_select(inv, "bastion, rack[02-03]",
                  "npu001 npu005 npu006 "
                  "bastion");
    inv_free(inv);
}

Test(inv, select_has_no_duplicates_and_keeps_inventory_order)
{
    struct inv *inv = load_valid();

    expect_select(inv, "npu006,rack02,npu001,npu001", "npu001 npu005 npu006");
    inv_free(inv);
}

Test(inv, select_exclusions)
{
    struct inv *inv = load_valid();

    expect_select(inv, "rack01,!login01", "npu001 npu002 npu003 npu004");
    expect_select(inv, "rack01,!@rack02", "npu002 npu003 npu004 login01");
    expect_select(inv, "!rack01,!npu[005-006]", "mgmt01 bastion");
    expect_select(inv, "!npu[001-006],!login01,!bastion", "mgmt01");
    inv_free(inv);
}

Test(inv, select_terms_that_match_nothing_are_errors)
{
    struct inv *inv = load_valid();

    expect_select_error(inv, "npu999",
                        "--limit: 'npu999' matches no node or group");
    expect_select_error(inv, "rack01,!nosuch",
                        "--limit: 'nosuch' matches no node or group");
    expect_select_error(inv, "@npu001",
                        "--limit: '@npu001' matches no node or group");
    expect_select_error(inv, "spare", "--limit: 'spare' selects no node");
    expect_select_error(inv, "npu001,!rack02",
                        "--limit: 'npu001,!rack02' selects no node");
    expect_select_error(inv, "npu001,,npu002",
                        "--limit: empty term in 'npu001,,npu002'");
    expect_select_error(inv, "npu[3-1]",
                        "--limit: reversed range '3-1' in 'npu[3-1]'");
    inv_free(inv);
}

Test(inv, find_is_exact)
{
    struct inv *inv = load_valid();

    cr_assert_null(inv_find(inv, "npu00"));
    cr_assert_null(inv_find(inv, "NPU001"));
    cr_assert_null(inv_find(inv, NULL));
    cr_assert_eq(node(inv, "bastion")->index, 8);
    inv_free(inv);
}
