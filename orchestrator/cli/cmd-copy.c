/* SPDX-License-Identifier: MIT */
/*
 * ascend-fleet copy (pdcp, clush --copy) and gather (rpdcp, clush
 * --rcopy): files to and from every selected node through the agent
 * (ops/copy.h, ops/gather.h), results folded like exec's or as JSON Lines.
 */
#define _GNU_SOURCE
#include "cmd.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "af-buf.h"
#include "af-mem.h"
#include "copy.h"
#include "fleet.h"
#include "gather.h"
#include "inv.h"
#include "report.h"

/* One node's line of the output, whichever the direction. */
struct xfer_row {
    const char *name;
    const char *address;
    enum copy_status status;
    char detail[256]; /* what was done, for ok nodes */
    const char *error;
};

static const char *const xfer_words[] = {"ok", "failed", "unreachable",
                                         "timeout"};

/* What a block of n rows like r says: a shared error names no node. */
static char *
xfer_text(const struct xfer_row *r, size_t n)
{
    if (r->status == COPY_OK)
        return af_strdup(r->detail);
    if (n == 1)
        return af_strdup(report_strip_node(r->error, r->name));
    return report_err_key(r->error, r->name, r->address);
}

/* Fold rows by status and text; then "N ok, N failed, N unreachable". */
static void
xfer_print(struct report *rep, const struct xfer_row *rows, size_t n)
{
    struct report_fold rf;
    struct af_buf key;
    size_t i, g, ng;

    report_fold_init(&rf, xfer_words, 4);
    af_buf_init(&key, 0);
    for (i = 0; i < n; i++) {
        char *text = xfer_text(&rows[i], 2);

        af_buf_reset(&key);
        af_buf_printf(&key, "%d|%s", (int)rows[i].status, text);
        report_fold_add(
            &rf,
            rows[i].status >= COPY_OK ? (size_t)(rows[i].status - COPY_OK) : 4,
            key.data, rows[i].name, &rows[i]);
        free(text);
    }
    ng = report_fold_sort(&rf);
    for (g = 0; g < ng; g++) {
        const struct xfer_row *r = report_fold_item(&rf, g);
        char *nodes = report_fold_nodes(&rf, g), head[32],
             *text = xfer_text(r, report_fold_size(&rf, g));

        snprintf(head, sizeof(head), "(%s)", copy_status_str(r->status));
        report_block(rep, nodes, head, text, strlen(text));
        free(text);
        free(nodes);
    }
    report_fold_tally(rep, &rf, 3);
    report_fold_free(&rf);
    af_buf_free(&key);
}

static void
xfer_json_summary(struct report *rep, const struct xfer_row *rows, size_t n)
{
    size_t i, c[COPY_TIMEOUT + 1] = {0};
    struct af_buf b;
    struct af_json j;

    for (i = 0; i < n; i++)
        c[rows[i].status]++;
    report_json_begin(rep, &j, &b, "summary");
    afj_kuint(&j, "ok", c[COPY_OK]);
    afj_kuint(&j, "failed", c[COPY_FAILED]);
    afj_kuint(&j, "unreachable", c[COPY_UNREACHABLE]);
    afj_kuint(&j, "timeout", c[COPY_TIMEOUT]);
    afj_kuint(&j, "total", n);
    report_json_end(rep, &j, &b);
}

/* Exit code of a run: 0 when every node is ok. */
static int
xfer_rc(const struct xfer_row *rows, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (rows[i].status != COPY_OK)
            return AF_EXIT_FAILED;
    return AF_EXIT_OK;
}

/* The loop and the fleet, as every engine needs them; 0 or an exit code. */
static int
xfer_setup(struct report *rep,
           struct cmd_opts *o,
           uv_loop_t *loop,
           struct fleet *fleet,
           int *loop_ok)
{
    struct af_err e;
    int r;

    if ((r = uv_loop_init(loop)) != 0) {
        report_error(rep, "cannot start the event loop: %s", uv_strerror(r));
        return AF_EXIT_INTERNAL;
    }
    *loop_ok = 1;
    if (fleet_init(fleet, loop, o->inventory, o->limit, o->ssh_config, &e) !=
        0) {
        report_error(rep, "%s", e.msg);
        return AF_EXIT_USAGE;
    }
    fleet->hostkeys = o->hostkeys;
    fleet->kex = o->kex;
    return 0;
}

static void
xfer_teardown(struct fleet *fleet, uv_loop_t *loop, int loop_ok)
{
    fleet_free(fleet);
    if (loop_ok) {
        uv_run(loop, UV_RUN_DEFAULT);
        uv_loop_close(loop);
    }
}

/* ------------------------------------------------------------- copy */

static void
copy_usage(FILE *out)
{
    fprintf(out,
            "usage: ascend-fleet copy [options] SRC... DEST\n"
            "Put local files on every selected node through the agent. A "
            "node that\nalready holds the same content (SHA-256) and mode "
            "gets nothing; others get\nthe file written beside DEST, "
            "verified and renamed into place, with the\nsource's mode. "
            "DEST is an absolute path on the nodes; with several SRC,\nor "
            "when DEST is a directory there, files keep their names "
            "inside it.\n\n%s"
            "Exit: 0 all nodes ok, 1 some failed/unreachable/timed out, 2 "
            "usage error.\n",
            cmd_common_help);
}

static void
copy_rows(const struct copy_run *run,
          struct xfer_row *rows,
          int json,
          struct report *rep)
{
    size_t i, n = copy_run_count(run);
    struct af_buf b;
    struct af_json j;

    for (i = 0; i < n; i++) {
        const struct copy_result *r = copy_run_result(run, i);

        rows[i].name = r->name;
        rows[i].address = r->address;
        rows[i].status = r->status;
        rows[i].error = r->error;
        snprintf(rows[i].detail, sizeof(rows[i].detail),
                 "%zu file%s sent (%llu bytes), %zu already there", r->sent,
                 r->sent == 1 ? "" : "s", (unsigned long long)r->bytes,
                 r->same);
        if (!json)
            continue;
        report_json_begin(rep, &j, &b, "node");
        afj_kstr(&j, "name", r->name);
        afj_kstr(&j, "address", r->address);
        afj_kstr(&j, "status", copy_status_str(r->status));
        afj_kuint(&j, "sent", r->sent);
        afj_kuint(&j, "unchanged", r->same);
        afj_kuint(&j, "bytes", r->bytes);
        afj_kstr(&j, "error", r->error[0] ? r->error : NULL);
        afj_kint(&j, "duration_ms", r->duration_ms);
        report_json_end(rep, &j, &b);
    }
}

int
cmd_copy_main(int argc, char **argv)
{
    static const struct cmd_spec spec = {
        .name = "copy",
        .usage = copy_usage,
        .max_args = -1,
    };
    struct cmd_opts o;
    struct copy_opts co;
    struct copy_run *run = NULL;
    struct fleet fleet;
    struct report rep;
    struct xfer_row *rows = NULL;
    struct af_err e;
    uv_loop_t loop;
    int r, rc, loop_ok = 0;

    memset(&fleet, 0, sizeof(fleet));
    memset(&co, 0, sizeof(co));
    cmd_opts_init(&o);
    if ((r = cmd_getopt(argc, argv, &spec, &o, NULL)) != 0)
        return r < 0 ? AF_EXIT_OK : r;
    report_init(&rep, "copy", o.json, 0);
    if (argc - optind < 2) {
        report_error(&rep, "wants at least one SRC and a DEST");
        copy_usage(stderr);
        return AF_EXIT_USAGE;
    }
    if ((rc = xfer_setup(&rep, &o, &loop, &fleet, &loop_ok)) != 0)
        goto out;
    co.srcs = (const char *const *)argv + optind;
    co.nsrcs = (size_t)(argc - optind - 1);
    co.dest = argv[argc - 1];
    co.fanout = cmd_fanout_clamp(&rep, o.fanout, fleet.nsel);
    co.timeout_ms = (uint64_t)o.timeout_s * 1000;
    if ((r = copy_run(&fleet, &co, report_sink(&rep), &run, &e)) != 0) {
        report_error(&rep, "%s", e.msg);
        rc = r == AF_EINPUT ? AF_EXIT_USAGE : AF_EXIT_INTERNAL;
        goto out;
    }
    rows = af_calloc(fleet.nsel ? fleet.nsel : 1, sizeof(*rows));
    copy_rows(run, rows, o.json, &rep);
    if (o.json)
        xfer_json_summary(&rep, rows, fleet.nsel);
    else
        xfer_print(&rep, rows, fleet.nsel);
    rc = xfer_rc(rows, fleet.nsel);
out:
    free(rows);
    copy_run_free(run);
    xfer_teardown(&fleet, &loop, loop_ok);
    return rc;
}

/* ----------------------------------------------------------- gather */

enum { GATHER_OPT_MAX = CMD_OPT_FIRST_PRIVATE };

static void
gather_usage(FILE *out)
{
    fprintf(out,
            "usage: ascend-fleet gather [options] REMOTE LOCALDIR\n"
            "Fetch the file REMOTE (an absolute path) from every selected "
            "node through\nthe agent into LOCALDIR/NAME.NODE (NAME: the "
            "basename of REMOTE). Each\ncopy streams to a temp file and is "
            "renamed into place once its SHA-256\nmatches what the node "
            "read.\n\n%s"
            "      --max-size N       refuse a node file larger than N "
            "bytes (K, M, G\n"
            "                         suffixes; default 1G)\n"
            "Exit: 0 all nodes ok, 1 some failed/unreachable/timed out, 2 "
            "usage error.\n",
            cmd_common_help);
}

/* "1048576", "64K", "1M", "2G": bytes (at most 1 TiB), or 0. */
static uint64_t
gather_parse_size(const char *s)
{
    char *end;
    unsigned long long v, mul = 1;

    errno = 0;
    if (*s < '0' || *s > '9')
        return 0;
    v = strtoull(s, &end, 10);
    if (errno != 0)
        return 0;
    if (*end == 'K' || *end == 'k')
        mul = 1ULL << 10, end++;
    else if (*end == 'M' || *end == 'm')
        mul = 1ULL << 20, end++;
    else if (*end == 'G' || *end == 'g')
        mul = 1ULL << 30, end++;
    if (*end != '\0' || v == 0 || v > (1ULL << 40) / mul)
        return 0;
    return v * mul;
}

static int
gather_opt(void *ctx, int opt, const char *arg)
{
    struct gather_opts *go = ctx;

    if (opt == GATHER_OPT_MAX && (go->max_size = gather_parse_size(arg)) != 0)
        return 0;
    if (opt == GATHER_OPT_MAX) {
        fprintf(stderr,
                "ascend-fleet gather: --max-size wants 1 byte to 1T, not "
                "'%s'\n",
                arg);
        return AF_EXIT_USAGE;
    }
    gather_usage(stderr);
    return AF_EXIT_USAGE;
}

static void
gather_rows(const struct gather_run *run,
            struct xfer_row *rows,
            int json,
            struct report *rep)
{
    size_t i, n = gather_run_count(run);
    struct af_buf b;
    struct af_json j;

    for (i = 0; i < n; i++) {
        const struct gather_result *r = gather_run_result(run, i);

        rows[i].name = r->name;
        rows[i].address = r->address;
        rows[i].status = r->status;
        rows[i].error = r->error;
        snprintf(rows[i].detail, sizeof(rows[i].detail), "fetched %llu bytes",
                 (unsigned long long)r->bytes);
        if (!json)
            continue;
        report_json_begin(rep, &j, &b, "node");
        afj_kstr(&j, "name", r->name);
        afj_kstr(&j, "address", r->address);
        afj_kstr(&j, "status", copy_status_str(r->status));
        afj_kstr(&j, "path", r->path);
        afj_kuint(&j, "bytes", r->bytes);
        afj_kstr(&j, "sha256", r->sha256[0] ? r->sha256 : NULL);
        afj_kstr(&j, "error", r->error[0] ? r->error : NULL);
        afj_kint(&j, "duration_ms", r->duration_ms);
        report_json_end(rep, &j, &b);
    }
}

int
cmd_gather_main(int argc, char **argv)
{
    static const struct option own[] = {
        {"max-size", required_argument, NULL, GATHER_OPT_MAX},
        {NULL, 0, NULL, 0},
    };
    static const struct cmd_spec spec = {
        .name = "gather",
        .own = own,
        .handle = gather_opt,
        .usage = gather_usage,
        .max_args = 2,
    };
    struct cmd_opts o;
    struct gather_opts go;
    struct gather_run *run = NULL;
    struct fleet fleet;
    struct report rep;
    struct xfer_row *rows = NULL;
    struct af_err e;
    uv_loop_t loop;
    int r, rc, loop_ok = 0;

    memset(&fleet, 0, sizeof(fleet));
    memset(&go, 0, sizeof(go));
    go.max_size = GATHER_MAX_DEFAULT;
    cmd_opts_init(&o);
    if ((r = cmd_getopt(argc, argv, &spec, &o, &go)) != 0)
        return r < 0 ? AF_EXIT_OK : r;
    report_init(&rep, "gather", o.json, 0);
    if (argc - optind != 2) {
        report_error(&rep, "wants REMOTE and LOCALDIR");
        gather_usage(stderr);
        return AF_EXIT_USAGE;
    }
    if ((rc = xfer_setup(&rep, &o, &loop, &fleet, &loop_ok)) != 0)
        goto out;
    go.remote = argv[optind];
    go.localdir = argv[optind + 1];
    go.fanout = cmd_fanout_clamp(&rep, o.fanout, fleet.nsel);
    go.timeout_ms = (uint64_t)o.timeout_s * 1000;
    if ((r = gather_run(&fleet, &go, report_sink(&rep), &run, &e)) != 0) {
        report_error(&rep, "%s", e.msg);
        rc = r == AF_EINPUT ? AF_EXIT_USAGE : AF_EXIT_INTERNAL;
        goto out;
    }
    rows = af_calloc(fleet.nsel ? fleet.nsel : 1, sizeof(*rows));
    gather_rows(run, rows, o.json, &rep);
    if (o.json)
        xfer_json_summary(&rep, rows, fleet.nsel);
    else
        xfer_print(&rep, rows, fleet.nsel);
    rc = xfer_rc(rows, fleet.nsel);
out:
    free(rows);
    gather_run_free(run);
    xfer_teardown(&fleet, &loop, loop_ok);
    return rc;
}
