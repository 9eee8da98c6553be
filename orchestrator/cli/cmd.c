/* SPDX-License-Identifier: MIT */
/* Options shared by subcommands. */
#include "cmd.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <libssh/libssh.h>

#include "af-err.h"
#include "af-mem.h"
#include "limit.h"
#include "report.h"
#include "st.h"

/* Descriptors kept free for the loop, logs, the state file and libssh. */
#define CMD_FD_RESERVE 32

const char cmd_common_help[] =
    "Options (defaults as shown, or as set in /etc/ascend-fleet/config.yaml\n"
    "and ~/.config/ascend-fleet/config.yaml; see ascend-fleet(1), FILES):\n"
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

/*
 * The defaults files over the built-in defaults. A bad file is kept in
 * o->cfg_err and told by cmd_limit_resolve, which every command calls after
 * its options: --help still works with a broken defaults file.
 */
static void
cmd_opts_config(struct cmd_opts *o)
{
    struct af_err e = {0};

    if (cfg_load(&o->cfg, &e) != 0) {
        snprintf(o->cfg_err, sizeof(o->cfg_err), "%s", e.msg);
        cfg_init(&o->cfg);
        return;
    }
    if (o->cfg.inventory[0] != '\0')
        o->inventory = o->cfg.inventory;
    if (o->cfg.state[0] != '\0')
        o->state = o->cfg.state;
    if (o->cfg.fanout > 0)
        o->fanout = o->cfg.fanout;
    if (o->cfg.host_keys >= 0)
        o->hostkeys = (enum conn_hostkey_policy)o->cfg.host_keys;
    if (o->cfg.ssh_config[0] != '\0')
        o->ssh_config = o->cfg.ssh_config;
}

void
cmd_opts_init(struct cmd_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->inventory = "./inventory.yaml";
    o->state = NULL;
    o->fanout = 64;
    o->hostkeys = CONN_HOSTKEY_STRICT;
    cmd_opts_config(o);
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
cmd_opts_handle(struct cmd_opts *o, const char *cmd, int opt, const char *arg)
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
            fprintf(stderr,
                    "ascend-fleet %s: --fanout wants a number >= 1, "
                    "not '%s'\n",
                    cmd, arg);
            return -1;
        }
        return 1;
    case CMD_OPT_TIMEOUT:
        if (parse_pos_int(arg, 7 * 86400, &o->timeout_s) < 0) {
            fprintf(stderr,
                    "ascend-fleet %s: --timeout wants seconds >= 1, "
                    "not '%s'\n",
                    cmd, arg);
            return -1;
        }
        return 1;
    case CMD_OPT_HOSTKEYS:
        if (strcmp(arg, "strict") == 0) {
            o->hostkeys = CONN_HOSTKEY_STRICT;
        } else if (strcmp(arg, "accept-new") == 0) {
            o->hostkeys = CONN_HOSTKEY_ACCEPT_NEW;
        } else {
            fprintf(stderr,
                    "ascend-fleet %s: --host-keys is strict or "
                    "accept-new, not '%s'\n",
                    cmd, arg);
            return -1;
        }
        return 1;
    default:
        return 0;
    }
}

const char *
cmd_state_path(struct cmd_opts *o)
{
    char *p;

    if (o->state != NULL)
        return o->state;
    p = st_default_path(o->inventory);
    snprintf(o->state_def, sizeof(o->state_def), "%s", p);
    free(p);
    o->state = o->state_def;
    o->state_derived = 1;
    return o->state;
}

int
cmd_state_open(struct cmd_opts *o, const char *cmd, int write, struct st **st)
{
    const char *path = cmd_state_path(o);
    struct af_err e = {0};
    int r;

    *st = NULL;
    if (write == CMD_STATE_EXISTING && access(path, F_OK) != 0) {
        fprintf(stderr, "ascend-fleet %s: no state file at %s\n", cmd, path);
        return AF_EXIT_USAGE;
    }
    if (write && o->state_derived && st_make_dir(path, &e) != 0) {
        fprintf(stderr, "ascend-fleet %s: %s\n", cmd, e.msg);
        return AF_EXIT_USAGE;
    }
    r = write ? st_open(path, st, &e) : st_open_ro(path, st, &e);
    if (r != 0) {
        fprintf(stderr, "ascend-fleet %s: %s\n", cmd, e.msg);
        return AF_EXIT_USAGE;
    }
    return 0;
}

int
cmd_lock_nodes(struct st *st,
               const char *cmd,
               const char *const *names,
               size_t n)
{
    struct af_err e = {0};
    int r = st_lock_nodes(st, names, n, &e);

    if (r == 0)
        return 0;
    fprintf(stderr, "ascend-fleet %s: %s\n", cmd, e.msg);
    return r == AF_ELOCKED ? AF_EXIT_LOCKED : AF_EXIT_USAGE;
}

void
cmd_raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl); /* best effort; clamp below */
    }
}

/* Descriptors open now (at least the three standard ones). */
static long
cmd_fds_open(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *de;
    long n = 0;

    if (d == NULL)
        return 3;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            n++;
    closedir(d);
    return n > 0 ? n - 1 : 3; /* minus the directory's own */
}

int
cmd_fanout_clamp(struct report *rep, int fanout, size_t nodes)
{
    struct rlimit rl;
    long avail, want = fanout;

    if ((size_t)want > nodes)
        want = nodes > 0 ? (long)nodes : 1;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return fanout;
    avail = (long)rl.rlim_cur - cmd_fds_open() - CMD_FD_RESERVE;
    if (avail < 1)
        avail = 1;
    if (want <= avail)
        return fanout;
    report_error(rep,
                 "notice: --fanout %d lowered to %ld: not enough free file "
                 "descriptors (ulimit -n %ld)",
                 fanout, avail, (long)rl.rlim_cur);
    return (int)avail;
}

static const struct option cmd_common_longopts[] = {
    CMD_LONGOPTS_COMMON,
    {NULL, 0, NULL, 0},
};

int
cmd_getopt(int argc,
           char **argv,
           const struct cmd_spec *spec,
           struct cmd_opts *o,
           void *ctx)
{
    size_t nc =
               sizeof(cmd_common_longopts) / sizeof(cmd_common_longopts[0]) - 1,
           no = 0;
    struct option *all;
    char shorts[64];
    int opt, r, rc = 0;

    while (spec->own != NULL && spec->own[no].name != NULL)
        no++;
    all = af_calloc(nc + no + 1, sizeof(*all));
    memcpy(all, cmd_common_longopts, nc * sizeof(*all));
    if (no)
        memcpy(all + nc, spec->own, no * sizeof(*all));
    snprintf(shorts, sizeof(shorts), "i:f:hw:x:v%s",
             spec->shortopts ? spec->shortopts : "");
    optind = 1;
    while ((opt = getopt_long(argc, argv, shorts, all, NULL)) != -1) {
        if ((r = cmd_opts_handle(o, spec->name, opt, optarg)) != 0) {
            if (r < 0) {
                rc = AF_EXIT_USAGE;
                goto out;
            }
            continue;
        }
        if (opt == 'h') {
            spec->usage(stdout);
            rc = -1;
            goto out;
        }
        if (opt == '?' || opt == ':' || spec->handle == NULL) {
            spec->usage(stderr);
            rc = AF_EXIT_USAGE;
            goto out;
        }
        if ((rc = spec->handle(ctx, opt, optarg)) != 0)
            goto out;
    }
    if (spec->max_args >= 0 && argc - optind > spec->max_args) {
        fprintf(stderr, "ascend-fleet %s: unexpected argument '%s'\n",
                spec->name, argv[optind + spec->max_args]);
        rc = AF_EXIT_USAGE;
        goto out;
    }
    rc = cmd_limit_resolve(o, spec->name);
out:
    free(all);
    return rc;
}
