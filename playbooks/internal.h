/* SPDX-License-Identifier: MIT */
/*
 * Layouts and helpers shared by the files of playbooks/ only (pb.c and
 * pb-plan.c). Nothing outside this folder includes it.
 */
#ifndef AF_PB_INTERNAL_H
#define AF_PB_INTERNAL_H

#include <stddef.h>

#include "af-proto.h"
#include "pb.h"

struct pb_argv {
    char **v;
    size_t n;
};

struct pb_checks {
    struct pb_check *v;
    size_t n;
};

struct pb_step {
    char *name;
    int line, col;
    char *description;
    int has_package;
    char *pkg_any;         /* one glob for every arch, or NULL */
    struct af_kv pkg_arch; /* arch -> glob */
    char *version_from;
    char *version;
    char *version_fact;
    char *follows;
    struct pb_argv cmd;
    struct pb_argv up_cmd; /* n == 0: none */
    int *codes;
    size_t n_codes;
    int timeout;
    int reboot;
    int health_gate;
    struct pb_checks when, done_when, require, verify;
};

enum pb_stage_kind {
    PB_STAGE_STEPS,
    PB_STAGE_STAGES,
    PB_STAGE_ORDER,
    PB_STAGE_BUILTIN,
};

struct pb_stage {
    char *name;
    int line, col;
    enum pb_stage_kind kind;
    struct pb_argv items;    /* STEPS: step names; STAGES: stage names */
    char *order_fact;        /* ORDER */
    struct pb_argv if_empty; /* ORDER */
    struct pb_argv if_else;  /* ORDER */
    char *builtin;           /* BUILTIN */
};

struct pb {
    char *path;
    struct af_kv vars;
    struct pb_step *steps;
    size_t n_steps;
    struct pb_stage *stages;
    size_t n_stages;
};

/* Lookup used by pb__subst: value of placeholder name, or NULL if unknown. */
typedef const char *(*pb__lookup_cb)(void *arg, const char *name);

/*
 * Substitute "{name}" placeholders in tmpl through lookup ("{{"/"}}" give
 * literal braces). Returns a new string (caller frees), or NULL when a
 * placeholder is unknown or a brace is unbalanced; then *bad (if not NULL)
 * gets a new string naming the offending placeholder (caller frees).
 */
char *pb__subst(const char *tmpl, pb__lookup_cb lookup, void *arg, char **bad);

/* Deep copy of a check with every string run through pb__subst; returns 0,
 * or -1 if a placeholder could not be resolved (dst is then freed). */
int pb__check_subst(struct pb_check *dst,
                    const struct pb_check *src,
                    pb__lookup_cb lookup,
                    void *arg);
void pb__check_free(struct pb_check *c);

/* Is var name one that must hold an absolute path (install_path, python)? */
int pb__var_is_path(const char *name);

/* Fact value or "" when missing or facts is NULL. Borrowed. */
const char *pb__fact(const struct af_kv *facts, const char *name);

#endif /* AF_PB_INTERNAL_H */
