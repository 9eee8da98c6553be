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
        char *nodes = fold_nodes(f, g);

        printf("%-10s %s: %s\n", label, fold_key(f, g), nodes);
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
            fold_add(unreach, "", res[i].name);
            continue;
        }
        answered++;
        pushed += res[i].pushed;
        cnt = af_kv_get(kv, "npu_count") ? atoi(af_kv_get(kv, "npu_count"))
                                          : 0;
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

        printf(", %zu %s: %s", fold_size(health, i), fold_key(health, i),
               nodes);
        free(nodes);
    }
    printf("\n%zu nodes answered (agent pushed to %zu)", answered, pushed);
    if (fold_groups(unreach)) {
        char *nodes = fold_nodes(unreach, 0);

        printf(", %zu unreachable: %s", fold_size(unreach, 0), nodes);
        free(nodes);
    }
    printf("\n");
    for (i = 0; i < n; i++)
        if (res[i].status != 0)
            fprintf(stderr, "%s\n", res[i].error);
    fold_free(unreach);
    fold_free(health);
    af_buf_free(&key);
}

static void
facts_print_json(const struct facts_result *res, size_t n)
{
    struct af_buf b;
    size_t i, j;

    af_buf_init(&b, 0);
    af_buf_puts(&b, "{\"nodes\":[");
    for (i = 0; i < n; i++) {
        af_buf_puts(&b, i ? ",\n{\"name\":" : "\n{\"name\":");
        af_buf_json_str(&b, res[i].name);
        af_buf_puts(&b, ",\"address\":");
        af_buf_json_str(&b, res[i].address);
        af_buf_printf(&b, ",\"status\":\"%s\",\"error\":",
                      res[i].status == 0
                          ? "ok"
                          : (res[i].timed_out ? "timeout" : "unreachable"));
        af_buf_json_str(&b, res[i].status ? res[i].error : NULL);
        af_buf_printf(&b, ",\"agent_pushed\":%s,\"facts\":{",
                      res[i].pushed ? "true" : "false");
        for (j = 0; j < res[i].facts.n; j++) {
            if (j)
                af_buf_append(&b, ",", 1);
            af_buf_json_str(&b, res[i].facts.keys[j]);
            af_buf_append(&b, ":", 1);
            af_buf_json_str(&b, res[i].facts.vals[j]);
        }
        af_buf_puts(&b, "}}");
    }
    af_buf_puts(&b, "\n]}\n");
    fwrite(b.data, 1, b.len, stdout);
    af_buf_free(&b);
}

int
cmd_facts_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        CMD_LONGOPTS_COMMON,
        {NULL, 0, NULL, 0},
    };
    struct cmd_opts o;
    struct fleet fleet;
    struct facts_result *res = NULL;
    struct st *st = NULL;
    struct af_err e;
    uv_loop_t loop;
    int opt, r, rc = AF_EXIT_OK;
    size_t i;

    cmd_opts_init(&o);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "+i:f:w:x:vh", longopts, NULL)) !=
           -1) {
        r = cmd_opts_handle(&o, "facts", opt, optarg);
        if (r < 0)
            return AF_EXIT_USAGE;
        if (r > 0)
            continue;
        if (opt == 'h') {
            facts_usage(stdout);
            return AF_EXIT_OK;
        }
        facts_usage(stderr);
        return AF_EXIT_USAGE;
    }
    if (optind != argc) {
        fprintf(stderr, "ascend-fleet facts: unexpected argument '%s'\n",
                argv[optind]);
        return AF_EXIT_USAGE;
    }
    uv_loop_init(&loop);
    if (fleet_init(&fleet, &loop, o.inventory, o.limit, o.ssh_config, &e) !=
        0) {
        fprintf(stderr, "ascend-fleet facts: %s\n", e.msg);
        rc = AF_EXIT_USAGE;
        goto out;
    }
    fleet.hostkeys = o.hostkeys;
    fleet.kex = o.kex;
    if (st_open(o.state, &st, &e) != 0) {
        fprintf(stderr, "ascend-fleet facts: %s\n", e.msg);
        rc = AF_EXIT_USAGE;
        goto out;
    }
    res = facts_gather(&fleet, o.fanout,
                       (uint64_t)(o.timeout_s ? o.timeout_s : 120) * 1000);
    if ((r = facts_store(st, res, fleet.nsel, &e)) != 0) {
        fprintf(stderr, "ascend-fleet facts: %s\n", e.msg);
        rc = AF_EXIT_INTERNAL;
        goto out;
    }
    if (o.json)
        facts_print_json(res, fleet.nsel);
    else
        facts_print_summary(res, fleet.nsel);
    for (i = 0; i < fleet.nsel; i++)
        if (res[i].status != 0)
            rc = AF_EXIT_FAILED;
out:
    facts_results_free(res, fleet.nsel);
    st_close(st);
    fleet_free(&fleet);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return rc;
}
