/* SPDX-License-Identifier: MIT */
/*
 * ascend-fleet stage: copy the packages of the given stages to every
 * selected node ahead of a rollout (ops/stage.h), printing one line per
 * node and package with its size and duration, then a total.
 */
#define _GNU_SOURCE
#include "cmd.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "af-buf.h"
#include "af-json.h"
#include "af-mem.h"
#include "fleet.h"
#include "report.h"
#include "stage.h"

enum {
    STAGE_OPT_STAGE = CMD_OPT_FIRST_PRIVATE,
    STAGE_OPT_PACKAGES,
    STAGE_OPT_PLAYBOOK,
};

static void
stage_usage(FILE *out)
{
    fprintf(out,
            "usage: ascend-fleet stage --packages DIR [--stage S] [options]\n"
            "Copy the packages the stages use to every selected node ahead "
            "of a rollout\n(to where the rollout reads them: a later rollout "
            "pushes nothing).\nPushes stream, are verified on the node as "
            "they arrive and resume where an\ninterrupted one stopped.\n\n%s"
            "      --packages DIR     the vendor packages\n"
            "      --stage S[,S...]   stages whose packages to stage "
            "(default: all)\n"
            "      --playbook FILE    playbook (default: the rollout's)\n"
            "Exit: 0 every node holds them, 1 some node failed, 2 usage "
            "error.\n",
            cmd_common_help);
}

struct stage_out {
    struct report rep;
};

/* The rack-gateway keys of an item (ops/relay.h). */
static void
stage_relay_json(struct af_json *j, const struct stage_item *it)
{
    if (it->gateway)
        afj_kstr(j, "role", "gateway");
    if (it->via != NULL) {
        afj_kstr(j, "via", it->via);
        afj_kuint(j, "relayed_bytes", it->received);
    }
    if (it->relay_error != NULL)
        afj_kstr(j, "relay_error", it->relay_error);
}

/* " (gateway)", " via GW" or the failed fetch, for a text line. */
static char *
stage_relay_text(const struct stage_item *it)
{
    char *t, *r;

    if (it->gateway)
        return af_strdup("  (gateway)");
    if (it->via != NULL) {
        t = report_safe(it->via);
        r = af_asprintf("  via %s", t);
        free(t);
        return r;
    }
    if (it->relay_error != NULL) {
        t = report_safe(it->relay_error);
        r = af_asprintf("  (%s; pushed directly)", t);
        free(t);
        return r;
    }
    return af_strdup("");
}

static void
stage_item_json(struct stage_out *so, const struct stage_item *it)
{
    struct af_json j;
    struct af_buf b;

    report_json_begin(&so->rep, &j, &b, "package");
    afj_kstr(&j, "node", it->node);
    if (it->package != NULL)
        afj_kstr(&j, "package", it->package);
    afj_kstr(&j, "status",
             it->status    ? "failed"
             : it->already ? "staged"
                           : "pushed");
    afj_kuint(&j, "size", it->size);
    afj_kuint(&j, "bytes", it->sent);
    afj_kuint(&j, "resumed_at", it->offset);
    afj_kuint(&j, "duration_ms", it->duration_ms);
    if (it->status)
        afj_kstr(&j, "reason", it->error);
    stage_relay_json(&j, it);
    report_json_end(&so->rep, &j, &b);
}

static void
stage_item_print(const struct stage_item *it, void *data)
{
    struct stage_out *so = data;
    double mib = (double)(it->sent + it->received) / 1048576.0;
    double s = (double)it->duration_ms / 1000.0;
    char *node, *pkg, *rel;

    if (so->rep.json) {
        stage_item_json(so, it);
        return;
    }
    node = report_safe(it->node);
    pkg = report_safe(it->package ? it->package : "");
    rel = stage_relay_text(it);
    if (it->status != 0)
        report_error(&so->rep, "%s %s: %s%s", node, pkg, it->error, rel);
    else if (it->already)
        printf("%-10s %s  %.1f MiB  (staged)%s\n", node, pkg,
               (double)it->size / 1048576.0, rel);
    else
        printf("%-10s %s  %.1f MiB in %.1f s (%.1f MiB/s)%s%s\n", node, pkg,
               mib, s, s > 0 ? mib / s : 0.0, it->offset ? "  resumed" : "",
               rel);
    fflush(stdout);
    free(rel);
    free(node);
    free(pkg);
}

struct stage_cli {
    struct stage_opts so;
};

static int
stage_opt(void *ctx, int opt, const char *arg)
{
    struct stage_cli *c = ctx;

    if (opt == STAGE_OPT_STAGE)
        c->so.stages = arg;
    else if (opt == STAGE_OPT_PACKAGES)
        c->so.packages = arg;
    else if (opt == STAGE_OPT_PLAYBOOK)
        c->so.playbook = arg;
    else
        return AF_EXIT_USAGE;
    return 0;
}

static void
stage_summary_print(struct stage_out *out, const struct stage_summary *sum)
{
    double mib = (double)sum->bytes_sent / 1048576.0;
    double s = (double)sum->wall_ms / 1000.0;

    if (out->rep.json) {
        struct af_json j;
        struct af_buf b;

        report_json_begin(&out->rep, &j, &b, "summary");
        afj_kuint(&j, "nodes", sum->nodes);
        afj_kuint(&j, "failed", sum->nodes_failed);
        afj_kuint(&j, "packages", sum->packages);
        afj_kuint(&j, "bytes", sum->bytes_sent);
        afj_kuint(&j, "duration_ms", sum->wall_ms);
        afj_kuint(&j, "gateways", sum->gateways);
        afj_kuint(&j, "bytes_relayed", sum->bytes_relayed);
        report_json_end(&out->rep, &j, &b);
        return;
    }
    printf("%zu node%s, %zu staged, %zu failed; %zu package%s; %.1f MiB sent "
           "in %.1f s (%.1f MiB/s)\n",
           sum->nodes, sum->nodes == 1 ? "" : "s",
           sum->nodes - sum->nodes_failed, sum->nodes_failed, sum->packages,
           sum->packages == 1 ? "" : "s", mib, s, s > 0 ? mib / s : 0.0);
    if (sum->gateways > 0)
        printf("%.1f MiB relayed by %zu rack gateway%s\n",
               (double)sum->bytes_relayed / 1048576.0, sum->gateways,
               sum->gateways == 1 ? "" : "s");
}

int
cmd_stage_main(int argc, char **argv)
{
    static const struct option own[] = {
        {"stage", required_argument, NULL, STAGE_OPT_STAGE},
        {"packages", required_argument, NULL, STAGE_OPT_PACKAGES},
        {"playbook", required_argument, NULL, STAGE_OPT_PLAYBOOK},
        {NULL, 0, NULL, 0},
    };
    static const struct cmd_spec spec = {
        .name = "stage",
        .own = own,
        .handle = stage_opt,
        .usage = stage_usage,
        .max_args = 0,
    };
    struct cmd_opts o;
    struct stage_cli c = {{NULL, NULL, NULL, 0}};
    struct stage_summary sum;
    struct stage_out out;
    struct fleet fleet;
    struct af_err e = {0, ""};
    uv_loop_t loop;
    int r, rc = AF_EXIT_OK;

    cmd_opts_init(&o);
    if ((r = cmd_getopt(argc, argv, &spec, &o, &c)) != 0)
        return r < 0 ? AF_EXIT_OK : r;
    report_init(&out.rep, "stage", o.json, 0);
    if (c.so.packages == NULL) {
        report_error(&out.rep, "--packages DIR is required");
        return AF_EXIT_USAGE;
    }
    c.so.fanout = o.fanout;
    if ((r = uv_loop_init(&loop)) != 0) {
        report_error(&out.rep, "cannot start the event loop: %s",
                     uv_strerror(r));
        return AF_EXIT_INTERNAL;
    }
    if (fleet_init(&fleet, &loop, o.inventory, o.limit, o.ssh_config, &e) !=
        0) {
        report_error(&out.rep, "%s", e.msg);
        rc = AF_EXIT_USAGE;
        goto out;
    }
    fleet.hostkeys = o.hostkeys;
    fleet.kex = o.kex;
    c.so.fanout = cmd_fanout_clamp(&out.rep, o.fanout, fleet.nsel);
    r = stage_run(&fleet, &c.so, stage_item_print, &out, &sum, &e);
    if (r == AF_EINPUT || (r != 0 && r != AF_EREMOTE)) {
        report_error(&out.rep, "%s", e.msg);
        rc = AF_EXIT_USAGE;
        goto out;
    }
    stage_summary_print(&out, &sum);
    if (r != 0)
        rc = AF_EXIT_FAILED;
out:
    fleet_free(&fleet);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return rc;
}
