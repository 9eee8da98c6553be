/* SPDX-License-Identifier: MIT */
/*
 * NPU device-network address plan: parse the inventory's `hccn:` section and
 * per-host overrides, allocate one address per node x NPU from the node's
 * inventory index (never from a --limit selection, never from the nodes
 * after it), and validate the whole cluster, collecting every error rather
 * than stopping at the first. Also the plan-versus-node verdict. Parsing
 * the section and overrides is in hccn-parse.c, the HCCL rank table in
 * hccn-rank.c. IPv4 only; this module talks to no node.
 */
#include "hccn.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "af-buf.h"
#include "af-err.h"
#include "af-mem.h"
#include "af-yaml.h"
#include "hccn-internal.h"
#include "inv.h"

static void errlist_vadd(struct errlist *l,
                         const char *file,
                         const struct af_ynode *at,
                         const char *fmt,
                         va_list ap) __attribute__((format(printf, 4, 0)));

static void
errlist_vadd(struct errlist *l,
             const char *file,
             const struct af_ynode *at,
             const char *fmt,
             va_list ap)
{
    char msg[512];
    int off = 0;

    if (l->n >= HCCN_MAX_ERRORS) {
        l->dropped++;
        return;
    }
    if (at != NULL)
        off = snprintf(msg, sizeof(msg), "%s:%d:%d: ", file ? file : "?",
                       at->line, at->col);
    if (off < 0 || (size_t)off >= sizeof(msg))
        off = 0;
    vsnprintf(msg + off, sizeof(msg) - (size_t)off, fmt, ap);
    l->v = af_reallocarray(l->v, l->n + 1, sizeof(*l->v));
    l->v[l->n++] = af_strdup(msg);
}

void
hccn__errlist_add(struct errlist *l,
                  const char *file,
                  const struct af_ynode *at,
                  const char *fmt,
                  ...)
{
    va_list ap;

    va_start(ap, fmt);
    errlist_vadd(l, file, at, fmt, ap);
    va_end(ap);
}

static void
errlist_free(struct errlist *l)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

void
hccn__sect_err(struct hccn__ctx *c,
               const struct af_ynode *at,
               const char *fmt,
               ...)
{
    va_list ap;

    va_start(ap, fmt);
    errlist_vadd(&c->sect, c->path, at, fmt, ap);
    va_end(ap);
}

const char *
hccn__node_file(const struct hccn__ctx *c, const struct inv_node *node)
{
    return node->file != NULL ? node->file : c->path;
}

/* Node-level error, positioned at a YAML item when at is not NULL. */
void
hccn__node_err(struct hccn__ctx *c,
               const struct inv_node *node,
               const struct af_ynode *at,
               const char *fmt,
               ...)
{
    va_list ap;

    va_start(ap, fmt);
    errlist_vadd(&c->nodes, hccn__node_file(c, node), at, fmt, ap);
    va_end(ap);
}

/* ---- IPv4 helpers ---- */

int
hccn__ip_parse(const char *s, uint32_t *out)
{
    struct in_addr a;

    /* inet_pton takes exactly dotted decimal, no leading zeros (POSIX). */
    if (s == NULL || inet_pton(AF_INET, s, &a) != 1)
        return -1;
    *out = ntohl(a.s_addr);
    return 0;
}

void
hccn__ip_str(uint32_t a, char out[16])
{
    snprintf(out, 16, "%u.%u.%u.%u", (unsigned)(a >> 24) & 255u,
             (unsigned)(a >> 16) & 255u, (unsigned)(a >> 8) & 255u,
             (unsigned)a & 255u);
}

uint32_t
hccn__prefix_mask(int prefix)
{
    return prefix <= 0 ? 0u : 0xffffffffu << (32 - prefix);
}

/* Prefix length of a contiguous netmask, or -1 when it is not one. */
int
hccn__mask_prefix(uint32_t m)
{
    uint32_t inv = ~m;
    int p = 0;

    if ((inv & (inv + 1u)) != 0)
        return -1;
    while (p < 32 && (m & (0x80000000u >> p)) != 0)
        p++;
    return p;
}

void
hccn__cidr_str(uint32_t net, int prefix, char out[20])
{
    char ip[16];

    hccn__ip_str(net, ip);
    snprintf(out, 20, "%s/%d", ip, prefix);
}

uint32_t
hccn__bcast(uint32_t net, uint32_t mask)
{
    return net | ~mask;
}

/* ---- allocation ---- */

static void
ent_add(struct hccn__ctx *c,
        uint32_t ip,
        enum ent_kind kind,
        long long node,
        int npu)
{
    if (c->nents == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 256;
        c->ents = af_reallocarray(c->ents, c->cap, sizeof(*c->ents));
    }
    c->ents[c->nents].ip = ip;
    c->ents[c->nents].kind = kind;
    c->ents[c->nents].node = node;
    c->ents[c->nents].npu = npu;
    c->nents++;
}

/*
 * The generated address of node n's NPU i on its plane (out->plane) from
 * first_host, group_step and node_step at the node's slot. Returns 0, or
 * -1 with a node error when it falls outside the plane's subnet.
 */
static int
gen_addr(struct hccn__ctx *c,
         size_t n,
         int i,
         long long slot,
         struct hccn_addr *out,
         uint32_t *addr)
{
    const struct inv_node *node = &c->inv->nodes[n];
    const struct plane *pl = &c->planes[out->plane];
    char cidr[20];
    long long off = c->first_host +
                    c->group_step * (long long)((size_t)i / c->nplanes) +
                    c->node_step * slot;
    long long size = 1LL << (32 - pl->prefix);

    /* The hint names the first node the formula cannot place. */
    if ((off <= 0 || off >= size - 1) && c->planes[out->plane].first_bad < 0)
        c->planes[out->plane].first_bad = (long long)n;
    if (off < 0 || off >= size) {
        hccn__cidr_str(pl->net, pl->prefix, cidr);
        hccn__node_err(c, node, NULL,
                       "%s NPU %d: host number %lld is outside its subnet %s "
                       "(plane %d)",
                       node->name, i, off, cidr, out->plane);
        return -1;
    }
    *addr = pl->net + (uint32_t)off;
    return 0;
}

static void
alloc_node(struct hccn__ctx *c, size_t n)
{
    const struct inv_node *node = &c->inv->nodes[n];
    const char *name = node->name;
    struct override ov;
    char a[16], cidr[20];
    long long slot;
    int i;

    if (hccn__parse_override(c, node, &ov) != 0)
        return;
    if (c->layout == LAYOUT_EXPLICIT && !ov.has_dev) {
        hccn__node_err(
            c, node, node->hccn,
            "%s: layout explicit needs device_ips (%d addresses) in the "
            "host's hccn",
            name, c->npus);
        return;
    }
    if (c->nplanes == 0 && !ov.has_mask && !c->has_mask) {
        hccn__node_err(c, node, node->hccn, "%s: no netmask (set hccn netmask)",
                       name);
        return;
    }
    slot = ov.has_slot ? ov.slot : (long long)n;
    for (i = 0; i < c->npus; i++) {
        struct hccn_addr *out =
            &c->plan->addrs[n * (size_t)c->npus + (size_t)i];
        const struct plane *pl = NULL;
        const struct af_ynode *at = NULL;
        uint32_t addr, mask, net;
        int prefix;

        out->plane = -1;
        if (c->nplanes > 0) {
            out->plane = (int)((size_t)i % c->nplanes);
            pl = &c->planes[out->plane];
        }
        mask = pl ? pl->mask : c->mask;
        if (ov.has_mask) {
            if (pl != NULL && ov.mask != pl->mask) {
                char m[16];

                hccn__ip_str(ov.mask, m);
                hccn__cidr_str(pl->net, pl->prefix, cidr);
                hccn__node_err(
                    c, node, node->hccn,
                    "%s NPU %d: netmask %s disagrees with plane %d subnet "
                    "%s",
                    name, i, m, out->plane, cidr);
                continue;
            }
            mask = ov.mask;
        }
        prefix = hccn__mask_prefix(mask);
        if (ov.has_dev) {
            addr = ov.dev[i];
            at = ov.dev_at[i];
            out->pinned = 1;
        } else if (gen_addr(c, n, i, slot, out, &addr) != 0) {
            continue;
        }
        hccn__ip_str(addr, a);
        net = pl ? pl->net : (addr & mask);
        hccn__cidr_str(net, pl ? pl->prefix : prefix, cidr);
        if ((addr & mask) != net) {
            hccn__node_err(c, node, at,
                           "%s NPU %d: %s is outside its subnet %s (plane %d)",
                           name, i, a, cidr, out->plane);
            continue;
        }
        if (addr == net || addr == hccn__bcast(net, mask)) {
            hccn__node_err(c, node, at, "%s NPU %d: %s is the %s address of %s",
                           name, i, a, addr == net ? "network" : "broadcast",
                           cidr);
            continue;
        }
        snprintf(out->address, sizeof(out->address), "%s", a);
        hccn__ip_str(mask, out->netmask);
        ent_add(c, addr, ENT_ADDR, (long long)n, i);

        if (ov.has_gw) {
            uint32_t g = ov.gw[i];
            char gs[16];

            hccn__ip_str(g, gs);
            if ((g & mask) != net || g == net || g == hccn__bcast(net, mask)) {
                hccn__node_err(c, node, ov.gw_at[i],
                               "%s NPU %d: gateway %s is %s %s", name, i, gs,
                               (g & mask) != net ? "outside"
                                                 : "not a host address of",
                               cidr);
            } else {
                snprintf(out->gateway, sizeof(out->gateway), "%s", gs);
                ent_add(c, g, ENT_GW, (long long)n, i);
            }
        } else if (pl != NULL && pl->has_gw) {
            hccn__ip_str(pl->gw, out->gateway);
        }
        if (ov.has_detect) {
            hccn__ip_str(ov.detect[i], out->detect);
            ent_add(c, ov.detect[i], ENT_DETECT, (long long)n, i);
        } else if (pl != NULL && pl->has_detect) {
            hccn__ip_str(pl->detect, out->detect);
        }
    }
}

/* Per plane: can its subnet hold every node at all, and where does the
 * formula run out of it. */
static void
check_capacity(struct hccn__ctx *c)
{
    size_t p, i;

    for (p = 0; p < c->nplanes; p++) {
        const struct plane *pl = &c->planes[p];
        long long usable = (1LL << (32 - pl->prefix)) - 2;
        long long need, per_node = 0;
        char cidr[20];

        hccn__cidr_str(pl->net, pl->prefix, cidr);
        if (pl->has_gw)
            usable--;
        if (pl->has_detect && (pl->detect & pl->mask) == pl->net &&
            (!pl->has_gw || pl->detect != pl->gw))
            usable--;
        for (i = p; i < (size_t)c->npus; i += c->nplanes)
            per_node++;
        need = per_node * (long long)c->inv->nnodes;
        if (need > usable)
            hccn__sect_err(
                c, NULL,
                "plane %zu subnet %s holds at most %lld addresses, %zu "
                "nodes need %lld",
                p, cidr, usable, c->inv->nnodes, need);
        if (pl->first_bad >= 0)
            hccn__sect_err(
                c, NULL,
                "plane %zu subnet %s: first_host %lld, group_step %lld, "
                "node_step %lld run out of the subnet at node %lld (%s); "
                "change first_host or node_step, or widen the subnet",
                p, cidr, c->first_host, c->group_step, c->node_step,
                pl->first_bad, c->inv->nodes[pl->first_bad].name);
    }
}

static int
ent_cmp(const void *x, const void *y)
{
    const struct ent *a = x, *b = y;

    if (a->ip != b->ip)
        return a->ip < b->ip ? -1 : 1;
    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    if (a->node != b->node)
        return a->node < b->node ? -1 : 1;
    return a->npu < b->npu ? -1 : a->npu > b->npu;
}

static void
ent_describe(const struct hccn__ctx *c,
             const struct ent *t,
             char *buf,
             size_t len)
{
    const char *what = t->kind == ENT_GW ? "gateway" : "detect IP";

    if (t->node < 0)
        snprintf(buf, len, "the %s of plane %d", what, t->npu);
    else
        snprintf(buf, len, "the %s of %s NPU %d", what,
                 c->inv->nodes[t->node].name, t->npu);
}

static void
check_collisions(struct hccn__ctx *c)
{
    size_t s = 0, e, k;
    char a[16], other[200];

    if (c->nents > 1) /* no entries: c->ents is NULL */
        qsort(c->ents, c->nents, sizeof(*c->ents), ent_cmp);
    while (s < c->nents) {
        const struct ent *first = &c->ents[s], *infra = NULL;

        for (e = s + 1; e < c->nents && c->ents[e].ip == first->ip; e++)
            ;
        for (k = s; k < e; k++)
            if (c->ents[k].kind != ENT_ADDR) {
                infra = &c->ents[k];
                break;
            }
        hccn__ip_str(first->ip, a);
        for (k = s; k < e && c->ents[k].kind == ENT_ADDR; k++) {
            const struct ent *t = &c->ents[k];
            const char *name = c->inv->nodes[t->node].name;

            if (k > s)
                hccn__errlist_add(
                    &c->coll, NULL, NULL,
                    "%s NPU %d: %s is also the address of %s NPU %d", name,
                    t->npu, a, c->inv->nodes[first->node].name, first->npu);
            if (infra != NULL) {
                ent_describe(c, infra, other, sizeof(other));
                hccn__errlist_add(&c->coll, NULL, NULL,
                                  "%s NPU %d: %s is also %s", name, t->npu, a,
                                  other);
            }
        }
        s = e;
    }
}

static void
merge(struct hccn_plan *plan, struct errlist *l)
{
    size_t i;

    for (i = 0; i < l->n; i++) {
        if (plan->nerrors < HCCN_MAX_ERRORS) {
            plan->errors = af_reallocarray(plan->errors, plan->nerrors + 1,
                                           sizeof(*plan->errors));
            plan->errors[plan->nerrors++] = l->v[i];
        } else {
            free(l->v[i]);
            l->dropped++;
        }
    }
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

int
hccn_plan_build(const struct inv *inv, struct hccn_plan **out, struct af_err *e)
{
    struct hccn__ctx c;
    struct hccn_plan *plan = NULL;
    size_t n, dropped;
    int r = AF_EINTERNAL;

    memset(&c, 0, sizeof(c));
    *out = NULL;
    c.inv = inv;
    c.path = inv->path != NULL ? inv->path : "inventory";
    if (inv->hccn == NULL) {
        r = af_err_set(e, AF_ENOTFOUND, "%s: no hccn section", c.path);
        goto out;
    }
    plan = af_calloc(1, sizeof(*plan));
    c.plan = plan;
    plan->nnodes = inv->nnodes;

    if (hccn__parse_section(&c, inv->hccn) == 0) {
        if (c.nplanes > 0 && inv->nnodes > 0)
            plan->npus = c.npus;
        plan->npus = c.npus;
        plan->addrs = af_calloc(inv->nnodes ? inv->nnodes : 1,
                                (size_t)c.npus * sizeof(*plan->addrs));
        for (n = 0; n < inv->nnodes * (size_t)c.npus; n++)
            plan->addrs[n].plane = -1;
        for (n = 0; n < c.nplanes; n++) {
            if (c.planes[n].has_gw)
                ent_add(&c, c.planes[n].gw, ENT_GW, -1, (int)n);
            if (c.planes[n].has_detect)
                ent_add(&c, c.planes[n].detect, ENT_DETECT, -1, (int)n);
        }
        for (n = 0; n < inv->nnodes; n++)
            alloc_node(&c, n);
        check_capacity(&c);
        check_collisions(&c);
    }

    merge(plan, &c.sect);
    merge(plan, &c.nodes);
    merge(plan, &c.coll);
    dropped = c.sect.dropped + c.nodes.dropped + c.coll.dropped;
    if (dropped > 0) {
        plan->errors = af_reallocarray(plan->errors, plan->nerrors + 1,
                                       sizeof(*plan->errors));
        plan->errors[plan->nerrors++] =
            af_asprintf("... and %zu more errors", dropped);
    }
    *out = plan;
    if (plan->nerrors > 0) {
        r = af_err_set(e, AF_EINPUT, "%s", plan->errors[0]);
        goto out;
    }
    r = 0;
out:
    errlist_free(&c.sect);
    errlist_free(&c.nodes);
    errlist_free(&c.coll);
    free(c.planes);
    free(c.ents);
    return r;
}

void
hccn_plan_free(struct hccn_plan *plan)
{
    size_t i;

    if (plan == NULL)
        return;
    for (i = 0; i < plan->nerrors; i++)
        free(plan->errors[i]);
    free(plan->errors);
    free(plan->addrs);
    free(plan);
}

int
hccn_plan_valid(const struct hccn_plan *plan)
{
    return plan != NULL && plan->nerrors == 0 && plan->addrs != NULL;
}

const char *const *
hccn_plan_errors(const struct hccn_plan *plan, size_t *n)
{
    *n = plan->nerrors;
    return (const char *const *)plan->errors;
}

size_t
hccn_plan_npus(const struct hccn_plan *plan)
{
    return (size_t)plan->npus;
}

size_t
hccn_plan_nodes(const struct hccn_plan *plan)
{
    return plan->nnodes;
}

const struct hccn_addr *
hccn_plan_get(const struct hccn_plan *plan, size_t node_index, int npu)
{
    if (plan == NULL || plan->addrs == NULL || node_index >= plan->nnodes ||
        npu < 0 || npu >= plan->npus)
        return NULL;
    return &plan->addrs[node_index * (size_t)plan->npus + (size_t)npu];
}

enum hccn_diff
hccn_plan_diff(const struct hccn_addr *want,
               const char *cur_address,
               const char *cur_netmask)
{
    uint32_t have, w, hm, wm;

    if (cur_address == NULL || *cur_address == '\0')
        return HCCN_SET;
    if (hccn__ip_parse(cur_address, &have) != 0)
        return HCCN_CHANGE;
    if (have == 0)
        return HCCN_SET;
    if (hccn__ip_parse(want->address, &w) != 0 || w != have)
        return HCCN_CHANGE;
    if (cur_netmask == NULL || *cur_netmask == '\0')
        return HCCN_SAME;
    if (hccn__ip_parse(cur_netmask, &hm) != 0 ||
        hccn__ip_parse(want->netmask, &wm) != 0 || hm != wm)
        return HCCN_CHANGE;
    return HCCN_SAME;
}

const char *
hccn_diff_str(enum hccn_diff d)
{
    switch (d) {
    case HCCN_SAME:
        return "same";
    case HCCN_SET:
        return "set";
    case HCCN_CHANGE:
        return "change";
    }
    return "?";
}
