/* SPDX-License-Identifier: MIT */
/*
 * Playbook loading and validation (YAML tree from af-yaml -> struct pb).
 * Every schema error names FILE:LINE:COL of the offending node. Stage
 * reference and cycle checks are in pb-stage.c.
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

int
pb__perr(struct pb__ctx *c, const struct af_ynode *n, const char *fmt, ...)
{
    char msg[AF_ERR_MSG_LEN];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return af_err_set(c->e, AF_EINPUT, "%s:%d:%d: %s", c->pb->path, n->line,
                      n->col, msg);
}

/* ---- typed getters ---------------------------------------------------- */

static int
want_scalar(struct pb__ctx *c, const struct af_ynode *n, const char *what)
{
    if (n->type != AF_YSCALAR)
        return pb__perr(c, n, "%s must be a string", what);
    /* A YAML null (~, null, nothing) is no string: never the text "~". */
    if (n->null)
        return pb__perr(c, n, "%s has no value (null); quote it for a literal",
                        what);
    return 0;
}

static int
get_str(struct pb__ctx *c,
        const struct af_ynode *n,
        const char *what,
        char **out)
{
    int r;

    if ((r = want_scalar(c, n, what)) != 0)
        return r;
    free(*out);
    *out = af_strdup(n->scalar);
    return 0;
}

static int
get_name(struct pb__ctx *c,
         const struct af_ynode *n,
         const char *what,
         char **out)
{
    const char *p;
    int r;

    if ((r = want_scalar(c, n, what)) != 0)
        return r;
    if (n->scalar[0] == '\0')
        return pb__perr(c, n, "%s must not be empty", what);
    for (p = n->scalar; *p != '\0'; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-' && *p != '.')
            return pb__perr(c, n, "%s '%s': use letters, digits, '_', '-', '.'",
                            what, n->scalar);
    free(*out);
    *out = af_strdup(n->scalar);
    return 0;
}

static int
get_bool(struct pb__ctx *c,
         const struct af_ynode *n,
         const char *what,
         int *out)
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
    return pb__perr(c, n, "%s must be true or false", what);
}

static int
get_int(struct pb__ctx *c,
        const struct af_ynode *n,
        const char *what,
        long lo,
        long hi,
        int *out)
{
    char *end;
    long v;

    if (n->type != AF_YSCALAR || n->quoted || n->scalar[0] == '\0')
        return pb__perr(c, n, "%s must be an integer", what);
    errno = 0;
    v = strtol(n->scalar, &end, 10);
    if (*end != '\0' || errno != 0)
        return pb__perr(c, n, "%s must be an integer", what);
    if (v < lo || v > hi)
        return pb__perr(c, n, "%s must be between %ld and %ld", what, lo, hi);
    *out = (int)v;
    return 0;
}

static int
get_strlist(struct pb__ctx *c,
            const struct af_ynode *n,
            const char *what,
            int allow_empty,
            struct pb_argv *out)
{
    size_t i;
    int r;

    if (n->type != AF_YSEQ)
        return pb__perr(c, n, "%s must be a list", what);
    if (n->n == 0 && !allow_empty)
        return pb__perr(c, n, "%s must not be empty", what);
    for (i = 0; i < n->n; i++) {
        if ((r = want_scalar(c, n->items[i], what)) != 0)
            return r;
        pb__argv_push(out, n->items[i]->scalar);
    }
    return 0;
}

static int
check_keys(struct pb__ctx *c,
           const struct af_ynode *m,
           const char *what,
           const char *const *allowed)
{
    size_t i, j;

    if (m->type != AF_YMAP)
        return pb__perr(c, m, "%s must be a mapping", what);
    for (i = 0; i < m->n; i++) {
        for (j = 0; allowed[j] != NULL; j++)
            if (strcmp(m->keys[i]->scalar, allowed[j]) == 0)
                break;
        if (allowed[j] == NULL)
            return pb__perr(c, m->keys[i], "unknown key '%s' in %s",
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
check_ph(struct pb__ctx *c,
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
        rc = pb__perr(c, n, "unknown placeholder '%s'", bad);
    else
        rc = pb__perr(c, n,
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
parse_check(struct pb__ctx *c,
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
        return pb__perr(c, n, "%s needs 'fact'", what);
    if ((r = get_name(c, v, "fact", &out->fact)) != 0)
        return r;
    for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        if (af_yaml_get(n, ops[i]) == NULL)
            continue;
        if (op != NULL)
            return pb__perr(c, key_node(n, ops[i]),
                            "%s takes one of equals, "
                            "equals_fact, empty, in, truthy; not both '%s' and "
                            "'%s'",
                            what, op, ops[i]);
        op = ops[i];
    }
    if (op == NULL)
        return pb__perr(c, n,
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
            pb__argv_free(&list);
            return r;
        }
        for (i = 0; i < list.n; i++) {
            if ((r = check_ph(c, v->items[i], list.v[i], scope)) != 0) {
                pb__argv_free(&list);
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
parse_checks(struct pb__ctx *c,
             const struct af_ynode *n,
             const char *what,
             int with_reason,
             const struct ph_scope *scope,
             struct pb_checks *out)
{
    size_t i;
    int r;

    if (n->type != AF_YSEQ)
        return pb__perr(c, n, "%s must be a list of checks", what);
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
parse_command(struct pb__ctx *c,
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
        return pb__perr(c, n->items[0], "%s: the program must not be empty",
                        what);
    for (i = 0; i < out->n; i++)
        if ((r = check_ph(c, n->items[i], out->v[i], scope)) != 0)
            return r;
    return 0;
}

static int
parse_package(struct pb__ctx *c, const struct af_ynode *n, struct pb_step *s)
{
    struct ph_scope arch_only = {c->pb, 0, 0, 0};
    size_t i;
    int r;

    s->has_package = 1;
    if (n->type == AF_YSCALAR) {
        if (n->scalar[0] == '\0')
            return pb__perr(c, n, "package must not be empty");
        if ((r = check_ph(c, n, n->scalar, &arch_only)) != 0)
            return r;
        s->pkg_any = af_strdup(n->scalar);
        return 0;
    }
    if (n->type != AF_YMAP)
        return pb__perr(c, n, "package must be a glob or a mapping arch: glob");
    if (n->n == 0)
        return pb__perr(c, n, "package must name at least one arch");
    for (i = 0; i < n->n; i++) {
        const struct af_ynode *v = n->vals[i];

        if (v->type != AF_YSCALAR || v->scalar[0] == '\0')
            return pb__perr(c, v, "package for %s must be a glob",
                            n->keys[i]->scalar);
        if ((r = check_ph(c, v, v->scalar, &arch_only)) != 0)
            return r;
        af_kv_add(&s->pkg_arch, n->keys[i]->scalar, v->scalar);
    }
    return 0;
}

static int
parse_version_from(struct pb__ctx *c,
                   const struct af_ynode *n,
                   struct pb_step *s)
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
        return pb__perr(c, n, "version_from must hold {version} exactly once");
    return 0;
}

/*
 * The version keys of step n: version_from or version (not both), follows
 * (then neither, and no version_fact), and a version_fact exactly when
 * there is a target version to compare with it.
 */
static int
parse_step_version(struct pb__ctx *c,
                   const struct af_ynode *n,
                   struct pb_step *s)
{
    const struct af_ynode *v;
    int r;

    if ((v = af_yaml_get(n, "version_from")) != NULL) {
        if (!s->has_package)
            return pb__perr(c, key_node(n, "version_from"),
                            "version_from needs a package to read it from");
        if ((r = parse_version_from(c, v, s)) != 0)
            return r;
    }
    if ((v = af_yaml_get(n, "version")) != NULL) {
        if (s->version_from != NULL)
            return pb__perr(c, key_node(n, "version"),
                            "give either version or version_from, not both");
        if ((r = get_str(c, v, "version", &s->version)) != 0)
            return r;
        if (s->version[0] == '\0')
            return pb__perr(c, v, "version must not be empty");
    }
    if ((v = af_yaml_get(n, "follows")) != NULL) {
        if (s->version_from != NULL || s->version != NULL)
            return pb__perr(c, key_node(n, "follows"),
                            "a step that follows "
                            "another takes its version; drop version/"
                            "version_from");
        if ((r = get_name(c, v, "follows", &s->follows)) != 0)
            return r;
    }
    if ((v = af_yaml_get(n, "version_fact")) != NULL) {
        if (s->follows != NULL)
            return pb__perr(c, key_node(n, "version_fact"),
                            "a step that "
                            "follows another has no version_fact of its own");
        if ((r = get_name(c, v, "version_fact", &s->version_fact)) != 0)
            return r;
    }
    if ((s->version_from != NULL || s->version != NULL) &&
        s->version_fact == NULL)
        return pb__perr(c, n,
                        "step '%s' has a target version but no "
                        "version_fact to compare it with",
                        s->name);
    if (s->version_fact != NULL && s->version_from == NULL &&
        s->version == NULL)
        return pb__perr(c, key_node(n, "version_fact"),
                        "version_fact needs "
                        "version_from or version");
    return 0;
}

static int
parse_step(struct pb__ctx *c,
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
    if ((r = parse_step_version(c, n, s)) != 0)
        return r;
    scope.package = s->has_package;
    scope.version =
        s->version_from != NULL || s->version != NULL || s->follows != NULL;
    if ((v = af_yaml_get(n, "command")) == NULL)
        return pb__perr(c, n, "step '%s' needs a command", s->name);
    if ((r = parse_command(c, v, "command", &scope, &s->cmd)) != 0)
        return r;
    if ((v = af_yaml_get(n, "upgrade_command")) != NULL) {
        if (s->version_fact == NULL)
            return pb__perr(c, key_node(n, "upgrade_command"),
                            "upgrade_command "
                            "needs a version_fact to tell an upgrade");
        if ((r = parse_command(c, v, "upgrade_command", &scope, &s->up_cmd)) !=
            0)
            return r;
    }
    if ((v = af_yaml_get(n, "codes")) != NULL) {
        size_t i;

        if (v->type != AF_YSEQ || v->n == 0)
            return pb__perr(c, v,
                            "codes must be a non-empty list of exit codes");
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
            return pb__perr(c, key_node(n, "done_when"),
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
parse_stage(struct pb__ctx *c,
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
            return pb__perr(c, key_node(n, kinds[i]),
                            "stage '%s' takes one of "
                            "steps, stages, order_when, builtin; not both '%s' "
                            "and '%s'",
                            st->name, kind, kinds[i]);
        kind = kinds[i];
    }
    if (kind == NULL)
        return pb__perr(c, n,
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
        return pb__perr(c, v, "unknown builtin stage '%s' (known: hccn)",
                        st->builtin);
    }
    st->kind = PB_STAGE_ORDER;
    if ((r = check_keys(c, v, "order_when", order_keys)) != 0)
        return r;
    if (af_yaml_get(v, "fact") == NULL || af_yaml_get(v, "empty") == NULL ||
        af_yaml_get(v, "else") == NULL)
        return pb__perr(c, v, "order_when needs fact, empty and else");
    if ((r = get_name(c, af_yaml_get(v, "fact"), "fact", &st->order_fact)) != 0)
        return r;
    if ((r = get_strlist(c, af_yaml_get(v, "empty"), "empty", 0,
                         &st->if_empty)) != 0)
        return r;
    return get_strlist(c, af_yaml_get(v, "else"), "else", 0, &st->if_else);
}

/* ---- top level -------------------------------------------------------- */

/*
 * A var reaches the node (argv words, scripts' "$1"): a null is an error
 * (quote "~" for a literal), the value must be one safe word, and the
 * paths install_path and python must be absolute.
 */
static int
check_var(struct pb__ctx *c, const char *k, const struct af_ynode *v)
{
    char why[200];
    int r;

    if (v->null)
        return pb__perr(c, v, "var '%s' has no value (null)", k);
    if ((r = want_scalar(c, v, "var value")) != 0)
        return r;
    if (af_safe_check(v->scalar, pb__var_is_path(k) ? AF_SAFE_PATH : 0, why,
                      sizeof(why)) != 0)
        return pb__perr(c, v, "var '%s' %s, got '%s'", k, why, v->scalar);
    return 0;
}

static const char *const top_keys[] = {"version", "vars", "steps", "stages",
                                       NULL};

static int
parse_root(struct pb__ctx *c, const struct af_ynode *root)
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
            return pb__perr(c, v, "vars must be a mapping");
        for (i = 0; i < v->n; i++) {
            const char *k = v->keys[i]->scalar;
            char *name = NULL;

            if ((r = get_name(c, v->keys[i], "var name", &name)) != 0)
                return r;
            free(name);
            if (strcmp(k, "package") == 0 || strcmp(k, "version") == 0 ||
                strcmp(k, "arch") == 0)
                return pb__perr(c, v->keys[i], "'%s' is a reserved placeholder",
                                k);
            if ((r = check_var(c, k, v->vals[i])) != 0)
                return r;
            af_kv_set(&pb->vars, k, v->vals[i]->scalar);
        }
    }
    steps = af_yaml_get(root, "steps");
    stages = af_yaml_get(root, "stages");
    if (steps == NULL)
        return pb__perr(c, root, "playbook needs 'steps'");
    if (stages == NULL)
        return pb__perr(c, root, "playbook needs 'stages'");
    if (steps->type != AF_YMAP)
        return pb__perr(c, steps, "steps must be a mapping name: step");
    if (stages->type != AF_YMAP)
        return pb__perr(c, stages, "stages must be a mapping name: stage");
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
        lead = pb__step_lookup(pb, s->follows);
        v = af_yaml_get(steps->vals[i], "follows");
        if (lead == NULL)
            return pb__perr(c, v, "step '%s' follows unknown step '%s'",
                            s->name, s->follows);
        if (lead == s || lead->follows != NULL)
            return pb__perr(c, v,
                            "step '%s' must follow a step with a version "
                            "of its own",
                            s->name);
        if (lead->version_fact == NULL)
            return pb__perr(c, v,
                            "step '%s' follows '%s', which has no version",
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
        if ((r = pb__check_stage_refs(c, stages->vals[i], &pb->stages[i])) != 0)
            return r;
    mark = af_calloc(pb->n_stages ? pb->n_stages : 1, sizeof(*mark));
    for (i = 0; i < pb->n_stages; i++)
        if ((r = pb__check_cycles(c, stages, i, mark)) != 0)
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
    struct pb__ctx c = {pb, e};
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
