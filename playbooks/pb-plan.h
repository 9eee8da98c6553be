/* SPDX-License-Identifier: MIT */
/*
 * Per-node plans: given a playbook, the requested stages, one node's facts
 * and the files of the --packages directory, decide for every step whether
 * it is skipped, installed, upgraded, run or blocked, with the exact argv,
 * codes, timeout, reboot and verify checks to use. Pure: the only I/O is
 * pb_plan_list_packages reading a directory listing (hashing and pushing
 * packages is the caller's job).
 *
 * How a step is decided (facts are "projected": a step planned to install
 * sets its version_fact to the target, and its done_when equals/truthy
 * checks to their values, for the steps after it, so "cann requires a
 * driver" holds on a fresh node whose npu stage comes first):
 *   1. when checks fail                 -> skip (not for this node: ...)
 *      ({version} and {package} read "" in when checks)
 *   2. follows STEP: STEP blocked or not planned -> blocked; the step
 *      takes STEP's target as {version}; when STEP installs or upgrades the
 *      step runs whatever its done_when says (so wheels shipped inside a
 *      new toolkit are installed again)
 *   3. package: none for the arch, none matching, several matching, empty
 *      file, version not readable from the name -> blocked (why)
 *   4. version_fact equals the target   -> skip (already X); if the step
 *      requests a reboot and its verify checks fail on the current facts
 *      (installed but not active yet) the skip carries reboot_pending and
 *      the phase still reboots; done_when all hold -> skip (already done)
 *      (a step with neither version_fact nor done_when always runs: it
 *      must be harmless to repeat)
 *   5. require checks fail              -> blocked (reason)
 *   6. health_gate and npu_count known and npu_health_ok < npu_count
 *                                       -> blocked (NPU health: N chips not OK)
 *   7. otherwise install X (nothing installed), upgrade X -> Y (another
 *      version installed; "downgrade" when Y orders below X; the step's
 *      upgrade_command when it has one), or run (versionless steps).
 *
 * Resume: re-plan from fresh facts. Installed steps come out as skip, an
 * installed-but-not-loaded driver as skip with reboot_pending, and a step
 * caught mid-install is decided again from what the node reports.
 * pb_plan_step_done is the same "already at target" test for one step.
 */
#ifndef AF_PB_PLAN_H
#define AF_PB_PLAN_H

#include <stddef.h>

#include "pb.h"

struct af_err;
struct af_kv;

/* One file of the packages directory. */
struct pb_pkg {
    char *name; /* file name, no directory */
    unsigned long long size;
    char *remote; /* path on the node, or NULL for
                     <remote_dir>/<name> */
};

struct pb_pkgs {
    size_t n;
    struct pb_pkg *v;
};

/*
 * List the regular files of dir (names starting with '.' are ignored),
 * sorted by name, into *out (initialised here; the caller frees it with
 * pb_plan_pkgs_free). Returns 0, or -errno with e->msg naming dir.
 */
int
pb_plan_list_packages(const char *dir, struct pb_pkgs *out, struct af_err *e);

/* Append a copy of name with its size (remote NULL); pkgs must have been
 * zeroed or filled by pb_plan_list_packages. Never fails. */
void pb_plan_pkgs_add(struct pb_pkgs *pkgs,
                      const char *name,
                      unsigned long long size);

/* Free what the two functions above filled. Accepts NULL. */
void pb_plan_pkgs_free(struct pb_pkgs *pkgs);

enum pb_action {
    PB_ACT_SKIP,
    PB_ACT_INSTALL,
    PB_ACT_UPGRADE,
    PB_ACT_RUN,
    PB_ACT_BLOCKED,
};

/* "skip", "install", "upgrade", "run", "blocked". */
const char *pb_action_name(enum pb_action a);

struct pb_plan_step {
    const struct pb_step *step; /* borrowed from the playbook */
    const char *name;           /* borrowed step name */
    size_t phase;               /* index into pb_plan.phases */
    enum pb_action action;
    char *text;         /* "skip (already 24.1.0)", "install 24.1.0",
                           "upgrade 23.0.rc2 -> 24.1.0", "run",
                           "blocked (no package for aarch64 matching ...)" */
    char *reason;       /* skip/blocked detail, else NULL */
    char *from;         /* installed version ("" none); NULL if versionless */
    char *to;           /* target version; NULL if none or unknown */
    int downgrade;      /* upgrade to a lower version */
    int reboot_pending; /* skip, but installed and not active yet */
    char *package;      /* chosen file name, or NULL */
    unsigned long long package_size;
    char *package_path; /* {package} on the node, or NULL */
    char **argv;        /* resolved, NULL-terminated; NULL unless the step
                           runs (install, upgrade, run) */
    size_t argc;
    int reboot;       /* the step requests a reboot before verify */
    int timeout;      /* seconds */
    const int *codes; /* accepted exit codes, borrowed */
    size_t n_codes;
    struct pb_check *verify; /* resolved; after the step or its reboot */
    size_t n_verify;
    struct pb_check *done_when; /* resolved */
    size_t n_done_when;
};

struct pb_plan_phase {
    const char *stage;   /* borrowed */
    const char *builtin; /* borrowed; NULL for step phases */
    size_t first;        /* index of the first step in pb_plan.steps */
    size_t n;            /* steps in this phase */
    int reboot;          /* one reboot after this phase is needed */
};

struct pb_plan {
    struct pb_plan_phase *phases;
    size_t n_phases;
    struct pb_plan_step *steps;
    size_t n_steps;
    int blocked; /* some step is blocked */
};

struct pb_plan_input {
    const char *stages;         /* "driver,cann" */
    const struct af_kv *facts;  /* the node's facts; NULL = none */
    const struct pb_pkgs *pkgs; /* packages directory; NULL = empty */
    const char *remote_dir;     /* where packages land on the node;
                                   NULL = /var/lib/ascend-fleet/packages */
    const struct af_kv *vars;   /* var overrides (install_path, python,
                                   ...), NULL = playbook values */
};

/*
 * Plan one node. On success returns 0 and *out holds the plan (the caller
 * frees it with pb_plan_free); blocked steps are part of a plan, not
 * errors. Returns AF_EINPUT (unknown stage, e->msg says which) or
 * AF_EINTERNAL (a placeholder could not be resolved; the playbook check
 * should make this impossible), *out NULL.
 */
int pb_plan_node(const struct pb *pb,
                 const struct pb_plan_input *in,
                 struct pb_plan **out,
                 struct af_err *e);

/* Free a plan. Accepts NULL. */
void pb_plan_free(struct pb_plan *plan);

/*
 * Is the node already at this step's target according to facts? 1 when the
 * step's version_fact equals its target version, or when it has done_when
 * checks and all hold; 0 otherwise (always 0 for steps with neither, e.g.
 * follows steps: those are re-run, which must be harmless).
 */
int pb_plan_step_done(const struct pb_plan_step *ps, const struct af_kv *facts);

/*
 * Run the step's verify checks against facts gathered after the step (and
 * after the reboot when ps->reboot). Returns 1 when all hold (also when
 * there are none); 0 otherwise and, if why is not NULL, *why gets a new
 * string describing the first failing check (caller frees).
 */
int pb_plan_step_verify(const struct pb_plan_step *ps,
                        const struct af_kv *facts,
                        char **why);

#endif /* AF_PB_PLAN_H */
