/* SPDX-License-Identifier: MIT */
/*
 * ascend-fleet exec: run one shell command on every selected node (the exec
 * engine, ops/exec.h) and report the results folded like clush -b, streamed
 * as "node: line" (-L), or as JSON Lines.
 */
#define _GNU_SOURCE
#include "cmd.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "af-buf.h"
#include "af-mem.h"
#include "exec.h"
#include "fleet.h"
#include "inv.h"
#include "report.h"

struct exec_cli {
    struct cmd_opts o;
    struct exec_opts x;
    int read_stdin;
};

static const char *const exec_words[] = {"ok", "failed", "unreachable",
                                         "timeout"};

static void
exec_head(struct af_buf *b, const struct exec_result *r)
{
    if (r->status == EXEC_OK || r->status == EXEC_FAILED) {
        if (r->signal)
            af_buf_printf(b, "(killed by signal %s)", r->signal);
        else
            af_buf_printf(b, "(exit %d)", r->exit_code);
    } else {
        af_buf_printf(b, "(%s)", exec_status_str(r->status));
    }
}

/* The fold key: what makes two results print the same block. */
static void
exec_key(struct af_buf *k, const struct exec_result *r)
{
    char *msg = r->msg ? report_err_key(r->msg, r->name, r->address) : NULL;

    af_buf_reset(k);
    exec_head(k, r);
    af_buf_printf(k, "|%zu|%zu|%d|", r->out->id, r->err->id, r->truncated);
    if (msg)
        af_buf_puts(k, msg);
    free(msg);
}

/* The block of r's group of size n: a shared message names no node. */
static void
exec_print_block(struct report *rep,
                 const char *nodes,
                 size_t n,
                 const struct exec_result *r,
                 size_t cap)
{
    struct af_buf head, body;
    char *msg = NULL;

    if (r->msg != NULL)
        msg = n == 1 ? af_strdup(report_strip_node(r->msg, r->name))
                     : report_err_key(r->msg, r->name, r->address);
    af_buf_init(&head, 0);
    af_buf_init(&body, 0);
    exec_head(&head, r);
    af_buf_append(&body, r->out->data, r->out->len);
    if (r->out->len && r->out->data[r->out->len - 1] != '\n')
        af_buf_append(&body, "\n", 1);
    if (r->err->len) {
        af_buf_puts(&body, "[stderr]\n");
        af_buf_append(&body, r->err->data, r->err->len);
        if (r->err->data[r->err->len - 1] != '\n')
            af_buf_append(&body, "\n", 1);
    }
    if (msg)
        af_buf_printf(&body, "%s\n", msg);
    if (r->truncated)
        af_buf_printf(&body, "[output truncated at %zu bytes]\n", cap);
    report_block(rep, nodes, head.data ? head.data : "",
                 body.data ? body.data : "", body.len);
    af_buf_free(&head);
    af_buf_free(&body);
    free(msg);
}

/* One folded block per distinct result (errors too), then the tally. */
static void
exec_print_folded(struct report *rep,
                  const struct exec_run *run,
                  size_t cap,
                  int errors_only)
{
    struct report_fold rf;
    struct af_buf key;
    size_t i, g, ng, n = exec_run_count(run);

    report_fold_init(&rf, exec_words, 4);
    af_buf_init(&key, 0);
    for (i = 0; i < n; i++) {
        const struct exec_result *r = exec_run_result(run, i);

        exec_key(&key, r);
        /* A node never started (EXEC_PENDING) is in no count. */
        report_fold_add(
            &rf, r->status >= EXEC_OK ? (size_t)(r->status - EXEC_OK) : 4,
            key.data, r->name, r);
    }
    ng = report_fold_sort(&rf);
    for (g = 0; g < ng; g++) {
        const struct exec_result *r = report_fold_item(&rf, g);
        char *nodes;

        /* With -L the output was streamed; errors still fold here. */
        if (errors_only && r->msg == NULL)
            continue;
        nodes = report_fold_nodes(&rf, g);
        exec_print_block(rep, nodes, report_fold_size(&rf, g), r, cap);
        free(nodes);
    }
    report_fold_tally(rep, &rf, 3);
    report_fold_free(&rf);
    af_buf_free(&key);
}

/* JSON Lines: one "node" record per node, then one "summary". */
static void
exec_print_json(struct report *rep, const struct exec_run *run)
{
    size_t i, counts[5] = {0}, n = exec_run_count(run);
    struct af_buf b;
    struct af_json j;

    for (i = 0; i < n; i++) {
        const struct exec_result *r = exec_run_result(run, i);
        int ran = r->status == EXEC_OK || r->status == EXEC_FAILED;

        counts[r->status]++;
        report_json_begin(rep, &j, &b, "node");
        afj_kstr(&j, "name", r->name);
        afj_kstr(&j, "address", r->address);
        afj_kstr(&j, "status", exec_status_str(r->status));
        if (ran)
            afj_kint(&j, "exit_code", r->exit_code);
        else
            afj_knull(&j, "exit_code");
        afj_kstr(&j, "signal", r->signal);
        afj_kstrn(&j, "stdout", r->out->data, r->out->len);
        afj_kstrn(&j, "stderr", r->err->data, r->err->len);
        afj_kbool(&j, "truncated", r->truncated);
        afj_kstr(&j, "error", r->msg);
        afj_kint(&j, "duration_ms", r->duration_ms);
        afj_kuint(&j, "bytes", r->out->len + r->err->len);
        report_json_end(rep, &j, &b);
    }
    report_json_begin(rep, &j, &b, "summary");
    afj_kuint(&j, "ok", counts[EXEC_OK]);
    afj_kuint(&j, "failed", counts[EXEC_FAILED]);
    afj_kuint(&j, "unreachable", counts[EXEC_UNREACHABLE]);
    afj_kuint(&j, "timeout", counts[EXEC_TIMEOUT]);
    afj_kuint(&j, "total", n);
    report_json_end(rep, &j, &b);
}

static void
exec_usage(FILE *out)
{
    fprintf(out,
            "usage: ascend-fleet exec [options] -- COMMAND...\n"
            "Run COMMAND on every selected node (words joined with spaces "
            "and run by\nthe node's shell, as ssh does); identical results "
            "are folded. The remote\nstdin is empty unless --stdin is "
            "given.\n\n%s"
            "      --max-output N     keep at most N bytes of stdout and of "
            "stderr per node\n                         (1 to 67108864; K, M "
            "suffixes; default 1M)\n"
            "      --stdin            send this command's stdin to every "
            "node\n"
            "  -L, --lines            print \"node: line\" as output "
            "arrives\n"
            "Exit: 0 all nodes ok, 1 some failed/unreachable/timed out, 2 "
            "usage error.\n",
            cmd_common_help);
}

/* "1048576", "64K", "1M": bytes within the engine's range, or 0. */
static size_t
exec_parse_size(const char *s)
{
    char *end;
    unsigned long long v;

    errno = 0;
    if (*s < '0' || *s > '9')
        return 0;
    v = strtoull(s, &end, 10);
    if (errno != 0)
        return 0;
    if (*end == 'K' || *end == 'k')
        v = v > (1ULL << 40) ? 0 : v * 1024, end++;
    else if (*end == 'M' || *end == 'm')
        v = v > (1ULL << 30) ? 0 : v * 1024 * 1024, end++;
    if (*end != '\0' || v < EXEC_MAX_OUTPUT_MIN || v > EXEC_MAX_OUTPUT_MAX)
        return 0;
    return (size_t)v;
}

enum { EXEC_OPT_MAXOUT = CMD_OPT_FIRST_PRIVATE, EXEC_OPT_STDIN };

static int
exec_opt(void *ctx, int opt, const char *arg)
{
    struct exec_cli *c = ctx;

    switch (opt) {
    case 'L':
        c->x.lines = 1;
        return 0;
    case EXEC_OPT_STDIN:
        c->read_stdin = 1;
        return 0;
    case EXEC_OPT_MAXOUT:
        if ((c->x.max_output = exec_parse_size(arg)) == 0) {
            fprintf(stderr,
                    "ascend-fleet exec: --max-output wants 1 byte to 64M, "
                    "not '%s'\n",
                    arg);
            return AF_EXIT_USAGE;
        }
        return 0;
    default:
        exec_usage(stderr);
        return AF_EXIT_USAGE;
    }
}

/* Returns 0 to go on, or an exit code (-1: --help shown). */
static int
exec_parse(int argc, char **argv, struct exec_cli *c, struct af_buf *cmdline)
{
    static const struct option own[] = {
        {"max-output", required_argument, NULL, EXEC_OPT_MAXOUT},
        {"stdin", no_argument, NULL, EXEC_OPT_STDIN},
        {"lines", no_argument, NULL, 'L'},
        {NULL, 0, NULL, 0},
    };
    static const struct cmd_spec spec = {
        .name = "exec",
        .shortopts = "L",
        .own = own,
        .handle = exec_opt,
        .usage = exec_usage,
        .max_args = -1,
    };
    int r, i;

    if ((r = cmd_getopt(argc, argv, &spec, &c->o, c)) != 0)
        return r;
    if (optind >= argc) {
        fprintf(stderr, "ascend-fleet exec: no command given\n");
        exec_usage(stderr);
        return AF_EXIT_USAGE;
    }
    for (i = optind; i < argc; i++) {
        if (i > optind)
            af_buf_append(cmdline, " ", 1);
        af_buf_puts(cmdline, argv[i]);
    }
    return 0;
}

/* All of stdin (binary-safe), up to the output cap of a node times 64. */
static int
exec_read_stdin(struct af_buf *in)
{
    char chunk[65536];
    size_t n;

    af_buf_init(in, EXEC_MAX_OUTPUT_MAX);
    while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
        af_buf_append(in, chunk, n);
    if (ferror(stdin) || in->truncated)
        return -1;
    return 0;
}

int
cmd_exec_main(int argc, char **argv)
{
    struct exec_cli c;
    struct fleet fleet;
    struct exec_run *run = NULL;
    struct report rep;
    struct af_err e;
    struct af_buf cmdline, in;
    uv_loop_t loop;
    int r, rc = AF_EXIT_OK, loop_ok = 0;
    size_t n;

    memset(&c, 0, sizeof(c));
    memset(&fleet, 0, sizeof(fleet));
    cmd_opts_init(&c.o);
    c.x.max_output = EXEC_MAX_OUTPUT_DEFAULT;
    af_buf_init(&cmdline, 0);
    af_buf_init(&in, 0);
    if ((r = exec_parse(argc, argv, &c, &cmdline)) != 0) {
        rc = r < 0 ? AF_EXIT_OK : r;
        goto out;
    }
    report_init(&rep, "exec", c.o.json, c.x.lines);
    if (c.read_stdin && exec_read_stdin(&in) != 0) {
        report_error(&rep, "cannot read stdin (at most 64 MiB)");
        rc = AF_EXIT_USAGE;
        goto out;
    }
    if ((r = uv_loop_init(&loop)) != 0) {
        report_error(&rep, "cannot start the event loop: %s", uv_strerror(r));
        rc = AF_EXIT_INTERNAL;
        goto out;
    }
    loop_ok = 1;
    if ((r = fleet_init(&fleet, &loop, c.o.inventory, c.o.limit, c.o.ssh_config,
                        &e)) != 0) {
        report_error(&rep, "%s", e.msg);
        rc = AF_EXIT_USAGE;
        goto out;
    }
    fleet.hostkeys = c.o.hostkeys;
    fleet.kex = c.o.kex;
    c.x.command = cmdline.data;
    c.x.fanout = cmd_fanout_clamp(&rep, c.o.fanout, fleet.nsel);
    c.x.timeout_s = c.o.timeout_s;
    if (c.read_stdin) {
        c.x.stdin_data = in.data ? in.data : "";
        c.x.stdin_len = in.len;
    }
    if ((r = exec_run(&fleet, &c.x, report_sink(&rep), &run, &e)) != 0) {
        report_error(&rep, "%s", e.msg);
        rc = r == AF_EINPUT ? AF_EXIT_USAGE : AF_EXIT_INTERNAL;
        goto out;
    }
    if (c.o.json)
        exec_print_json(&rep, run);
    else
        exec_print_folded(&rep, run, c.x.max_output, c.x.lines);
    for (n = 0; n < exec_run_count(run); n++)
        if (exec_run_result(run, n)->status != EXEC_OK)
            rc = AF_EXIT_FAILED;
out:
    exec_run_free(run);
    fleet_free(&fleet);
    af_buf_free(&cmdline);
    af_buf_free(&in);
    if (loop_ok) {
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
    }
    return rc;
}
