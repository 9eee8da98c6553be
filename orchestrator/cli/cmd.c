/* SPDX-License-Identifier: MIT */
/* Options shared by subcommands. */
#include "cmd.h"

#include <stdlib.h>
#include <string.h>

const char cmd_common_help[] =
    "  -i, --inventory FILE   inventory (default ./inventory.yaml)\n"
    "      --limit PATTERN    only these nodes: hostlists, groups, "
    "!exclusions\n"
    "  -f, --fanout N         nodes in flight at once (default 64)\n"
    "      --timeout S        per-node command timeout in seconds\n"
    "      --host-keys MODE   strict (default) or accept-new\n"
    "      --ssh-config FILE  ssh_config to read instead of ~/.ssh/config\n"
    "                         and /etc/ssh/ssh_config, or 'none'\n"
    "      --json             machine-readable output\n"
    "  -h, --help             this help\n";

void
cmd_opts_init(struct cmd_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->inventory = "./inventory.yaml";
    o->state = AF_DEFAULT_STATE;
    o->fanout = 64;
    o->hostkeys = CONN_HOSTKEY_STRICT;
}

static int
parse_pos_int(const char *s, int max, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);

    if (*s == '\0' || *end != '\0' || v < 1 || v > max)
        return -1;
    *out = (int)v;
    return 0;
}

int
cmd_opts_handle(struct cmd_opts *o, const char *cmd, int opt,
                const char *arg)
{
    switch (opt) {
    case 'i':
        o->inventory = arg;
        return 1;
    case CMD_OPT_LIMIT:
        o->limit = arg;
        return 1;
    case CMD_OPT_STATE:
        o->state = arg;
        return 1;
    case CMD_OPT_JSON:
        o->json = 1;
        return 1;
    case CMD_OPT_KEX:
        o->kex = arg;
        return 1;
    case CMD_OPT_SSH_CONFIG:
        o->ssh_config = arg;
        return 1;
    case 'f':
        if (parse_pos_int(arg, 100000, &o->fanout) < 0) {
            fprintf(stderr, "ascend-fleet %s: --fanout wants a number >= 1, "
                    "not '%s'\n", cmd, arg);
            return -1;
        }
        return 1;
    case CMD_OPT_TIMEOUT:
        if (parse_pos_int(arg, 7 * 86400, &o->timeout_s) < 0) {
            fprintf(stderr, "ascend-fleet %s: --timeout wants seconds >= 1, "
                    "not '%s'\n", cmd, arg);
            return -1;
        }
        return 1;
    case CMD_OPT_HOSTKEYS:
        if (strcmp(arg, "strict") == 0) {
            o->hostkeys = CONN_HOSTKEY_STRICT;
        } else if (strcmp(arg, "accept-new") == 0) {
            o->hostkeys = CONN_HOSTKEY_ACCEPT_NEW;
        } else {
            fprintf(stderr, "ascend-fleet %s: --host-keys is strict or "
                    "accept-new, not '%s'\n", cmd, arg);
            return -1;
        }
        return 1;
    default:
        return 0;
    }
}
