/* SPDX-License-Identifier: MIT */
/* Staged packages as status shows them (see report-stage.h). */
#define _GNU_SOURCE
#include "report-stage.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "af-buf.h"
#include "af-json.h"
#include "af-mem.h"
#include "fold.h"
#include "report.h"
#include "st-stage.h"

/* One node's packages of one label, merged. */
struct rs_entry {
    char *label; /* "cann 8.0.RC2" or the file name */
    const char *node;
    uint64_t size, verified;
    enum st_stage_state state; /* the worst of its packages */
};

static int
rs_cmp(const void *a, const void *b)
{
    const struct rs_entry *x = a, *y = b;
    int c = strcmp(x->label, y->label);

    return c != 0 ? c : strcmp(x->node, y->node);
}

/* failed is worse than partial, partial worse than staged. */
static enum st_stage_state
rs_worst(enum st_stage_state a, enum st_stage_state b)
{
    if (a == ST_STAGE_FAILED || b == ST_STAGE_FAILED)
        return ST_STAGE_FAILED;
    if (a == ST_STAGE_PARTIAL || b == ST_STAGE_PARTIAL)
        return ST_STAGE_PARTIAL;
    return ST_STAGE_STAGED;
}

/* Entries sorted by label and node, one per (label, node); *n set. */
static struct rs_entry *
rs_merge(const struct st_stage *rows, size_t nrows, size_t *n)
{
    struct rs_entry *v = af_calloc(nrows ? nrows : 1, sizeof(*v));
    size_t i, k = 0;

    for (i = 0; i < nrows; i++) {
        const struct st_stage *r = &rows[i];

        v[i].label = r->stage && r->version
                         ? af_asprintf("%s %s", r->stage, r->version)
                         : af_strdup(r->package);
        v[i].node = r->node;
        v[i].size = r->size;
        v[i].verified = r->verified;
        v[i].state = r->state;
    }
    qsort(v, nrows, sizeof(*v), rs_cmp);
    for (i = 0; i < nrows; i++) {
        if (k > 0 && rs_cmp(&v[k - 1], &v[i]) == 0) {
            v[k - 1].size += v[i].size;
            v[k - 1].verified += v[i].verified;
            v[k - 1].state = rs_worst(v[k - 1].state, v[i].state);
            free(v[i].label);
            continue;
        }
        v[k++] = v[i];
    }
    *n = k;
    return v;
}

/* "partial LABEL: npu017 (37%), npu018 (2%)" for the partials of label. */
static void
rs_print_partials(const struct rs_entry *v, size_t n, const char *label)
{
    size_t i, shown = 0;

    for (i = 0; i < n; i++) {
        char *node;

        if (strcmp(v[i].label, label) != 0 || v[i].state != ST_STAGE_PARTIAL)
            continue;
        node = report_safe(v[i].node);
        if (shown++ == 0) {
            char *l = report_safe(label);

            printf("  partial %s: ", l);
            free(l);
        }
        printf("%s%s (%d%%)", shown > 1 ? ", " : "", node,
               v[i].size ? (int)(v[i].verified * 100 / v[i].size) : 0);
        free(node);
    }
    if (shown > 0)
        printf("\n");
}

void
report_stage_text(const struct st_stage *rows, size_t nrows)
{
    struct rs_entry *v;
    struct fold *f;
    struct af_buf key;
    size_t n, i, g;

    if (nrows == 0)
        return;
    v = rs_merge(rows, nrows, &n);
    f = fold_new();
    af_buf_init(&key, 0);
    for (i = 0; i < n; i++) {
        if (v[i].state == ST_STAGE_PARTIAL)
            continue;
        af_buf_reset(&key);
        af_buf_printf(&key, "%s %s", st_stage_state_name(v[i].state),
                      v[i].label);
        fold_add(f, key.data, v[i].node);
    }
    printf("Staged packages:\n");
    for (g = 0; g < fold_groups(f); g++) {
        char *set = fold_nodes(f, g), *k = report_safe(fold_key(f, g));

        printf("  %s: %s\n", k, set);
        free(k);
        free(set);
    }
    for (i = 0; i < n; i++)
        if (i == 0 || strcmp(v[i].label, v[i - 1].label) != 0)
            rs_print_partials(v, n, v[i].label);
    for (i = 0; i < n; i++)
        free(v[i].label);
    free(v);
    af_buf_free(&key);
    fold_free(f);
}

void
report_stage_json(struct report *rep, const struct st_stage *rows, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        const struct st_stage *r = &rows[i];
        struct af_buf b;
        struct af_json j;

        report_json_begin(rep, &j, &b, "staged");
        afj_kstr(&j, "node", r->node);
        afj_kstr(&j, "package", r->package);
        afj_kstr(&j, "stage", r->stage);
        afj_kstr(&j, "version", r->version);
        afj_kstr(&j, "sha256", r->sha256);
        afj_kuint(&j, "size", r->size);
        afj_kuint(&j, "verified", r->verified);
        afj_kint(&j, "percent",
                 r->size ? (int64_t)(r->verified * 100 / r->size) : 0);
        afj_kstr(&j, "state", st_stage_state_name(r->state));
        afj_kstr(&j, "reason", r->reason);
        afj_kint(&j, "updated_ms", r->updated);
        report_json_end(rep, &j, &b);
    }
}
