/* SPDX-License-Identifier: MIT */
/*
 * ascend-fleet status and runs: read-only views of the state file. They
 * take no lock, so they work while a rollout is running.
 */
#define _GNU_SOURCE
#include "cmd.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "af-buf.h"
#include "af-err.h"
#include "fold.h"
#include "st.h"

static void
fmt_time(int64_t ms, char *buf, size_t n)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    if (ms <= 0) {
        snprintf(buf, n, "-");
        return;
    }
    localtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm);
}

static void
status_usage(FILE *out)
{
    fprintf(out, "usage: ascend-fleet status [RUN] [--state FILE] [--json]\n"
                 "Show a run (default: the latest): nodes folded by state "
                 "per stage, failed\nnodes with their reason and output "
                 "tail.\n");
}

static int
open_state(const char *path, struct st **st)
{
    struct af_err e;

    if (st_open(path, st, &e) != 0) {
        fprintf(stderr, "ascend-fleet: %s\n", e.msg);
        return -1;
    }
    return 0;
}

static void
print_json(const struct st_run *run, const struct st_node *nodes, size_t nn,
           const struct st_step *steps, size_t ns)
{
    struct af_buf b;
    size_t i, k;
    int first;

    af_buf_init(&b, 0);
    af_buf_printf(&b, "{\"run\":{\"id\":%lld,\"status\":\"%s\",\"stages\":",
                  (long long)run->id, st_run_status_name(run->status));
    af_buf_json_str(&b, run->stages);
    af_buf_puts(&b, ",\"reason\":");
    af_buf_json_str(&b, run->reason);
    af_buf_printf(&b, ",\"created_ms\":%lld,\"updated_ms\":%lld},\"nodes\":[",
                  (long long)run->created, (long long)run->updated);
    for (i = 0; i < nn; i++) {
        af_buf_puts(&b, i ? ",\n{\"name\":" : "\n{\"name\":");
        af_buf_json_str(&b, nodes[i].node);
        af_buf_printf(&b, ",\"status\":\"%s\",\"batch\":%d,\"reason\":",
                      st_node_status_name(nodes[i].status), nodes[i].batch);
        af_buf_json_str(&b, nodes[i].reason);
        af_buf_puts(&b, ",\"boot_id_before\":");
        af_buf_json_str(&b, nodes[i].boot_id_before);
        af_buf_puts(&b, ",\"boot_id_after\":");
        af_buf_json_str(&b, nodes[i].boot_id_after);
        af_buf_puts(&b, ",\"steps\":[");
        first = 1;
        for (k = 0; k < ns; k++) {
            if (strcmp(steps[k].node, nodes[i].node) != 0)
                continue;
            af_buf_puts(&b, first ? "{\"stage\":" : ",{\"stage\":");
            first = 0;
            af_buf_json_str(&b, steps[k].stage);
            af_buf_puts(&b, ",\"step\":");
            af_buf_json_str(&b, steps[k].step);
            af_buf_printf(&b, ",\"status\":\"%s\",\"attempt\":%d,"
                              "\"exit_code\":",
                          st_step_status_name(steps[k].status),
                          steps[k].attempt);
            if (steps[k].exit_code == ST_NO_EXIT)
                af_buf_puts(&b, "null");
            else
                af_buf_printf(&b, "%d", steps[k].exit_code);
            af_buf_puts(&b, ",\"action\":");
            af_buf_json_str(&b, steps[k].action);
            af_buf_printf(&b, ",\"started_ms\":%lld,\"ended_ms\":%lld,"
                              "\"output_tail\":",
                          (long long)steps[k].started,
                          (long long)steps[k].ended);
            af_buf_json_strn(&b, steps[k].output ? steps[k].output : "",
                             steps[k].output_len);
            af_buf_puts(&b, "}");
        }
        af_buf_puts(&b, "]}");
    }
    af_buf_puts(&b, "\n]}\n");
    fwrite(b.data, 1, b.len, stdout);
    af_buf_free(&b);
}

/* Last n lines of s (len bytes), indented. */
static void
print_tail(const char *s, size_t len, int nlines)
{
    size_t start = len;
    int seen = 0;

    while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == ' '))
        len--;
    start = len;
    while (start > 0) {
        if (s[start - 1] == '\n' && ++seen == nlines)
            break;
        start--;
    }
    while (start < len) {
        const char *nl = memchr(s + start, '\n', len - start);
        size_t l = nl ? (size_t)(nl - (s + start)) : len - start;

        printf("      | %.*s\n", (int)l, s + start);
        start += l + 1;
    }
}

static void
print_text(const struct st_run *run, const struct st_node *nodes, size_t nn,
           const struct st_step *steps, size_t ns)
{
    char created[32], updated[32];
    struct fold *f = fold_new();
    struct af_buf key;
    size_t i, k, g;

    fmt_time(run->created, created, sizeof(created));
    fmt_time(run->updated, updated, sizeof(updated));
    printf("Run %lld: %s   stages %s   started %s   updated %s\n",
           (long long)run->id, st_run_status_name(run->status), run->stages,
           created, updated);
    if (run->reason)
        printf("  reason: %s\n", run->reason);
    for (i = 0; i < nn; i++)
        fold_add(f, st_node_status_name(nodes[i].status), nodes[i].node);
    printf("Nodes (%zu):\n", nn);
    for (g = 0; g < fold_groups(f); g++) {
        char *set = fold_nodes(f, g);

        printf("  %-12s %zu: %s\n", fold_key(f, g), fold_size(f, g), set);
        free(set);
    }
    fold_free(f);
    f = fold_new();
    af_buf_init(&key, 0);
    for (k = 0; k < ns; k++) {
        af_buf_reset(&key);
        af_buf_printf(&key, "%s/%s %s", steps[k].stage, steps[k].step,
                      st_step_status_name(steps[k].status));
        if (steps[k].action && steps[k].status != ST_STEP_FAILED)
            af_buf_printf(&key, " (%s)", steps[k].action);
        fold_add(f, key.data, steps[k].node);
    }
    printf("Steps:\n");
    for (g = 0; g < fold_groups(f); g++) {
        char *set = fold_nodes(f, g);

        printf("  %s: %s\n", fold_key(f, g), set);
        free(set);
    }
    fold_free(f);
    af_buf_free(&key);
    for (i = 0; i < nn; i++) {
        if (nodes[i].status != ST_NODE_FAILED &&
            nodes[i].status != ST_NODE_UNREACHABLE &&
            nodes[i].status != ST_NODE_BLOCKED)
            continue;
        printf("%s %s: %s\n", nodes[i].node,
               st_node_status_name(nodes[i].status),
               nodes[i].reason ? nodes[i].reason : "");
        for (k = 0; k < ns; k++) {
            if (strcmp(steps[k].node, nodes[i].node) != 0 ||
                (steps[k].status != ST_STEP_FAILED &&
                 steps[k].status != ST_STEP_BLOCKED))
                continue;
            printf("    %s/%s %s (attempt %d, exit %d): %s\n",
                   steps[k].stage, steps[k].step,
                   st_step_status_name(steps[k].status), steps[k].attempt,
                   steps[k].exit_code == ST_NO_EXIT ? -1
                                                    : steps[k].exit_code,
                   steps[k].action ? steps[k].action : "");
            if (steps[k].output && steps[k].output_len)
                print_tail(steps[k].output, steps[k].output_len, 8);
        }
    }
}

int
cmd_status_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        CMD_LONGOPTS_COMMON,
        {NULL, 0, NULL, 0},
    };
    struct cmd_opts o;
    struct st *st = NULL;
    struct st_run run;
    struct st_node *nodes = NULL;
    struct st_step *steps = NULL;
    size_t nn = 0, ns = 0;
    struct af_err e;
    int64_t id = 0;
    int opt, r, rc = AF_EXIT_USAGE, have_run = 0;

    cmd_opts_init(&o);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "+i:f:w:x:vh", longopts, NULL)) !=
           -1) {
        r = cmd_opts_handle(&o, "status", opt, optarg);
        if (r < 0)
            return AF_EXIT_USAGE;
        if (r > 0)
            continue;
        if (opt == 'h') {
            status_usage(stdout);
            return AF_EXIT_OK;
        }
        status_usage(stderr);
        return AF_EXIT_USAGE;
    }
    if (optind < argc) {
        char *end;

        id = strtoll(argv[optind], &end, 10);
        if (*end || id <= 0) {
            fprintf(stderr, "ascend-fleet status: bad run id '%s'\n",
                    argv[optind]);
            return AF_EXIT_USAGE;
        }
    }
    if (open_state(o.state, &st) < 0)
        return AF_EXIT_USAGE;
    if (id == 0) {
        struct st_run *runs = NULL;
        size_t n = 0;

        if (st_run_list(st, &runs, &n, &e) != 0 || n == 0) {
            fprintf(stderr, "ascend-fleet status: no runs in %s\n", o.state);
            st_runs_free(runs, n);
            goto out;
        }
        for (size_t i = 0; i < n; i++)
            if (runs[i].id > id)
                id = runs[i].id;
        st_runs_free(runs, n);
    }
    if (st_run_get(st, id, &run, &e) != 0) {
        fprintf(stderr, "ascend-fleet status: %s\n", e.msg);
        goto out;
    }
    have_run = 1;
    if (st_node_list(st, id, &nodes, &nn, &e) != 0 ||
        st_step_list(st, id, NULL, &steps, &ns, &e) != 0) {
        fprintf(stderr, "ascend-fleet status: %s\n", e.msg);
        rc = AF_EXIT_INTERNAL;
        goto out;
    }
    if (o.json)
        print_json(&run, nodes, nn, steps, ns);
    else
        print_text(&run, nodes, nn, steps, ns);
    rc = run.status == ST_RUN_DONE ? AF_EXIT_OK : AF_EXIT_FAILED;
out:
    if (have_run)
        st_run_clear(&run);
    st_nodes_free(nodes, nn);
    st_steps_free(steps, ns);
    st_close(st);
    return rc;
}

int
cmd_runs_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        CMD_LONGOPTS_COMMON,
        {NULL, 0, NULL, 0},
    };
    struct cmd_opts o;
    struct st *st = NULL;
    struct st_run *runs = NULL;
    size_t n = 0, i;
    struct af_err e;
    int opt, r;

    cmd_opts_init(&o);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "+i:f:w:x:vh", longopts, NULL)) !=
           -1) {
        r = cmd_opts_handle(&o, "runs", opt, optarg);
        if (r < 0)
            return AF_EXIT_USAGE;
        if (r > 0)
            continue;
        fprintf(opt == 'h' ? stdout : stderr,
                "usage: ascend-fleet runs [--state FILE] [--json]\n"
                "List the runs recorded in the state file.\n");
        return opt == 'h' ? AF_EXIT_OK : AF_EXIT_USAGE;
    }
    if (open_state(o.state, &st) < 0)
        return AF_EXIT_USAGE;
    if (st_run_list(st, &runs, &n, &e) != 0) {
        fprintf(stderr, "ascend-fleet runs: %s\n", e.msg);
        st_close(st);
        return AF_EXIT_INTERNAL;
    }
    if (o.json) {
        struct af_buf b;

        af_buf_init(&b, 0);
        af_buf_puts(&b, "{\"runs\":[");
        for (i = 0; i < n; i++) {
            af_buf_printf(&b, "%s{\"id\":%lld,\"status\":\"%s\",\"stages\":",
                          i ? "," : "", (long long)runs[i].id,
                          st_run_status_name(runs[i].status));
            af_buf_json_str(&b, runs[i].stages);
            af_buf_puts(&b, ",\"cmdline\":");
            af_buf_json_str(&b, runs[i].cmdline);
            af_buf_printf(&b, ",\"created_ms\":%lld,\"reason\":",
                          (long long)runs[i].created);
            af_buf_json_str(&b, runs[i].reason);
            af_buf_puts(&b, "}");
        }
        af_buf_puts(&b, "]}\n");
        fwrite(b.data, 1, b.len, stdout);
        af_buf_free(&b);
    } else {
        printf("%-5s %-8s %-19s %s\n", "RUN", "STATUS", "STARTED",
               "COMMAND");
        for (i = 0; i < n; i++) {
            char t[32];

            fmt_time(runs[i].created, t, sizeof(t));
            printf("%-5lld %-8s %-19s %s%s%s\n", (long long)runs[i].id,
                   st_run_status_name(runs[i].status), t, runs[i].cmdline,
                   runs[i].reason ? "  # " : "",
                   runs[i].reason ? runs[i].reason : "");
        }
    }
    st_runs_free(runs, n);
    st_close(st);
    return AF_EXIT_OK;
}
