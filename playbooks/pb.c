/* SPDX-License-Identifier: MIT */
/*
 * Playbook loading and validation (YAML tree from af-yaml -> struct pb),
 * stage expansion into phases, fact checks, placeholder substitution and
 * Ascend version ordering. Every schema error names FILE:LINE:COL of the
 * offending node. Planning against a node's facts is in pb-plan.c.
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

#define PB_DEFAULT_TIMEOUT 600

/* Stages the orchestrator implements itself (issue: hccn apply + verify). */
static const char *const pb_builtins[] = {"hccn", NULL};

struct ctx {
    struct pb *pb;
    struct af_err *e;
};

static int perr(struct ctx *c, const struct af_ynode *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
perr(struct ctx *c, const struct af_ynode *n, const char *fmt, ...)
{
    char msg[AF_ERR_MSG_LEN];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return af_err_set(c->e, AF_EINPUT, "%s:%d:%d: %s", c->pb->path, n->line,
                      n->col, msg);
}

/* ---- small helpers ---------------------------------------------------- */

static void
argv_free(struct pb_argv *a)
{
    size_t i;

    for (i = 0; i < a->n; i++)
        free(a->v[i]);
    free(a->v);
    a->v = NULL;
    a->n = 0;
}

static void
argv_push(struct pb_argv *a, const char *s)
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
    argv_free(&s->cmd);
    argv_free(&s->up_cmd);
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
    argv_free(&st->items);
    free(st->order_fact);
    argv_free(&st->if_empty);
    argv_free(&st->if_else);
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

/* ---- typed getters ---------------------------------------------------- */

static int
want_scalar(struct ctx *c, const struct af_ynode *n, const char *what)
{
    if (n->type != AF_YSCALAR)
        return perr(c, n, "%s must be a string", what);
    /* A YAML null (~, null, nothing) is no string: never the text "~". */
    if (n->null)
        return perr(c, n, "%s has no value (null); quote it for a literal",
                    what);
    return 0;
}

static int
get_str(struct ctx *c, const struct af_ynode *n, const char *what, char **out)
{
    int r;

    if ((r = want_scalar(c, n, what)) != 0)
        return r;
    free(*out);
    *out = af_strdup(n->scalar);
    return 0;
}

static int
get_name(struct ctx *c, const struct af_ynode *n, const char *what, char **out)
{
    const char *p;
    int r;

    if ((r = want_scalar(c, n, what)) != 0)
        return r;
    if (n->scalar[0] == '\0')
        return perr(c, n, "%s must not be empty", what);
    for (p = n->scalar; *p != '\0'; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-' && *p != '.')
            return perr(c, n, "%s '%s': use letters, digits, '_', '-', '.'",
                        what, n->scalar);
    free(*out);
    *out = af_strdup(n->scalar);
    return 0;
}

static int
get_bool(struct ctx *c, const struct af_ynode *n, const char *what, int *out)
{
    if (n->type == AF_YSCALAR && !n->quoted) {
        if (strcmp(n->scalar, "true") == 0 || strcmp(n->scalar, "yes") == 0) {
            *out = 1;
            return 0;
        }
        if (strcmp(n->scalar, "false") == 0 || strcmp(n->scalar, "no") == 0) {
            *out = 0;
            return 0;
        }
    }
    return perr(c, n, "%s must be true or false", what);
}

static int
get_int(struct ctx *c,
        const struct af_ynode *n,
        const char *what,
        long lo,
        long hi,
        int *out)
{
    char *end;
    long v;

    if (n->type != AF_YSCALAR || n->quoted || n->scalar[0] == '\0')
        return perr(c, n, "%s must be an integer", what);
    errno = 0;
    v = strtol(n->scalar, &end, 10);
    if (*end != '\0' || errno != 0)
        return perr(c, n, "%s must be an integer", what);
    if (v < lo || v > hi)
        return perr(c, n, "%s must be between %ld and %ld", what, lo, hi);
    *out = (int)v;
    return 0;
}

static int
get_strlist(struct ctx *c,
            const struct af_ynode *n,
            const char *what,
            int allow_empty,
            struct pb_argv *out)
{
    size_t i;
    int r;

    if (n->type != AF_YSEQ)
        return perr(c, n, "%s must be a list", what);
    if (n->n == 0 && !allow_empty)
        return perr(c, n, "%s must not be empty", what);
    for (i = 0; i < n->n; i++) {
        if ((r = want_scalar(c, n->items[i], what)) != 0)
            return r;
        argv_push(out, n->items[i]->scalar);
    }
    return 0;
}

static int
check_keys(struct ctx *c,
           const struct af_ynode *m,
           const char *what,
           const char *const *allowed)
{
    size_t i, j;

    if (m->type != AF_YMAP)
        return perr(c, m, "%s must be a mapping", what);
    for (i = 0; i < m->n; i++) {
        for (j = 0; allowed[j] != NULL; j++)
            if (strcmp(m->keys[i]->scalar, allowed[j]) == 0)
                break;
        if (allowed[j] == NULL)
            return perr(c, m->keys[i], "unknown key '%s' in %s",
                        m->keys[i]->scalar, what);
    }
    return 0;
}

/* Position of key k inside map m (for errors about a key), or m itself. */
static const struct af_ynode *
key_node(const struct af_ynode *m, const char *k)
{
    size_t i;

    for (i = 0; m != NULL && m->type == AF_YMAP && i < m->n; i++)
        if (strcmp(m->keys[i]->scalar, k) == 0)
            return m->keys[i];
    return m;
}

/* ---- placeholders ----------------------------------------------------- */

struct ph_scope {
    const struct pb *pb;
    int package; /* {package} allowed */
    int version; /* {version} allowed */
    int vars;    /* vars allowed */
};

static const char *
ph_check_cb(void *arg, const char *name)
{
    const struct ph_scope *s = arg;

    if (strcmp(name, "arch") == 0)
        return "";
    if (strcmp(name, "package") == 0)
        return s->package ? "" : NULL;
    if (strcmp(name, "version") == 0)
        return s->version ? "" : NULL;
    if (s->vars && af_kv_get(&s->pb->vars, name) != NULL)
        return "";
    return NULL;
}

static int
check_ph(struct ctx *c,
         const struct af_ynode *n,
         const char *s,
         const struct ph_scope *scope)
{
    char *bad = NULL, *r;
    int rc;

    r = pb__subst(s, ph_check_cb, (void *)(uintptr_t)scope, &bad);
    if (r != NULL) {
        free(r);
        return 0;
    }
    if (bad != NULL && bad[0] == '{' && strchr(bad, '}') != NULL)
        rc = perr(c, n, "unknown placeholder '%s'", bad);
    else
        rc = perr(c, n,
                  "unbalanced brace in '%s' (write {{ or }} for a "
                  "literal brace)",
                  s);
    free(bad);
    return rc;
}

/* ---- checks ----------------------------------------------------------- */

static const char *const check_keys_plain[] = {
    "fact", "equals", "equals_fact", "empty", "in", "truthy", NULL};
static const char *const check_keys_reason[] = {
    "fact", "equals", "equals_fact", "empty", "in", "truthy", "reason", NULL};

static int
parse_check(struct ctx *c,
            const struct af_ynode *n,
            const char *what,
            int with_reason,
            const struct ph_scope *scope,
            struct pb_check *out)
{
    const struct af_ynode *v;
    const char *ops[] = {"equals", "equals_fact", "empty", "in", "truthy"};
    const char *op = NULL;
    struct pb_argv list = {NULL, 0};
    size_t i;
    int r, b;

    if ((r = check_keys(c, n, what,
                        with_reason ? check_keys_reason : check_keys_plain)) !=
        0)
        return r;
    if ((v = af_yaml_get(n, "fact")) == NULL)
        return perr(c, n, "%s needs 'fact'", what);
    if ((r = get_name(c, v, "fact", &out->fact)) != 0)
        return r;
    for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        if (af_yaml_get(n, ops[i]) == NULL)
            continue;
        if (op != NULL)
            return perr(c, key_node(n, ops[i]),
                        "%s takes one of equals, "
                        "equals_fact, empty, in, truthy; not both '%s' and "
                        "'%s'",
                        what, op, ops[i]);
        op = ops[i];
    }
    if (op == NULL)
        return perr(c, n,
                    "%s needs one of equals, equals_fact, empty, in, "
                    "truthy",
                    what);
    v = af_yaml_get(n, op);
    if (strcmp(op, "equals") == 0) {
        out->op = PB_CHECK_EQUALS;
        if ((r = get_str(c, v, "equals", &out->value)) != 0)
            return r;
        if ((r = check_ph(c, v, out->value, scope)) != 0)
            return r;
    } else if (strcmp(op, "equals_fact") == 0) {
        out->op = PB_CHECK_EQUALS_FACT;
        if ((r = get_name(c, v, "equals_fact", &out->value)) != 0)
            return r;
    } else if (strcmp(op, "empty") == 0) {
        if ((r = get_bool(c, v, "empty", &b)) != 0)
            return r;
        out->op = b ? PB_CHECK_EMPTY : PB_CHECK_NOT_EMPTY;
    } else if (strcmp(op, "truthy") == 0) {
        if ((r = get_bool(c, v, "truthy", &b)) != 0)
            return r;
        out->op = b ? PB_CHECK_TRUE : PB_CHECK_FALSE;
    } else {
        out->op = PB_CHECK_IN;
        if ((r = get_strlist(c, v, "in", 0, &list)) != 0) {
            argv_free(&list);
            return r;
        }
        for (i = 0; i < list.n; i++) {
            if ((r = check_ph(c, v->items[i], list.v[i], scope)) != 0) {
                argv_free(&list);
                return r;
            }
        }
        out->list = list.v;
        out->n_list = list.n;
    }
    if ((v = af_yaml_get(n, "reason")) != NULL) {
        if ((r = get_str(c, v, "reason", &out->reason)) != 0)
            return r;
        if ((r = check_ph(c, v, out->reason, scope)) != 0)
            return r;
    }
    return 0;
}

static int
parse_checks(struct ctx *c,
             const struct af_ynode *n,
             const char *what,
             int with_reason,
             const struct ph_scope *scope,
             struct pb_checks *out)
{
    size_t i;
    int r;

    if (n->type != AF_YSEQ)
        return perr(c, n, "%s must be a list of checks", what);
    out->v = af_calloc(n->n ? n->n : 1, sizeof(*out->v));
    for (i = 0; i < n->n; i++) {
        out->n = i + 1;
        if ((r = parse_check(c, n->items[i], what, with_reason, scope,
                             &out->v[i])) != 0)
            return r;
    }
    out->n = n->n;
    return 0;
}

/* ---- steps ------------------------------------------------------------ */

static const char *const step_keys[] = {"description",
                                        "package",
                                        "version_from",
                                        "version",
                                        "version_fact",
                                        "follows",
                                        "command",
                                        "upgrade_command",
                                        "codes",
                                        "timeout",
                                        "reboot",
                                        "health_gate",
                                        "when",
                                        "done_when",
                                        "require",
                                        "verify",
                                        NULL};

static int
parse_command(struct ctx *c,
              const struct af_ynode *n,
              const char *what,
              const struct ph_scope *scope,
              struct pb_argv *out)
{
    size_t i;
    int r;

    if ((r = get_strlist(c, n, what, 0, out)) != 0)
        return r;
    if (out->v[0][0] == '\0')
        return perr(c, n->items[0], "%s: the program must not be empty", what);
    for (i = 0; i < out->n; i++)
        if ((r = check_ph(c, n->items[i], out->v[i], scope)) != 0)
            return r;
    return 0;
}

static int
parse_package(struct ctx *c, const struct af_ynode *n, struct pb_step *s)
{
    struct ph_scope arch_only = {c->pb, 0, 0, 0};
    size_t i;
    int r;

    s->has_package = 1;
    if (n->type == AF_YSCALAR) {
        if (n->scalar[0] == '\0')
            return perr(c, n, "package must not be empty");
        if ((r = check_ph(c, n, n->scalar, &arch_only)) != 0)
            return r;
        s->pkg_any = af_strdup(n->scalar);
        return 0;
    }
    if (n->type != AF_YMAP)
        return perr(c, n, "package must be a glob or a mapping arch: glob");
    if (n->n == 0)
        return perr(c, n, "package must name at least one arch");
    for (i = 0; i < n->n; i++) {
        const struct af_ynode *v = n->vals[i];

        if (v->type != AF_YSCALAR || v->scalar[0] == '\0')
            return perr(c, v, "package for %s must be a glob",
                        n->keys[i]->scalar);
        if ((r = check_ph(c, v, v->scalar, &arch_only)) != 0)
            return r;
        af_kv_add(&s->pkg_arch, n->keys[i]->scalar, v->scalar);
    }
    return 0;
}

static int
parse_version_from(struct ctx *c, const struct af_ynode *n, struct pb_step *s)
{
    struct ph_scope arch_version = {c->pb, 0, 1, 0};
    const char *p;
    int r;

    if ((r = get_str(c, n, "version_from", &s->version_from)) != 0)
        return r;
    if ((r = check_ph(c, n, s->version_from, &arch_version)) != 0)
        return r;
    p = strstr(s->version_from, "{version}");
    if (p == NULL || strstr(p + 1, "{version}") != NULL)
        return perr(c, n, "version_from must hold {version} exactly once");
    return 0;
}

static int
parse_step(struct ctx *c,
           const struct af_ynode *key,
           const struct af_ynode *n,
           struct pb_step *s)
{
    struct ph_scope scope = {c->pb, 0, 0, 1};
    const struct af_ynode *v;
    int r;

    s->line = key->line;
    s->col = key->col;
    s->timeout = PB_DEFAULT_TIMEOUT;
    af_kv_init(&s->pkg_arch);
    if ((r = get_name(c, key, "step name", &s->name)) != 0)
        return r;
    if ((r = check_keys(c, n, "step", step_keys)) != 0)
        return r;
    if ((v = af_yaml_get(n, "description")) != NULL &&
        (r = get_str(c, v, "description", &s->description)) != 0)
        return r;
    if ((v = af_yaml_get(n, "package")) != NULL &&
        (r = parse_package(c, v, s)) != 0)
        return r;
    if ((v = af_yaml_get(n, "version_from")) != NULL) {
        if (!s->has_package)
            return perr(c, key_node(n, "version_from"),
                        "version_from needs a package to read it from");
        if ((r = parse_version_from(c, v, s)) != 0)
            return r;
    }
    if ((v = af_yaml_get(n, "version")) != NULL) {
        if (s->version_from != NULL)
            return perr(c, key_node(n, "version"),
                        "give either version or version_from, not both");
        if ((r = get_str(c, v, "version", &s->version)) != 0)
            return r;
        if (s->version[0] == '\0')
            return perr(c, v, "version must not be empty");
    }
    if ((v = af_yaml_get(n, "follows")) != NULL) {
        if (s->version_from != NULL || s->version != NULL)
            return perr(c, key_node(n, "follows"),
                        "a step that follows "
                        "another takes its version; drop version/"
                        "version_from");
        if ((r = get_name(c, v, "follows", &s->follows)) != 0)
            return r;
    }
    if ((v = af_yaml_get(n, "version_fact")) != NULL) {
        if (s->follows != NULL)
            return perr(c, key_node(n, "version_fact"),
                        "a step that "
                        "follows another has no version_fact of its own");
        if ((r = get_name(c, v, "version_fact", &s->version_fact)) != 0)
            return r;
    }
    if ((s->version_from != NULL || s->version != NULL) &&
        s->version_fact == NULL)
        return perr(c, n,
                    "step '%s' has a target version but no "
                    "version_fact to compare it with",
                    s->name);
    if (s->version_fact != NULL && s->version_from == NULL &&
        s->version == NULL)
        return perr(c, key_node(n, "version_fact"),
                    "version_fact needs "
                    "version_from or version");
    scope.package = s->has_package;
    scope.version =
        s->version_from != NULL || s->version != NULL || s->follows != NULL;
    if ((v = af_yaml_get(n, "command")) == NULL)
        return perr(c, n, "step '%s' needs a command", s->name);
    if ((r = parse_command(c, v, "command", &scope, &s->cmd)) != 0)
        return r;
    if ((v = af_yaml_get(n, "upgrade_command")) != NULL) {
        if (s->version_fact == NULL)
            return perr(c, key_node(n, "upgrade_command"),
                        "upgrade_command "
                        "needs a version_fact to tell an upgrade");
        if ((r = parse_command(c, v, "upgrade_command", &scope, &s->up_cmd)) !=
            0)
            return r;
    }
    if ((v = af_yaml_get(n, "codes")) != NULL) {
        size_t i;

        if (v->type != AF_YSEQ || v->n == 0)
            return perr(c, v, "codes must be a non-empty list of exit codes");
        s->codes = af_calloc(v->n, sizeof(*s->codes));
        for (i = 0; i < v->n; i++, s->n_codes++)
            if ((r = get_int(c, v->items[i], "exit code", 0, 255,
                             &s->codes[i])) != 0)
                return r;
    } else {
        s->codes = af_calloc(1, sizeof(*s->codes));
        s->n_codes = 1;
    }
    if ((v = af_yaml_get(n, "timeout")) != NULL &&
        (r = get_int(c, v, "timeout", 1, 7 * 24 * 3600, &s->timeout)) != 0)
        return r;
    if ((v = af_yaml_get(n, "reboot")) != NULL &&
        (r = get_bool(c, v, "reboot", &s->reboot)) != 0)
        return r;
    if ((v = af_yaml_get(n, "health_gate")) != NULL &&
        (r = get_bool(c, v, "health_gate", &s->health_gate)) != 0)
        return r;
    if ((v = af_yaml_get(n, "when")) != NULL &&
        (r = parse_checks(c, v, "when check", 0, &scope, &s->when)) != 0)
        return r;
    if ((v = af_yaml_get(n, "done_when")) != NULL) {
        if (s->version_fact != NULL)
            return perr(c, key_node(n, "done_when"),
                        "done_when is for "
                        "steps without a version");
        if ((r = parse_checks(c, v, "done_when check", 0, &scope,
                              &s->done_when)) != 0)
            return r;
    }
    if ((v = af_yaml_get(n, "require")) != NULL &&
        (r = parse_checks(c, v, "require check", 1, &scope, &s->require)) != 0)
        return r;
    if ((v = af_yaml_get(n, "verify")) != NULL &&
        (r = parse_checks(c, v, "verify check", 0, &scope, &s->verify)) != 0)
        return r;
    return 0;
}

/* ---- stages ----------------------------------------------------------- */

static const char *const stage_keys[] = {"description", "steps",   "stages",
                                         "order_when",  "builtin", NULL};
static const char *const order_keys[] = {"fact", "empty", "else", NULL};

static int
parse_stage(struct ctx *c,
            const struct af_ynode *key,
            const struct af_ynode *n,
            struct pb_stage *st)
{
    const char *kinds[] = {"steps", "stages", "order_when", "builtin"};
    const char *kind = NULL;
    const struct af_ynode *v;
    size_t i;
    int r;

    st->line = key->line;
    st->col = key->col;
    if ((r = get_name(c, key, "stage name", &st->name)) != 0)
        return r;
    if (n->type == AF_YSEQ) {
        st->kind = PB_STAGE_STEPS;
        return get_strlist(c, n, "stage steps", 0, &st->items);
    }
    if ((r = check_keys(c, n, "stage", stage_keys)) != 0)
        return r;
    for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (af_yaml_get(n, kinds[i]) == NULL)
            continue;
        if (kind != NULL)
            return perr(c, key_node(n, kinds[i]),
                        "stage '%s' takes one of "
                        "steps, stages, order_when, builtin; not both '%s' "
                        "and '%s'",
                        st->name, kind, kinds[i]);
        kind = kinds[i];
    }
    if (kind == NULL)
        return perr(c, n,
                    "stage '%s' needs steps, stages, order_when or "
                    "builtin",
                    st->name);
    v = af_yaml_get(n, kind);
    if (strcmp(kind, "steps") == 0) {
        st->kind = PB_STAGE_STEPS;
        return get_strlist(c, v, "steps", 0, &st->items);
    }
    if (strcmp(kind, "stages") == 0) {
        st->kind = PB_STAGE_STAGES;
        return get_strlist(c, v, "stages", 0, &st->items);
    }
    if (strcmp(kind, "builtin") == 0) {
        st->kind = PB_STAGE_BUILTIN;
        if ((r = get_name(c, v, "builtin", &st->builtin)) != 0)
            return r;
        for (i = 0; pb_builtins[i] != NULL; i++)
            if (strcmp(pb_builtins[i], st->builtin) == 0)
                return 0;
        return perr(c, v, "unknown builtin stage '%s' (known: hccn)",
                    st->builtin);
    }
    st->kind = PB_STAGE_ORDER;
    if ((r = check_keys(c, v, "order_when", order_keys)) != 0)
        return r;
    if (af_yaml_get(v, "fact") == NULL || af_yaml_get(v, "empty") == NULL ||
        af_yaml_get(v, "else") == NULL)
        return perr(c, v, "order_when needs fact, empty and else");
    if ((r = get_name(c, af_yaml_get(v, "fact"), "fact", &st->order_fact)) != 0)
        return r;
    if ((r = get_strlist(c, af_yaml_get(v, "empty"), "empty", 0,
                         &st->if_empty)) != 0)
        return r;
    return get_strlist(c, af_yaml_get(v, "else"), "else", 0, &st->if_else);
}

static struct pb_stage *
stage_lookup(const struct pb *pb, const char *name)
{
    size_t i;

    for (i = 0; i < pb->n_stages; i++)
        if (strcmp(pb->stages[i].name, name) == 0)
            return &pb->stages[i];
    return NULL;
}

static struct pb_step *
step_lookup(const struct pb *pb, const char *name)
{
    size_t i;

    for (i = 0; i < pb->n_steps; i++)
        if (strcmp(pb->steps[i].name, name) == 0)
            return &pb->steps[i];
    return NULL;
}

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

static int
check_stage_refs(struct ctx *c,
                 const struct af_ynode *n,
                 const struct pb_stage *st)
{
    const struct pb *pb = c->pb;
    size_t i;

    switch (st->kind) {
    case PB_STAGE_STEPS:
        for (i = 0; i < st->items.n; i++) {
            if (step_lookup(pb, st->items.v[i]) == NULL)
                return perr(c, stage_item_node(n, "steps", i),
                            "stage '%s' names unknown step '%s'", st->name,
                            st->items.v[i]);
            if (argv_has(&(struct pb_argv){st->items.v, i}, st->items.v[i]))
                return perr(c, stage_item_node(n, "steps", i),
                            "stage '%s' names step '%s' twice", st->name,
                            st->items.v[i]);
        }
        return 0;
    case PB_STAGE_STAGES:
        for (i = 0; i < st->items.n; i++)
            if (stage_lookup(pb, st->items.v[i]) == NULL)
                return perr(c, stage_item_node(n, "stages", i),
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

                sub = stage_lookup(pb, lists[k]->v[i]);
                if (sub == NULL)
                    return perr(c, ln->items[i],
                                "stage '%s' names unknown "
                                "stage '%s'",
                                st->name, lists[k]->v[i]);
                if (sub->kind != PB_STAGE_STEPS)
                    return perr(c, ln->items[i],
                                "order_when may only name "
                                "stages made of steps; '%s' is not",
                                sub->name);
                if (argv_has(&(struct pb_argv){lists[k]->v, i}, lists[k]->v[i]))
                    return perr(c, ln->items[i], "stage '%s' is named twice",
                                lists[k]->v[i]);
                if (!argv_has(lists[1 - k], lists[k]->v[i]))
                    return perr(c, ln->items[i],
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
static int
check_cycles(struct ctx *c,
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
        return perr(c, stages_node->keys[idx], "stage '%s' includes itself",
                    st->name);
    mark[idx] = 1;
    if (st->kind == PB_STAGE_STAGES) {
        for (i = 0; i < st->items.n; i++) {
            const struct pb_stage *sub = stage_lookup(pb, st->items.v[i]);

            if ((r = check_cycles(c, stages_node, (size_t)(sub - pb->stages),
                                  mark)) != 0)
                return r;
        }
    }
    mark[idx] = 2;
    return 0;
}

/* ---- top level -------------------------------------------------------- */

/*
 * A var reaches the node (argv words, scripts' "$1"): a null is an error
 * (quote "~" for a literal), the value must be one safe word, and the
 * paths install_path and python must be absolute.
 */
static int
check_var(struct ctx *c, const char *k, const struct af_ynode *v)
{
    char why[200];
    int r;

    if (v->null)
        return perr(c, v, "var '%s' has no value (null)", k);
    if ((r = want_scalar(c, v, "var value")) != 0)
        return r;
    if (af_safe_check(v->scalar, pb__var_is_path(k) ? AF_SAFE_PATH : 0, why,
                      sizeof(why)) != 0)
        return perr(c, v, "var '%s' %s, got '%s'", k, why, v->scalar);
    return 0;
}

static const char *const top_keys[] = {"version", "vars", "steps", "stages",
                                       NULL};

static int
parse_root(struct ctx *c, const struct af_ynode *root)
{
    struct pb *pb = c->pb;
    const struct af_ynode *v, *steps, *stages;
    int *mark = NULL;
    size_t i;
    int r, ver;

    if ((r = check_keys(c, root, "playbook", top_keys)) != 0)
        return r;
    if ((v = af_yaml_get(root, "version")) != NULL) {
        if ((r = get_int(c, v, "version", 1, 1, &ver)) != 0)
            return r;
    }
    af_kv_set(&pb->vars, "install_path", "/usr/local/Ascend");
    af_kv_set(&pb->vars, "python", "/usr/bin/python3");
    if ((v = af_yaml_get(root, "vars")) != NULL) {
        if (v->type != AF_YMAP)
            return perr(c, v, "vars must be a mapping");
        for (i = 0; i < v->n; i++) {
            const char *k = v->keys[i]->scalar;
            char *name = NULL;

            if ((r = get_name(c, v->keys[i], "var name", &name)) != 0)
                return r;
            free(name);
            if (strcmp(k, "package") == 0 || strcmp(k, "version") == 0 ||
                strcmp(k, "arch") == 0)
                return perr(c, v->keys[i], "'%s' is a reserved placeholder", k);
            if ((r = check_var(c, k, v->vals[i])) != 0)
                return r;
            af_kv_set(&pb->vars, k, v->vals[i]->scalar);
        }
    }
    steps = af_yaml_get(root, "steps");
    stages = af_yaml_get(root, "stages");
    if (steps == NULL)
        return perr(c, root, "playbook needs 'steps'");
    if (stages == NULL)
        return perr(c, root, "playbook needs 'stages'");
    if (steps->type != AF_YMAP)
        return perr(c, steps, "steps must be a mapping name: step");
    if (stages->type != AF_YMAP)
        return perr(c, stages, "stages must be a mapping name: stage");
    pb->steps = af_calloc(steps->n ? steps->n : 1, sizeof(*pb->steps));
    for (i = 0; i < steps->n; i++) {
        pb->n_steps = i + 1;
        if ((r = parse_step(c, steps->keys[i], steps->vals[i],
                            &pb->steps[i])) != 0)
            return r;
    }
    for (i = 0; i < pb->n_steps; i++) {
        const struct pb_step *s = &pb->steps[i];
        const struct pb_step *lead;

        if (s->follows == NULL)
            continue;
        lead = step_lookup(pb, s->follows);
        v = af_yaml_get(steps->vals[i], "follows");
        if (lead == NULL)
            return perr(c, v, "step '%s' follows unknown step '%s'", s->name,
                        s->follows);
        if (lead == s || lead->follows != NULL)
            return perr(c, v,
                        "step '%s' must follow a step with a version "
                        "of its own",
                        s->name);
        if (lead->version_fact == NULL)
            return perr(c, v, "step '%s' follows '%s', which has no version",
                        s->name, lead->name);
    }
    pb->stages = af_calloc(stages->n ? stages->n : 1, sizeof(*pb->stages));
    for (i = 0; i < stages->n; i++) {
        pb->n_stages = i + 1;
        if ((r = parse_stage(c, stages->keys[i], stages->vals[i],
                             &pb->stages[i])) != 0)
            return r;
    }
    for (i = 0; i < pb->n_stages; i++)
        if ((r = check_stage_refs(c, stages->vals[i], &pb->stages[i])) != 0)
            return r;
    mark = af_calloc(pb->n_stages ? pb->n_stages : 1, sizeof(*mark));
    for (i = 0; i < pb->n_stages; i++)
        if ((r = check_cycles(c, stages, i, mark)) != 0)
            break;
    free(mark);
    return r;
}

static int
load_tree(const char *name,
          struct af_ynode *root,
          struct pb **out,
          struct af_err *e)
{
    struct pb *pb = af_calloc(1, sizeof(*pb));
    struct ctx c = {pb, e};
    int r;

    pb->path = af_strdup(name);
    af_kv_init(&pb->vars);
    if ((r = parse_root(&c, root)) != 0) {
        pb_free(pb);
        return r;
    }
    *out = pb;
    return 0;
}

int
pb_load(const char *path, struct pb **out, struct af_err *e)
{
    struct af_ynode *root = NULL;
    int r;

    *out = NULL;
    if ((r = af_yaml_load(path, &root, e)) != 0)
        return r;
    r = load_tree(path, root, out, e);
    af_yaml_free(root);
    return r;
}

int
pb_load_string(const char *name,
               const char *text,
               size_t len,
               struct pb **out,
               struct af_err *e)
{
    struct af_ynode *root = NULL;
    int r;

    *out = NULL;
    if ((r = af_yaml_load_string(name, text, len, &root, e)) != 0)
        return r;
    r = load_tree(name, root, out, e);
    af_yaml_free(root);
    return r;
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
    return stage_lookup(pb, name);
}

const struct pb_step *
pb_step_find(const struct pb *pb, const char *name)
{
    return step_lookup(pb, name);
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
        const struct pb_step *s = step_lookup(x->pb, st->items.v[i]);

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
            phase_add_steps(x, ph, stage_lookup(x->pb, order->v[i]));
        break;
    case PB_STAGE_STAGES:
        for (i = 0; i < st->items.n; i++)
            expand_stage(x, stage_lookup(x->pb, st->items.v[i]));
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
        st = stage_lookup(pb, name);
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
