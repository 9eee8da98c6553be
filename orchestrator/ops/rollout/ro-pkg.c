/* SPDX-License-Identifier: MIT */
/*
 * Vendor packages of a rollout: each one a plan uses is mapped read-only
 * and hashed once (the hash names it on the node, so a push is skipped when
 * the node already has the same bytes). A package a node needs only after
 * resume re-planned it is loaded on first use.
 */
#define _GNU_SOURCE
#include "ro-int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "af-mem.h"
#include "af-sha256.h"

static const struct ro_pkg *
ro_pkg_find(const struct ro *ro, const char *name)
{
    size_t i;

    for (i = 0; i < ro->nrpkgs; i++)
        if (strcmp(ro->rpkgs[i].name, name) == 0)
            return &ro->rpkgs[i];
    return NULL;
}

/* Map and hash one package of the packages directory. */
static int
ro_pkg_load(struct ro *ro, const char *name)
{
    struct ro_pkg *rp;
    struct stat sb;
    struct af_sha256 c;
    void *m = NULL;
    int fd;
    char *path = af_asprintf("%s/%s", ro->eff.packages, name);

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &sb) < 0)
        goto fail;
    if (sb.st_size > 0) {
        m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED)
            goto fail;
    }
    close(fd);
    ro->rpkgs = af_reallocarray(ro->rpkgs, ro->nrpkgs + 1, sizeof(*ro->rpkgs));
    rp = &ro->rpkgs[ro->nrpkgs++];
    memset(rp, 0, sizeof(*rp));
    rp->name = af_strdup(name);
    rp->path = path;
    rp->data = m;
    rp->size = (size_t)sb.st_size;
    af_sha256_init(&c);
    af_sha256_update(&c, rp->data, rp->size);
    af_sha256_final_hex(&c, rp->sha);
    return 0;
fail:
    ro_error(ro, "%s: %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    free(path);
    return -1;
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
        if (ro->rpkgs[i].data)
            munmap((void *)(uintptr_t)ro->rpkgs[i].data, ro->rpkgs[i].size);
        free(ro->rpkgs[i].name);
        free(ro->rpkgs[i].path);
    }
    free(ro->rpkgs);
    ro->rpkgs = NULL;
    ro->nrpkgs = 0;
}
