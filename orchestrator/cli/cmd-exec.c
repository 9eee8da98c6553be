/* SPDX-License-Identifier: MIT */
/*
 * ascend-fleet exec: run one shell command on every selected node through
 * the fan-out window and print the results folded like clush -b, or as one
 * JSON document.
 */
#define _GNU_SOURCE
#include "cmd.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "af-buf.h"
#include "af-mem.h"
#include "fleet.h"
#include "fold.h"
#include "inv.h"

#define EXEC_DEFAULT_CAP (1024 * 1024)

enum exec_status {
    EXEC_PENDING,
    EXEC_OK,
    EXEC_FAILED,
    EXEC_UNREACHABLE,
    EXEC_TIMEOUT,
};

static const char *const exec_status_names[] = {
    "pending", "ok", "failed", "unreachable", "timeout",
};

struct exec_node {
    struct exec_run *run;
    size_t i;
    uint64_t timeout_ms; /* the node's command timer */
    enum exec_status status;
    int exit_code;
    char *signal;
    char *out, *err;
    size_t outlen, errlen;
    int truncated;
    char *msg;
};

struct exec_run {
    struct fleet *fleet;
    struct fan fan;
    const char *command;
    size_t cap;
    struct exec_node *nodes;
};

static void
exec_conn_closed(struct conn *c)
{
    struct exec_node *en = conn_data(c);

    fan_job_done(&en->run->fan);
}

static void
exec_chan_done(struct chan *ch, int status)
{
    struct exec_node *en = chan_data(ch);
    const struct af_buf *o = chan_stdout(ch), *e = chan_stderr(ch);

    en->out = af_strndup(o->data ? o->data : "", o->len);
    en->outlen = o->len;
    en->err = af_strndup(e->data ? e->data : "", e->len);
    en->errlen = e->len;
    en->truncated = o->truncated || e->truncated;
    if (status == AF_ETIMEOUT) {
        en->status = EXEC_TIMEOUT;
        en->msg = af_asprintf("command timed out after %llu s",
                              (unsigned long long)en->timeout_ms / 1000);
    } else if (status < 0) {
        en->status = EXEC_UNREACHABLE;
        en->msg = af_strdup(chan_error(ch));
    } else {
        en->exit_code = chan_exit_code(ch);
        if (chan_exit_signal(ch) != NULL)
            en->signal = af_strdup(chan_exit_signal(ch));
        en->status = en->exit_code == 0 ? EXEC_OK : EXEC_FAILED;
    }
    conn_close(chan_conn(ch), exec_conn_closed);
}

static void
exec_ready(struct conn *c, int status)
{
    struct exec_node *en = conn_data(c);

    if (status < 0) {
        en->status = conn_fail_class(c) == CONN_FAIL_TIMEOUT
                         ? EXEC_TIMEOUT
                         : EXEC_UNREACHABLE;
        en->msg = af_strdup(conn_error(c));
        conn_close(c, exec_conn_closed);
        return;
    }
    chan_exec(c, en->run->command, en->timeout_ms, en->run->cap, NULL,
              exec_chan_done, en);
}

static void
exec_start(struct fan *fan, size_t i, void *data)
{
    struct exec_run *run = data;
    struct exec_node *en = &run->nodes[i];
    struct conn_opts o;
    struct conn *c;

    (void)fan;
    fleet_conn_opts(run->fleet, fleet_node(run->fleet, i), &o);
    c = conn_new(run->fleet->loop, &o, exec_ready, en);
    conn_start(c);
}

static void
exec_print_json(struct exec_run *run)
{
    struct af_buf b;
    size_t i, counts[5] = {0};

    af_buf_init(&b, 0);
    af_buf_puts(&b, "{\"nodes\":[");
    for (i = 0; i < run->fleet->nsel; i++) {
        const struct exec_node *en = &run->nodes[i];
        const struct inv_node *n = fleet_node(run->fleet, i);

        counts[en->status]++;
        af_buf_puts(&b, i ? ",\n{" : "\n{");
        af_buf_puts(&b, "\"name\":");
        af_buf_json_str(&b, n->name);
        af_buf_puts(&b, ",\"address\":");
        af_buf_json_str(&b, n->address);
        af_buf_printf(&b, ",\"status\":\"%s\",\"exit_code\":",
                      exec_status_names[en->status]);
        if (en->status == EXEC_OK || en->status == EXEC_FAILED)
            af_buf_printf(&b, "%d", en->exit_code);
        else
            af_buf_puts(&b, "null");
        af_buf_puts(&b, ",\"signal\":");
        af_buf_json_str(&b, en->signal);
        af_buf_puts(&b, ",\"stdout\":");
        af_buf_json_strn(&b, en->out ? en->out : "", en->outlen);
        af_buf_puts(&b, ",\"stderr\":");
        af_buf_json_strn(&b, en->err ? en->err : "", en->errlen);
        af_buf_printf(&b, ",\"truncated\":%s,\"error\":",
                      en->truncated ? "true" : "false");
        af_buf_json_str(&b, en->msg);
        af_buf_puts(&b, "}");
    }
    af_buf_printf(&b,
                  "\n],\"summary\":{\"ok\":%zu,\"failed\":%zu,"
                  "\"unreachable\":%zu,\"timeout\":%zu,\"total\":%zu}}\n",
                  counts[EXEC_OK], counts[EXEC_FAILED],
                  counts[EXEC_UNREACHABLE], counts[EXEC_TIMEOUT],
                  run->fleet->nsel);
    fwrite(b.data, 1, b.len, stdout);
    af_buf_free(&b);
}

/* One folded block per distinct (class, exit code, stdout, stderr). */
static void
exec_print_folded(struct exec_run *run)
{
    struct fold *f = fold_new(), *by[5];
    struct af_buf key;
    size_t i, g, s;
    const char *sep = "---------------\n";

    for (s = 0; s < 5; s++)
        by[s] = fold_new();
    af_buf_init(&key, 0);
    for (i = 0; i < run->fleet->nsel; i++) {
        const struct exec_node *en = &run->nodes[i];
        const char *name = fleet_node(run->fleet, i)->name;

        af_buf_reset(&key);
        if (en->status == EXEC_OK || en->status == EXEC_FAILED) {
            if (en->signal)
                af_buf_printf(&key, "(killed by signal %s)", en->signal);
            else if (en->exit_code != 0)
                af_buf_printf(&key, "(exit %d)", en->exit_code);
            else
                af_buf_puts(&key, "(exit 0)");
        } else {
            af_buf_printf(&key, "(%s)", exec_status_names[en->status]);
        }
        af_buf_append(&key, "\n", 1);
        if (en->outlen)
            af_buf_append(&key, en->out, en->outlen);
        if (en->outlen && en->out[en->outlen - 1] != '\n')
            af_buf_append(&key, "\n", 1);
        if (en->errlen)
            af_buf_append(&key, en->err, en->errlen);
        if (en->errlen && en->err[en->errlen - 1] != '\n')
            af_buf_append(&key, "\n", 1);
        if (en->msg)
            af_buf_printf(&key, "%s\n", en->msg);
        if (en->truncated)
            af_buf_printf(&key, "[output truncated at %zu bytes]\n",
                          run->cap);
        fold_add(f, key.data, name);
        fold_add(by[en->status], "", name);
    }
    fold_sort_by_size(f);
    for (g = 0; g < fold_groups(f); g++) {
        char *nodes = fold_nodes(f, g);
        const char *k = fold_key(f, g);
        const char *nl = strchr(k, '\n');

        printf("%s%s %.*s\n%s%s", sep, nodes, (int)(nl - k), k, sep, nl + 1);
        free(nodes);
    }
    for (s = EXEC_OK; s <= EXEC_TIMEOUT; s++) {
        size_t n = fold_groups(by[s]) ? fold_size(by[s], 0) : 0;

        if (s == EXEC_TIMEOUT && n == 0)
            continue;
        printf("%s%zu %s", s == EXEC_OK ? "" : ", ", n, exec_status_names[s]);
        if (s != EXEC_OK && n > 0) {
            char *nodes = fold_nodes(by[s], 0);

            printf(": %s", nodes);
            free(nodes);
        }
    }
    printf("\n");
    for (s = 0; s < 5; s++)
        fold_free(by[s]);
    fold_free(f);
    af_buf_free(&key);
}

static void
exec_usage(FILE *out)
{
    fprintf(out,
            "usage: ascend-fleet exec [options] -- COMMAND...\n"
            "Run COMMAND on every selected node (words joined with spaces "
            "and run by\nthe node's shell, as ssh does); identical results "
            "are folded.\n\n%s"
            "      --max-output N     keep at most N bytes of stdout and of "
            "stderr per node\n                         (default 1048576)\n"
            "Exit: 0 all nodes ok, 1 some failed/unreachable/timed out, 2 "
            "usage error.\n",
            cmd_common_help);
}

int
cmd_exec_main(int argc, char **argv)
{
    enum { OPT_MAXOUT = CMD_OPT_FIRST_PRIVATE };
    static const struct option longopts[] = {
        CMD_LONGOPTS_COMMON,
        {"max-output", required_argument, NULL, OPT_MAXOUT},
        {NULL, 0, NULL, 0},
    };
    struct cmd_opts o;
    struct fleet fleet;
    struct exec_run run;
    struct af_err e;
    struct af_buf cmdline;
    uv_loop_t loop;
    int opt, r, rc = AF_EXIT_OK, i;
    size_t n;

    cmd_opts_init(&o);
    memset(&run, 0, sizeof(run));
    run.cap = EXEC_DEFAULT_CAP;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "+i:f:w:x:vh", longopts, NULL)) !=
           -1) {
        r = cmd_opts_handle(&o, "exec", opt, optarg);
        if (r < 0)
            return AF_EXIT_USAGE;
        if (r > 0)
            continue;
        switch (opt) {
        case 'h':
            exec_usage(stdout);
            return AF_EXIT_OK;
        case OPT_MAXOUT:
            run.cap = (size_t)strtoull(optarg, NULL, 10);
            if (run.cap == 0) {
                fprintf(stderr, "ascend-fleet exec: bad --max-output '%s'\n",
                        optarg);
                return AF_EXIT_USAGE;
            }
            break;
        default:
            exec_usage(stderr);
            return AF_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "ascend-fleet exec: no command given\n");
        exec_usage(stderr);
        return AF_EXIT_USAGE;
    }
    af_buf_init(&cmdline, 0);
    for (i = optind; i < argc; i++) {
        if (i > optind)
            af_buf_append(&cmdline, " ", 1);
        af_buf_puts(&cmdline, argv[i]);
    }
    uv_loop_init(&loop);
    if ((r = fleet_init(&fleet, &loop, o.inventory, o.limit, o.ssh_config,
                        &e)) != 0) {
        fprintf(stderr, "ascend-fleet exec: %s\n", e.msg);
        rc = AF_EXIT_USAGE;
        goto out;
    }
    fleet.hostkeys = o.hostkeys;
    fleet.kex = o.kex;
    run.fleet = &fleet;
    run.command = cmdline.data;
    run.nodes = af_calloc(fleet.nsel ? fleet.nsel : 1, sizeof(*run.nodes));
    for (n = 0; n < fleet.nsel; n++) {
        run.nodes[n].run = &run;
        run.nodes[n].i = n;
        run.nodes[n].timeout_ms =
            (uint64_t)(o.timeout_s ? o.timeout_s
                                   : fleet_node(&fleet, n)->command_timeout) *
            1000;
    }
    fan_run(&run.fan, &loop, fleet.nsel, o.fanout, exec_start, &run);
    if (o.json)
        exec_print_json(&run);
    else
        exec_print_folded(&run);
    for (n = 0; n < fleet.nsel; n++)
        if (run.nodes[n].status != EXEC_OK)
            rc = AF_EXIT_FAILED;
out:
    for (n = 0; run.nodes && n < fleet.nsel; n++) {
        free(run.nodes[n].out);
        free(run.nodes[n].err);
        free(run.nodes[n].msg);
        free(run.nodes[n].signal);
    }
    free(run.nodes);
    fleet_free(&fleet);
    af_buf_free(&cmdline);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return rc;
}
