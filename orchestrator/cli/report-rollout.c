/* SPDX-License-Identifier: MIT */
/*
 * Rendering of rollout events (see report-rollout.h): the plan folded by
 * step and outcome in execution order with aligned columns, node lines
 * (ISO-8601 timestamps when piped), the live line with ETAs and push
 * progress, the end-of-run recap, JSON Lines.
 */
#define _GNU_SOURCE
#include "report-rollout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "af-buf.h"
#include "af-json.h"
#include "af-mem.h"
#include "fold.h"
#include "report.h"

#define RR_SLOWEST 3

struct rr_row {
    char *node;
    char *step;
    char *text;  /* the planner's line */
    size_t rank; /* position among the node's rows */
};

/* One node's end result, for the recap. */
struct rr_res {
    char *node;
    char *state; /* "done", "step failed", "blocked", ... */
    int64_t ms;  /* -1: the node never started */
};

struct rr {
    const char *cmd;
    int json;
    int yes;
    int tty;
    int live; /* the live line is on screen */
    int64_t t0_ms;
    struct rr_row *rows;
    size_t nrows;
    char *last_node;
    size_t rank;
    struct rr_res *res;
    size_t nres;
    /* push rate of the live line */
    uint64_t last_push;
    int64_t last_push_ts;
    double rate; /* bytes per second, smoothed */
};

static int64_t
rr_now_ms(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

struct rr *
rr_new(const char *cmd, int json, int yes)
{
    struct rr *r = af_calloc(1, sizeof(*r));

    r->cmd = cmd;
    r->json = json;
    r->yes = yes;
    r->tty = !json && isatty(STDOUT_FILENO);
    r->t0_ms = rr_now_ms();
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
    size_t i;

    if (r == NULL)
        return;
    rr_rows_free(r);
    for (i = 0; i < r->nres; i++) {
        free(r->res[i].node);
        free(r->res[i].state);
    }
    free(r->res);
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

/* "12.3 KiB" style sizes. */
static const char *
rr_bytes(char *buf, size_t n, uint64_t b)
{
    if (b < 1024)
        snprintf(buf, n, "%llu B", (unsigned long long)b);
    else if (b < 1024 * 1024)
        snprintf(buf, n, "%.1f KiB", (double)b / 1024.0);
    else if (b < 1024ULL * 1024 * 1024)
        snprintf(buf, n, "%.1f MiB", (double)b / 1048576.0);
    else
        snprintf(buf, n, "%.2f GiB", (double)b / 1073741824.0);
    return buf;
}

/* A duration for people: "8.6 s", "3m10s", "1h02m". */
static const char *
rr_dur(char *buf, size_t n, int64_t ms)
{
    int64_t s = (ms + 500) / 1000;

    if (ms < 0)
        snprintf(buf, n, "--");
    else if (ms < 60000)
        snprintf(buf, n, "%.1f s", (double)ms / 1000.0);
    else if (s < 3600)
        snprintf(buf, n, "%lldm%02llds", (long long)(s / 60),
                 (long long)(s % 60));
    else
        snprintf(buf, n, "%lldh%02lldm", (long long)(s / 3600),
                 (long long)(s % 3600 / 60));
    return buf;
}

/* ISO-8601 local time with milliseconds and zone: 2026-11-29T03:12:45.123+00:00
 */
static void
rr_iso(char *buf, size_t n, int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char date[32], zone[8];

    localtime_r(&t, &tm);
    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
    strftime(zone, sizeof(zone), "%z", &tm); /* +0000 */
    snprintf(buf, n, "%s.%03d%.3s:%.2s", date, (int)(ms % 1000), zone,
             zone[0] ? zone + 3 : "00");
}

/* ---- JSON Lines ------------------------------------------------------ */

static const char *const rr_types[] = {
    "error", "note",     "plan",   "plan_end", "batch",  "batch_end",
    "node",  "progress", "result", "summary",  "resume",
};

static void
rr_kstr(struct af_json *j, const char *k, const char *v)
{
    if (v != NULL)
        afj_kstr(j, k, v);
    else
        afj_knull(j, k);
}

/* The members every event has: null where they do not apply. */
static void
rr_json_common(struct af_json *j, const struct ro_ev *ev)
{
    const struct ev *b = &ev->ev;

    afj_kint(j, "v", REPORT_JSON_VERSION);
    afj_kstr(j, "type", rr_types[ev->kind]);
    afj_kint(j, "ts", ev->ts_ms);
    if (ev->run > 0)
        afj_kint(j, "run", ev->run);
    else
        afj_knull(j, "run");
    rr_kstr(j, "node", b->node);
    rr_kstr(j, "stage", ev->stage);
    rr_kstr(j, "step", b->step);
    rr_kstr(j, "action", b->action);
    rr_kstr(j, "status", b->status);
    if (b->exit_code >= 0)
        afj_kint(j, "exit_code", b->exit_code);
    else
        afj_knull(j, "exit_code");
    if (b->duration_ms >= 0)
        afj_kint(j, "duration_ms", b->duration_ms);
    else
        afj_knull(j, "duration_ms");
    if (ev->has_bytes)
        afj_kuint(j, "bytes", b->bytes);
    else
        afj_knull(j, "bytes");
    rr_kstr(j, "reason", b->reason);
}

static void
rr_json_write(struct af_buf *out, struct af_json *j)
{
    afj_obj_end(j);
    af_buf_puts(out, "\n");
    fwrite(out->data, 1, out->len, stdout);
    fflush(stdout);
    af_buf_free(out);
}

/* One JSON Lines object per event (docs/json.md). */
static void
rr_json(const struct ro_ev *ev)
{
    struct af_buf out;
    struct af_json j;

    af_buf_init(&out, 0);
    afj_init(&j, &out);
    afj_obj_begin(&j);
    rr_json_common(&j, ev);
    if (ev->what != NULL)
        afj_kstr(&j, "what", ev->what);
    if (ev->kind == RO_EV_PLAN_ROW || ev->kind == RO_EV_STEP)
        rr_kstr(&j, "version", ev->version);
    if (ev->kind == RO_EV_PLAN_ROW)
        rr_kstr(&j, "from", ev->from);
    if (ev->package != NULL)
        afj_kstr(&j, "package", ev->package);
    if (ev->kind == RO_EV_PLAN_END)
        afj_kstr(&j, "stages", ev->text);
    else if (ev->text != NULL)
        afj_kstr(&j, "text", ev->text);
    if (ev->kind == RO_EV_BATCH || ev->kind == RO_EV_BATCH_END) {
        afj_kint(&j, "batch", ev->batch + 1);
        afj_kint(&j, "batches", ev->nbatches);
        afj_kuint(&j, "nodes", ev->count);
        afj_kuint(&j, "done", ev->done);
        afj_kuint(&j, "failed", ev->failed);
        afj_kuint(&j, "budget_left", ev->budget_left);
    }
    rr_json_write(&out, &j);
}

/* ---- the plan ---------------------------------------------------------- */

static void
rr_plan_row(struct rr *r, const struct ro_ev *ev)
{
    struct rr_row *row;

    if (r->last_node == NULL || strcmp(r->last_node, ev->ev.node) != 0) {
        free(r->last_node);
        r->last_node = af_strdup(ev->ev.node);
        r->rank = 0;
    }
    r->rows = af_reallocarray(r->rows, r->nrows + 1, sizeof(*r->rows));
    row = &r->rows[r->nrows++];
    row->node = af_strdup(ev->ev.node);
    row->step = af_strdup(ev->ev.step ? ev->ev.step : "-");
    if (ev->ev.reason != NULL && strcmp(ev->ev.action, "unreachable") == 0)
        row->text = af_asprintf("unreachable (%s)", ev->ev.reason);
    else
        row->text = af_strdup(ev->text ? ev->text : ev->ev.action);
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
        char *nodes = fold_nodes(g[k].nodes, 0), *text = report_safe(g[k].text);

        printf("  %-*s %s: %s\n", w, g[k].step, text, nodes);
        free(text);
        free(nodes);
        fold_free(g[k].nodes);
    }
    free(g);
    rr_rows_free(r);
}

/* ---- lines ------------------------------------------------------------ */

/* One event line: "HH:MM:SS" on a terminal, ISO-8601 with zone piped. */
static void
rr_line(struct rr *r, const struct ro_ev *ev, const char *node)
{
    char ts[48], *text = report_safe(ev->text), *name = report_safe(node);

    rr_clear_live(r);
    if (r->tty) {
        time_t t = (time_t)(ev->ts_ms / 1000);
        struct tm tm;

        localtime_r(&t, &tm);
        strftime(ts, sizeof(ts), "%H:%M:%S", &tm);
    } else {
        rr_iso(ts, sizeof(ts), ev->ts_ms);
    }
    printf("%s %-8s %s\n", ts, name, text);
    free(name);
    free(text);
}

/* The terminal's width, 0 when unknown. */
static int
rr_cols(void)
{
    struct winsize ws;

    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0)
        return ws.ws_col;
    return 0;
}

/* The push part of the live line: bytes done / total, MiB/s, ETA. */
static void
rr_push_part(struct rr *r, const struct ro_ev *ev, struct af_buf *b)
{
    char d[32], t[32], e[32];
    uint64_t total =
        ev->push_total > ev->push_done ? ev->push_total : ev->push_done;

    if (ev->push_done < r->last_push) {
        r->last_push = 0; /* a new batch */
        r->rate = 0;
    }
    if (r->last_push_ts > 0 && ev->ts_ms > r->last_push_ts) {
        double inst = (double)(ev->push_done - r->last_push) * 1000.0 /
                      (double)(ev->ts_ms - r->last_push_ts);

        r->rate = r->rate > 0 ? 0.5 * r->rate + 0.5 * inst : inst;
    }
    r->last_push = ev->push_done;
    r->last_push_ts = ev->ts_ms;
    if (ev->pushing == 0)
        return;
    af_buf_printf(b, " | push %s / %s, %.1f MiB/s, ETA %s",
                  rr_bytes(d, sizeof(d), ev->push_done),
                  rr_bytes(t, sizeof(t), total), r->rate / 1048576.0,
                  r->rate > 0
                      ? rr_dur(e, sizeof(e),
                               (int64_t)((double)(total - ev->push_done) *
                                         1000.0 / r->rate))
                      : "--");
}

/* The live line: progress first, details after (cut to the width). */
static void
rr_progress(struct rr *r, const struct ro_ev *ev)
{
    struct af_buf b;
    char eb[32], er[32];
    int cols;

    if (!r->tty)
        return;
    af_buf_init(&b, 0);
    af_buf_printf(&b,
                  "[batch %d/%d] %zu/%zu node%s finished | ETA batch %s, "
                  "run %s",
                  ev->batch + 1, ev->nbatches, ev->nodes_finished,
                  ev->nodes_total, ev->nodes_total == 1 ? "" : "s",
                  rr_dur(eb, sizeof(eb), ev->eta_batch_ms),
                  rr_dur(er, sizeof(er), ev->eta_run_ms));
    rr_push_part(r, ev, &b);
    af_buf_printf(&b,
                  " | running %zu, rebooting %zu, done %zu, failed %zu, "
                  "waiting %zu | budget left %zu",
                  ev->running, ev->rebooting, ev->done, ev->failed, ev->waiting,
                  ev->budget_left);
    if (ev->slowest != NULL)
        af_buf_printf(&b, " | slowest %s %s", ev->slowest,
                      rr_dur(eb, sizeof(eb), ev->slowest_ms));
    cols = rr_cols();
    if (cols > 1 && b.len >= (size_t)cols)
        b.len = (size_t)cols - 1;
    printf("\r\033[K%.*s", (int)b.len, b.data);
    af_buf_free(&b);
    r->live = 1;
}

/* ---- the recap --------------------------------------------------------- */

static const char *const rr_order[] = {
    "done",    "unreachable",   "step failed",
    "timeout", "verify failed", "reboot timeout",
    "blocked", "interrupted",   "not started",
};
#define RR_NORDER (sizeof(rr_order) / sizeof(rr_order[0]))

static void
rr_result(struct rr *r, const struct ro_ev *ev)
{
    struct rr_res *x;

    r->res = af_reallocarray(r->res, r->nres + 1, sizeof(*r->res));
    x = &r->res[r->nres++];
    x->node = af_strdup(ev->ev.node ? ev->ev.node : "");
    x->state = af_strdup(ev->what ? ev->what : "?");
    x->ms = ev->ev.duration_ms;
}

/* The states present, known ones in rr_order first, then the others. */
static size_t
rr_states(const struct rr *r, const char **out)
{
    size_t n = 0, i, k;

    for (k = 0; k < RR_NORDER; k++)
        for (i = 0; i < r->nres; i++)
            if (strcmp(r->res[i].state, rr_order[k]) == 0) {
                out[n++] = rr_order[k];
                break;
            }
    for (i = 0; i < r->nres; i++) {
        for (k = 0; k < n; k++)
            if (strcmp(out[k], r->res[i].state) == 0)
                break;
        if (k == n)
            out[n++] = r->res[i].state;
    }
    return n;
}

static int
rr_ms_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

/* Nodes of state s folded (caller frees); count, median and max duration
 * (-1 when no node of the state has one). */
static char *
rr_state_nodes(const struct rr *r,
               const char *s,
               size_t *count,
               int64_t *median,
               int64_t *max)
{
    struct fold *f = fold_new();
    int64_t *ms = af_calloc(r->nres ? r->nres : 1, sizeof(*ms));
    size_t i, nms = 0;
    char *nodes;

    *count = 0;
    for (i = 0; i < r->nres; i++) {
        if (strcmp(r->res[i].state, s) != 0)
            continue;
        fold_add(f, "", r->res[i].node);
        (*count)++;
        if (r->res[i].ms >= 0)
            ms[nms++] = r->res[i].ms;
    }
    qsort(ms, nms, sizeof(*ms), rr_ms_cmp);
    *median = nms ? ms[nms / 2] : -1;
    *max = nms ? ms[nms - 1] : -1;
    nodes = fold_groups(f) ? fold_nodes(f, 0) : af_strdup("");
    fold_free(f);
    free(ms);
    return nodes;
}

/* Indices of the slowest nodes with a duration, slowest first. */
static size_t
rr_slowest(const struct rr *r, size_t *idx, size_t max)
{
    size_t n = 0, i, k;

    for (i = 0; i < r->nres; i++) {
        int64_t ms = r->res[i].ms;

        if (ms < 0 || (n == max && r->res[idx[max - 1]].ms >= ms))
            continue;
        if (n < max)
            n++;
        for (k = n - 1; k > 0 && r->res[idx[k - 1]].ms < ms; k--)
            idx[k] = idx[k - 1];
        idx[k] = i;
    }
    return n;
}

/*
 * The recap: per final state the node count, folded set and durations
 * (median and longest), then the slowest nodes.
 */
static void
rr_recap(struct rr *r, const struct ro_ev *ev)
{
    const char **states = af_calloc(r->nres + RR_NORDER + 1, sizeof(*states));
    size_t ns = rr_states(r, states), i, cnt, idx[RR_SLOWEST], nslow;
    int w = 0;
    char a[32], b[32];

    if (r->nres == 0) {
        free(states);
        return;
    }
    for (i = 0; i < ns; i++)
        if ((int)strlen(states[i]) > w)
            w = (int)strlen(states[i]);
    printf("Recap of run %lld (%s):\n", (long long)ev->run,
           rr_dur(a, sizeof(a), ev->ts_ms - r->t0_ms));
    for (i = 0; i < ns; i++) {
        int64_t med, max;
        char *nodes = rr_state_nodes(r, states[i], &cnt, &med, &max);
        char count[32];

        snprintf(count, sizeof(count), "%zu node%s", cnt, cnt == 1 ? "" : "s");
        printf("  %-*s %-9s %s", w, states[i], count, nodes);
        if (max >= 0 && cnt > 1)
            printf("  (median %s, longest %s)", rr_dur(a, sizeof(a), med),
                   rr_dur(b, sizeof(b), max));
        else if (max >= 0)
            printf("  (%s)", rr_dur(a, sizeof(a), max));
        printf("\n");
        free(nodes);
    }
    nslow = rr_slowest(r, idx, RR_SLOWEST);
    if (nslow > 0) {
        printf("  slowest:");
        for (i = 0; i < nslow; i++)
            printf("%s %s %s", i ? "," : "", r->res[idx[i]].node,
                   rr_dur(a, sizeof(a), r->res[idx[i]].ms));
        printf("\n");
    }
    free(states);
}

/* "Run 3 done: 2 done: npu[001-002], 1 step failed: npu003" (caller frees). */
static char *
rr_closing(const struct rr *r, const struct ro_ev *ev)
{
    const char **states = af_calloc(r->nres + RR_NORDER + 1, sizeof(*states));
    size_t ns = rr_states(r, states), i, cnt;
    struct af_buf b;
    int64_t med, max;

    af_buf_init(&b, 0);
    af_buf_printf(&b, "Run %lld %s:", (long long)ev->run, ev->what);
    if (ns == 0 || strcmp(states[0], "done") != 0)
        af_buf_puts(&b, " 0 done");
    for (i = 0; i < ns; i++) {
        char *nodes = rr_state_nodes(r, states[i], &cnt, &med, &max);

        af_buf_printf(&b, "%s %zu %s: %s",
                      i || strcmp(states[0], "done") ? "," : "", cnt, states[i],
                      nodes);
        free(nodes);
    }
    free(states);
    af_buf_append(&b, "", 1);
    return af_buf_steal(&b);
}

static void
rr_summary_text(struct rr *r, const struct ro_ev *ev)
{
    char *line = rr_closing(r, ev), *safe = report_safe(line);

    rr_clear_live(r);
    rr_recap(r, ev);
    printf("%s\n", safe);
    free(safe);
    free(line);
}

/* The summary event: the verdict, per state the nodes and durations, the
 * slowest nodes, and the closing line as text. */
static void
rr_summary_json(struct rr *r, const struct ro_ev *ev)
{
    const char **states = af_calloc(r->nres + RR_NORDER + 1, sizeof(*states));
    size_t ns = rr_states(r, states), i, k, cnt, idx[RR_SLOWEST], nslow;
    struct ro_ev e = *ev;
    struct af_buf out;
    struct af_json j;
    char *line = rr_closing(r, ev);

    e.ev.status = strcmp(ev->what, "done") == 0          ? EV_OK
                  : strcmp(ev->what, "interrupted") == 0 ? EV_CANCELED
                                                         : EV_FAILED;
    e.ev.duration_ms = ev->ts_ms - r->t0_ms;
    af_buf_init(&out, 0);
    afj_init(&j, &out);
    afj_obj_begin(&j);
    rr_json_common(&j, &e);
    afj_kstr(&j, "verdict", ev->what);
    afj_key(&j, "states");
    afj_obj_begin(&j);
    for (i = 0; i < ns; i++) {
        int64_t med, max;
        char *nodes = rr_state_nodes(r, states[i], &cnt, &med, &max);

        afj_key(&j, states[i]);
        afj_obj_begin(&j);
        afj_kuint(&j, "count", cnt);
        afj_kstr(&j, "nodes", nodes);
        afj_key(&j, "list");
        afj_arr_begin(&j);
        for (k = 0; k < r->nres; k++)
            if (strcmp(r->res[k].state, states[i]) == 0)
                afj_str(&j, r->res[k].node);
        afj_arr_end(&j);
        if (max >= 0) {
            afj_kint(&j, "median_ms", med);
            afj_kint(&j, "max_ms", max);
        } else {
            afj_knull(&j, "median_ms");
            afj_knull(&j, "max_ms");
        }
        afj_obj_end(&j);
        free(nodes);
    }
    afj_obj_end(&j);
    afj_key(&j, "slowest");
    afj_arr_begin(&j);
    nslow = rr_slowest(r, idx, RR_SLOWEST);
    for (i = 0; i < nslow; i++) {
        afj_obj_begin(&j);
        afj_kstr(&j, "node", r->res[idx[i]].node);
        afj_kint(&j, "duration_ms", r->res[idx[i]].ms);
        afj_obj_end(&j);
    }
    afj_arr_end(&j);
    afj_kstr(&j, "text", line);
    rr_json_write(&out, &j);
    free(line);
    free(states);
}

/* ---- dispatch ---------------------------------------------------------- */

static void
rr_error(struct rr *r, const struct ro_ev *ev)
{
    char *msg = report_safe(ev->ev.reason);

    rr_clear_live(r);
    fflush(stdout);
    fprintf(stderr, "ascend-fleet %s: %s\n", r->cmd, msg);
    free(msg);
    if (r->json)
        rr_json(ev);
}

static void
rr_text(struct rr *r, const struct ro_ev *ev)
{
    char *text;

    switch (ev->kind) {
    case RO_EV_NOTE:
    case RO_EV_RESUME:
        rr_clear_live(r);
        text = report_safe(ev->text);
        printf("%s\n", text);
        free(text);
        break;
    case RO_EV_PLAN_ROW:
        rr_plan_row(r, ev);
        break;
    case RO_EV_PLAN_END:
        rr_plan_print(r, ev->text);
        break;
    case RO_EV_BATCH:
        rr_line(r, ev, NULL);
        break;
    case RO_EV_BATCH_END:
        rr_clear_live(r);
        break;
    case RO_EV_STEP:
        rr_line(r, ev, ev->ev.node);
        break;
    case RO_EV_PROGRESS:
        rr_progress(r, ev);
        break;
    case RO_EV_RUN_END:
        rr_summary_text(r, ev);
        break;
    default:
        break;
    }
}

static void
rr_event(const struct ro_ev *ev, void *data)
{
    struct rr *r = data;

    if (ev->kind == RO_EV_ERROR) {
        rr_error(r, ev);
        return;
    }
    if (ev->kind == RO_EV_RESULT)
        rr_result(r, ev);
    if (r->json) {
        if (ev->kind == RO_EV_RUN_END)
            rr_summary_json(r, ev);
        else if (ev->kind != RO_EV_PROGRESS)
            rr_json(ev);
        return;
    }
    rr_text(r, ev);
    fflush(stdout);
}

/* Asked on the terminal; with --json the question goes to stderr so that
 * stdout stays JSON Lines. */
static int
rr_confirm(void *data)
{
    struct rr *r = data;
    FILE *q = r->json ? stderr : stdout;
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
    fprintf(q, "Start the rollout on these nodes? [y/N] ");
    fflush(q);
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
