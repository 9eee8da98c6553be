/* SPDX-License-Identifier: MIT */
/*
 * `ascend-fleet inventory check|show`: load the inventory, report the first
 * problem as FILE:LINE:COL, or list the nodes a --limit selects as a table
 * or one JSON document. Reads only the inventory file; contacts no node.
 */
#define _GNU_SOURCE /* getopt_long */

/*
 * int cmd_inventory_main(int argc, char **argv);
 * is declared in cmd.h; argv[0] is "inventory".
 */
#include "cmd.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "af-buf.h"
#include "af-err.h"
#include "af-mem.h"
#include "af-json.h"
#include "inv.h"
#include "report.h"

#define DEFAULT_INVENTORY "./inventory.yaml"

enum {
    OPT_LIMIT = 1000,
    OPT_JSON,
};

static void
usage(FILE *out)
{
    fprintf(out,
            "usage: ascend-fleet inventory check [-i FILE]\n"
            "       ascend-fleet inventory show [-i FILE] [--limit PATTERN] "
            "[--json]\n"
            "\n"
            "  check   load and validate the inventory; print\n"
            "          \"FILE: N nodes in M groups: OK\", or the first "
            "problem as\n"
            "          FILE:LINE:COL: message\n"
            "  show    list the selected nodes (name, address:port, user, "
            "groups)\n"
            "\n"
            "  -i, --inventory FILE   inventory (default %s)\n"
            "      --limit PATTERN    only these nodes: hostlists, groups, "
            "@groups,\n"
            "                         !exclusions, comma-separated\n"
            "  -w NODES, -x NODES     as --limit NODES, --limit '!NODES'\n"
            "      --json             one JSON document instead of a table\n"
            "  -h, --help             this help\n"
            "\n"
            "Exit status: 0 ok, 2 invalid inventory, --limit or usage.\n",
            DEFAULT_INVENTORY);
}

/*
 * Parse the options of one subcommand (argv[0] is its name). Returns -1 to
 * go on, or the exit code to return now.
 */
static int
parse_opts(int argc,
           char **argv,
           int show,
           const char **path,
           struct cmd_opts *o,
           int *json)
{
    static const struct option longopts[] = {
        {"inventory", required_argument, NULL, 'i'},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;

    *path = DEFAULT_INVENTORY;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "i:w:x:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'i':
            *path = optarg;
            break;
        case 'h':
            usage(stdout);
            return AF_EXIT_OK;
        case OPT_LIMIT:
        case OPT_JSON:
        case 'w':
        case 'x':
            if (!show) {
                fprintf(stderr, "ascend-fleet inventory %s: --%s is only "
                        "for 'show'\n", argv[0],
                        opt == OPT_JSON ? "json" : "limit");
                return AF_EXIT_USAGE;
            }
            if (opt == OPT_JSON)
                *json = 1;
            else if (cmd_opts_handle(o, "inventory show",
                                     opt == OPT_LIMIT ? CMD_OPT_LIMIT : opt,
                                     optarg) < 0)
                return AF_EXIT_USAGE;
            break;
        default:
            usage(stderr);
            return AF_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ascend-fleet inventory %s: unexpected argument "
                "'%s'\n", argv[0], argv[optind]);
        usage(stderr);
        return AF_EXIT_USAGE;
    }
    o->inventory = *path;
    if ((opt = cmd_limit_finish(o, "inventory show")) != 0)
        return opt;
    return -1;
}

static int
load(const char *path, struct inv **inv)
{
    struct af_err e = {0};

    if (inv_load(path, inv, &e) != 0) {
        /* Bare FILE:LINE:COL so editors and CI annotators can jump. */
        fprintf(stderr, "%s\n", e.msg);
        return AF_EXIT_USAGE;
    }
    return AF_EXIT_OK;
}

static int
inventory_check(int argc, char **argv)
{
    struct inv *inv = NULL;
    const char *path;
    struct cmd_opts o;
    int json = 0, rc;

    cmd_opts_init(&o);
    if ((rc = parse_opts(argc, argv, 0, &path, &o, &json)) >= 0)
        return rc;
    if ((rc = load(path, &inv)) != AF_EXIT_OK)
        return rc;
    printf("%s: %zu nodes in %zu groups: OK\n", path, inv->nnodes,
           inv->ngroups);
    inv_free(inv);
    return AF_EXIT_OK;
}

static void
put_groups(struct af_buf *b, const struct inv_node *nd)
{
    size_t i;

    for (i = 0; i < nd->ngroups; i++) {
        if (i > 0)
            af_buf_puts(b, ",");
        af_buf_puts(b, nd->groups[i]);
    }
    if (nd->ngroups == 0)
        af_buf_puts(b, "-");
}

static void
show_json(const struct inv *inv, const size_t *idx, size_t n,
          struct af_buf *b)
{
    struct af_json j;
    size_t i, g;

    afj_init(&j, b);
    afj_obj_begin(&j);
    afj_kint(&j, "v", REPORT_JSON_VERSION);
    afj_key(&j, "nodes");
    afj_arr_begin(&j);
    for (i = 0; i < n; i++) {
        const struct inv_node *nd = &inv->nodes[idx[i]];

        afj_obj_begin(&j);
        afj_kstr(&j, "name", nd->name);
        afj_kstr(&j, "address", nd->address);
        afj_kint(&j, "port", nd->port);
        afj_kstr(&j, "user", nd->user);
        afj_kstr(&j, "identity", nd->identity);
        afj_kstr(&j, "known_hosts", nd->known_hosts);
        afj_kint(&j, "connect_timeout", nd->connect_timeout);
        afj_kint(&j, "command_timeout", nd->command_timeout);
        afj_kstr(&j, "reboot_command", nd->reboot_command);
        afj_kint(&j, "reboot_timeout", nd->reboot_timeout);
        afj_kstr(&j, "install_path", nd->install_path);
        afj_key(&j, "groups");
        afj_arr_begin(&j);
        for (g = 0; g < nd->ngroups; g++)
            afj_str(&j, nd->groups[g]);
        afj_arr_end(&j);
        afj_obj_end(&j);
    }
    afj_arr_end(&j);
    afj_kuint(&j, "count", n);
    afj_obj_end(&j);
    af_buf_puts(b, "\n");
}

/* "addr:port", with IPv6 addresses in brackets. */
static char *
endpoint(const struct inv_node *nd)
{
    struct af_buf b;

    af_buf_init(&b, 0);
    if (strchr(nd->address, ':') != NULL)
        af_buf_printf(&b, "[%s]:%d", nd->address, nd->port);
    else
        af_buf_printf(&b, "%s:%d", nd->address, nd->port);
    return af_buf_steal(&b);
}

static void
show_table(const struct inv *inv, const size_t *idx, size_t n,
           struct af_buf *b)
{
    size_t i, wname = 4, waddr = 7, wuser = 4;
    char **ep = af_calloc(n ? n : 1, sizeof(*ep));

    for (i = 0; i < n; i++) {
        const struct inv_node *nd = &inv->nodes[idx[i]];

        ep[i] = endpoint(nd);
        if (strlen(nd->name) > wname)
            wname = strlen(nd->name);
        if (strlen(ep[i]) > waddr)
            waddr = strlen(ep[i]);
        if (strlen(nd->user) > wuser)
            wuser = strlen(nd->user);
    }
    af_buf_printf(b, "%-*s  %-*s  %-*s  %s\n", (int)wname, "NAME",
                  (int)waddr, "ADDRESS", (int)wuser, "USER", "GROUPS");
    for (i = 0; i < n; i++) {
        const struct inv_node *nd = &inv->nodes[idx[i]];

        af_buf_printf(b, "%-*s  %-*s  %-*s  ", (int)wname, nd->name,
                      (int)waddr, ep[i], (int)wuser, nd->user);
        put_groups(b, nd);
        af_buf_puts(b, "\n");
        free(ep[i]);
    }
    free(ep);
}

static int
inventory_show(int argc, char **argv)
{
    struct af_err e = {0};
    struct inv *inv = NULL;
    struct af_buf out;
    const char *path;
    struct cmd_opts o;
    size_t *idx = NULL, n = 0;
    int json = 0, rc;

    cmd_opts_init(&o);
    if ((rc = parse_opts(argc, argv, 1, &path, &o, &json)) >= 0)
        return rc;
    if ((rc = load(path, &inv)) != AF_EXIT_OK)
        return rc;
    if (inv_select(inv, o.limit, &idx, &n, &e) != 0) {
        fprintf(stderr, "ascend-fleet inventory show: %s\n", e.msg);
        inv_free(inv);
        return AF_EXIT_USAGE;
    }
    af_buf_init(&out, 0);
    if (json)
        show_json(inv, idx, n, &out);
    else
        show_table(inv, idx, n, &out);
    fwrite(out.data, 1, out.len, stdout);
    af_buf_free(&out);
    free(idx);
    inv_free(inv);
    return AF_EXIT_OK;
}

int
cmd_inventory_main(int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : NULL;

    if (sub == NULL) {
        usage(stderr);
        return AF_EXIT_USAGE;
    }
    if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0 ||
        strcmp(sub, "help") == 0) {
        usage(stdout);
        return AF_EXIT_OK;
    }
    if (strcmp(sub, "check") == 0)
        return inventory_check(argc - 1, argv + 1);
    if (strcmp(sub, "show") == 0)
        return inventory_show(argc - 1, argv + 1);
    fprintf(stderr, "ascend-fleet inventory: unknown subcommand '%s'\n", sub);
    usage(stderr);
    return AF_EXIT_USAGE;
}
