/* SPDX-License-Identifier: MIT */
/*
 * The playbook model: freeing, placeholder substitution, accessors, fact
 * checks and Ascend version ordering. Loading and validation are in
 * pb-load.c, stage composition and expansion in pb-stage.c, planning
 * against a node's facts in pb-plan.c.
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

/* ---- small helpers ---------------------------------------------------- */

void
pb__argv_free(struct pb_argv *a)
{
    size_t i;

    for (i = 0; i < a->n; i++)
        free(a->v[i]);
    free(a->v);
    a->v = NULL;
    a->n = 0;
}

void
pb__argv_push(struct pb_argv *a, const char *s)
{
    a->v = af_reallocarray(a->v, a->n + 2, sizeof(*a->v));
    a->v[a->n++] = af_strdup(s);
    a->v[a->n] = NULL;
}

void
pb__check_free(struct pb_check *c)
{
    size_t i;

    free(c->fact);
    free(c->value);
    for (i = 0; i < c->n_list; i++)
        free(c->list[i]);
    free(c->list);
    free(c->reason);
    memset(c, 0, sizeof(*c));
}

static void
checks_free(struct pb_checks *cs)
{
    size_t i;

    for (i = 0; i < cs->n; i++)
        pb__check_free(&cs->v[i]);
    free(cs->v);
    cs->v = NULL;
    cs->n = 0;
}

static void
step_free(struct pb_step *s)
{
    free(s->name);
    free(s->description);
    free(s->pkg_any);
    af_kv_free(&s->pkg_arch);
    free(s->version_from);
    free(s->version);
    free(s->version_fact);
    free(s->follows);
    pb__argv_free(&s->cmd);
    pb__argv_free(&s->up_cmd);
    free(s->codes);
    checks_free(&s->when);
    checks_free(&s->done_when);
    checks_free(&s->require);
    checks_free(&s->verify);
}

static void
stage_free(struct pb_stage *st)
{
    free(st->name);
    pb__argv_free(&st->items);
    free(st->order_fact);
    pb__argv_free(&st->if_empty);
    pb__argv_free(&st->if_else);
    free(st->builtin);
}

void
pb_free(struct pb *pb)
{
    size_t i;

    if (pb == NULL)
        return;
    for (i = 0; i < pb->n_steps; i++)
        step_free(&pb->steps[i]);
    free(pb->steps);
    for (i = 0; i < pb->n_stages; i++)
        stage_free(&pb->stages[i]);
    free(pb->stages);
    af_kv_free(&pb->vars);
    free(pb->path);
    free(pb);
}

int
pb__var_is_path(const char *name)
{
    return strcmp(name, "install_path") == 0 || strcmp(name, "python") == 0;
}

const char *
pb__fact(const struct af_kv *facts, const char *name)
{
    const char *v = facts != NULL ? af_kv_get(facts, name) : NULL;

    return v != NULL ? v : "";
}

char *
pb__subst(const char *tmpl, pb__lookup_cb lookup, void *arg, char **bad)
{
    struct af_buf b;
    const char *p = tmpl;

    af_buf_init(&b, 0);
    af_buf_puts(&b, "");
    while (*p != '\0') {
        const char *end, *val;
        char *name;

        if (p[0] == '{' && p[1] == '{') {
            af_buf_puts(&b, "{");
            p += 2;
            continue;
        }
        if (p[0] == '}' && p[1] == '}') {
            af_buf_puts(&b, "}");
            p += 2;
            continue;
        }
        if (*p == '}') {
            if (bad != NULL)
                *bad = af_strdup("}");
            goto fail;
        }
        if (*p != '{') {
            af_buf_append(&b, p, 1);
            p++;
            continue;
        }
        end = strchr(p + 1, '}');
        if (end == NULL) {
            if (bad != NULL)
                *bad = af_strdup(p);
            goto fail;
        }
        name = af_strndup(p + 1, (size_t)(end - p - 1));
        val = lookup(arg, name);
        if (val == NULL) {
            if (bad != NULL)
                *bad = af_asprintf("{%s}", name);
            free(name);
            goto fail;
        }
        free(name);
        af_buf_puts(&b, val);
        p = end + 1;
    }
    return af_buf_steal(&b);
fail:
    af_buf_free(&b);
    return NULL;
}

static char *
subst_opt(const char *s, pb__lookup_cb lookup, void *arg, int *fail)
{
    char *r;

    if (s == NULL)
        return NULL;
    r = pb__subst(s, lookup, arg, NULL);
    if (r == NULL)
        *fail = 1;
    return r;
}

int
pb__check_subst(struct pb_check *dst,
                const struct pb_check *src,
                pb__lookup_cb lookup,
                void *arg)
{
    int fail = 0;
    size_t i;

    memset(dst, 0, sizeof(*dst));
    dst->fact = af_strdup(src->fact);
    dst->op = src->op;
    if (src->op == PB_CHECK_EQUALS_FACT)
        dst->value = af_strdup(src->value);
    else
        dst->value = subst_opt(src->value, lookup, arg, &fail);
    dst->reason = subst_opt(src->reason, lookup, arg, &fail);
    if (src->n_list > 0) {
        dst->list = af_calloc(src->n_list, sizeof(*dst->list));
        dst->n_list = src->n_list;
        for (i = 0; i < src->n_list; i++) {
            dst->list[i] = subst_opt(src->list[i], lookup, arg, &fail);
            if (dst->list[i] == NULL)
                dst->list[i] = af_strdup("");
        }
    }
    if (fail) {
        pb__check_free(dst);
        return -1;
    }
    return 0;
}

struct pb_stage *
pb__stage_lookup(const struct pb *pb, const char *name)
{
    size_t i;

    for (i = 0; i < pb->n_stages; i++)
        if (strcmp(pb->stages[i].name, name) == 0)
            return &pb->stages[i];
    return NULL;
}

struct pb_step *
pb__step_lookup(const struct pb *pb, const char *name)
{
    size_t i;

    for (i = 0; i < pb->n_steps; i++)
        if (strcmp(pb->steps[i].name, name) == 0)
            return &pb->steps[i];
    return NULL;
}

/* ---- accessors -------------------------------------------------------- */

const char *
pb_var(const struct pb *pb, const char *name)
{
    return af_kv_get(&pb->vars, name);
}

const struct pb_stage *
pb_stage_find(const struct pb *pb, const char *name)
{
    return pb__stage_lookup(pb, name);
}

const struct pb_step *
pb_step_find(const struct pb *pb, const char *name)
{
    return pb__step_lookup(pb, name);
}

size_t
pb_stage_count(const struct pb *pb)
{
    return pb->n_stages;
}

const struct pb_stage *
pb_stage_at(const struct pb *pb, size_t i)
{
    return &pb->stages[i];
}

size_t
pb_step_count(const struct pb *pb)
{
    return pb->n_steps;
}

const struct pb_step *
pb_step_at(const struct pb *pb, size_t i)
{
    return &pb->steps[i];
}

const char *
pb_stage_name(const struct pb_stage *st)
{
    return st->name;
}

const char *
pb_stage_builtin(const struct pb_stage *st)
{
    return st->kind == PB_STAGE_BUILTIN ? st->builtin : NULL;
}

const char *
pb_step_name(const struct pb_step *s)
{
    return s->name;
}

const char *
pb_step_description(const struct pb_step *s)
{
    return s->description;
}

const char *
pb_step_version_fact(const struct pb_step *s)
{
    return s->version_fact;
}

const char *
pb_step_follows(const struct pb_step *s)
{
    return s->follows;
}

int
pb_step_has_package(const struct pb_step *s)
{
    return s->has_package;
}

static const char *
arch_cb(void *arg, const char *name)
{
    return strcmp(name, "arch") == 0 ? (const char *)arg : NULL;
}

char *
pb_step_package_glob(const struct pb_step *s, const char *arch)
{
    const char *g;

    if (!s->has_package)
        return NULL;
    g = s->pkg_any != NULL ? s->pkg_any : af_kv_get(&s->pkg_arch, arch);
    if (g == NULL)
        return NULL;
    return pb__subst(g, arch_cb, (void *)(uintptr_t)arch, NULL);
}

int
pb_step_reboot(const struct pb_step *s)
{
    return s->reboot;
}

int
pb_step_timeout(const struct pb_step *s)
{
    return s->timeout;
}

int
pb_step_health_gate(const struct pb_step *s)
{
    return s->health_gate;
}

const int *
pb_step_codes(const struct pb_step *s, size_t *n)
{
    *n = s->n_codes;
    return s->codes;
}

char *const *
pb_step_argv(const struct pb_step *s, int upgrade, size_t *n)
{
    const struct pb_argv *a = upgrade ? &s->up_cmd : &s->cmd;

    *n = a->n;
    return a->n ? a->v : NULL;
}

const struct pb_check *
pb_step_verify(const struct pb_step *s, size_t *n)
{
    *n = s->verify.n;
    return s->verify.v;
}

const struct pb_check *
pb_step_done_when(const struct pb_step *s, size_t *n)
{
    *n = s->done_when.n;
    return s->done_when.v;
}

/* ---- checks and versions ---------------------------------------------- */

static int
truthy(const char *v)
{
    const char *yes[] = {"1", "yes", "true", "y", "on"};
    size_t i;

    for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        if (strcasecmp(v, yes[i]) == 0)
            return 1;
    return 0;
}

int
pb_check_eval(const struct pb_check *c, const struct af_kv *facts, char **why)
{
    const char *v = pb__fact(facts, c->fact);
    const char *other;
    size_t i;
    int ok = 0;

    switch (c->op) {
    case PB_CHECK_EQUALS:
        ok = strcmp(v, c->value) == 0;
        if (!ok && why != NULL)
            *why =
                af_asprintf("%s is '%s', expected '%s'", c->fact, v, c->value);
        break;
    case PB_CHECK_EQUALS_FACT:
        other = pb__fact(facts, c->value);
        ok = strcmp(v, other) == 0;
        if (!ok && why != NULL)
            *why = af_asprintf("%s is '%s', %s is '%s'", c->fact, v, c->value,
                               other);
        break;
    case PB_CHECK_EMPTY:
        ok = v[0] == '\0';
        if (!ok && why != NULL)
            *why = af_asprintf("%s is '%s', expected none", c->fact, v);
        break;
    case PB_CHECK_NOT_EMPTY:
        ok = v[0] != '\0';
        if (!ok && why != NULL)
            *why = af_asprintf("%s is missing", c->fact);
        break;
    case PB_CHECK_IN:
        for (i = 0; i < c->n_list && !ok; i++)
            ok = strcmp(v, c->list[i]) == 0;
        if (!ok && why != NULL)
            *why = af_asprintf("%s is '%s', not one of the listed values",
                               c->fact, v);
        break;
    case PB_CHECK_TRUE:
        ok = truthy(v);
        if (!ok && why != NULL)
            *why = af_asprintf("%s is '%s', expected yes", c->fact, v);
        break;
    case PB_CHECK_FALSE:
        ok = !truthy(v);
        if (!ok && why != NULL)
            *why = af_asprintf("%s is '%s', expected no", c->fact, v);
        break;
    }
    return ok;
}

/* Rank of a non-numeric version word: pre-releases below 0, post above. */
static int
word_rank(const char *w, size_t n)
{
    if (n == 0)
        return 0;
    if ((n >= 2 && strncasecmp(w, "rc", 2) == 0) ||
        (n >= 5 && strncasecmp(w, "alpha", 5) == 0) ||
        (n >= 4 && strncasecmp(w, "beta", 4) == 0) ||
        (n >= 3 && strncasecmp(w, "dev", 3) == 0) ||
        ((w[0] == 'a' || w[0] == 'b' || w[0] == 'A' || w[0] == 'B') &&
         (n == 1 || isdigit((unsigned char)w[1]))))
        return -1;
    if (n >= 4 && strncasecmp(w, "post", 4) == 0)
        return 1;
    return -1;
}

static int
is_sep(char ch)
{
    return ch == '.' || ch == '-' || ch == '_' || ch == '+' || ch == '\0';
}

/* Next part of a version: optional number, then an optional word with its
 * own number (24 | rc1 | 0rc1 | post3). Returns 0 at the end. */
struct vpart {
    int has_num;
    unsigned long long num;
    const char *word;
    size_t wlen;
    unsigned long long wnum;
};

static int
vpart_next(const char **pp, struct vpart *vp)
{
    const char *p = *pp;

    memset(vp, 0, sizeof(*vp));
    while (*p == '.' || *p == '-' || *p == '_')
        p++;
    if (*p == '\0' || *p == '+')
        return 0;
    if (isdigit((unsigned char)*p)) {
        vp->has_num = 1;
        while (isdigit((unsigned char)*p)) {
            if (vp->num < ULLONG_MAX / 10)
                vp->num = vp->num * 10 + (unsigned long long)(*p - '0');
            p++;
        }
    }
    vp->word = p;
    while (!is_sep(*p) && !isdigit((unsigned char)*p))
        p++;
    vp->wlen = (size_t)(p - vp->word);
    while (isdigit((unsigned char)*p)) {
        if (vp->wnum < ULLONG_MAX / 10)
            vp->wnum = vp->wnum * 10 + (unsigned long long)(*p - '0');
        p++;
    }
    while (!is_sep(*p))
        p++;
    *pp = p;
    return 1;
}

static int
ull_cmp(unsigned long long a, unsigned long long b)
{
    return a < b ? -1 : a > b;
}

int
pb_version_cmp(const char *a, const char *b)
{
    struct vpart x, y;
    int hx, hy, r;

    for (;;) {
        hx = vpart_next(&a, &x);
        hy = vpart_next(&b, &y);
        if (!hx || !hy)
            return hx - hy;
        /* A bare word (rc1) is a pre-release of this place: below any
         * number. */
        if (x.has_num != y.has_num)
            return x.has_num ? 1 : -1;
        if (x.has_num && (r = ull_cmp(x.num, y.num)) != 0)
            return r;
        r = word_rank(x.word, x.wlen) - word_rank(y.word, y.wlen);
        if (r != 0)
            return r;
        if (x.wlen != y.wlen || strncasecmp(x.word, y.word, x.wlen) != 0) {
            size_t n = x.wlen < y.wlen ? x.wlen : y.wlen;

            r = strncasecmp(x.word, y.word, n);
            if (r != 0)
                return r < 0 ? -1 : 1;
            return x.wlen < y.wlen ? -1 : 1;
        }
        if ((r = ull_cmp(x.wnum, y.wnum)) != 0)
            return r;
    }
}
