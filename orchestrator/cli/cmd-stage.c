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
#include "inv.h"
#include "rate.h"
#include "report.h"
#include "st.h"
#include "stage.h"

enum {
    STAGE_OPT_STAGE = CMD_OPT_FIRST_PRIVATE,
    STAGE_OPT_PACKAGES,
    STAGE_OPT_PLAYBOOK,
    STAGE_OPT_RATE,
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
            "      --rate RATE        cap all pushes together at RATE bytes "
            "per second\n"
            "                         (K, M, G: KiB, MiB, GiB; e.g. 200M)\n"
            "      --state FILE       state file recording what each node "
            "holds\n"
            "                         (default %s)\n"
            "Exit: 0 every node holds them, 1 some node failed, 2 usage "
            "error,\n3 the nodes are locked by another run.\n",
            cmd_common_help, AF_DEFAULT_STATE);
}

struct stage_out {
    struct report rep;
    const struct inv *inv;
    /* Text mode: the failures, folded once the run ends. */
    char **fail_node, **fail_msg;
    size_t nfail, capfail;
};

/* Keep a failure (copied: the engine's strings are borrowed). */
static void
stage_fail_keep(struct stage_out *so, const struct stage_item *it)
{
    const char *err = report_strip_node(it->error ? it->error : "", it->node);

    if (so->nfail == so->capfail) {
        so->capfail = so->capfail ? so->capfail * 2 : 16;
        so->fail_node =
            af_reallocarray(so->fail_node, so->capfail, sizeof(*so->fail_node));
        so->fail_msg =
            af_reallocarray(so->fail_msg, so->capfail, sizeof(*so->fail_msg));
    }
    so->fail_node[so->nfail] = af_strdup(it->node);
    so->fail_msg[so->nfail] =
        it->package ? af_asprintf("%s: %s", it->package, err) : af_strdup(err);
    so->nfail++;
}

/* The failures on stderr, equal ones folded over their nodes. */
static void
stage_fail_print(struct stage_out *so)
{
    struct report_errs errs;
    size_t i;

    report_errs_init(&errs);
    for (i = 0; i < so->nfail; i++) {
        const struct inv_node *n = inv_find(so->inv, so->fail_node[i]);

        report_errs_add_at(&errs, so->fail_node[i], n ? n->address : NULL,
                           so->fail_msg[i]);
    }
    report_errs_print(&errs, so->rep.err);
    report_errs_free(&errs);
    for (i = 0; i < so->nfail; i++) {
        free(so->fail_node[i]);
        free(so->fail_msg[i]);
    }
    free(so->fail_node);
    free(so->fail_msg);
    so->fail_node = so->fail_msg = NULL;
    so->nfail = so->capfail = 0;
}

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
    afj_kstr(&j, "package", it->package); /* null: failed before any */
    afj_kstr(&j, "status",
             it->status    ? "failed"
             : it->already ? "staged"
                           : "pushed");
    afj_kuint(&j, "size", it->size);
    afj_kuint(&j, "bytes", it->sent);
    afj_kuint(&j, "resumed_at", it->offset);
    if (it->recorded >= 0)
        afj_kint(&j, "recorded_bytes", it->recorded);
    afj_kuint(&j, "duration_ms", it->duration_ms);
    afj_kstr(&j, "error", it->status ? it->error : NULL);
    stage_relay_json(&j, it);
    report_json_end(&so->rep, &j, &b);
}

/* A push that went on from a partial the node kept: say where. */
static void
stage_resumed_print(const struct stage_item *it,
                    const char *node,
                    const char *pkg,
                    const char *rel)
{
    double mib = (double)it->sent / 1048576.0;
    double s = (double)it->duration_ms / 1000.0;

    printf("%-10s %s  %.1f MiB in %.1f s (%.1f MiB/s)  resumed at %.1f MiB "
           "(%d%%)",
           node, pkg, mib, s, s > 0 ? mib / s : 0.0,
           (double)it->offset / 1048576.0,
           it->size ? (int)(it->offset * 100 / it->size) : 0);
    if (it->recorded >= 0 && (uint64_t)it->recorded != it->offset)
        printf(", the state file had %.1f MiB",
               (double)it->recorded / 1048576.0);
    printf("%s\n", rel);
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
        stage_fail_keep(so, it);
    else if (it->already)
        printf("%-10s %s  %.1f MiB  (staged)%s\n", node, pkg,
               (double)it->size / 1048576.0, rel);
    else if (it->offset == 0)
        printf("%-10s %s  %.1f MiB in %.1f s (%.1f MiB/s)%s\n", node, pkg, mib,
               s, s > 0 ? mib / s : 0.0, rel);
    else
        stage_resumed_print(it, node, pkg, rel);
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
    else if (opt == STAGE_OPT_RATE) {
        if (rate_parse(arg, &c->so.rate) != 0) {
            fprintf(stderr,
                    "ascend-fleet stage: --rate '%s': expected bytes per "
                    "second, a whole number with an optional K, M or G "
                    "(KiB, MiB, GiB), e.g. 200M\n",
                    arg);
            return AF_EXIT_USAGE;
        }
    } else
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
        afj_kuint(&j, "ok", sum->nodes - sum->nodes_failed);
        afj_kuint(&j, "failed", sum->nodes_failed);
        afj_kuint(&j, "total", sum->nodes);
        afj_kuint(&j, "nodes", sum->nodes);
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
        {"rate", required_argument, NULL, STAGE_OPT_RATE},
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
    struct stage_cli c = {{NULL, NULL, NULL, 0, 0, NULL}};
    struct stage_summary sum;
    struct stage_out out = {0};
    struct fleet fleet;
    struct af_err e = {0, ""};
    struct st *st = NULL;
    const char **names = NULL;
    uv_loop_t loop;
    size_t i;
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
    if ((rc = cmd_state_open(&o, "stage", CMD_STATE_CREATE, &st)) != 0)
        goto out;
    /* stage writes the state like every other writer: it locks its nodes.
     */
    names = af_calloc(fleet.nsel + 1, sizeof(*names));
    for (i = 0; i < fleet.nsel; i++)
        names[i] = fleet_node(&fleet, i)->name;
    if ((rc = cmd_lock_nodes(st, "stage", names, fleet.nsel)) != 0)
        goto out;
    c.so.st = st;
    c.so.fanout = cmd_fanout_clamp(&out.rep, o.fanout, fleet.nsel);
    out.inv = fleet.inv;
    r = stage_run(&fleet, &c.so, stage_item_print, &out, &sum, &e);
    stage_fail_print(&out);
    if (r == AF_EINPUT || (r != 0 && r != AF_EREMOTE)) {
        report_error(&out.rep, "%s", e.msg);
        rc = AF_EXIT_USAGE;
        goto out;
    }
    stage_summary_print(&out, &sum);
    if (r != 0)
        rc = AF_EXIT_FAILED;
out:
    free(names);
    st_close(st);
    fleet_free(&fleet);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return rc;
}
