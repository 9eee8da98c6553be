/* SPDX-License-Identifier: MIT */
/* Options shared by subcommands. */
#include "cmd.h"

#include <stdlib.h>
#include <string.h>

#include <libssh/libssh.h>

const char cmd_common_help[] =
    "  -i, --inventory FILE   inventory (default ./inventory.yaml)\n"
    "      --limit PATTERN    only these nodes: hostlists, groups, "
    "!exclusions,\n"
    "                         @failed:RUN / @ok:RUN (RUN an id or 'last')\n"
    "  -w NODES / -x NODES    as --limit NODES / --limit '!NODES' (pdsh)\n"
    "  -f, --fanout N         nodes in flight at once (default 64)\n"
    "      --timeout S        per-node command timeout in seconds\n"
    "      --host-keys MODE   strict (default) or accept-new\n"
    "      --ssh-config FILE  ssh_config to read instead of ~/.ssh/config\n"
    "                         and /etc/ssh/ssh_config, or 'none'\n"
    "      --json             machine-readable output\n"
    "  -v, --verbose          libssh log on stderr (-vv, -vvv: more)\n"
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
cmd_limit_add(char *buf, size_t cap, const char *terms, int exclude)
{
    size_t len = strlen(buf), i, start = 0;
    int depth = 0;

    for (i = 0;; i++) {
        char c = terms[i];
        size_t n = i - start;

        if (c == '[')
            depth++;
        else if (c == ']')
            depth--;
        if (c != '\0' && (c != ',' || depth > 0))
            continue;
        if (len + n + 3 > cap)
            return -1;
        if (len > 0)
            buf[len++] = ',';
        if (exclude && terms[start] != '!')
            buf[len++] = '!';
        memcpy(buf + len, terms + start, n);
        len += n;
        buf[len] = '\0';
        if (c == '\0')
            return 0;
        start = i + 1;
    }
}

int
cmd_opts_handle(struct cmd_opts *o, const char *cmd, int opt,
                const char *arg)
{
    switch (opt) {
    case 'v':
        /* libssh's log level is process-wide: set once, from the CLI. */
        o->verbose++;
        ssh_set_log_level(o->verbose >= 3   ? SSH_LOG_FUNCTIONS
                          : o->verbose == 2 ? SSH_LOG_PACKET
                                            : SSH_LOG_PROTOCOL);
        return 1;
    case 'w':
    case 'x':
        if (cmd_limit_add(o->limit_buf, sizeof(o->limit_buf), arg, opt == 'x') <
            0) {
            fprintf(stderr, "ascend-fleet %s: node selection too long\n", cmd);
            return -1;
        }
        o->limit = o->limit_buf;
        return 1;
    case 'i':
        o->inventory = arg;
        return 1;
    case CMD_OPT_LIMIT:
        if (cmd_limit_add(o->limit_buf, sizeof(o->limit_buf), arg, 0) < 0) {
            fprintf(stderr, "ascend-fleet %s: --limit too long\n", cmd);
            return -1;
        }
        o->limit = o->limit_buf;
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
