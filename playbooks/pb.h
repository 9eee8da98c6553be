/* SPDX-License-Identifier: MIT */
/*
 * Playbooks: the YAML files that say how each stage of the Ascend stack is
 * installed (steps, packages, versions, commands, reboots, checks). This
 * module loads and validates a playbook, expands requested stages into an
 * ordered list of phases for one node, and evaluates fact checks. It does
 * no I/O beyond reading the playbook file; planning lives in pb-plan.h.
 *
 * File shape (every key is checked; unknown keys are errors):
 *
 *   version: 1
 *   vars: {NAME: VALUE, ...}        # placeholders; install_path and python
 *                                   # exist by default, callers may override
 *   steps:
 *     NAME:
 *       description: TEXT
 *       package: GLOB | {ARCH: GLOB, ...}  # "{arch}" is allowed in a GLOB
 *       version_from: "prefix{version}suffix"  # capture from the file name
 *       version: LITERAL               # or a fixed target version
 *       version_fact: FACT             # fact holding the installed version
 *       follows: STEP                  # takes STEP's target as {version};
 *                                      # runs whenever STEP runs
 *       command: [ARGV...]             # required
 *       upgrade_command: [ARGV...]     # used when another version is present
 *       codes: [0, 2]                  # accepted exit codes, default [0]
 *       timeout: SECONDS               # default 600
 *       reboot: true|false             # request a reboot before verify
 *       health_gate: true|false        # block when npu_health_ok < npu_count
 *       when: [CHECK...]               # step applies only if all hold
 *       done_when: [CHECK...]          # steps without version_fact: done
 *       require: [CHECK...]            # else blocked with the check's reason
 *       verify: [CHECK...]             # after the step (and its reboot)
 *   stages:
 *     NAME: [STEP...]                  # shorthand for {steps: [...]}
 *     NAME: {steps: [STEP...]}
 *     NAME: {stages: [STAGE...]}       # plain composition
 *     NAME: {order_when: {fact: F, empty: [STAGE...], else: [STAGE...]}}
 *     NAME: {builtin: hccn}            # implemented by the orchestrator
 *
 * A CHECK is {fact: F, OP: ARG} with exactly one OP of equals: STRING,
 * equals_fact: FACT, empty: BOOL, in: [STRING...], truthy: BOOL; require
 * checks also take reason: TEXT. A missing fact reads as "". truthy: true
 * holds for 1, yes, true, y, on (any case).
 *
 * Placeholders "{name}" in commands, checks and reasons: {package} (path of
 * the pushed package on the node; only in steps with a package), {version}
 * (the target version; only in steps with version_from, version or
 * follows), {arch}, and every var. "{{" and "}}" stand for literal braces.
 *
 * Reboot rule. A step with reboot: true only requests a reboot. Requested
 * stages expand into phases (pb_expand_stages); the orchestrator reboots a
 * node at most once per phase, after the last step of the phase, when any
 * step of the phase that requested a reboot ran (or is installed but not yet
 * active, see pb-plan.h), and only then runs those steps' verify checks.
 * A stage with steps is one phase; a stage with order_when is ONE phase made
 * of its chosen sub-stages' steps (so "npu" = driver + firmware reboots
 * once); a stage with stages contributes its sub-stages' phases in order
 * (so "all" reboots after npu, before cann); a builtin stage is a phase
 * with no steps.
 */
#ifndef AF_PB_H
#define AF_PB_H

#include <stddef.h>

struct af_err;
struct af_kv;
struct pb;
struct pb_step;
struct pb_stage;

enum pb_check_op {
    PB_CHECK_EQUALS,      /* fact == value */
    PB_CHECK_EQUALS_FACT, /* fact == the fact named by value */
    PB_CHECK_EMPTY,       /* fact == "" */
    PB_CHECK_NOT_EMPTY,   /* fact != "" */
    PB_CHECK_IN,          /* fact is one of list */
    PB_CHECK_TRUE,        /* fact is 1/yes/true/y/on */
    PB_CHECK_FALSE,       /* fact is anything else (also "") */
};

/* One fact check. In a loaded playbook value/list/reason may hold
 * placeholders; in a plan (pb-plan.h) they are substituted. */
struct pb_check {
    char *fact;
    enum pb_check_op op;
    char *value; /* EQUALS, EQUALS_FACT; else NULL */
    char **list; /* IN; else NULL */
    size_t n_list;
    char *reason; /* require checks only; may be NULL */
};

/*
 * Load and validate the playbook at path. On success returns 0 and *out
 * holds a playbook the caller frees with pb_free. On failure returns
 * AF_EYAML (syntax), AF_EINPUT (schema) or -errno (unreadable file), *out is
 * NULL and e->msg reads "PATH:LINE:COL: message" (unknown keys, wrong types,
 * unknown placeholders, stages naming missing steps or stages, cycles).
 */
int pb_load(const char *path, struct pb **out, struct af_err *e);

/* Same for a string in memory; name stands for PATH in messages. */
int pb_load_string(const char *name,
                   const char *text,
                   size_t len,
                   struct pb **out,
                   struct af_err *e);

/* Free a playbook and everything it owns. Accepts NULL. */
void pb_free(struct pb *pb);

/* Value of a placeholder variable (defaults included), or NULL. Borrowed. */
const char *pb_var(const struct pb *pb, const char *name);

/* Lookups by name; NULL when absent. Results are borrowed from pb. */
const struct pb_stage *pb_stage_find(const struct pb *pb, const char *name);
const struct pb_step *pb_step_find(const struct pb *pb, const char *name);

/* Iteration in file order. i must be below the count. */
size_t pb_stage_count(const struct pb *pb);
const struct pb_stage *pb_stage_at(const struct pb *pb, size_t i);
size_t pb_step_count(const struct pb *pb);
const struct pb_step *pb_step_at(const struct pb *pb, size_t i);

/* Stage accessors; strings borrowed from the playbook. */
const char *pb_stage_name(const struct pb_stage *st);
/* Name of the orchestrator-implemented stage, or NULL for ordinary ones. */
const char *pb_stage_builtin(const struct pb_stage *st);

/* Step accessors; strings and arrays borrowed from the playbook. */
const char *pb_step_name(const struct pb_step *s);
const char *pb_step_description(const struct pb_step *s);  /* may be NULL */
const char *pb_step_version_fact(const struct pb_step *s); /* may be NULL */
const char *pb_step_follows(const struct pb_step *s);      /* may be NULL */
int pb_step_has_package(const struct pb_step *s);
/* Package glob for arch with {arch} substituted, or NULL if the step names
 * none for arch. The caller frees the result. */
char *pb_step_package_glob(const struct pb_step *s, const char *arch);
/* Target version a step reads from package (its file name) for arch, or
 * its fixed version; NULL when it has none or the name holds none. The
 * caller frees the result. */
char *pb_step_package_version(const struct pb_step *s,
                              const char *arch,
                              const char *package);
int pb_step_reboot(const struct pb_step *s);
int pb_step_timeout(const struct pb_step *s);
int pb_step_health_gate(const struct pb_step *s);
const int *pb_step_codes(const struct pb_step *s, size_t *n);
/* Unsubstituted argv (upgrade: 1 gives the upgrade command, or NULL when
 * the step has none); *n gets the count. */
char *const *pb_step_argv(const struct pb_step *s, int upgrade, size_t *n);
const struct pb_check *pb_step_verify(const struct pb_step *s, size_t *n);
const struct pb_check *pb_step_done_when(const struct pb_step *s, size_t *n);

/* One phase of an expanded stage list (see the reboot rule above). */
struct pb_phase {
    const char *stage;   /* borrowed stage name */
    const char *builtin; /* borrowed; NULL for step phases */
    size_t n_steps;
    const struct pb_step **steps; /* owned array, borrowed steps */
};

struct pb_phases {
    size_t n;
    struct pb_phase *v;
};

/*
 * Expand stage_list ("driver,cann"; names separated by commas, spaces
 * ignored) into phases for a node with the given facts (NULL = no facts,
 * i.e. a fresh node). order_when picks its "empty" list when the fact is
 * empty or missing, else its "else" list. A step already placed in an
 * earlier phase is not repeated, and phases left empty are dropped (builtin
 * phases stay, once each). On success returns 0 and fills *out (the caller
 * frees it with pb_phases_free); returns AF_EINPUT with e->msg naming an
 * unknown or empty stage name, and *out is then empty.
 */
int pb_expand_stages(const struct pb *pb,
                     const char *stage_list,
                     const struct af_kv *facts,
                     struct pb_phases *out,
                     struct af_err *e);

/* Free what pb_expand_stages filled; p may be reused. Accepts NULL. */
void pb_phases_free(struct pb_phases *p);

/*
 * Evaluate one check against facts (NULL = no facts). Values must already
 * be substituted. Returns 1 when it holds, 0 when not; when it does not and
 * why is not NULL, *why gets a new string such as
 * "npu_loaded_version is '23.0.rc2', expected '24.1.0'" (caller frees).
 */
int
pb_check_eval(const struct pb_check *c, const struct af_kv *facts, char **why);

/*
 * Order two Ascend/Python version strings: returns <0, 0 or >0. Dot,
 * dash and underscore separate parts; numbers compare as numbers; a
 * pre-release part (rcN, alphaN, betaN, bN, aN) sorts below any number at
 * the same place, a post-release part (postN) above; a missing part sorts
 * below any present one; a "+local" suffix is ignored. So 24.1.rc1 <
 * 24.1.0 < 24.1.0.1 and 8.0.RC1 < 8.0.0. Case-insensitive. Never fails.
 */
int pb_version_cmp(const char *a, const char *b);

#endif /* AF_PB_H */
