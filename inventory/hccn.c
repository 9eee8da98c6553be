/* SPDX-License-Identifier: MIT */
/*
 * NPU device-network address plan: parse the inventory's `hccn:` section and
 * per-host overrides, allocate one address per node x NPU from the node's
 * inventory index (never from a --limit selection, never from the nodes
 * after it), and validate the whole cluster, collecting every error rather
 * than stopping at the first. Also the plan-versus-node verdict and the HCCL
 * rank table. IPv4 only; this file talks to no node.
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
#include "inv.h"

#define HCCN_MAX_SERVER_ID 64

enum layout {
    LAYOUT_PLANES,
    LAYOUT_SINGLE,
    LAYOUT_EXPLICIT,
};

struct plane {
    uint32_t net;
    uint32_t mask;
    int prefix;
    int has_gw;
    int has_detect;
    uint32_t gw;
    uint32_t detect;
    long long first_bad; /* first node whose generated address falls out */
};

/* A list of messages with its own cap, so a flood of node errors cannot
 * push the section errors that explain them out of the report. */
struct errlist {
    char **v;
    size_t n;
    size_t dropped;
};

struct hccn_plan {
    size_t nnodes;
    int npus;
    struct hccn_addr *addrs; /* nnodes * npus */
    char **errors;
    size_t nerrors;
};

/* One address in the cluster-wide collision table. */
enum ent_kind {
    ENT_ADDR,
    ENT_GW,
    ENT_DETECT,
};

struct ent {
    uint32_t ip;
    enum ent_kind kind;
    long long node; /* -1: a plane's own gateway or detect IP */
    int npu;        /* NPU index, or the plane index when node is -1 */
};

/* A host's own `hccn:` mapping, parsed. */
struct override {
    int has_dev;
    int has_detect;
    int has_gw;
    int has_mask;
    int has_slot;
    uint32_t dev[HCCN_MAX_NPUS];
    uint32_t detect[HCCN_MAX_NPUS];
    uint32_t gw[HCCN_MAX_NPUS];
    const struct af_ynode *dev_at[HCCN_MAX_NPUS];
    const struct af_ynode *gw_at[HCCN_MAX_NPUS];
    uint32_t mask;
    long long slot;
};

struct ctx {
    const struct inv *inv;
    struct hccn_plan *plan;
    const char *path;
    struct errlist sect;
    struct errlist nodes;
    struct errlist coll;
    enum layout layout;
    int npus;
    int has_mask;
    uint32_t mask;
    struct plane *planes;
    size_t nplanes;
    long long first_host;
    long long group_step;
    long long node_step;
    struct ent *ents;
    size_t nents;
    size_t cap;
};

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

static void errlist_add(struct errlist *l,
                        const char *file,
                        const struct af_ynode *at,
                        const char *fmt,
                        ...) __attribute__((format(printf, 4, 5)));

static void
errlist_add(struct errlist *l,
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

/* Section-level error at a YAML item of the inventory file. */
static void
sect_err(struct ctx *c, const struct af_ynode *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
sect_err(struct ctx *c, const struct af_ynode *at, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    errlist_vadd(&c->sect, c->path, at, fmt, ap);
    va_end(ap);
}

static const char *
node_file(const struct ctx *c, const struct inv_node *node)
{
    return node->file != NULL ? node->file : c->path;
}

/* Node-level error, positioned at a YAML item when at is not NULL. */
static void node_err(struct ctx *c,
                     const struct inv_node *node,
                     const struct af_ynode *at,
                     const char *fmt,
                     ...) __attribute__((format(printf, 4, 5)));

static void
node_err(struct ctx *c,
         const struct inv_node *node,
         const struct af_ynode *at,
         const char *fmt,
         ...)
{
    va_list ap;

    va_start(ap, fmt);
    errlist_vadd(&c->nodes, node_file(c, node), at, fmt, ap);
    va_end(ap);
}

/* ---- IPv4 helpers ---- */

static int
ip_parse(const char *s, uint32_t *out)
{
    struct in_addr a;

    /* inet_pton takes exactly dotted decimal, no leading zeros (POSIX). */
    if (s == NULL || inet_pton(AF_INET, s, &a) != 1)
        return -1;
    *out = ntohl(a.s_addr);
    return 0;
}

static void
ip_str(uint32_t a, char out[16])
{
    snprintf(out, 16, "%u.%u.%u.%u", (unsigned)(a >> 24) & 255u,
             (unsigned)(a >> 16) & 255u, (unsigned)(a >> 8) & 255u,
             (unsigned)a & 255u);
}

static uint32_t
prefix_mask(int prefix)
{
    return prefix <= 0 ? 0u : 0xffffffffu << (32 - prefix);
}

/* Prefix length of a contiguous netmask, or -1 when it is not one. */
static int
mask_prefix(uint32_t m)
{
    uint32_t inv = ~m;
    int p = 0;

    if ((inv & (inv + 1u)) != 0)
        return -1;
    while (p < 32 && (m & (0x80000000u >> p)) != 0)
        p++;
    return p;
}

static void
cidr_str(uint32_t net, int prefix, char out[20])
{
    char ip[16];

    ip_str(net, ip);
    snprintf(out, 20, "%s/%d", ip, prefix);
}

static uint32_t
bcast(uint32_t net, uint32_t mask)
{
    return net | ~mask;
}

/* ---- YAML helpers ---- */

static const char *
scalar(const char *file,
       const struct af_ynode *v,
       const char *what,
       struct errlist *l)
{
    if (v->type != AF_YSCALAR) {
        errlist_add(l, file, v, "%s: expected a single value", what);
        return NULL;
    }
    return v->scalar;
}

static int
parse_ll(const char *s, long long *out)
{
    char *end;
    long long v;

    if (s == NULL || *s == '\0')
        return -1;
    v = strtoll(s, &end, 10);
    if (*end != '\0' || v < -4294967296LL || v > 4294967296LL)
        return -1;
    *out = v;
    return 0;
}

/* Parse a netmask value, reporting into l; 0 on success. */
static int
parse_mask(const char *file,
           const struct af_ynode *v,
           const char *what,
           struct errlist *l,
           uint32_t *mask)
{
    const char *s = scalar(file, v, what, l);
    int p;

    if (s == NULL)
        return -1;
    if (ip_parse(s, mask) != 0 || (p = mask_prefix(*mask)) < 0) {
        errlist_add(l, file, v, "%s: '%s' is not a netmask", what, s);
        return -1;
    }
    if (p < 1 || p > 30) {
        errlist_add(l, file, v,
                    "%s: netmask %s (/%d) leaves no room for NPU addresses",
                    what, s, p);
        return -1;
    }
    return 0;
}

static int
parse_ip(const char *file,
         const struct af_ynode *v,
         const char *what,
         struct errlist *l,
         uint32_t *ip)
{
    const char *s = scalar(file, v, what, l);

    if (s == NULL)
        return -1;
    if (ip_parse(s, ip) != 0) {
        errlist_add(l, file, v, "%s: '%s' is not an IPv4 address", what, s);
        return -1;
    }
    return 0;
}

/* ---- the section ---- */

static int
parse_subnet(struct ctx *c,
             const struct af_ynode *v,
             size_t idx,
             struct plane *pl)
{
    char what[48], buf[64], want[20];
    const char *s, *slash;
    long long prefix;

    snprintf(what, sizeof(what), "hccn plane %zu subnet", idx);
    if ((s = scalar(c->path, v, what, &c->sect)) == NULL)
        return -1;
    slash = strchr(s, '/');
    if (strlen(s) >= sizeof(buf)) {
        sect_err(c, v, "%s: '%s' is not ADDRESS/PREFIX", what, s);
        return -1;
    }
    strcpy(buf, s);
    if (slash != NULL)
        buf[slash - s] = '\0';
    if (ip_parse(buf, &pl->net) != 0) {
        sect_err(c, v, "%s: '%s' is not ADDRESS/PREFIX", what, s);
        return -1;
    }
    if (slash != NULL) {
        if (parse_ll(slash + 1, &prefix) != 0 || prefix < 0 || prefix > 32) {
            sect_err(c, v, "%s: '%s' has a bad prefix length", what, s);
            return -1;
        }
        if (prefix < 1 || prefix > 30) {
            sect_err(c, v, "%s: /%lld leaves no room for NPU addresses", what,
                     prefix);
            return -1;
        }
        pl->prefix = (int)prefix;
        pl->mask = prefix_mask(pl->prefix);
        if (c->has_mask && c->mask != pl->mask) {
            char m[16];

            ip_str(c->mask, m);
            sect_err(c, v, "%s: %s disagrees with netmask %s", what, s, m);
            return -1;
        }
    } else if (c->has_mask) {
        pl->mask = c->mask;
        pl->prefix = mask_prefix(c->mask);
    } else {
        sect_err(c, v, "%s: '%s' needs a /PREFIX or a hccn netmask", what, s);
        return -1;
    }
    if ((pl->net & ~pl->mask) != 0) {
        cidr_str(pl->net & pl->mask, pl->prefix, want);
        sect_err(c, v, "%s: %s is not a network address (did you mean %s?)",
                 what, s, want);
        return -1;
    }
    return 0;
}

/* Check a gateway or detect IP of a plane against the plane's subnet. */
static int
check_plane_ip(struct ctx *c,
               const struct af_ynode *v,
               size_t idx,
               const struct plane *pl,
               const char *kind,
               uint32_t ip,
               int must_be_inside)
{
    char s[16], cidr[20];

    ip_str(ip, s);
    cidr_str(pl->net, pl->prefix, cidr);
    if ((ip & pl->mask) != pl->net) {
        if (!must_be_inside)
            return 0;
        sect_err(c, v, "hccn plane %zu: %s %s is outside its subnet %s", idx,
                 kind, s, cidr);
        return -1;
    }
    if (ip == pl->net || ip == bcast(pl->net, pl->mask)) {
        sect_err(c, v, "hccn plane %zu: %s %s is the %s address of %s", idx,
                 kind, s, ip == pl->net ? "network" : "broadcast", cidr);
        return -1;
    }
    return 0;
}

/* A plane from its subnet, gateway and detect items (the last two may be
 * NULL); at positions errors about the plane as a whole. */
static int
plane_from(struct ctx *c,
           size_t idx,
           const struct af_ynode *sub,
           const struct af_ynode *gw,
           const struct af_ynode *det,
           struct plane *pl)
{
    char what[48];
    int r = 0;

    memset(pl, 0, sizeof(*pl));
    pl->first_bad = -1;
    if (parse_subnet(c, sub, idx, pl) != 0)
        return -1;
    if (gw != NULL) {
        snprintf(what, sizeof(what), "hccn plane %zu gateway", idx);
        if (parse_ip(c->path, gw, what, &c->sect, &pl->gw) != 0 ||
            check_plane_ip(c, gw, idx, pl, "gateway", pl->gw, 1) != 0)
            r = -1;
        else
            pl->has_gw = 1;
    }
    if (det != NULL) {
        snprintf(what, sizeof(what), "hccn plane %zu detect", idx);
        if (parse_ip(c->path, det, what, &c->sect, &pl->detect) != 0 ||
            check_plane_ip(c, det, idx, pl, "detect IP", pl->detect, 0) != 0)
            r = -1;
        else
            pl->has_detect = 1;
    }
    return r;
}

/* A plane from a mapping {subnet, gateway, detect} or a bare subnet. */
static int
parse_plane(struct ctx *c,
            const struct af_ynode *item,
            size_t idx,
            struct plane *pl)
{
    const struct af_ynode *sub = item, *gw = NULL, *det = NULL;
    size_t k;
    int r = 0;

    if (item->type == AF_YMAP) {
        sub = NULL;
        for (k = 0; k < item->n; k++) {
            const char *key = item->keys[k]->scalar;

            if (strcmp(key, "subnet") == 0)
                sub = item->vals[k];
            else if (strcmp(key, "gateway") == 0)
                gw = item->vals[k];
            else if (strcmp(key, "detect") == 0)
                det = item->vals[k];
            else {
                sect_err(c, item->keys[k],
                         "hccn plane %zu: unknown key '%s' (expected subnet, "
                         "gateway, detect)",
                         idx, key);
                r = -1;
            }
        }
        if (sub == NULL) {
            sect_err(c, item, "hccn plane %zu: missing subnet", idx);
            return -1;
        }
    } else if (item->type != AF_YSCALAR) {
        sect_err(c, item, "hccn plane %zu: expected a mapping or a subnet",
                 idx);
        return -1;
    }
    if (plane_from(c, idx, sub, gw, det, pl) != 0)
        r = -1;
    return r;
}

static int
parse_int_key(struct ctx *c,
              const struct af_ynode *v,
              const char *key,
              long long lo,
              long long hi,
              long long *out)
{
    const char *s = scalar(c->path, v, key, &c->sect);

    if (s == NULL)
        return -1;
    if (parse_ll(s, out) != 0 || *out < lo || *out > hi) {
        sect_err(c, v, "hccn %s: '%s' is not an integer in %lld..%lld", key, s,
                 lo, hi);
        return -1;
    }
    return 0;
}

static int
parse_section(struct ctx *c, const struct af_ynode *sec)
{
    const struct af_ynode *layout = NULL, *npus = NULL, *mask = NULL;
    const struct af_ynode *planes = NULL, *subnet = NULL, *gw = NULL;
    const struct af_ynode *det = NULL, *first = NULL, *gstep = NULL;
    const struct af_ynode *nstep = NULL;
    long long v;
    size_t k, q;
    int r = 0;

    if (sec->type != AF_YMAP) {
        sect_err(c, sec, "hccn: expected a mapping");
        return -1;
    }
    for (k = 0; k < sec->n; k++) {
        const char *key = sec->keys[k]->scalar;
        const struct af_ynode *val = sec->vals[k];

        if (strcmp(key, "layout") == 0)
            layout = val;
        else if (strcmp(key, "npus") == 0)
            npus = val;
        else if (strcmp(key, "netmask") == 0)
            mask = val;
        else if (strcmp(key, "planes") == 0)
            planes = val;
        else if (strcmp(key, "subnet") == 0)
            subnet = val;
        else if (strcmp(key, "gateway") == 0)
            gw = val;
        else if (strcmp(key, "detect") == 0)
            det = val;
        else if (strcmp(key, "first_host") == 0)
            first = val;
        else if (strcmp(key, "group_step") == 0)
            gstep = val;
        else if (strcmp(key, "node_step") == 0)
            nstep = val;
        else {
            sect_err(c, sec->keys[k], "hccn: unknown key '%s'", key);
            r = -1;
        }
    }

    c->npus = 8;
    if (npus != NULL) {
        if (parse_int_key(c, npus, "npus", 1, HCCN_MAX_NPUS, &v) != 0)
            return -1;
        c->npus = (int)v;
    }
    if (mask != NULL) {
        if (parse_mask(c->path, mask, "hccn netmask", &c->sect, &c->mask) != 0)
            return -1;
        c->has_mask = 1;
    }

    if (layout != NULL) {
        const char *s = scalar(c->path, layout, "hccn layout", &c->sect);

        if (s == NULL)
            return -1;
        if (strcmp(s, "planes") == 0)
            c->layout = LAYOUT_PLANES;
        else if (strcmp(s, "single-subnet") == 0)
            c->layout = LAYOUT_SINGLE;
        else if (strcmp(s, "explicit") == 0)
            c->layout = LAYOUT_EXPLICIT;
        else {
            sect_err(c, layout,
                     "hccn layout: '%s' is not one of planes, single-subnet, "
                     "explicit",
                     s);
            return -1;
        }
    } else if (planes != NULL) {
        c->layout = LAYOUT_PLANES;
    } else if (subnet != NULL) {
        c->layout = LAYOUT_SINGLE;
    } else {
        c->layout = LAYOUT_EXPLICIT;
    }

    if (planes != NULL && (subnet != NULL || gw != NULL || det != NULL)) {
        const struct af_ynode *at = subnet ? subnet : gw ? gw : det;

        sect_err(c, at,
                 "hccn: subnet, gateway and detect go inside each plane when "
                 "planes is given");
        return -1;
    }
    if (subnet == NULL && (gw != NULL || det != NULL)) {
        sect_err(c, gw ? gw : det, "hccn: gateway and detect need a subnet");
        return -1;
    }
    if (c->layout == LAYOUT_PLANES && planes == NULL) {
        sect_err(c, layout ? layout : sec, "hccn layout planes needs planes");
        return -1;
    }
    if (c->layout == LAYOUT_SINGLE && subnet == NULL &&
        (planes == NULL || planes->type != AF_YSEQ || planes->n != 1)) {
        sect_err(c, layout ? layout : sec,
                 "hccn layout single-subnet needs subnet (or exactly one "
                 "plane)");
        return -1;
    }
    if (c->layout == LAYOUT_EXPLICIT && (first || gstep || nstep)) {
        const struct af_ynode *at = first ? first : gstep ? gstep : nstep;

        sect_err(c, at,
                 "hccn: first_host, group_step and node_step have no effect "
                 "with layout explicit");
        return -1;
    }

    if (planes != NULL) {
        if (planes->type != AF_YSEQ || planes->n == 0) {
            sect_err(c, planes, "hccn planes: expected a list of planes");
            return -1;
        }
        if (planes->n > (size_t)c->npus) {
            sect_err(c, planes, "hccn planes: %zu planes for %d NPUs per node",
                     planes->n, c->npus);
            return -1;
        }
        c->nplanes = planes->n;
        c->planes = af_calloc(c->nplanes, sizeof(*c->planes));
        for (k = 0; k < planes->n; k++)
            if (parse_plane(c, planes->items[k], k, &c->planes[k]) != 0)
                r = -1;
    } else if (subnet != NULL) {
        /* single-subnet (or explicit) with a top-level subnet: one plane. */
        c->nplanes = 1;
        c->planes = af_calloc(1, sizeof(*c->planes));
        if (plane_from(c, 0, subnet, gw, det, &c->planes[0]) != 0)
            r = -1;
    }
    if (r != 0)
        return -1;

    for (k = 0; k < c->nplanes; k++)
        for (q = 0; q < k; q++) {
            const struct plane *a = &c->planes[q], *b = &c->planes[k];

            if ((a->net & b->mask) == b->net || (b->net & a->mask) == a->net) {
                char ca[20], cb[20];

                cidr_str(a->net, a->prefix, ca);
                cidr_str(b->net, b->prefix, cb);
                sect_err(c, planes ? planes->items[k] : planes,
                         "hccn plane %zu subnet %s overlaps plane %zu subnet "
                         "%s",
                         k, cb, q, ca);
                r = -1;
            }
        }
    if (c->layout != LAYOUT_EXPLICIT) {
        long long groups =
            (c->npus + (long long)c->nplanes - 1) / (long long)c->nplanes;

        c->first_host = c->layout == LAYOUT_PLANES ? 101 : 2;
        c->group_step = c->layout == LAYOUT_PLANES ? -1 : 1;
        if (first != NULL && parse_int_key(c, first, "first_host", 0,
                                           4294967295LL, &c->first_host) != 0)
            r = -1;
        if (gstep != NULL && parse_int_key(c, gstep, "group_step", -65536,
                                           65536, &c->group_step) != 0)
            r = -1;
        c->node_step = groups * llabs(c->group_step);
        if (c->node_step == 0)
            c->node_step = groups;
        if (nstep != NULL && parse_int_key(c, nstep, "node_step", -16777216,
                                           16777216, &c->node_step) != 0)
            r = -1;
    }
    return r;
}

/* ---- per-host overrides ---- */

/* A list of npus addresses: a YAML list, or one comma-separated string as
 * the vendor deployer's deviceip=... */
static int
parse_ip_list(struct ctx *c,
              const struct inv_node *node,
              const struct af_ynode *v,
              const char *key,
              uint32_t *out,
              const struct af_ynode **at)
{
    const char *file = node_file(c, node);
    char what[160];
    size_t k, n = 0;

    snprintf(what, sizeof(what), "%s hccn %s", node->name, key);
    if (v->type == AF_YSEQ) {
        if (v->n != (size_t)c->npus) {
            errlist_add(&c->nodes, file, v, "%s: %zu addresses for %d NPUs",
                        what, v->n, c->npus);
            return -1;
        }
        for (k = 0; k < v->n; k++) {
            if (parse_ip(file, v->items[k], what, &c->nodes, &out[k]) != 0)
                return -1;
            if (at != NULL)
                at[k] = v->items[k];
        }
        return 0;
    }
    if (v->type == AF_YSCALAR) {
        const char *s = v->scalar, *p = s;

        for (;;) {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            char one[64];

            while (len > 0 && *p == ' ') {
                p++;
                len--;
            }
            while (len > 0 && p[len - 1] == ' ')
                len--;
            if (n >= (size_t)c->npus || len >= sizeof(one)) {
                n = (size_t)c->npus + 1;
                break;
            }
            memcpy(one, p, len);
            one[len] = '\0';
            if (ip_parse(one, &out[n]) != 0) {
                errlist_add(&c->nodes, file, v,
                            "%s: '%s' is not an IPv4 address", what, one);
                return -1;
            }
            if (at != NULL)
                at[n] = v;
            n++;
            if (comma == NULL)
                break;
            p = comma + 1;
        }
        if (n != (size_t)c->npus) {
            errlist_add(&c->nodes, file, v,
                        "%s: expected %d comma-separated addresses", what,
                        c->npus);
            return -1;
        }
        return 0;
    }
    errlist_add(&c->nodes, file, v, "%s: expected a list of %d addresses", what,
                c->npus);
    return -1;
}

static int
parse_override(struct ctx *c, const struct inv_node *node, struct override *ov)
{
    const struct af_ynode *m = node->hccn;
    const char *file = node_file(c, node);
    char what[160];
    size_t k;
    int r = 0;

    memset(ov, 0, sizeof(*ov));
    if (m == NULL)
        return 0;
    if (m->type != AF_YMAP) {
        node_err(c, node, m, "%s hccn: expected a mapping", node->name);
        return -1;
    }
    for (k = 0; k < m->n; k++) {
        const char *key = m->keys[k]->scalar;
        const struct af_ynode *v = m->vals[k];

        if (strcmp(key, "device_ips") == 0) {
            if (parse_ip_list(c, node, v, key, ov->dev, ov->dev_at) != 0)
                r = -1;
            else
                ov->has_dev = 1;
        } else if (strcmp(key, "detect_ips") == 0) {
            if (parse_ip_list(c, node, v, key, ov->detect, NULL) != 0)
                r = -1;
            else
                ov->has_detect = 1;
        } else if (strcmp(key, "gateways") == 0) {
            if (parse_ip_list(c, node, v, key, ov->gw, ov->gw_at) != 0)
                r = -1;
            else
                ov->has_gw = 1;
        } else if (strcmp(key, "netmask") == 0) {
            snprintf(what, sizeof(what), "%s hccn netmask", node->name);
            if (parse_mask(file, v, what, &c->nodes, &ov->mask) != 0)
                r = -1;
            else
                ov->has_mask = 1;
        } else if (strcmp(key, "slot") == 0) {
            const char *s;

            snprintf(what, sizeof(what), "%s hccn slot", node->name);
            if ((s = scalar(file, v, what, &c->nodes)) == NULL)
                r = -1;
            else if (parse_ll(s, &ov->slot) != 0 || ov->slot < 0 ||
                     ov->slot > 16777216) {
                node_err(c, node, v, "%s: '%s' is not an index >= 0", what, s);
                r = -1;
            } else {
                ov->has_slot = 1;
            }
        } else {
            node_err(c, node, m->keys[k],
                     "%s hccn: unknown key '%s' (expected device_ips, "
                     "detect_ips, gateways, netmask, slot)",
                     node->name, key);
            r = -1;
        }
    }
    if (ov->has_slot && c->layout == LAYOUT_EXPLICIT) {
        node_err(c, node, m, "%s hccn: slot has no effect with layout explicit",
                 node->name);
        r = -1;
    }
    return r;
}

/* ---- allocation ---- */

static void
ent_add(struct ctx *c, uint32_t ip, enum ent_kind kind, long long node, int npu)
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

static void
alloc_node(struct ctx *c, size_t n)
{
    const struct inv_node *node = &c->inv->nodes[n];
    const char *name = node->name;
    struct override ov;
    char a[16], cidr[20];
    long long slot;
    int i;

    if (parse_override(c, node, &ov) != 0)
        return;
    if (c->layout == LAYOUT_EXPLICIT && !ov.has_dev) {
        node_err(c, node, node->hccn,
                 "%s: layout explicit needs device_ips (%d addresses) in the "
                 "host's hccn",
                 name, c->npus);
        return;
    }
    if (c->nplanes == 0 && !ov.has_mask && !c->has_mask) {
        node_err(c, node, node->hccn, "%s: no netmask (set hccn netmask)",
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

                ip_str(ov.mask, m);
                cidr_str(pl->net, pl->prefix, cidr);
                node_err(c, node, node->hccn,
                         "%s NPU %d: netmask %s disagrees with plane %d subnet "
                         "%s",
                         name, i, m, out->plane, cidr);
                continue;
            }
            mask = ov.mask;
        }
        prefix = mask_prefix(mask);
        if (ov.has_dev) {
            addr = ov.dev[i];
            at = ov.dev_at[i];
            out->pinned = 1;
        } else {
            long long off =
                c->first_host +
                c->group_step * (long long)((size_t)i / c->nplanes) +
                c->node_step * slot;
            long long size = 1LL << (32 - pl->prefix);

            /* The hint names the first node the formula cannot place. */
            if ((off <= 0 || off >= size - 1) &&
                c->planes[out->plane].first_bad < 0)
                c->planes[out->plane].first_bad = (long long)n;
            if (off < 0 || off >= size) {
                cidr_str(pl->net, pl->prefix, cidr);
                node_err(c, node, NULL,
                         "%s NPU %d: host number %lld is outside its subnet %s "
                         "(plane %d)",
                         name, i, off, cidr, out->plane);
                continue;
            }
            addr = pl->net + (uint32_t)off;
        }
        ip_str(addr, a);
        net = pl ? pl->net : (addr & mask);
        cidr_str(net, pl ? pl->prefix : prefix, cidr);
        if ((addr & mask) != net) {
            node_err(c, node, at,
                     "%s NPU %d: %s is outside its subnet %s (plane %d)", name,
                     i, a, cidr, out->plane);
            continue;
        }
        if (addr == net || addr == bcast(net, mask)) {
            node_err(c, node, at, "%s NPU %d: %s is the %s address of %s", name,
                     i, a, addr == net ? "network" : "broadcast", cidr);
            continue;
        }
        snprintf(out->address, sizeof(out->address), "%s", a);
        ip_str(mask, out->netmask);
        ent_add(c, addr, ENT_ADDR, (long long)n, i);

        if (ov.has_gw) {
            uint32_t g = ov.gw[i];
            char gs[16];

            ip_str(g, gs);
            if ((g & mask) != net || g == net || g == bcast(net, mask)) {
                node_err(c, node, ov.gw_at[i], "%s NPU %d: gateway %s is %s %s",
                         name, i, gs,
                         (g & mask) != net ? "outside"
                                           : "not a host address of",
                         cidr);
            } else {
                snprintf(out->gateway, sizeof(out->gateway), "%s", gs);
                ent_add(c, g, ENT_GW, (long long)n, i);
            }
        } else if (pl != NULL && pl->has_gw) {
            ip_str(pl->gw, out->gateway);
        }
        if (ov.has_detect) {
            ip_str(ov.detect[i], out->detect);
            ent_add(c, ov.detect[i], ENT_DETECT, (long long)n, i);
        } else if (pl != NULL && pl->has_detect) {
            ip_str(pl->detect, out->detect);
        }
    }
}

/* Per plane: can its subnet hold every node at all, and where does the
 * formula run out of it. */
static void
check_capacity(struct ctx *c)
{
    size_t p, i;

    for (p = 0; p < c->nplanes; p++) {
        const struct plane *pl = &c->planes[p];
        long long usable = (1LL << (32 - pl->prefix)) - 2;
        long long need, per_node = 0;
        char cidr[20];

        cidr_str(pl->net, pl->prefix, cidr);
        if (pl->has_gw)
            usable--;
        if (pl->has_detect && (pl->detect & pl->mask) == pl->net &&
            (!pl->has_gw || pl->detect != pl->gw))
            usable--;
        for (i = p; i < (size_t)c->npus; i += c->nplanes)
            per_node++;
        need = per_node * (long long)c->inv->nnodes;
        if (need > usable)
            sect_err(c, NULL,
                     "plane %zu subnet %s holds at most %lld addresses, %zu "
                     "nodes need %lld",
                     p, cidr, usable, c->inv->nnodes, need);
        if (pl->first_bad >= 0)
            sect_err(c, NULL,
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
ent_describe(const struct ctx *c, const struct ent *t, char *buf, size_t len)
{
    const char *what = t->kind == ENT_GW ? "gateway" : "detect IP";

    if (t->node < 0)
        snprintf(buf, len, "the %s of plane %d", what, t->npu);
    else
        snprintf(buf, len, "the %s of %s NPU %d", what,
                 c->inv->nodes[t->node].name, t->npu);
}

static void
check_collisions(struct ctx *c)
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
        ip_str(first->ip, a);
        for (k = s; k < e && c->ents[k].kind == ENT_ADDR; k++) {
            const struct ent *t = &c->ents[k];
            const char *name = c->inv->nodes[t->node].name;

            if (k > s)
                errlist_add(&c->coll, NULL, NULL,
                            "%s NPU %d: %s is also the address of %s NPU %d",
                            name, t->npu, a, c->inv->nodes[first->node].name,
                            first->npu);
            if (infra != NULL) {
                ent_describe(c, infra, other, sizeof(other));
                errlist_add(&c->coll, NULL, NULL, "%s NPU %d: %s is also %s",
                            name, t->npu, a, other);
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
    struct ctx c;
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

    if (parse_section(&c, inv->hccn) == 0) {
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
    if (ip_parse(cur_address, &have) != 0)
        return HCCN_CHANGE;
    if (have == 0)
        return HCCN_SET;
    if (ip_parse(want->address, &w) != 0 || w != have)
        return HCCN_CHANGE;
    if (cur_netmask == NULL || *cur_netmask == '\0')
        return HCCN_SAME;
    if (ip_parse(cur_netmask, &hm) != 0 || ip_parse(want->netmask, &wm) != 0 ||
        hm != wm)
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

int
hccn_ranktable_json(const struct hccn_plan *plan,
                    const struct inv *inv,
                    const size_t *node_idx,
                    size_t n,
                    const char *const *server_ids,
                    char **json,
                    struct af_err *e)
{
    struct af_buf b;
    const char **ids = NULL;
    size_t k, q;
    int i, r = AF_EINTERNAL;

    *json = NULL;
    af_buf_init(&b, 0);
    if (!hccn_plan_valid(plan)) {
        r = af_err_set(e, AF_EINPUT, "rank table: the hccn plan has errors");
        goto out;
    }
    if (n == 0) {
        r = af_err_set(e, AF_EINPUT, "rank table: no nodes selected");
        goto out;
    }
    if (inv->nnodes != plan->nnodes) {
        r = af_err_set(e, AF_EINPUT,
                       "rank table: the plan is not of this inventory");
        goto out;
    }
    ids = af_calloc(n, sizeof(*ids));
    for (k = 0; k < n; k++) {
        const struct inv_node *node;

        if (node_idx[k] >= plan->nnodes) {
            r = af_err_set(e, AF_EINPUT,
                           "rank table: node index %zu out of "
                           "range",
                           node_idx[k]);
            goto out;
        }
        node = &inv->nodes[node_idx[k]];
        if (server_ids != NULL)
            ids[k] = server_ids[k];
        else
            ids[k] = node->address != NULL ? node->address : node->name;
        if (ids[k] == NULL || ids[k][0] == '\0' ||
            strlen(ids[k]) > HCCN_MAX_SERVER_ID) {
            r = af_err_set(e, AF_EINPUT,
                           "rank table: %s: server id must be 1 to %d bytes",
                           node->name, HCCN_MAX_SERVER_ID);
            goto out;
        }
        for (q = 0; q < k; q++) {
            if (node_idx[q] == node_idx[k]) {
                r = af_err_set(e, AF_EINPUT, "rank table: %s listed twice",
                               node->name);
                goto out;
            }
            if (strcmp(ids[q], ids[k]) == 0) {
                r = af_err_set(e, AF_EINPUT,
                               "rank table: server id '%s' used twice", ids[k]);
                goto out;
            }
        }
    }

    af_buf_printf(&b,
                  "{\n  \"version\": \"1.0\",\n  \"server_count\": "
                  "\"%zu\",\n  \"server_list\": [\n",
                  n);
    for (k = 0; k < n; k++) {
        af_buf_puts(&b, "    {\n      \"server_id\": ");
        af_buf_json_str(&b, ids[k]);
        af_buf_puts(&b, ",\n      \"device\": [\n");
        for (i = 0; i < plan->npus; i++) {
            const struct hccn_addr *a = hccn_plan_get(plan, node_idx[k], i);

            af_buf_printf(&b,
                          "        {\"device_id\": \"%d\", \"device_ip\": "
                          "\"%s\", \"rank_id\": \"%zu\"}%s\n",
                          i, a->address, k * (size_t)plan->npus + (size_t)i,
                          i + 1 < plan->npus ? "," : "");
        }
        af_buf_printf(&b, "      ]\n    }%s\n", k + 1 < n ? "," : "");
    }
    af_buf_puts(&b, "  ],\n  \"status\": \"completed\"\n}\n");
    *json = af_buf_steal(&b);
    r = 0;
out:
    free(ids);
    af_buf_free(&b);
    return r;
}
