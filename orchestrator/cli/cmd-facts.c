/* SPDX-License-Identifier: MIT */
/*
 * ascend-fleet facts: gather node facts through the agent on every selected
 * node in parallel, store them in the state file, and print one folded line
 * per fact value (or per-node JSON records).
 */
#define _GNU_SOURCE
#include "cmd.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "af-buf.h"
#include "af-mem.h"
#include "af-proto.h"
#include "facts.h"
#include "fleet.h"
#include "fold.h"
#include "inv.h"
#include "report.h"
#include "st.h"

static void
facts_usage(FILE *out)
{
    fprintf(out,
            "usage: ascend-fleet facts [options]\n"
            "Gather facts on every selected node (the agent is pushed once "
            "per node),\nstore them in the state file and print a folded "
            "summary.\n\n%s"
            "      --state FILE       state file (default %s)\n"
            "Exit: 0 all nodes answered, 1 some did not, 2 usage error.\n",
            cmd_common_help, AF_DEFAULT_STATE);
}

/* The node's status word: ok, failed (reached), unreachable, timeout. */
static const char *
facts_word(const struct facts_result *r)
{
    if (r->status == 0)
        return "ok";
    if (r->timed_out)
        return "timeout";
    return r->reached ? "failed" : "unreachable";
}

/* "none" for an empty or missing value. */
static const char *
val_or_none(const struct af_kv *kv, const char *key)
{
    const char *v = af_kv_get(kv, key);

    return v && *v ? v : "none";
}

static void
print_fold_line(struct fold *f, const char *label)
{
    size_t g;

    fold_sort_by_size(f);
    for (g = 0; g < fold_groups(f); g++) {
        char *nodes = fold_nodes(f, g), *k = report_safe(fold_key(f, g));

        /* Fact values come from nodes: escaped for the terminal. */
        printf("%-10s %s: %s\n", label, k, nodes);
        free(k);
        free(nodes);
    }
}

static void
facts_print_summary(const struct facts_result *res, size_t n)
{
    static const struct {
        const char *label;
        const char *key;
    } rows[] = {
        {"os", NULL},
        {"arch", "arch"},
        {"driver", "driver_version"},
        {"loaded", "npu_loaded_version"},
        {"firmware", "firmware_version"},
        {"cann", "cann_version"},
        {"torch", "torch_version"},
        {"torch_npu", "torch_npu_version"},
        {"npu", NULL},
    };
    static const char *const bad[] = {"failed", "unreachable", "timeout"};
    struct fold *unreach = fold_new(), *health = fold_new();
    size_t r, i, ok_chips = 0, pushed = 0, answered = 0;
    struct af_buf key;

    af_buf_init(&key, 0);
    for (r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
        struct fold *f = fold_new();

        for (i = 0; i < n; i++) {
            const struct af_kv *kv = &res[i].facts;

            if (res[i].status != 0)
                continue;
            af_buf_reset(&key);
            if (strcmp(rows[r].label, "os") == 0)
                af_buf_printf(&key, "%s %s", val_or_none(kv, "os_id"),
                              val_or_none(kv, "os_version"));
            else if (strcmp(rows[r].label, "npu") == 0)
                af_buf_printf(&key, "%s x %s",
                              af_kv_get(kv, "npu_count")
                                  ? af_kv_get(kv, "npu_count")
                                  : "0",
                              val_or_none(kv, "npu_chip"));
            else
                af_buf_puts(&key, val_or_none(kv, rows[r].key));
            fold_add(f, key.data, res[i].name);
        }
        print_fold_line(f, rows[r].label);
        fold_free(f);
    }
    /* Health: count chips, name the nodes with a chip not OK. */
    for (i = 0; i < n; i++) {
        const struct af_kv *kv = &res[i].facts;
        int cnt, c;

        if (res[i].status != 0) {
            fold_add(unreach, facts_word(&res[i]), res[i].name);
            continue;
        }
        answered++;
        pushed += res[i].pushed;
        cnt = af_kv_get(kv, "npu_count") ? atoi(af_kv_get(kv, "npu_count")) : 0;
        for (c = 0; c < cnt; c++) {
            char k[32];
            const char *h;

            snprintf(k, sizeof(k), "npu.%d.health", c);
            h = af_kv_get(kv, k);
            if (h != NULL && strcmp(h, "OK") == 0)
                ok_chips++;
            else
                fold_add(health, h ? h : "unknown", res[i].name);
        }
    }
    printf("health:    %zu OK", ok_chips);
    for (i = 0; i < fold_groups(health); i++) {
        char *nodes = fold_nodes(health, i);
        char *k = report_safe(fold_key(health, i));

        printf(", %zu %s: %s", fold_size(health, i), k, nodes);
        free(k);
        free(nodes);
    }
    printf("\n%zu nodes answered (agent pushed to %zu)", answered, pushed);
    /* "1 failed: npu044, 3 unreachable: npu[050-052]" */
    for (r = 0; r < 3; r++) {
        for (i = 0; i < fold_groups(unreach); i++) {
            char *nodes;

            if (strcmp(fold_key(unreach, i), bad[r]) != 0)
                continue;
            nodes = fold_nodes(unreach, i);
            printf(", %zu %s: %s", fold_size(unreach, i), bad[r], nodes);
            free(nodes);
        }
    }
    printf("\n");
    {
        /* Why, folded: 500 nodes refusing connections give one line. */
        struct report_errs errs;

        report_errs_init(&errs);
        for (i = 0; i < n; i++)
            if (res[i].status != 0)
                report_errs_add_at(&errs, res[i].name, res[i].address,
                                   res[i].error);
        report_errs_print(&errs, stderr);
        report_errs_free(&errs);
    }
    fold_free(unreach);
    fold_free(health);
    af_buf_free(&key);
}

/* JSON Lines: one "node" per node in inventory order, then "summary". */
static void
facts_print_json(struct report *rep, const struct facts_result *res, size_t n)
{
    static const char *const words[] = {"ok", "failed", "unreachable",
                                        "timeout"};
    size_t i, k, counts[4] = {0}, pushed = 0;
    struct af_buf b;
    struct af_json j;

    for (i = 0; i < n; i++) {
        const char *w = facts_word(&res[i]);

        for (k = 0; k < 4; k++)
            counts[k] += strcmp(w, words[k]) == 0;
        pushed += res[i].pushed != 0;
        report_json_begin(rep, &j, &b, "node");
        afj_kstr(&j, "name", res[i].name);
        afj_kstr(&j, "address", res[i].address);
        afj_kstr(&j, "status", w);
        afj_kstr(&j, "error", res[i].status ? res[i].error : NULL);
        afj_kbool(&j, "agent_pushed", res[i].pushed);
        afj_kint(&j, "duration_ms", res[i].duration_ms);
        afj_key(&j, "facts");
        afj_obj_begin(&j);
        for (k = 0; k < res[i].facts.n; k++)
            afj_kstr(&j, res[i].facts.keys[k], res[i].facts.vals[k]);
        afj_obj_end(&j);
        report_json_end(rep, &j, &b);
    }
    report_json_begin(rep, &j, &b, "summary");
    for (k = 0; k < 4; k++)
        afj_kuint(&j, words[k], counts[k]);
    afj_kuint(&j, "total", n);
    afj_kuint(&j, "agent_pushed", pushed);
    report_json_end(rep, &j, &b);
}

int
cmd_facts_main(int argc, char **argv)
{
    static const struct cmd_spec spec = {
        .name = "facts",
        .usage = facts_usage,
        .max_args = 0,
    };
    struct cmd_opts o;
    struct fleet fleet;
    struct facts_result *res = NULL;
    struct st *st = NULL;
    struct af_err e;
    const char **names = NULL;
    uv_loop_t loop;
    struct report rep;
    int r, rc = AF_EXIT_OK;
    size_t i;

    cmd_opts_init(&o);
    if ((r = cmd_getopt(argc, argv, &spec, &o, NULL)) != 0)
        return r < 0 ? AF_EXIT_OK : r;
    report_init(&rep, "facts", o.json, 0);
    if ((r = uv_loop_init(&loop)) != 0) {
        report_error(&rep, "cannot start the event loop: %s", uv_strerror(r));
        return AF_EXIT_INTERNAL;
    }
    if (fleet_init(&fleet, &loop, o.inventory, o.limit, o.ssh_config, &e) !=
        0) {
        fprintf(stderr, "ascend-fleet facts: %s\n", e.msg);
        rc = AF_EXIT_USAGE;
        goto out;
    }
    fleet.hostkeys = o.hostkeys;
    fleet.kex = o.kex;
    if ((rc = cmd_state_open(&o, "facts", 1, &st)) != 0)
        goto out;
    /* facts writes the state like every other writer: it locks its nodes. */
    names = af_calloc(fleet.nsel + 1, sizeof(*names));
    for (i = 0; i < fleet.nsel; i++)
        names[i] = fleet_node(&fleet, i)->name;
    if ((rc = cmd_lock_nodes(st, "facts", names, fleet.nsel)) != 0)
        goto out;
    res = facts_gather_ev(&fleet, cmd_fanout_clamp(&rep, o.fanout, fleet.nsel),
                          (uint64_t)(o.timeout_s ? o.timeout_s : 120) * 1000,
                          report_sink(&rep));
    if ((r = facts_store(st, res, fleet.nsel, &e)) != 0) {
        fprintf(stderr, "ascend-fleet facts: %s\n", e.msg);
        rc = AF_EXIT_INTERNAL;
        goto out;
    }
    if (o.json)
        facts_print_json(&rep, res, fleet.nsel);
    else
        facts_print_summary(res, fleet.nsel);
    for (i = 0; i < fleet.nsel; i++)
        if (res[i].status != 0)
            rc = AF_EXIT_FAILED;
out:
    free(names);
    facts_results_free(res, fleet.nsel);
    st_close(st);
    fleet_free(&fleet);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return rc;
}
