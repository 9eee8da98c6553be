/* SPDX-License-Identifier: MIT */
/*
 * The `gateway:` key of a group: one host of the group through which
 * package pushes reach the group's other hosts (docs/scale.md). Checked
 * once every host is loaded: the gateway is a host of that group, and no
 * host is in two groups that have a gateway (one level, like a rack).
 */
#include "inv.h"

#include <stdlib.h>
#include <string.h>

#include "af-err.h"
#include "af-mem.h"
#include "af-yaml.h"
#include "inv-internal.h"

static int
gw_in_group(const struct inv_node *nd, const char *g)
{
    size_t i;

    for (i = 0; i < nd->ngroups; i++)
        if (strcmp(nd->groups[i], g) == 0)
            return 1;
    return 0;
}

/* The group's `gateway:` value node, or NULL. */
static const struct af_ynode *
gw_key(const struct af_ynode *g, const struct af_ynode **key)
{
    size_t j;

    if (g == NULL || g->type != AF_YMAP)
        return NULL;
    for (j = 0; j < g->n; j++)
        if (strcmp(g->keys[j]->scalar, "gateway") == 0) {
            *key = g->keys[j];
            return g->vals[j];
        }
    return NULL;
}

/* A second gatewayed group of one host is an error at that group's key. */
static int
gw_check_overlap(struct ld *l,
                 const struct af_ynode *groups,
                 size_t gi,
                 const struct af_ynode *key)
{
    struct inv *inv = l->inv;
    size_t i, k;

    for (i = 0; i < inv->nnodes; i++) {
        const struct inv_node *nd = &inv->nodes[i];

        if (!gw_in_group(nd, inv->groups[gi]))
            continue;
        for (k = 0; k < gi; k++)
            if (inv->gateways[k] >= 0 && gw_in_group(nd, inv->groups[k]))
                return inv__fail(l, key,
                                 "host '%s' of group '%s' is also in group "
                                 "'%s', which has a gateway too (a host is "
                                 "behind at most one gateway)",
                                 nd->name, groups->keys[gi]->scalar,
                                 inv->groups[k]);
    }
    return 0;
}

int
inv__load_gateways(struct ld *l, const struct af_ynode *groups)
{
    struct inv *inv = l->inv;
    size_t i;
    int r;

    inv->gateways = af_calloc(inv->ngroups ? inv->ngroups : 1, sizeof(long));
    for (i = 0; i < inv->ngroups; i++)
        inv->gateways[i] = -1;
    if (groups == NULL || groups->type != AF_YMAP)
        return 0;
    for (i = 0; i < groups->n && i < inv->ngroups; i++) {
        const struct af_ynode *key = NULL, *v = gw_key(groups->vals[i], &key);
        const struct inv_node *nd;
        const char *name;

        if (v == NULL)
            continue;
        if ((r = inv__get_str(l, key, v, &name)) != 0)
            return r;
        nd = inv_find(inv, name);
        if (nd == NULL || !gw_in_group(nd, inv->groups[i]))
            return inv__fail(l, v,
                             "gateway '%s' of group '%s' is not a host of "
                             "that group",
                             name, inv->groups[i]);
        if ((r = gw_check_overlap(l, groups, i, key)) != 0)
            return r;
        inv->gateways[i] = (long)nd->index;
    }
    return 0;
}

const struct inv_node *
inv_gateway(const struct inv *inv, const struct inv_node *n)
{
    size_t i, g;

    if (inv->gateways == NULL)
        return NULL;
    for (i = 0; i < n->ngroups; i++)
        for (g = 0; g < inv->ngroups; g++)
            if (inv->gateways[g] >= 0 &&
                strcmp(inv->groups[g], n->groups[i]) == 0) {
                const struct inv_node *gw = &inv->nodes[inv->gateways[g]];

                return gw == n ? NULL : gw;
            }
    return NULL;
}
