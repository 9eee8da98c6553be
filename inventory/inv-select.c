/* SPDX-License-Identifier: MIT */
/*
 * Node selection with a --limit expression (inv_select, see inv.h):
 * hostlist patterns, group names and exclusions over a loaded inventory.
 */
#include "inv.h"

#include <stdlib.h>
#include <string.h>

#include "af-err.h"
#include "af-mem.h"
#include "hostlist.h"

static int
node_has_group(const struct inv_node *nd, const char *g)
{
    size_t i;

    for (i = 0; i < nd->ngroups; i++)
        if (nd->groups[i] == g)
            return 1;
    return 0;
}

static void
mark_group(const struct inv *inv, int g, unsigned char *mark)
{
    size_t i;

    for (i = 0; i < inv->nnodes; i++)
        if (node_has_group(&inv->nodes[i], inv->groups[g]))
            mark[i] = 1;
}

/* Mark what term t selects; *hits counts matched nodes and groups. */
static int
match_term(const struct inv *inv,
           const char *t,
           unsigned char *mark,
           size_t *hits,
           struct af_err *e)
{
    struct af_err he;
    char **names = NULL;
    size_t n = 0, i;
    int g;

    *hits = 0;
    if (t[0] == '@') {
        if ((g = inv_group_index(inv, t + 1)) >= 0) {
            mark_group(inv, g, mark);
            *hits = 1;
        }
        return 0;
    }
    if ((g = inv_group_index(inv, t)) >= 0) {
        mark_group(inv, g, mark);
        *hits = 1;
        return 0;
    }
    if (hl_expand(t, &names, &n, &he) != 0)
        return af_err_set(e, AF_EINPUT, "--limit: %s", he.msg);
    for (i = 0; i < n; i++) {
        const struct inv_node *nd = inv_find(inv, names[i]);

        if (nd != NULL) {
            mark[nd->index] = 1;
            (*hits)++;
        } else if ((g = inv_group_index(inv, names[i])) >= 0) {
            mark_group(inv, g, mark);
            (*hits)++;
        }
    }
    hl_names_free(names, n);
    return 0;
}

int
inv_select(const struct inv *inv,
           const char *limit,
           size_t **idx,
           size_t *n,
           struct af_err *e)
{
    unsigned char *inc = NULL, *exc = NULL;
    size_t i, start, count = 0, hits;
    int depth = 0, any_inc = 0, r = AF_EINTERNAL;
    char *term = NULL;

    *idx = NULL;
    *n = 0;
    inc = af_calloc(inv->nnodes + 1, 1);
    exc = af_calloc(inv->nnodes + 1, 1);
    if (limit != NULL && limit[0] == '\0') {
        /* An empty pattern (a shell variable that was not set) must not
         * silently mean every node. */
        r = af_err_set(e, AF_EINPUT,
                       "--limit: empty pattern (leave "
                       "--limit out to select every node)");
        goto out;
    }
    if (limit != NULL) {
        for (i = 0, start = 0;; i++) {
            char c = limit[i];
            size_t a = start, b = i;
            const char *t;
            int neg;

            if (c == '[')
                depth++;
            else if (c == ']')
                depth--;
            if (c != '\0' && (c != ',' || depth > 0))
                continue;
            while (a < b && (limit[a] == ' ' || limit[a] == '\t'))
                a++;
            while (b > a && (limit[b - 1] == ' ' || limit[b - 1] == '\t'))
                b--;
            free(term);
            term = af_strndup(limit + a, b - a);
            neg = term[0] == '!';
            t = term + neg;
            if (*t == '\0') {
                r = af_err_set(e, AF_EINPUT, "--limit: empty term in '%s'",
                               limit);
                goto out;
            }
            if ((r = match_term(inv, t, neg ? exc : inc, &hits, e)) != 0)
                goto out;
            if (hits == 0) {
                r = af_err_set(e, AF_EINPUT,
                               "--limit: '%s' matches no node "
                               "or group",
                               t);
                goto out;
            }
            any_inc |= !neg;
            if (c == '\0')
                break;
            start = i + 1;
        }
    }
    for (i = 0; i < inv->nnodes; i++)
        if ((!any_inc || inc[i]) && !exc[i])
            count++;
    if (count == 0 && inv->nnodes > 0) {
        r = af_err_set(e, AF_EINPUT, "--limit: '%s' selects no node", limit);
        goto out;
    }
    if (count > 0) {
        *idx = af_reallocarray(NULL, count, sizeof(**idx));
        for (i = 0; i < inv->nnodes; i++)
            if ((!any_inc || inc[i]) && !exc[i])
                (*idx)[(*n)++] = i;
    }
    r = 0;
out:
    free(term);
    free(inc);
    free(exc);
    return r;
}
