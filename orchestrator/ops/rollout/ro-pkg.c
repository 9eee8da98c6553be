/* SPDX-License-Identifier: MIT */
/*
 * Vendor packages of a rollout: each one a plan uses is opened and hashed
 * once, then streamed to nodes by push.h (never mapped) (the hash names it on
 * the node, so a push is skipped when the node already has the same bytes). A
 * package a node needs only after resume re-planned it is loaded on first use.
 */
#define _GNU_SOURCE
#include "ro-int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "af-mem.h"
#include "push.h"

static const struct ro_pkg *
ro_pkg_find(const struct ro *ro, const char *name)
{
    size_t i;

    for (i = 0; i < ro->nrpkgs; i++)
        if (strcmp(ro->rpkgs[i].name, name) == 0)
            return &ro->rpkgs[i];
    return NULL;
}

/* Open and hash one package of the packages directory (push.h). */
static int
ro_pkg_load(struct ro *ro, const char *name)
{
    struct ro_pkg *rp;
    struct push_src *src = NULL;
    struct af_err e = {0, ""};
    char *path = af_asprintf("%s/%s", ro->eff.packages, name);

    if (push_src_open(path, &src, &e) != 0) {
        ro_error(ro, "%s", e.msg);
        free(path);
        return -1;
    }
    ro->rpkgs = af_reallocarray(ro->rpkgs, ro->nrpkgs + 1, sizeof(*ro->rpkgs));
    rp = &ro->rpkgs[ro->nrpkgs++];
    memset(rp, 0, sizeof(*rp));
    rp->name = af_strdup(name);
    rp->path = path;
    rp->src = src;
    rp->size = (size_t)push_src_size(src);
    snprintf(rp->sha, sizeof(rp->sha), "%s", push_src_sha(src));
    return 0;
}

const struct ro_pkg *
ro_pkg_get(struct ro *ro, const char *name)
{
    const struct ro_pkg *p = ro_pkg_find(ro, name);

    if (p == NULL && ro_pkg_load(ro, name) == 0)
        p = ro_pkg_find(ro, name);
    return p;
}

int
ro_load_packages(struct ro *ro)
{
    size_t i, k;

    for (i = 0; i < ro->n; i++) {
        const struct pb_plan *p = ro->nj[i].plan;

        for (k = 0; p != NULL && k < p->n_steps; k++) {
            const struct pb_plan_step *ps = &p->steps[k];

            if (!nj_runnable(ps) || ps->package == NULL ||
                ro_pkg_find(ro, ps->package) != NULL)
                continue;
            if (ro_pkg_load(ro, ps->package) != 0)
                return -1;
        }
    }
    return 0;
}

void
ro_pkgs_free(struct ro *ro)
{
    size_t i;

    for (i = 0; i < ro->nrpkgs; i++) {
        push_src_free(ro->rpkgs[i].src);
        free(ro->rpkgs[i].name);
        free(ro->rpkgs[i].path);
    }
    free(ro->rpkgs);
    ro->rpkgs = NULL;
    ro->nrpkgs = 0;
}
