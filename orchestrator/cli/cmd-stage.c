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
#include "fleet.h"
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
    int json;
};

static void
stage_item_print(const struct stage_item *it, void *data)
{
    const struct stage_out *so = data;
    double mib = (double)it->sent / 1048576.0;
    double s = (double)it->duration_ms / 1000.0;

    if (so->json) {
        struct af_buf b;

        af_buf_init(&b, 0);
        af_buf_puts(&b, "{\"node\":");
        af_buf_json_str(&b, it->node);
        af_buf_puts(&b, ",\"package\":");
        af_buf_json_str(&b, it->package);
        af_buf_printf(
            &b,
            ",\"size\":%llu,\"sent\":%llu,\"resumed_at\":%llu,"
            "\"duration_ms\":%llu,\"staged_before\":%s,\"error\":",
            (unsigned long long)it->size, (unsigned long long)it->sent,
            (unsigned long long)it->offset, (unsigned long long)it->duration_ms,
            it->already ? "true" : "false");
        af_buf_json_str(&b, it->status ? it->error : NULL);
        af_buf_puts(&b, "}\n");
        fwrite(b.data, 1, b.len, stdout);
        af_buf_free(&b);
        return;
    }
    if (it->status != 0) {
        fprintf(stderr, "%-10s %s: %s\n", it->node,
                it->package ? it->package : "", it->error);
        return;
    }
    if (it->already)
        printf("%-10s %s  %.1f MiB  (staged)\n", it->node, it->package,
               (double)it->size / 1048576.0);
    else
        printf("%-10s %s  %.1f MiB in %.1f s (%.1f MiB/s)%s\n", it->node,
               it->package, mib, s, s > 0 ? mib / s : 0.0,
               it->offset ? "  resumed" : "");
    fflush(stdout);
}

int
cmd_stage_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        CMD_LONGOPTS_COMMON,
        {"stage", required_argument, NULL, STAGE_OPT_STAGE},
        {"packages", required_argument, NULL, STAGE_OPT_PACKAGES},
        {"playbook", required_argument, NULL, STAGE_OPT_PLAYBOOK},
        {NULL, 0, NULL, 0},
    };
    struct cmd_opts o;
    struct stage_opts so = {NULL, NULL, NULL, 0};
    struct stage_summary sum;
    struct stage_out out = {0};
    struct fleet fleet;
    struct af_err e = {0, ""};
    uv_loop_t loop;
    int opt, r, rc = AF_EXIT_OK;

    cmd_opts_init(&o);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "+i:f:h", longopts, NULL)) != -1) {
        r = cmd_opts_handle(&o, "stage", opt, optarg);
        if (r < 0)
            return AF_EXIT_USAGE;
        if (r > 0)
            continue;
        if (opt == STAGE_OPT_STAGE) {
            so.stages = optarg;
        } else if (opt == STAGE_OPT_PACKAGES) {
            so.packages = optarg;
        } else if (opt == STAGE_OPT_PLAYBOOK) {
            so.playbook = optarg;
        } else if (opt == 'h') {
            stage_usage(stdout);
            return AF_EXIT_OK;
        } else {
            stage_usage(stderr);
            return AF_EXIT_USAGE;
        }
    }
    if (optind != argc || so.packages == NULL) {
        fprintf(stderr, "ascend-fleet stage: %s\n",
                so.packages == NULL ? "--packages DIR is required"
                                    : "unexpected argument");
        return AF_EXIT_USAGE;
    }
    so.fanout = o.fanout;
    out.json = o.json;
    uv_loop_init(&loop);
    if (fleet_init(&fleet, &loop, o.inventory, o.limit, &e) != 0) {
        fprintf(stderr, "ascend-fleet stage: %s\n", e.msg);
        rc = AF_EXIT_USAGE;
        goto out;
    }
    fleet.hostkeys = o.hostkeys;
    fleet.kex = o.kex;
    r = stage_run(&fleet, &so, stage_item_print, &out, &sum, &e);
    if (r == AF_EINPUT || (r != 0 && r != AF_EREMOTE)) {
        fprintf(stderr, "ascend-fleet stage: %s\n", e.msg);
        rc = AF_EXIT_USAGE;
        goto out;
    }
    if (!o.json)
        printf("%zu nodes, %zu staged, %zu failed; %zu packages; %.1f MiB "
               "sent in %.1f s (%.1f MiB/s)\n",
               sum.nodes, sum.nodes - sum.nodes_failed, sum.nodes_failed,
               sum.packages, (double)sum.bytes_sent / 1048576.0,
               (double)sum.wall_ms / 1000.0,
               sum.wall_ms ? (double)sum.bytes_sent / 1048576.0 /
                                 ((double)sum.wall_ms / 1000.0)
                           : 0.0);
    if (r != 0)
        rc = AF_EXIT_FAILED;
out:
    fleet_free(&fleet);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return rc;
}
