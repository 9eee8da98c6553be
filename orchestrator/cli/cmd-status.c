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
#include "af-mem.h"
#include "fold.h"
#include "report-stage.h"
#include "report.h"
#include "st-stage.h"
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
                 "tail; then the packages staged on nodes\n(ascend-fleet "
                 "stage): staged, partial (how far) or failed.\n");
}

/* One "step" line: a step of a node in the run. */
static void
print_json_step(struct report *rep, const struct st_step *st)
{
    struct af_buf b;
    struct af_json j;

    report_json_begin(rep, &j, &b, "step");
    afj_kint(&j, "run", st->run);
    afj_kstr(&j, "node", st->node);
    afj_kstr(&j, "stage", st->stage);
    afj_kstr(&j, "step", st->step);
    afj_kstr(&j, "status", st_step_status_name(st->status));
    afj_kint(&j, "attempt", st->attempt);
    if (st->exit_code == ST_NO_EXIT)
        afj_knull(&j, "exit_code");
    else
        afj_kint(&j, "exit_code", st->exit_code);
    afj_kstr(&j, "action", st->action);
    afj_kint(&j, "started_ms", st->started);
    afj_kint(&j, "ended_ms", st->ended);
    if (st->started > 0 && st->ended >= st->started)
        afj_kint(&j, "duration_ms", st->ended - st->started);
    else
        afj_knull(&j, "duration_ms");
    afj_kstrn(&j, "output_tail", st->output ? st->output : "", st->output_len);
    report_json_end(rep, &j, &b);
}

/*
 * JSON Lines: the "run", then per node its "node" line followed by its
 * "step" lines, then a "summary" with the nodes per status.
 */
static void
print_json(struct report *rep,
           const struct st_run *run,
           const struct st_node *nodes,
           size_t nn,
           const struct st_step *steps,
           size_t ns,
           const struct st_stage *staged,
           size_t nstaged)
{
    size_t i, k, counts[ST_NODE_UNREACHABLE + 1] = {0};
    struct af_buf b;
    struct af_json j;

    report_json_begin(rep, &j, &b, "run");
    afj_kint(&j, "id", run->id);
    afj_kstr(&j, "status", st_run_status_name(run->status));
    afj_kstr(&j, "stages", run->stages);
    afj_kstr(&j, "cmdline", run->cmdline);
    afj_kstr(&j, "reason", run->reason);
    afj_kint(&j, "created_ms", run->created);
    afj_kint(&j, "updated_ms", run->updated);
    report_json_end(rep, &j, &b);
    for (i = 0; i < nn; i++) {
        if ((size_t)nodes[i].status <= ST_NODE_UNREACHABLE)
            counts[nodes[i].status]++;
        report_json_begin(rep, &j, &b, "node");
        afj_kint(&j, "run", run->id);
        afj_kstr(&j, "name", nodes[i].node);
        afj_kstr(&j, "status", st_node_status_name(nodes[i].status));
        afj_kint(&j, "batch", nodes[i].batch);
        afj_kstr(&j, "reason", nodes[i].reason);
        afj_kstr(&j, "boot_id_before", nodes[i].boot_id_before);
        afj_kstr(&j, "boot_id_after", nodes[i].boot_id_after);
        report_json_end(rep, &j, &b);
        for (k = 0; k < ns; k++)
            if (strcmp(steps[k].node, nodes[i].node) == 0)
                print_json_step(rep, &steps[k]);
    }
    report_json_begin(rep, &j, &b, "summary");
    afj_kint(&j, "run", run->id);
    afj_kstr(&j, "status", st_run_status_name(run->status));
    for (k = 0; k <= ST_NODE_UNREACHABLE; k++)
        afj_kuint(&j, st_node_status_name((enum st_node_status)k), counts[k]);
    afj_kuint(&j, "total", nn);
    afj_kuint(&j, "steps", ns);
    report_json_end(rep, &j, &b);
    report_stage_json(rep, staged, nstaged);
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

        struct af_buf b;

        /* Installer output comes from the node: escaped for the terminal. */
        af_buf_init(&b, 0);
        report_escape(&b, s + start, l, 0);
        printf("      | %.*s\n", (int)b.len, b.data ? b.data : "");
        af_buf_free(&b);
        start += l + 1;
    }
}

static void
print_text(const struct st_run *run,
           const struct st_node *nodes,
           size_t nn,
           const struct st_step *steps,
           size_t ns)
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
        if (steps[k].action && steps[k].status != ST_STEP_FAILED) {
            const char *a = steps[k].action;
            size_t n = strlen(a);

            /* "skipped (already X)", not "skipped (skip (already X))". */
            if (steps[k].status == ST_STEP_SKIPPED &&
                strncmp(a, "skip (", 6) == 0 && n > 7 && a[n - 1] == ')')
                af_buf_printf(&key, " (%.*s)", (int)(n - 7), a + 6);
            else
                af_buf_printf(&key, " (%s)", a);
        }
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
        {
            char *reason = report_safe(nodes[i].reason);

            printf("%s %s: %s\n", nodes[i].node,
                   st_node_status_name(nodes[i].status), reason);
            free(reason);
        }
        for (k = 0; k < ns; k++) {
            if (strcmp(steps[k].node, nodes[i].node) != 0 ||
                (steps[k].status != ST_STEP_FAILED &&
                 steps[k].status != ST_STEP_BLOCKED))
                continue;
            printf("    %s/%s %s (attempt %d, exit %d): %s\n", steps[k].stage,
                   steps[k].step, st_step_status_name(steps[k].status),
                   steps[k].attempt,
                   steps[k].exit_code == ST_NO_EXIT ? -1 : steps[k].exit_code,
                   steps[k].action ? steps[k].action : "");
            if (steps[k].output && steps[k].output_len)
                print_tail(steps[k].output, steps[k].output_len, 8);
        }
    }
}

/* A state file with staged packages and no run yet. Returns 0. */
static int
status_staged_only(const struct cmd_opts *o,
                   const struct st_stage *staged,
                   size_t n)
{
    struct report rep;

    if (!o->json) {
        report_stage_text(staged, n);
        return 0;
    }
    report_init(&rep, "status", 1, 0);
    report_stage_json(&rep, staged, n);
    return 0;
}

int
cmd_status_main(int argc, char **argv)
{
    static const struct cmd_spec spec = {
        .name = "status",
        .usage = status_usage,
        .max_args = 1,
    };
    struct cmd_opts o;
    struct st *st = NULL;
    struct st_run run;
    struct st_node *nodes = NULL;
    struct st_step *steps = NULL;
    struct st_stage *staged = NULL;
    size_t nn = 0, ns = 0, nstaged = 0;
    struct af_err e;
    int64_t id = 0;
    int r, rc = AF_EXIT_USAGE, have_run = 0;

    cmd_opts_init(&o);
    if ((r = cmd_getopt(argc, argv, &spec, &o, NULL)) != 0)
        return r < 0 ? AF_EXIT_OK : r;
    if (optind < argc) {
        char *end;

        id = strtoll(argv[optind], &end, 10);
        if (*end || id <= 0) {
            fprintf(stderr, "ascend-fleet status: bad run id '%s'\n",
                    argv[optind]);
            return AF_EXIT_USAGE;
        }
    }
    if (cmd_state_open(&o, "status", 0, &st) != 0)
        return AF_EXIT_USAGE;
    if (st_stage_list(st, &staged, &nstaged, &e) != 0) {
        fprintf(stderr, "ascend-fleet status: %s\n", e.msg);
        rc = AF_EXIT_INTERNAL;
        goto out;
    }
    if (id == 0) {
        struct st_run *runs = NULL;
        size_t n = 0;

        if (st_run_list(st, &runs, &n, &e) != 0 || n == 0) {
            st_runs_free(runs, n);
            /* Only staged packages so far: show them. */
            if (nstaged > 0) {
                rc = status_staged_only(&o, staged, nstaged);
                goto out;
            }
            fprintf(stderr, "ascend-fleet status: no runs in %s\n", o.state);
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
    if (o.json) {
        struct report rep;

        report_init(&rep, "status", 1, 0);
        print_json(&rep, &run, nodes, nn, steps, ns, staged, nstaged);
    } else {
        print_text(&run, nodes, nn, steps, ns);
        report_stage_text(staged, nstaged);
    }
    rc = run.status == ST_RUN_DONE ? AF_EXIT_OK : AF_EXIT_FAILED;
out:
    if (have_run)
        st_run_clear(&run);
    st_nodes_free(nodes, nn);
    st_steps_free(steps, ns);
    st_stage_free(staged, nstaged);
    st_close(st);
    return rc;
}

static void
abort_usage(FILE *out)
{
    fprintf(out, "usage: ascend-fleet runs abort RUN [--state FILE]\n"
                 "Give up on an unfinished run: it is recorded as aborted "
                 "(shown by runs and\nstatus) and a bare resume no longer "
                 "picks it. Refused while a process\nstill works on its "
                 "nodes.\n");
}

/* Record run as aborted, holding the locks of its nodes meanwhile. */
static int
runs_abort(struct cmd_opts *o, int64_t id)
{
    struct st *st = NULL;
    struct st_run run;
    struct st_node *nodes = NULL;
    const char **names = NULL;
    struct af_err e = {0};
    size_t n = 0, i;
    int rc, have = 0;

    if ((rc = cmd_state_open(o, "runs abort", CMD_STATE_EXISTING, &st)) != 0)
        return rc;
    rc = AF_EXIT_USAGE;
    if (st_run_get(st, id, &run, &e) != 0) {
        fprintf(stderr, "ascend-fleet runs abort: %s\n", e.msg);
        goto out;
    }
    have = 1;
    if (run.status == ST_RUN_DONE || run.status == ST_RUN_ABORTED) {
        fprintf(stderr, "ascend-fleet runs abort: run %lld is already %s\n",
                (long long)id, st_run_status_name(run.status));
        goto out;
    }
    if (st_node_list(st, id, &nodes, &n, &e) != 0) {
        fprintf(stderr, "ascend-fleet runs abort: %s\n", e.msg);
        rc = AF_EXIT_INTERNAL;
        goto out;
    }
    /* A process still working on the run holds its nodes: refuse then. */
    names = af_calloc(n + 1, sizeof(*names));
    for (i = 0; i < n; i++)
        names[i] = nodes[i].node;
    if ((rc = cmd_lock_nodes(st, "runs abort", names, n)) != 0)
        goto out;
    if (st_run_set_status(st, id, ST_RUN_ABORTED, "aborted by the operator",
                          &e) != 0 ||
        st_event(st, id, NULL, "run", "aborted by the operator") != 0) {
        fprintf(stderr, "ascend-fleet runs abort: cannot record it: %s\n",
                e.msg[0] ? e.msg : st_errmsg(st));
        rc = AF_EXIT_FAILED;
        goto out;
    }
    printf("Run %lld aborted (was %s).\n", (long long)id,
           st_run_status_name(run.status));
    rc = AF_EXIT_OK;
out:
    free(names);
    st_nodes_free(nodes, n);
    if (have)
        st_run_clear(&run);
    st_close(st);
    return rc;
}

static int
cmd_runs_abort_main(int argc, char **argv)
{
    static const struct cmd_spec spec = {
        .name = "runs abort",
        .usage = abort_usage,
        .max_args = 1,
    };
    struct cmd_opts o;
    int64_t id = 0;
    char *end;
    int r;

    cmd_opts_init(&o);
    if ((r = cmd_getopt(argc, argv, &spec, &o, NULL)) != 0)
        return r < 0 ? AF_EXIT_OK : r;
    if (optind + 1 != argc) {
        abort_usage(stderr);
        return AF_EXIT_USAGE;
    }
    id = strtoll(argv[optind], &end, 10);
    if (*end || id <= 0) {
        fprintf(stderr, "ascend-fleet runs abort: bad run id '%s'\n",
                argv[optind]);
        return AF_EXIT_USAGE;
    }
    return runs_abort(&o, id);
}

static void
runs_usage(FILE *out)
{
    fprintf(out, "usage: ascend-fleet runs [--state FILE] [--json]\n"
                 "       ascend-fleet runs abort RUN [--state FILE]\n"
                 "List the runs recorded in the state file, or give up on "
                 "one.\n");
}

int
cmd_runs_main(int argc, char **argv)
{
    static const struct cmd_spec spec = {
        .name = "runs",
        .usage = runs_usage,
        .max_args = 0,
    };
    struct cmd_opts o;
    struct st *st = NULL;
    struct st_run *runs = NULL;
    size_t n = 0, i;
    struct af_err e;
    int r;

    if (argc > 1 && strcmp(argv[1], "abort") == 0)
        return cmd_runs_abort_main(argc - 1, argv + 1);
    cmd_opts_init(&o);
    if ((r = cmd_getopt(argc, argv, &spec, &o, NULL)) != 0)
        return r < 0 ? AF_EXIT_OK : r;
    if (cmd_state_open(&o, "runs", 0, &st) != 0)
        return AF_EXIT_USAGE;
    if (st_run_list(st, &runs, &n, &e) != 0) {
        fprintf(stderr, "ascend-fleet runs: %s\n", e.msg);
        st_close(st);
        return AF_EXIT_INTERNAL;
    }
    if (o.json) {
        struct report rep;
        struct af_buf b;
        struct af_json j;

        /* JSON Lines: one "run" per run, oldest first, then "summary". */
        report_init(&rep, "runs", 1, 0);
        for (i = 0; i < n; i++) {
            report_json_begin(&rep, &j, &b, "run");
            afj_kint(&j, "id", runs[i].id);
            afj_kstr(&j, "status", st_run_status_name(runs[i].status));
            afj_kstr(&j, "stages", runs[i].stages);
            afj_kstr(&j, "cmdline", runs[i].cmdline);
            afj_kint(&j, "created_ms", runs[i].created);
            afj_kint(&j, "updated_ms", runs[i].updated);
            afj_kstr(&j, "reason", runs[i].reason);
            report_json_end(&rep, &j, &b);
        }
        report_json_begin(&rep, &j, &b, "summary");
        afj_kuint(&j, "total", n);
        report_json_end(&rep, &j, &b);
    } else {
        printf("%-5s %-11s %-19s %s\n", "RUN", "STATUS", "STARTED", "COMMAND");
        for (i = 0; i < n; i++) {
            char t[32];

            fmt_time(runs[i].created, t, sizeof(t));
            printf("%-5lld %-11s %-19s %s%s%s\n", (long long)runs[i].id,
                   st_run_status_name(runs[i].status), t, runs[i].cmdline,
                   runs[i].reason ? "  # " : "",
                   runs[i].reason ? runs[i].reason : "");
        }
    }
    st_runs_free(runs, n);
    st_close(st);
    return AF_EXIT_OK;
}
