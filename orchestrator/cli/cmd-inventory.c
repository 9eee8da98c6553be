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
#include "limit.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "af-buf.h"
#include "af-err.h"
#include "af-json.h"
#include "af-mem.h"
#include "hostlist.h"
#include "inv.h"
#include "report.h"

#define DEFAULT_INVENTORY "./inventory.yaml"

enum {
    OPT_LIMIT = 1000,
    OPT_JSON,
    OPT_SSH_CONFIG,
    OPT_DETAIL,
};

struct inv_opts {
    const char *path;
    const char *limit;
    const char *ssh_config;
    int json;
    int detail;
    char limit_buf[4096];     /* --limit, -w, -x merged */
    struct cmd_opts defaults; /* built-in and defaults-file values */
};

static void
usage(FILE *out)
{
    fprintf(out,
            "usage: ascend-fleet inventory check [-i FILE] [--ssh-config F]\n"
            "       ascend-fleet inventory show [-i FILE] [--limit PATTERN] "
            "[--json|--detail]\n"
            "\n"
            "  check   load and validate the inventory; print\n"
            "          \"FILE: N nodes in M groups: OK\", or the first "
            "problem as\n"
            "          FILE:LINE:COL: message\n"
            "  show    list the selected nodes (name, address:port, user, "
            "groups);\n"
            "          --detail (and --json) give every connection setting "
            "and where\n"
            "          it came from: inventory, FILE:LINE of ssh_config, or "
            "default\n"
            "\n"
            "  -i, --inventory FILE   inventory (default %s)\n"
            "      --limit PATTERN    only these nodes: hostlists, groups, "
            "@groups,\n"
            "                         !exclusions, @failed:RUN / @ok:RUN, "
            "comma-separated\n"
            "  -w NODES / -x NODES    as --limit NODES / --limit '!NODES'\n"
            "      --json             JSON Lines (a line per node) instead of "
            "a table\n"
            "      --detail           one block per node with every setting\n"
            "      --ssh-config FILE  ssh_config to read instead of "
            "~/.ssh/config and\n"
            "                         /etc/ssh/ssh_config, or 'none'\n"
            "  -h, --help             this help\n"
            "\n"
            "Exit status: 0 ok, 2 invalid inventory, --limit or usage.\n",
            DEFAULT_INVENTORY);
}

/*
 * @failed:RUN / @ok:RUN in the selection, from the state file beside the
 * inventory. Returns -1 to go on, or the exit code.
 */
static int
inv_resolve_results(struct inv_opts *io, const char *sub)
{
    struct cmd_opts o;
    char cmd[64];
    int r;

    if (io->limit == NULL)
        return -1;
    cmd_opts_init(&o);
    o.inventory = io->path;
    o.limit = io->limit;
    snprintf(cmd, sizeof(cmd), "inventory %s", sub);
    if ((r = cmd_limit_resolve(&o, cmd)) != 0)
        return r;
    if (o.limit != io->limit) { /* rewritten into o.limit_buf */
        snprintf(io->limit_buf, sizeof(io->limit_buf), "%s", o.limit);
        io->limit = io->limit_buf;
    }
    return -1;
}

/*
 * Parse the options of one subcommand (argv[0] is its name). Returns -1 to
 * go on, or the exit code to return now.
 */
static int
parse_opts(int argc, char **argv, int show, struct inv_opts *io)
{
    static const struct option longopts[] = {
        {"inventory", required_argument, NULL, 'i'},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {"json", no_argument, NULL, OPT_JSON},
        {"detail", no_argument, NULL, OPT_DETAIL},
        {"ssh-config", required_argument, NULL, OPT_SSH_CONFIG},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;

    memset(io, 0, sizeof(*io));
    cmd_opts_init(&io->defaults);
    io->path = io->defaults.inventory;
    io->ssh_config = io->defaults.ssh_config;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "i:w:x:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'i':
            io->path = optarg;
            break;
        case OPT_SSH_CONFIG:
            io->ssh_config = optarg;
            break;
        case 'h':
            usage(stdout);
            return AF_EXIT_OK;
        case OPT_LIMIT:
        case 'w':
        case 'x':
        case OPT_JSON:
        case OPT_DETAIL:
            if (!show) {
                fprintf(stderr,
                        "ascend-fleet inventory %s: --%s is only "
                        "for 'show'\n",
                        argv[0],
                        opt == OPT_JSON     ? "json"
                        : opt == OPT_DETAIL ? "detail"
                        : opt == OPT_LIMIT  ? "limit"
                        : opt == 'w'        ? "w"
                                            : "x");
                return AF_EXIT_USAGE;
            }
            if (opt == OPT_JSON)
                io->json = 1;
            else if (opt == OPT_DETAIL)
                io->detail = 1;
            else if (cmd_limit_add(io->limit_buf, sizeof(io->limit_buf), optarg,
                                   opt == 'x') < 0)
                return AF_EXIT_USAGE;
            else
                io->limit = io->limit_buf;
            break;
        default:
            usage(stderr);
            return AF_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr,
                "ascend-fleet inventory %s: unexpected argument "
                "'%s'\n",
                argv[0], argv[optind]);
        usage(stderr);
        return AF_EXIT_USAGE;
    }
    if (io->defaults.cfg_err[0] != '\0') {
        fprintf(stderr, "ascend-fleet: %s\n", io->defaults.cfg_err);
        return AF_EXIT_USAGE;
    }
    return inv_resolve_results(io, argv[0]);
}

static int
load(const struct inv_opts *io, struct inv **inv)
{
    struct af_err e = {0};

    if (inv_load_ex(io->path, io->ssh_config, inv, &e) != 0) {
        /* Bare FILE:LINE:COL so editors and CI annotators can jump. */
        fprintf(stderr, "%s\n", e.msg);
        return AF_EXIT_USAGE;
    }
    return AF_EXIT_OK;
}

/*
 * Warn (on stderr) about identity files that do not exist, naming the
 * nodes that use each. Returns how many are missing.
 */
static size_t
warn_missing_identities(const struct inv *inv)
{
    const char **names = af_calloc(inv->nnodes + 1, sizeof(*names));
    unsigned char *done = af_calloc(inv->nnodes + 1, 1);
    const char *agent = getenv("SSH_AUTH_SOCK");
    size_t i, j, n, missing = 0;

    for (i = 0; i < inv->nnodes; i++) {
        const char *id = inv->nodes[i].identity;
        char *fold;

        if (done[i] || access(id, F_OK) == 0)
            continue;
        for (j = i, n = 0; j < inv->nnodes; j++) {
            if (!done[j] && strcmp(inv->nodes[j].identity, id) == 0) {
                done[j] = 1;
                names[n++] = inv->nodes[j].name;
            }
        }
        fold = hl_fold(names, n);
        fprintf(stderr, "warning: identity %s does not exist (%s)%s\n", id,
                fold,
                agent != NULL && agent[0] != '\0'
                    ? "; only ssh-agent keys will be offered"
                    : "");
        free(fold);
        missing++;
    }
    free(done);
    free(names);
    return missing;
}

static int
inventory_check(int argc, char **argv)
{
    struct inv *inv = NULL;
    struct inv_opts io;
    int rc;

    if ((rc = parse_opts(argc, argv, 0, &io)) >= 0)
        return rc;
    if ((rc = load(&io, &inv)) != AF_EXIT_OK)
        return rc;
    warn_missing_identities(inv);
    printf("%s: %zu nodes in %zu groups: OK\n", io.path, inv->nnodes,
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

static const char *
hostkeys_name(enum inv_hostkeys hk)
{
    return hk == INV_HOSTKEYS_ACCEPT_NEW ? "accept-new"
           : hk == INV_HOSTKEYS_STRICT   ? "strict"
                                         : "(command line)";
}

/* JSON Lines: one "node" per selected node, then "summary". */
static void
show_json(const struct inv *inv, const size_t *idx, size_t n)
{
    struct report rep;
    struct af_json j;
    struct af_buf b;
    size_t i, g;
    int k;

    report_init(&rep, "inventory show", 1, 0);
    for (i = 0; i < n; i++) {
        const struct inv_node *nd = &inv->nodes[idx[i]];

        report_json_begin(&rep, &j, &b, "node");
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
        afj_kint(&j, "handshake_timeout", nd->handshake_timeout);
        afj_kstr(&j, "host_keys", hostkeys_name(nd->hostkeys));
        if (nd->jump != NULL)
            afj_kstr(&j, "jump", nd->jump);
        else
            afj_knull(&j, "jump");
        afj_kstr(&j, "become", nd->become ? "sudo" : "none");
        afj_key(&j, "groups");
        afj_arr_begin(&j);
        for (g = 0; g < nd->ngroups; g++)
            afj_str(&j, nd->groups[g]);
        afj_arr_end(&j);
        afj_key(&j, "from");
        afj_obj_begin(&j);
        for (k = 0; k < INV_NSRC; k++)
            afj_kstr(&j, inv_src_names[k], nd->src[k]);
        afj_obj_end(&j);
        report_json_end(&rep, &j, &b);
    }
    report_json_begin(&rep, &j, &b, "summary");
    afj_kuint(&j, "total", n);
    afj_kuint(&j, "groups", inv->ngroups);
    if (inv->ssh_config != NULL)
        afj_kstr(&j, "ssh_config", inv->ssh_config);
    else
        afj_knull(&j, "ssh_config");
    report_json_end(&rep, &j, &b);
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
show_table(const struct inv *inv, const size_t *idx, size_t n, struct af_buf *b)
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
    af_buf_printf(b, "%-*s  %-*s  %-*s  %s\n", (int)wname, "NAME", (int)waddr,
                  "ADDRESS", (int)wuser, "USER", "GROUPS");
    for (i = 0; i < n; i++) {
        const struct inv_node *nd = &inv->nodes[idx[i]];

        af_buf_printf(b, "%-*s  %-*s  %-*s  ", (int)wname, nd->name, (int)waddr,
                      ep[i], (int)wuser, nd->user);
        put_groups(b, nd);
        af_buf_puts(b, "\n");
        free(ep[i]);
    }
    free(ep);
}

/* One block per node: every connection setting and where it came from. */
static void
show_detail(const struct inv *inv,
            const size_t *idx,
            size_t n,
            struct af_buf *b)
{
    size_t i;
    char v[INV_NSRC][32];
    int k;

    af_buf_printf(b, "# ssh_config: %s\n", inv->ssh_config);
    for (i = 0; i < n; i++) {
        const struct inv_node *nd = &inv->nodes[idx[i]];
        const char *val[INV_NSRC];

        snprintf(v[INV_SRC_PORT], sizeof(v[0]), "%d", nd->port);
        snprintf(v[INV_SRC_CONNECT_TIMEOUT], sizeof(v[0]), "%d s",
                 nd->connect_timeout);
        snprintf(v[INV_SRC_HANDSHAKE_TIMEOUT], sizeof(v[0]), "%d s",
                 nd->handshake_timeout);
        val[INV_SRC_ADDRESS] = nd->address;
        val[INV_SRC_PORT] = v[INV_SRC_PORT];
        val[INV_SRC_USER] = nd->user;
        val[INV_SRC_IDENTITY] = nd->identity;
        val[INV_SRC_KNOWN_HOSTS] = nd->known_hosts;
        val[INV_SRC_HOSTKEYS] = hostkeys_name(nd->hostkeys);
        val[INV_SRC_CONNECT_TIMEOUT] = v[INV_SRC_CONNECT_TIMEOUT];
        val[INV_SRC_HANDSHAKE_TIMEOUT] = v[INV_SRC_HANDSHAKE_TIMEOUT];
        val[INV_SRC_JUMP] = nd->jump ? nd->jump : "-";
        af_buf_printf(b, "%s%s\n", i > 0 ? "\n" : "", nd->name);
        for (k = 0; k < INV_NSRC; k++)
            af_buf_printf(b, "  %-18s %-32s %s\n", inv_src_names[k], val[k],
                          nd->src[k]);
        af_buf_printf(b, "  %-18s %s\n", "become",
                      nd->become ? "sudo" : "none");
    }
}

static int
inventory_show(int argc, char **argv)
{
    struct af_err e = {0};
    struct inv *inv = NULL;
    struct af_buf out;
    struct inv_opts io;
    size_t *idx = NULL, n = 0;
    int rc;

    if ((rc = parse_opts(argc, argv, 1, &io)) >= 0)
        return rc;
    if ((rc = load(&io, &inv)) != AF_EXIT_OK)
        return rc;
    if (inv_select(inv, io.limit, &idx, &n, &e) != 0) {
        fprintf(stderr, "ascend-fleet inventory show: %s\n", e.msg);
        inv_free(inv);
        return AF_EXIT_USAGE;
    }
    af_buf_init(&out, 0);
    if (io.json)
        show_json(inv, idx, n);
    else if (io.detail)
        show_detail(inv, idx, n, &out);
    else
        show_table(inv, idx, n, &out);
    if (out.len > 0)
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
