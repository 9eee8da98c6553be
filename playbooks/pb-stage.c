/* SPDX-License-Identifier: MIT */
/*
 * Stage composition: the checks that every stage names known steps and
 * stages without cycles (run while loading), and the expansion of a stage
 * into phases of steps.
 */
#include "pb.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "af-buf.h"
#include "af-err.h"
#include "af-mem.h"
#include "af-safe.h"
#include "af-yaml.h"
#include "internal.h"

static int
argv_has(const struct pb_argv *a, const char *s)
{
    size_t i;

    for (i = 0; i < a->n; i++)
        if (strcmp(a->v[i], s) == 0)
            return 1;
    return 0;
}

/* Item node i of the list under stage map value n (for error positions). */
static const struct af_ynode *
stage_item_node(const struct af_ynode *n, const char *key, size_t i)
{
    const struct af_ynode *l = n;

    if (n->type == AF_YMAP) {
        l = af_yaml_get(n, key);
        if (l == NULL)
            return n;
    }
    if (l->type == AF_YSEQ && i < l->n)
        return l->items[i];
    return n;
}

int
pb__check_stage_refs(struct pb__ctx *c,
                     const struct af_ynode *n,
                     const struct pb_stage *st)
{
    const struct pb *pb = c->pb;
    size_t i;

    switch (st->kind) {
    case PB_STAGE_STEPS:
        for (i = 0; i < st->items.n; i++) {
            if (pb__step_lookup(pb, st->items.v[i]) == NULL)
                return pb__perr(c, stage_item_node(n, "steps", i),
                                "stage '%s' names unknown step '%s'", st->name,
                                st->items.v[i]);
            if (argv_has(&(struct pb_argv){st->items.v, i}, st->items.v[i]))
                return pb__perr(c, stage_item_node(n, "steps", i),
                                "stage '%s' names step '%s' twice", st->name,
                                st->items.v[i]);
        }
        return 0;
    case PB_STAGE_STAGES:
        for (i = 0; i < st->items.n; i++)
            if (pb__stage_lookup(pb, st->items.v[i]) == NULL)
                return pb__perr(c, stage_item_node(n, "stages", i),
                                "stage '%s' names unknown stage '%s'", st->name,
                                st->items.v[i]);
        return 0;
    case PB_STAGE_ORDER: {
        const struct af_ynode *ow = af_yaml_get(n, "order_when");
        const struct pb_argv *lists[2] = {&st->if_empty, &st->if_else};
        const char *lname[2] = {"empty", "else"};
        size_t k;

        for (k = 0; k < 2; k++) {
            const struct af_ynode *ln = af_yaml_get(ow, lname[k]);

            for (i = 0; i < lists[k]->n; i++) {
                const struct pb_stage *sub;

                sub = pb__stage_lookup(pb, lists[k]->v[i]);
                if (sub == NULL)
                    return pb__perr(c, ln->items[i],
                                    "stage '%s' names unknown "
                                    "stage '%s'",
                                    st->name, lists[k]->v[i]);
                if (sub->kind != PB_STAGE_STEPS)
                    return pb__perr(c, ln->items[i],
                                    "order_when may only name "
                                    "stages made of steps; '%s' is not",
                                    sub->name);
                if (argv_has(&(struct pb_argv){lists[k]->v, i}, lists[k]->v[i]))
                    return pb__perr(c, ln->items[i],
                                    "stage '%s' is named twice",
                                    lists[k]->v[i]);
                if (!argv_has(lists[1 - k], lists[k]->v[i]))
                    return pb__perr(
                        c, ln->items[i],
                        "order_when: '%s' is in "
                        "%s but not in %s; both lists must name the "
                        "same stages",
                        lists[k]->v[i], lname[k], lname[1 - k]);
            }
        }
        return 0;
    }
    case PB_STAGE_BUILTIN:
        return 0;
    }
    return 0;
}

/* Depth-first walk over stage composition; mark: 0 new, 1 open, 2 done. */
int
pb__check_cycles(struct pb__ctx *c,
                 const struct af_ynode *stages_node,
                 size_t idx,
                 int *mark)
{
    const struct pb *pb = c->pb;
    const struct pb_stage *st = &pb->stages[idx];
    size_t i;
    int r;

    if (mark[idx] == 2)
        return 0;
    if (mark[idx] == 1)
        return pb__perr(c, stages_node->keys[idx], "stage '%s' includes itself",
                        st->name);
    mark[idx] = 1;
    if (st->kind == PB_STAGE_STAGES) {
        for (i = 0; i < st->items.n; i++) {
            const struct pb_stage *sub = pb__stage_lookup(pb, st->items.v[i]);

            if ((r = pb__check_cycles(c, stages_node,
                                      (size_t)(sub - pb->stages), mark)) != 0)
                return r;
        }
    }
    mark[idx] = 2;
    return 0;
}

/* ---- stage expansion -------------------------------------------------- */

struct expand {
    const struct pb *pb;
    const struct af_kv *facts;
    struct pb_phases *out;
    const struct pb_step **placed;
    size_t n_placed;
};

static int
placed_has(const struct expand *x, const struct pb_step *s)
{
    size_t i;

    for (i = 0; i < x->n_placed; i++)
        if (x->placed[i] == s)
            return 1;
    return 0;
}

static struct pb_phase *
phase_new(struct expand *x, const struct pb_stage *st)
{
    struct pb_phases *p = x->out;
    struct pb_phase *ph;

    p->v = af_reallocarray(p->v, p->n + 1, sizeof(*p->v));
    ph = &p->v[p->n++];
    memset(ph, 0, sizeof(*ph));
    ph->stage = st->name;
    return ph;
}

static void
phase_add_steps(struct expand *x,
                struct pb_phase *ph,
                const struct pb_stage *st)
{
    size_t i;

    for (i = 0; i < st->items.n; i++) {
        const struct pb_step *s = pb__step_lookup(x->pb, st->items.v[i]);

        if (placed_has(x, s))
            continue;
        x->placed =
            af_reallocarray(x->placed, x->n_placed + 1, sizeof(*x->placed));
        x->placed[x->n_placed++] = s;
        ph->steps =
            af_reallocarray(ph->steps, ph->n_steps + 1, sizeof(*ph->steps));
        ph->steps[ph->n_steps++] = s;
    }
}

/* Composition is acyclic (checked at load), so this recursion ends. */
static void
expand_stage(struct expand *x, const struct pb_stage *st)
{
    const struct pb_argv *order;
    struct pb_phase *ph;
    size_t i;

    switch (st->kind) {
    case PB_STAGE_STEPS:
        ph = phase_new(x, st);
        phase_add_steps(x, ph, st);
        break;
    case PB_STAGE_ORDER:
        order = pb__fact(x->facts, st->order_fact)[0] == '\0' ? &st->if_empty
                                                              : &st->if_else;
        ph = phase_new(x, st);
        for (i = 0; i < order->n; i++)
            phase_add_steps(x, ph, pb__stage_lookup(x->pb, order->v[i]));
        break;
    case PB_STAGE_STAGES:
        for (i = 0; i < st->items.n; i++)
            expand_stage(x, pb__stage_lookup(x->pb, st->items.v[i]));
        break;
    case PB_STAGE_BUILTIN:
        for (i = 0; i < x->out->n; i++)
            if (x->out->v[i].builtin != NULL &&
                strcmp(x->out->v[i].builtin, st->builtin) == 0)
                return;
        ph = phase_new(x, st);
        ph->builtin = st->builtin;
        break;
    }
}

void
pb_phases_free(struct pb_phases *p)
{
    size_t i;

    if (p == NULL)
        return;
    for (i = 0; i < p->n; i++)
        free(p->v[i].steps);
    free(p->v);
    p->v = NULL;
    p->n = 0;
}

int
pb_expand_stages(const struct pb *pb,
                 const char *stage_list,
                 const struct af_kv *facts,
                 struct pb_phases *out,
                 struct af_err *e)
{
    struct expand x = {pb, facts, out, NULL, 0};
    const char *p = stage_list;
    size_t i, j;
    int r = 0;

    out->n = 0;
    out->v = NULL;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        const struct pb_stage *st;
        char *name;

        while (len > 0 && isspace((unsigned char)*p)) {
            p++;
            len--;
        }
        while (len > 0 && isspace((unsigned char)p[len - 1]))
            len--;
        if (len == 0) {
            r = af_err_set(e, AF_EINPUT, "empty stage name in '%s'",
                           stage_list);
            goto out;
        }
        name = af_strndup(p, len);
        st = pb__stage_lookup(pb, name);
        if (st == NULL) {
            struct af_buf known;

            af_buf_init(&known, 160);
            for (j = 0; j < pb->n_stages; j++)
                af_buf_printf(&known, "%s%s", j ? ", " : "",
                              pb->stages[j].name);
            r = af_err_set(e, AF_EINPUT, "unknown stage '%s' (%s has: %s)",
                           name, pb->path, known.data ? known.data : "");
            af_buf_free(&known);
            free(name);
            goto out;
        }
        free(name);
        expand_stage(&x, st);
        if (end == NULL)
            break;
        p = end + 1;
    }
    /* Drop step phases left empty by de-duplication. */
    for (i = 0, j = 0; i < out->n; i++) {
        if (out->v[i].builtin == NULL && out->v[i].n_steps == 0) {
            free(out->v[i].steps);
            continue;
        }
        out->v[j++] = out->v[i];
    }
    out->n = j;
out:
    free(x.placed);
    if (r != 0)
        pb_phases_free(out);
    return r;
}
