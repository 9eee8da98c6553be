/* SPDX-License-Identifier: MIT */
/* Options shared by subcommands. */
#include "cmd.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "af-buf.h"
#include "af-err.h"
#include "af-mem.h"
#include "fold.h"
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
    "                         @failed:RUN, @ok:RUN (results of a recorded "
    "run)\n"
    "  -w NODES               as --limit NODES\n"
    "  -x NODES               leave these nodes out (as --limit '!NODES')\n"
    "  -f, --fanout N         nodes in flight at once (default 64)\n"
    "      --timeout S        per-node command timeout in seconds\n"
    "      --host-keys MODE   strict (default) or accept-new\n"
    "      --json             machine-readable output\n"
    "  -h, --help             this help\n";

/* The defaults files over the built-in defaults; exits on a bad file. */
static void
cmd_opts_config(struct cmd_opts *o)
{
    struct af_err e = {0};

    if (cfg_load(&o->cfg, &e) != 0) {
        fprintf(stderr, "ascend-fleet: %s\n", e.msg);
        exit(AF_EXIT_USAGE);
    }
    if (o->cfg.inventory[0] != '\0')
        o->inventory = o->cfg.inventory;
    if (o->cfg.state[0] != '\0')
        o->state = o->cfg.state;
    if (o->cfg.fanout > 0)
        o->fanout = o->cfg.fanout;
    if (o->cfg.host_keys >= 0)
        o->hostkeys = (enum conn_hostkey_policy)o->cfg.host_keys;
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

/* End of the limit term that starts at p (a comma inside [] belongs to it). */
static const char *
cmd_term_end(const char *p)
{
    int depth = 0;

    for (; *p != '\0'; p++) {
        if (*p == '[')
            depth++;
        else if (*p == ']' && depth > 0)
            depth--;
        else if (*p == ',' && depth == 0)
            break;
    }
    return p;
}

/* Append the n bytes at p to the joined limit; -1 when it is full. */
static int
cmd_limit_put(struct cmd_opts *o, const char *p, size_t n)
{
    size_t len = strlen(o->limit_buf);

    if (len + n + 1 > sizeof(o->limit_buf))
        return -1;
    memcpy(o->limit_buf + len, p, n);
    o->limit_buf[len + n] = '\0';
    return 0;
}

/* Add the terms of arg to the selection, each as "!term" when exclude. */
static int
cmd_limit_add(struct cmd_opts *o, const char *cmd, const char *arg, int exclude)
{
    const char *p = arg, *end;
    int bad = 0;

    if (o->limit != NULL)
        bad |= cmd_limit_put(o, ",", 1);
    o->limit = o->limit_buf;
    do {
        end = cmd_term_end(p);
        if (p != arg)
            bad |= cmd_limit_put(o, ",", 1);
        if (exclude && end > p && *p != '!')
            bad |= cmd_limit_put(o, "!", 1);
        bad |= cmd_limit_put(o, p, (size_t)(end - p));
        p = *end == ',' ? end + 1 : end;
    } while (*end != '\0');
    if (bad) {
        fprintf(stderr, "ascend-fleet %s: node selection too long\n", cmd);
        return -1;
    }
    return 1;
}

int
cmd_opts_handle(struct cmd_opts *o, const char *cmd, int opt, const char *arg)
{
    switch (opt) {
    case 'i':
        o->inventory = arg;
        return 1;
    case CMD_OPT_LIMIT:
    case 'w':
        return cmd_limit_add(o, cmd, arg, 0);
    case 'x':
        return cmd_limit_add(o, cmd, arg, 1);
    case CMD_OPT_STATE:
        o->state = arg;
        return 1;
    case CMD_OPT_JSON:
        o->json = 1;
        return 1;
    case CMD_OPT_KEX:
        o->kex = arg;
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

/*
 * The nodes of run whose result is in the failed (or ok) set, folded into
 * hostlist terms appended to b ("!"-prefixed one by one when exclude).
 */
static int
cmd_run_nodes(struct cmd_opts *o,
              const char *cmd,
              const char *term,
              int exclude,
              struct af_buf *b)
{
    int failed = strncmp(term, "@failed:", 8) == 0;
    const char *num = term + (failed ? 8 : 4);
    struct st_node *nodes = NULL;
    struct st_run rr;
    struct st *st = NULL;
    struct fold *f = fold_new();
    struct af_err e = {0};
    size_t i, n = 0, k = 0;
    char *end, *folded;
    long long run = strtoll(num, &end, 10);
    int rc;

    if (*num == '\0' || *end != '\0' || run < 1) {
        fprintf(stderr,
                "ascend-fleet %s: --limit: '%s' wants a run number "
                "(ascend-fleet runs lists them)\n",
                cmd, term);
        rc = AF_EXIT_USAGE;
        goto out;
    }
    if ((rc = cmd_state_open(o, cmd, 0, &st)) != 0)
        goto out;
    if (st_run_get(st, run, &rr, &e) != 0) {
        fprintf(stderr, "ascend-fleet %s: --limit %s: %s\n", cmd, term, e.msg);
        rc = AF_EXIT_USAGE;
        goto out;
    }
    st_run_clear(&rr);
    if (st_node_list(st, run, &nodes, &n, &e) != 0) {
        fprintf(stderr, "ascend-fleet %s: %s\n", cmd, e.msg);
        rc = AF_EXIT_USAGE;
        goto out;
    }
    for (i = 0; i < n; i++) {
        enum st_node_status s = nodes[i].status;
        int bad = s == ST_NODE_FAILED || s == ST_NODE_UNREACHABLE ||
                  s == ST_NODE_BLOCKED;
        int ok = s == ST_NODE_DONE || s == ST_NODE_SKIPPED;

        if (failed ? !bad : !ok)
            continue;
        if (exclude)
            af_buf_printf(b, "%s!%s", k++ ? "," : "", nodes[i].node);
        fold_add(f, "", nodes[i].node);
    }
    if (fold_groups(f) == 0) {
        fprintf(stderr, "ascend-fleet %s: --limit: run %lld has no node %s\n",
                cmd, run,
                failed ? "that failed, was unreachable or blocked"
                       : "that succeeded");
        rc = AF_EXIT_USAGE;
        goto out;
    }
    if (!exclude) {
        folded = fold_nodes(f, 0);
        af_buf_puts(b, folded);
        free(folded);
    }
out:
    st_nodes_free(nodes, n);
    st_close(st);
    fold_free(f);
    return rc;
}

int
cmd_limit_finish(struct cmd_opts *o, const char *cmd)
{
    struct af_buf b;
    const char *p = o->limit, *end;
    int rc = 0;

    if (p == NULL ||
        (strstr(p, "@failed:") == NULL && strstr(p, "@ok:") == NULL))
        return 0;
    af_buf_init(&b, 0);
    do {
        const char *t = p;
        int excl = *t == '!';
        size_t len;
        char *term;

        end = cmd_term_end(p);
        len = (size_t)(end - p);
        if (p != o->limit)
            af_buf_append(&b, ",", 1);
        term = af_strndup(t + excl, len - (size_t)excl);
        if (strncmp(term, "@failed:", 8) == 0 || strncmp(term, "@ok:", 4) == 0)
            rc = cmd_run_nodes(o, cmd, term, excl, &b);
        else
            af_buf_append(&b, p, len);
        free(term);
        p = *end == ',' ? end + 1 : end;
    } while (rc == 0 && *end != '\0');
    if (rc == 0 && b.len + 1 > sizeof(o->limit_buf)) {
        fprintf(stderr,
                "ascend-fleet %s: --limit: too many nodes in the run's "
                "result; select a group instead\n",
                cmd);
        rc = AF_EXIT_USAGE;
    }
    if (rc == 0) {
        memcpy(o->limit_buf, b.data ? b.data : "", b.len);
        o->limit_buf[b.len] = '\0';
        o->limit = o->limit_buf;
    }
    af_buf_free(&b);
    return rc;
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
    snprintf(shorts, sizeof(shorts), "i:f:w:x:h%s",
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
    rc = cmd_limit_finish(o, spec->name);
out:
    free(all);
    return rc;
}
