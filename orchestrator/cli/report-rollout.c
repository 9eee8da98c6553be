/* SPDX-License-Identifier: MIT */
/*
 * Rendering of rollout events (see report-rollout.h): the plan folded by
 * step and outcome in execution order with aligned columns, node lines,
 * the live line, the summary, JSON Lines.
 */
#define _GNU_SOURCE
#include "report-rollout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "af-buf.h"
#include "af-json.h"
#include "af-mem.h"
#include "fold.h"

struct rr_row {
    char *node;
    char *step;
    char *text;  /* action, with the reason */
    size_t rank; /* position among the node's rows */
};

struct rr {
    const char *cmd;
    int json;
    int yes;
    int tty;
    int live; /* the live line is on screen */
    struct rr_row *rows;
    size_t nrows;
    char *last_node;
    size_t rank;
    struct fold *results;
};

struct rr *
rr_new(const char *cmd, int json, int yes)
{
    struct rr *r = af_calloc(1, sizeof(*r));

    r->cmd = cmd;
    r->json = json;
    r->yes = yes;
    r->tty = !json && isatty(STDOUT_FILENO);
    r->results = fold_new();
    return r;
}

static void
rr_rows_free(struct rr *r)
{
    size_t i;

    for (i = 0; i < r->nrows; i++) {
        free(r->rows[i].node);
        free(r->rows[i].step);
        free(r->rows[i].text);
    }
    free(r->rows);
    r->rows = NULL;
    r->nrows = 0;
    free(r->last_node);
    r->last_node = NULL;
}

void
rr_free(struct rr *r)
{
    if (r == NULL)
        return;
    rr_rows_free(r);
    fold_free(r->results);
    free(r);
}

int
rr_live(const struct rr *r)
{
    return r->tty;
}

static void
rr_clear_live(struct rr *r)
{
    if (r->live) {
        printf("\r\033[K");
        r->live = 0;
    }
}

/* ---- JSON Lines ------------------------------------------------------ */

static const char *const rr_types[] = {
    "error",     "note", "plan",     "plan_end", "batch",
    "batch_end", "node", "progress", "result",   "run_end",
};

/* One JSON Lines object per event (schema "v":1, docs in README). */
static void
rr_json(const struct ro_ev *ev)
{
    const struct ev *b = &ev->ev;
    struct af_buf out;
    struct af_json j;

    af_buf_init(&out, 0);
    afj_init(&j, &out);
    afj_obj_begin(&j);
    afj_kint(&j, "v", 1);
    afj_kstr(&j, "type", rr_types[ev->kind]);
    afj_kint(&j, "ts", ev->ts_ms);
    if (ev->run > 0)
        afj_kint(&j, "run", ev->run);
    if (b->node != NULL)
        afj_kstr(&j, "node", b->node);
    if (ev->stage != NULL)
        afj_kstr(&j, "stage", ev->stage);
    if (b->step != NULL)
        afj_kstr(&j, "step", b->step);
    if (b->action != NULL)
        afj_kstr(&j, "action", b->action);
    if (ev->what != NULL)
        afj_kstr(&j, "what", ev->what);
    if (b->status != NULL)
        afj_kstr(&j, "status", b->status);
    if (b->exit_code >= 0)
        afj_kint(&j, "exit_code", b->exit_code);
    if (b->duration_ms >= 0)
        afj_kint(&j, "duration_ms", b->duration_ms);
    if (b->bytes > 0)
        afj_kuint(&j, "bytes", b->bytes);
    if (b->reason != NULL)
        afj_kstr(&j, "reason", b->reason);
    if (ev->text != NULL)
        afj_kstr(&j, "text", ev->text);
    if (ev->kind == RO_EV_BATCH || ev->kind == RO_EV_BATCH_END) {
        afj_kint(&j, "batch", ev->batch + 1);
        afj_kint(&j, "batches", ev->nbatches);
        afj_kuint(&j, "nodes", ev->count);
        afj_kuint(&j, "done", ev->done);
        afj_kuint(&j, "failed", ev->failed);
        afj_kuint(&j, "budget_left", ev->budget_left);
    }
    afj_obj_end(&j);
    af_buf_puts(&out, "\n");
    fwrite(out.data, 1, out.len, stdout);
    fflush(stdout);
    af_buf_free(&out);
}

/* ---- the plan ---------------------------------------------------------- */

static void
rr_plan_row(struct rr *r, const struct ro_ev *ev)
{
    struct rr_row *row;
    struct af_buf t;

    if (r->last_node == NULL || strcmp(r->last_node, ev->ev.node) != 0) {
        free(r->last_node);
        r->last_node = af_strdup(ev->ev.node);
        r->rank = 0;
    }
    af_buf_init(&t, 0);
    af_buf_puts(&t, ev->ev.action ? ev->ev.action : "");
    if (ev->ev.reason != NULL)
        af_buf_printf(&t, " (%s)", ev->ev.reason);
    r->rows = af_reallocarray(r->rows, r->nrows + 1, sizeof(*r->rows));
    row = &r->rows[r->nrows++];
    row->node = af_strdup(ev->ev.node);
    row->step = af_strdup(ev->ev.step ? ev->ev.step : "-");
    row->text = af_buf_steal(&t);
    row->rank = r->rank++;
}

struct rr_group {
    const char *step, *text;
    size_t rank, first;
    struct fold *nodes;
};

static int
rr_group_cmp(const void *a, const void *b)
{
    const struct rr_group *x = a, *y = b;

    if (x->rank != y->rank)
        return x->rank < y->rank ? -1 : 1;
    return x->first < y->first ? -1 : x->first > y->first;
}

/* Rows folded by (step, text), in the order steps run, columns aligned. */
static void
rr_plan_print(struct rr *r, const char *stages)
{
    struct rr_group *g = af_calloc(r->nrows ? r->nrows : 1, sizeof(*g));
    size_t ng = 0, i, k;
    int w = 0;

    for (i = 0; i < r->nrows; i++) {
        const struct rr_row *row = &r->rows[i];

        for (k = 0; k < ng; k++)
            if (strcmp(g[k].step, row->step) == 0 &&
                strcmp(g[k].text, row->text) == 0)
                break;
        if (k == ng) {
            g[ng].step = row->step;
            g[ng].text = row->text;
            g[ng].rank = row->rank;
            g[ng].first = i;
            g[ng++].nodes = fold_new();
        }
        if (row->rank < g[k].rank)
            g[k].rank = row->rank;
        fold_add(g[k].nodes, "", row->node);
        if ((int)strlen(row->step) > w)
            w = (int)strlen(row->step);
    }
    qsort(g, ng, sizeof(*g), rr_group_cmp);
    printf("Plan (stages %s):\n", stages);
    for (k = 0; k < ng; k++) {
        char *nodes = fold_nodes(g[k].nodes, 0);

        printf("  %-*s %s: %s\n", w, g[k].step, g[k].text, nodes);
        free(nodes);
        fold_free(g[k].nodes);
    }
    free(g);
    rr_rows_free(r);
}

/* ---- lines ------------------------------------------------------------ */

static void
rr_line(struct rr *r, const char *node, const char *text)
{
    time_t now = time(NULL);
    struct tm tm;
    char ts[32];

    rr_clear_live(r);
    localtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%H:%M:%S", &tm);
    printf("%s %-8s %s\n", ts, node ? node : "", text);
}

static void
rr_progress(struct rr *r, const struct ro_ev *ev)
{
    if (!r->tty)
        return;
    printf("\r\033[K[batch %d/%d] running %zu, rebooting %zu, done %zu, "
           "failed %zu, waiting %zu | budget left %zu",
           ev->batch + 1, ev->nbatches, ev->running, ev->rebooting, ev->done,
           ev->failed, ev->waiting, ev->budget_left);
    if (ev->slowest != NULL)
        printf(" | slowest %s %.0f s", ev->slowest,
               (double)ev->slowest_ms / 1000.0);
    r->live = 1;
}

static const char *const rr_order[] = {
    "done",    "unreachable",   "step failed",
    "timeout", "verify failed", "reboot timeout",
    "blocked", "interrupted",   "not started",
};

static void
rr_summary(struct rr *r, const struct ro_ev *ev)
{
    size_t o, g;
    int first = 1;

    rr_clear_live(r);
    printf("Run %lld %s:", (long long)ev->run, ev->what);
    for (o = 0; o < sizeof(rr_order) / sizeof(rr_order[0]); o++) {
        for (g = 0; g < fold_groups(r->results); g++) {
            char *nodes;

            if (strcmp(fold_key(r->results, g), rr_order[o]) != 0)
                continue;
            nodes = fold_nodes(r->results, g);
            printf("%s %zu %s: %s", first ? "" : ",", fold_size(r->results, g),
                   rr_order[o], nodes);
            free(nodes);
            first = 0;
        }
        if (o == 0 && first) {
            printf(" 0 done");
            first = 0;
        }
    }
    printf("\n");
}

static void
rr_event(const struct ro_ev *ev, void *data)
{
    struct rr *r = data;

    if (ev->kind == RO_EV_ERROR) {
        rr_clear_live(r);
        fflush(stdout);
        fprintf(stderr, "ascend-fleet %s: %s\n", r->cmd, ev->ev.reason);
        return;
    }
    if (ev->kind == RO_EV_RESULT)
        fold_add(r->results, ev->what, ev->ev.node);
    if (r->json) {
        if (ev->kind != RO_EV_PROGRESS)
            rr_json(ev);
        return;
    }
    switch (ev->kind) {
    case RO_EV_NOTE:
        rr_clear_live(r);
        printf("%s\n", ev->text);
        break;
    case RO_EV_PLAN_ROW:
        rr_plan_row(r, ev);
        break;
    case RO_EV_PLAN_END:
        rr_plan_print(r, ev->text);
        break;
    case RO_EV_BATCH:
        rr_line(r, NULL, ev->text);
        break;
    case RO_EV_BATCH_END:
        rr_clear_live(r);
        break;
    case RO_EV_STEP:
        rr_line(r, ev->ev.node, ev->text);
        break;
    case RO_EV_PROGRESS:
        rr_progress(r, ev);
        break;
    case RO_EV_RUN_END:
        rr_summary(r, ev);
        break;
    default:
        break;
    }
    fflush(stdout);
}

static int
rr_confirm(void *data)
{
    struct rr *r = data;
    char ans[16];

    if (r->yes)
        return 1;
    if (!isatty(STDIN_FILENO)) {
        fprintf(stderr,
                "ascend-fleet %s: not on a terminal: pass --yes "
                "to start the rollout\n",
                r->cmd);
        return 0;
    }
    printf("Start the rollout on these nodes? [y/N] ");
    fflush(stdout);
    if (fgets(ans, sizeof(ans), stdin) == NULL)
        return 0;
    return ans[0] == 'y' || ans[0] == 'Y';
}

void
rr_sink(struct rr *r, struct ro_sink *sink)
{
    sink->event = rr_event;
    sink->confirm = rr_confirm;
    sink->data = r;
}
