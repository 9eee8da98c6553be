/* SPDX-License-Identifier: MIT */
/*
 * Per-node planning (see pb-plan.h for the decision order): package choice
 * by glob, target version from the file name, skip/install/upgrade/run/
 * blocked, placeholder substitution of argv and checks. No I/O apart from
 * listing the packages directory.
 */
#include "pb-plan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "af-buf.h"
#include "af-err.h"
#include "af-mem.h"
#include "af-proto.h"
#include "af-safe.h"
#include "internal.h"

#define PB_REMOTE_DIR "/var/lib/ascend-fleet/packages"

/* ---- packages --------------------------------------------------------- */

void
pb_plan_pkgs_add(struct pb_pkgs *pkgs,
                 const char *name,
                 unsigned long long size)
{
    struct pb_pkg *p;

    pkgs->v = af_reallocarray(pkgs->v, pkgs->n + 1, sizeof(*pkgs->v));
    p = &pkgs->v[pkgs->n++];
    p->name = af_strdup(name);
    p->size = size;
    p->remote = NULL;
}

void
pb_plan_pkgs_free(struct pb_pkgs *pkgs)
{
    size_t i;

    if (pkgs == NULL)
        return;
    for (i = 0; i < pkgs->n; i++) {
        free(pkgs->v[i].name);
        free(pkgs->v[i].remote);
    }
    free(pkgs->v);
    pkgs->v = NULL;
    pkgs->n = 0;
}

static int
pkg_cmp(const void *a, const void *b)
{
    const struct pb_pkg *x = a, *y = b;

    return strcmp(x->name, y->name);
}

int
pb_plan_list_packages(const char *dir, struct pb_pkgs *out, struct af_err *e)
{
    DIR *d;
    struct dirent *de;
    int r = 0;

    out->n = 0;
    out->v = NULL;
    if ((d = opendir(dir)) == NULL)
        return af_err_set(e, -errno, "%s: %s", dir, strerror(errno));
    for (;;) {
        struct stat st;

        errno = 0;
        if ((de = readdir(d)) == NULL) {
            if (errno != 0)
                r = af_err_set(e, -errno, "%s: %s", dir, strerror(errno));
            break;
        }
        if (de->d_name[0] == '.')
            continue;
        if (fstatat(dirfd(d), de->d_name, &st, 0) != 0) {
            r = af_err_set(e, -errno, "%s/%s: %s", dir, de->d_name,
                           strerror(errno));
            break;
        }
        if (!S_ISREG(st.st_mode))
            continue;
        pb_plan_pkgs_add(out, de->d_name, (unsigned long long)st.st_size);
    }
    closedir(d);
    if (r != 0) {
        pb_plan_pkgs_free(out);
        return r;
    }
    if (out->n > 1)
        qsort(out->v, out->n, sizeof(*out->v), pkg_cmp);
    return 0;
}

const char *
pb_action_name(enum pb_action a)
{
    switch (a) {
    case PB_ACT_SKIP:
        return "skip";
    case PB_ACT_INSTALL:
        return "install";
    case PB_ACT_UPGRADE:
        return "upgrade";
    case PB_ACT_RUN:
        return "run";
    case PB_ACT_BLOCKED:
        return "blocked";
    }
    return "?";
}

/* ---- placeholder scope of one step ------------------------------------ */

struct scope {
    const struct pb *pb;
    const struct af_kv *vars; /* overrides */
    const char *arch;
    const char *package; /* NULL: not known */
    const char *version; /* NULL: not known */
    int unknown_empty;   /* unknown package/version read "" */
};

static const char *
scope_cb(void *arg, const char *name)
{
    const struct scope *s = arg;
    const char *v;

    if (strcmp(name, "arch") == 0)
        return s->arch;
    if (strcmp(name, "package") == 0)
        return s->package ? s->package : s->unknown_empty ? "" : NULL;
    if (strcmp(name, "version") == 0)
        return s->version ? s->version : s->unknown_empty ? "" : NULL;
    if (s->vars != NULL && (v = af_kv_get(s->vars, name)) != NULL)
        return v;
    return pb_var(s->pb, name);
}

static int
checks_subst(const struct pb_checks *src,
             struct scope *sc,
             struct pb_check **out,
             size_t *n)
{
    size_t i;

    *out = NULL;
    *n = 0;
    if (src->n == 0)
        return 0;
    *out = af_calloc(src->n, sizeof(**out));
    for (i = 0; i < src->n; i++) {
        if (pb__check_subst(&(*out)[i], &src->v[i], scope_cb, sc) != 0)
            return -1;
        *n = i + 1;
    }
    return 0;
}

static void
checks_array_free(struct pb_check *v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        pb__check_free(&v[i]);
    free(v);
}

/* All checks hold? On failure *why (if wanted) describes the first one. */
static int
checks_hold(const struct pb_check *v,
            size_t n,
            const struct af_kv *facts,
            char **why)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (!pb_check_eval(&v[i], facts, why))
            return 0;
    return 1;
}

/* ---- planning --------------------------------------------------------- */

static void
set_text(struct pb_plan_step *ps, enum pb_action a, const char *reason)
{
    ps->action = a;
    free(ps->reason);
    ps->reason = af_strdup(reason);
    free(ps->text);
    ps->text = af_asprintf("%s (%s)", pb_action_name(a), reason);
}

static void
block(struct pb_plan_step *ps, const char *reason)
{
    set_text(ps, PB_ACT_BLOCKED, reason);
}

static void
skip(struct pb_plan_step *ps, const char *reason)
{
    set_text(ps, PB_ACT_SKIP, reason);
}

/*
 * Text between the literal parts around {version} in pattern (with {arch}
 * already substituted), searched in name. NULL when it does not match.
 */
static char *
capture_version(const char *pattern, const char *name)
{
    const char *ph = strstr(pattern, "{version}");
    size_t plen = (size_t)(ph - pattern);
    const char *suffix = ph + strlen("{version}");
    const char *p = name;

    while (*p != '\0') {
        const char *start, *end;

        if (strncmp(p, pattern, plen) != 0) {
            p++;
            continue;
        }
        start = p + plen;
        end = suffix[0] != '\0' ? strstr(start, suffix) : start + strlen(start);
        if (end != NULL && end > start)
            return af_strndup(start, (size_t)(end - start));
        p++;
    }
    return NULL;
}

static const struct pb_plan_step *
plan_find_step(const struct pb_plan *plan, const struct pb_step *s)
{
    size_t i;

    for (i = 0; i < plan->n_steps; i++)
        if (plan->steps[i].step == s)
            return &plan->steps[i];
    return NULL;
}

/* Choose the package; 0 ok, -1 blocked (ps filled). */
static int
choose_package(const struct pb_step *s,
               const struct pb_plan_input *in,
               const char *arch,
               struct pb_plan_step *ps)
{
    const struct pb_pkg *hit = NULL;
    struct af_buf names;
    char *glob = NULL, *why = NULL, bad[200];
    size_t i, n = 0;
    int r = -1;

    if (arch[0] == '\0') {
        block(ps, "arch unknown: no 'arch' fact");
        return -1;
    }
    if ((glob = pb_step_package_glob(s, arch)) == NULL) {
        why = af_asprintf("the playbook names no package for %s", arch);
        block(ps, why);
        free(why);
        return -1;
    }
    af_buf_init(&names, 512);
    for (i = 0; in->pkgs != NULL && i < in->pkgs->n; i++) {
        if (fnmatch(glob, in->pkgs->v[i].name, 0) != 0)
            continue;
        af_buf_printf(&names, "%s%s", n ? ", " : "", in->pkgs->v[i].name);
        hit = &in->pkgs->v[i];
        n++;
    }
    if (n == 0) {
        why = af_asprintf("no package for %s matching '%s'", arch, glob);
    } else if (n > 1) {
        why = af_asprintf("several packages match '%s': %s: keep one version",
                          glob, names.data);
    } else if (hit->size == 0) {
        why = af_asprintf("package %s is empty", hit->name);
    } else if (af_safe_check(hit->name, 0, bad, sizeof(bad)) != 0) {
        why = af_asprintf("package file name '%s': %s", hit->name, bad);
    } else {
        ps->package = af_strdup(hit->name);
        ps->package_size = hit->size;
        ps->package_path =
            hit->remote != NULL
                ? af_strdup(hit->remote)
                : af_asprintf("%s/%s",
                              in->remote_dir != NULL ? in->remote_dir
                                                     : PB_REMOTE_DIR,
                              hit->name);
        r = 0;
    }
    if (r != 0)
        block(ps, why);
    free(why);
    free(glob);
    af_buf_free(&names);
    return r;
}

/* Substitutes {arch} and keeps {version} for capture_version. */
static const char *
arch_keep_version_cb(void *arg, const char *name)
{
    if (strcmp(name, "version") == 0)
        return "{version}";
    return strcmp(name, "arch") == 0 ? (const char *)arg : NULL;
}

/*
 * A version read from a file name must look like one: parts of letters and
 * digits separated by single '.', '-', '_' or '+', starting with a digit,
 * at most 64 bytes ("24.1.0", "8.0.RC1", "2.1.0+cpu", "2.1.0.post3").
 * Anything else would be installed and then fail verify after a reboot.
 */
static int
version_ok(const char *v)
{
    size_t i, n = strlen(v);

    if (n == 0 || n > 64 || v[0] < '0' || v[0] > '9')
        return 0;
    for (i = 0; i < n; i++) {
        char c = v[i];

        if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
            (c >= 'A' && c <= 'Z'))
            continue;
        if (strchr(".-_+", c) == NULL || i + 1 == n ||
            strchr(".-_+", v[i + 1]) != NULL)
            return 0;
    }
    return 1;
}

/* Target version from the package name; 0 ok, -1 blocked. */
static int
read_version(const struct pb_step *s, const char *arch, struct pb_plan_step *ps)
{
    char *pat, *why;

    pat = pb__subst(s->version_from, arch_keep_version_cb,
                    (void *)(uintptr_t)arch, NULL);
    if (pat != NULL)
        ps->to = capture_version(pat, ps->package);
    if (ps->to == NULL) {
        why = af_asprintf("cannot read the version of %s with '%s'",
                          ps->package, s->version_from);
        block(ps, why);
        free(why);
    } else if (!version_ok(ps->to)) {
        why = af_asprintf("'%s' read from %s with '%s' is not a version "
                          "(digits and letters in parts joined by . - _ +, "
                          "starting with a digit)",
                          ps->to, ps->package, s->version_from);
        free(ps->to);
        ps->to = NULL;
        block(ps, why);
        free(why);
    }
    free(pat);
    return ps->to != NULL ? 0 : -1;
}

char *
pb_step_package_version(const struct pb_step *s,
                        const char *arch,
                        const char *package)
{
    char *pat, *v = NULL;

    if (s->version != NULL)
        return af_strdup(s->version);
    if (s->version_from == NULL)
        return NULL;
    pat = pb__subst(s->version_from, arch_keep_version_cb,
                    (void *)(uintptr_t)arch, NULL);
    if (pat != NULL)
        v = capture_version(pat, package);
    free(pat);
    if (v != NULL && !version_ok(v)) {
        free(v);
        v = NULL;
    }
    return v;
}

/* The NPU health gate of the vendor deployer (ascend.md 1.4). */
static int
health_gate(const struct af_kv *facts, struct pb_plan_step *ps)
{
    const char *cnt = pb__fact(facts, "npu_count");
    const char *ok = pb__fact(facts, "npu_health_ok");
    char *end1, *end2, *why;
    long c, k;

    if (cnt[0] == '\0')
        return 0; /* no npu-smi yet: a fresh node, nothing to gate */
    c = strtol(cnt, &end1, 10);
    k = strtol(ok, &end2, 10);
    if (*end1 != '\0' || ok[0] == '\0' || *end2 != '\0') {
        why = af_asprintf("NPU health unknown (npu_count '%s', "
                          "npu_health_ok '%s')",
                          cnt, ok);
        block(ps, why);
        free(why);
        return -1;
    }
    if (k >= c)
        return 0;
    why = af_asprintf("NPU health: %ld chip%s not OK", c - k,
                      c - k == 1 ? "" : "s");
    block(ps, why);
    free(why);
    return -1;
}

/* What a planned run leaves behind, for the steps after it. */
static void
project(const struct pb_step *s,
        const struct pb_plan_step *ps,
        struct af_kv *pf)
{
    size_t i;

    if (s->version_fact != NULL && ps->to != NULL)
        af_kv_set(pf, s->version_fact, ps->to);
    for (i = 0; i < ps->n_done_when; i++) {
        const struct pb_check *c = &ps->done_when[i];

        if (c->op == PB_CHECK_EQUALS)
            af_kv_set(pf, c->fact, c->value);
        else if (c->op == PB_CHECK_TRUE)
            af_kv_set(pf, c->fact, "1");
        else if (c->op == PB_CHECK_IN && c->n_list > 0)
            af_kv_set(pf, c->fact, c->list[0]);
        else if (c->op == PB_CHECK_EMPTY)
            af_kv_set(pf, c->fact, "");
    }
}

static int
resolve_argv(const struct pb_argv *src,
             struct scope *sc,
             struct pb_plan_step *ps)
{
    size_t i;

    ps->argv = af_calloc(src->n + 1, sizeof(*ps->argv));
    for (i = 0; i < src->n; i++) {
        ps->argv[i] = pb__subst(src->v[i], scope_cb, sc, NULL);
        if (ps->argv[i] == NULL)
            return -1;
        ps->argc = i + 1;
    }
    return 0;
}

/*
 * Step s follows another: take the lead's target version. Returns 1 when
 * that decides ps (blocked: the lead is not in this rollout or is
 * blocked itself), else 0 with *lead_runs set when the lead will run.
 */
static int
plan_follows(const struct pb *pb,
             struct pb_plan *plan,
             const struct pb_step *s,
             struct pb_plan_step *ps,
             int *lead_runs)
{
    const struct pb_plan_step *lead;
    char *why;

    lead = plan_find_step(plan, pb_step_find(pb, s->follows));
    if (lead == NULL) {
        why = af_asprintf("follows step '%s', which is not in this "
                          "rollout",
                          s->follows);
        block(ps, why);
        free(why);
        return 1;
    }
    if (lead->action == PB_ACT_BLOCKED) {
        why = af_asprintf("%s is blocked", s->follows);
        block(ps, why);
        free(why);
        return 1;
    }
    *lead_runs = lead->action != PB_ACT_SKIP;
    if (lead->to != NULL)
        ps->to = af_strdup(lead->to);
    return 0;
}

/*
 * Is step s already done on the node? With a version_fact: the node is at
 * the target (a reboot may still be pending when verify does not hold);
 * without: its done_when checks hold and no lead step runs. Returns 1 and
 * marks ps skipped when so, else 0.
 */
static int
already_at_target(const struct pb_step *s,
                  const struct pb_plan_input *in,
                  struct af_kv *pf,
                  int lead_runs,
                  struct pb_plan_step *ps)
{
    char *reason, *why = NULL;

    if (s->version_fact != NULL) {
        ps->from = af_strdup(pb__fact(pf, s->version_fact));
        if (strcmp(ps->from, ps->to) != 0)
            return 0;
        if (s->reboot && ps->n_verify > 0 &&
            !checks_hold(ps->verify, ps->n_verify, in->facts, &why)) {
            ps->reboot_pending = 1;
            reason = af_asprintf("already %s; reboot pending: %s", ps->to, why);
        } else {
            reason = af_asprintf("already %s", ps->to);
        }
        skip(ps, reason);
        free(reason);
        free(why);
        return 1;
    }
    if (!lead_runs && ps->n_done_when > 0 &&
        checks_hold(ps->done_when, ps->n_done_when, pf, NULL)) {
        skip(ps, "already done");
        return 1;
    }
    return 0;
}

/* The action step s takes on the node, with its text: run, install,
 * upgrade or downgrade. */
static void
set_action(const struct pb_step *s, struct pb_plan_step *ps)
{
    free(ps->text);
    if (s->version_fact == NULL) {
        ps->action = PB_ACT_RUN;
        ps->text = af_strdup("run");
    } else if (ps->from[0] == '\0') {
        ps->action = PB_ACT_INSTALL;
        ps->text = af_asprintf("install %s", ps->to);
    } else {
        ps->action = PB_ACT_UPGRADE;
        ps->downgrade = pb_version_cmp(ps->to, ps->from) < 0;
        ps->text =
            af_asprintf("%s %s -> %s", ps->downgrade ? "downgrade" : "upgrade",
                        ps->from, ps->to);
    }
}

static int
plan_step(const struct pb *pb,
          const struct pb_plan_input *in,
          struct pb_plan *plan,
          const struct pb_step *s,
          struct af_kv *pf,
          struct pb_plan_step *ps,
          struct af_err *e)
{
    const char *arch = pb__fact(in->facts, "arch");
    struct scope sc = {pb, in->vars, arch, NULL, NULL, 1};
    struct pb_check *tmp = NULL;
    size_t n_tmp = 0, i;
    char *why = NULL;
    int r = AF_EINTERNAL, lead_runs = 0;

    ps->step = s;
    ps->name = s->name;
    ps->reboot = s->reboot;
    ps->timeout = s->timeout;
    ps->codes = s->codes;
    ps->n_codes = s->n_codes;

    /* 1. when: evaluated before the package is known. */
    if (checks_subst(&s->when, &sc, &tmp, &n_tmp) != 0)
        goto fail;
    if (!checks_hold(tmp, n_tmp, pf, &why)) {
        char *reason = af_asprintf("not for this node: %s", why);

        skip(ps, reason);
        free(reason);
        r = 0;
        goto out;
    }

    /* 2. follows. */
    if (s->follows != NULL && plan_follows(pb, plan, s, ps, &lead_runs)) {
        r = 0;
        goto out;
    }

    /* 3. package and target version. */
    if (s->has_package && choose_package(s, in, arch, ps) != 0) {
        r = 0;
        goto out;
    }
    if (s->version_from != NULL && read_version(s, arch, ps) != 0) {
        r = 0;
        goto out;
    }
    if (s->version != NULL)
        ps->to = af_strdup(s->version);
    sc.package = ps->package_path;
    sc.version = ps->to;
    sc.unknown_empty = 0;
    if (checks_subst(&s->verify, &sc, &ps->verify, &ps->n_verify) != 0 ||
        checks_subst(&s->done_when, &sc, &ps->done_when, &ps->n_done_when) != 0)
        goto fail;

    /* 4. already at target? */
    if (already_at_target(s, in, pf, lead_runs, ps)) {
        r = 0;
        goto out;
    }

    /* 5. require. */
    checks_array_free(tmp, n_tmp);
    tmp = NULL;
    n_tmp = 0;
    if (checks_subst(&s->require, &sc, &tmp, &n_tmp) != 0)
        goto fail;
    for (i = 0; i < n_tmp; i++) {
        free(why);
        why = NULL;
        if (pb_check_eval(&tmp[i], pf, &why))
            continue;
        block(ps, tmp[i].reason != NULL ? tmp[i].reason : why);
        r = 0;
        goto out;
    }

    /* 6. the NPU health gate works on what the node reports now. */
    if (s->health_gate && health_gate(in->facts, ps) != 0) {
        r = 0;
        goto out;
    }

    /* 7. run it. */
    set_action(s, ps);
    if (resolve_argv(ps->action == PB_ACT_UPGRADE && s->up_cmd.n > 0
                         ? &s->up_cmd
                         : &s->cmd,
                     &sc, ps) != 0)
        goto fail;
    project(s, ps, pf);
    r = 0;
    goto out;
fail:
    r = af_err_set(e, AF_EINTERNAL,
                   "step '%s': a placeholder could not be "
                   "resolved",
                   s->name);
out:
    checks_array_free(tmp, n_tmp);
    free(why);
    return r;
}

static void
plan_step_free(struct pb_plan_step *ps)
{
    size_t i;

    free(ps->text);
    free(ps->reason);
    free(ps->from);
    free(ps->to);
    free(ps->package);
    free(ps->package_path);
    for (i = 0; i < ps->argc; i++)
        free(ps->argv[i]);
    free(ps->argv);
    checks_array_free(ps->verify, ps->n_verify);
    checks_array_free(ps->done_when, ps->n_done_when);
}

void
pb_plan_free(struct pb_plan *plan)
{
    size_t i;

    if (plan == NULL)
        return;
    for (i = 0; i < plan->n_steps; i++)
        plan_step_free(&plan->steps[i]);
    free(plan->steps);
    free(plan->phases);
    free(plan);
}

/* Var overrides reach the node like playbook vars: same rules (pb.c). */
static int
check_overrides(const struct af_kv *vars, struct af_err *e)
{
    char why[200];
    size_t i;

    for (i = 0; vars != NULL && i < vars->n; i++)
        if (af_safe_check(vars->vals[i],
                          pb__var_is_path(vars->keys[i]) ? AF_SAFE_PATH : 0,
                          why, sizeof(why)) != 0)
            return af_err_set(e, AF_EINPUT, "var '%s' %s, got '%s'",
                              vars->keys[i], why, vars->vals[i]);
    return 0;
}

int
pb_plan_node(const struct pb *pb,
             const struct pb_plan_input *in,
             struct pb_plan **out,
             struct af_err *e)
{
    struct pb_phases phases = {0, NULL};
    struct pb_plan *plan = NULL;
    struct af_kv pf;
    size_t i, j, total = 0;
    int r;

    *out = NULL;
    af_kv_init(&pf);
    if ((r = check_overrides(in->vars, e)) != 0 ||
        (r = pb_expand_stages(pb, in->stages, in->facts, &phases, e)) != 0)
        goto out;
    for (i = 0; in->facts != NULL && i < in->facts->n; i++)
        af_kv_set(&pf, in->facts->keys[i], in->facts->vals[i]);
    for (i = 0; i < phases.n; i++)
        total += phases.v[i].n_steps;
    plan = af_calloc(1, sizeof(*plan));
    plan->phases = af_calloc(phases.n ? phases.n : 1, sizeof(*plan->phases));
    plan->steps = af_calloc(total ? total : 1, sizeof(*plan->steps));
    for (i = 0; i < phases.n; i++) {
        struct pb_plan_phase *ph = &plan->phases[i];

        ph->stage = phases.v[i].stage;
        ph->builtin = phases.v[i].builtin;
        ph->first = plan->n_steps;
        plan->n_phases = i + 1;
        for (j = 0; j < phases.v[i].n_steps; j++) {
            struct pb_plan_step *ps = &plan->steps[plan->n_steps++];

            ps->phase = i;
            if ((r = plan_step(pb, in, plan, phases.v[i].steps[j], &pf, ps,
                               e)) != 0)
                goto out;
            ph->n++;
            if (ps->action == PB_ACT_BLOCKED)
                plan->blocked = 1;
            if (ps->reboot &&
                (ps->action == PB_ACT_INSTALL || ps->action == PB_ACT_UPGRADE ||
                 ps->action == PB_ACT_RUN || ps->reboot_pending))
                ph->reboot = 1;
        }
    }
    *out = plan;
    plan = NULL;
out:
    pb_plan_free(plan);
    pb_phases_free(&phases);
    af_kv_free(&pf);
    return r;
}

int
pb_plan_step_done(const struct pb_plan_step *ps, const struct af_kv *facts)
{
    const char *vf = ps->step->version_fact;

    if (vf != NULL)
        return ps->to != NULL && strcmp(pb__fact(facts, vf), ps->to) == 0;
    if (ps->n_done_when > 0)
        return checks_hold(ps->done_when, ps->n_done_when, facts, NULL);
    return 0;
}

int
pb_plan_step_verify(const struct pb_plan_step *ps,
                    const struct af_kv *facts,
                    char **why)
{
    return checks_hold(ps->verify, ps->n_verify, facts, why);
}
