/* SPDX-License-Identifier: MIT */
/*
 * The inventory's `hccn:` section and per-host overrides: YAML values ->
 * layout, planes, steps and addresses, each error at FILE:LINE:COL.
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

/* ---- YAML helpers ---- */

static const char *
scalar(const char *file,
       const struct af_ynode *v,
       const char *what,
       struct errlist *l)
{
    if (v->type != AF_YSCALAR) {
        hccn__errlist_add(l, file, v, "%s: expected a single value", what);
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
    if (hccn__ip_parse(s, mask) != 0 || (p = hccn__mask_prefix(*mask)) < 0) {
        hccn__errlist_add(l, file, v, "%s: '%s' is not a netmask", what, s);
        return -1;
    }
    if (p < 1 || p > 30) {
        hccn__errlist_add(
            l, file, v, "%s: netmask %s (/%d) leaves no room for NPU addresses",
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
    if (hccn__ip_parse(s, ip) != 0) {
        hccn__errlist_add(l, file, v, "%s: '%s' is not an IPv4 address", what,
                          s);
        return -1;
    }
    return 0;
}

/* ---- the section ---- */

static int
parse_subnet(struct hccn__ctx *c,
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
        hccn__sect_err(c, v, "%s: '%s' is not ADDRESS/PREFIX", what, s);
        return -1;
    }
    strcpy(buf, s);
    if (slash != NULL)
        buf[slash - s] = '\0';
    if (hccn__ip_parse(buf, &pl->net) != 0) {
        hccn__sect_err(c, v, "%s: '%s' is not ADDRESS/PREFIX", what, s);
        return -1;
    }
    if (slash != NULL) {
        if (parse_ll(slash + 1, &prefix) != 0 || prefix < 0 || prefix > 32) {
            hccn__sect_err(c, v, "%s: '%s' has a bad prefix length", what, s);
            return -1;
        }
        if (prefix < 1 || prefix > 30) {
            hccn__sect_err(c, v, "%s: /%lld leaves no room for NPU addresses",
                           what, prefix);
            return -1;
        }
        pl->prefix = (int)prefix;
        pl->mask = hccn__prefix_mask(pl->prefix);
        if (c->has_mask && c->mask != pl->mask) {
            char m[16];

            hccn__ip_str(c->mask, m);
            hccn__sect_err(c, v, "%s: %s disagrees with netmask %s", what, s,
                           m);
            return -1;
        }
    } else if (c->has_mask) {
        pl->mask = c->mask;
        pl->prefix = hccn__mask_prefix(c->mask);
    } else {
        hccn__sect_err(c, v, "%s: '%s' needs a /PREFIX or a hccn netmask", what,
                       s);
        return -1;
    }
    if ((pl->net & ~pl->mask) != 0) {
        hccn__cidr_str(pl->net & pl->mask, pl->prefix, want);
        hccn__sect_err(c, v,
                       "%s: %s is not a network address (did you mean %s?)",
                       what, s, want);
        return -1;
    }
    return 0;
}

/* Check a gateway or detect IP of a plane against the plane's subnet. */
static int
check_plane_ip(struct hccn__ctx *c,
               const struct af_ynode *v,
               size_t idx,
               const struct plane *pl,
               const char *kind,
               uint32_t ip,
               int must_be_inside)
{
    char s[16], cidr[20];

    hccn__ip_str(ip, s);
    hccn__cidr_str(pl->net, pl->prefix, cidr);
    if ((ip & pl->mask) != pl->net) {
        if (!must_be_inside)
            return 0;
        hccn__sect_err(c, v, "hccn plane %zu: %s %s is outside its subnet %s",
                       idx, kind, s, cidr);
        return -1;
    }
    if (ip == pl->net || ip == hccn__bcast(pl->net, pl->mask)) {
        hccn__sect_err(c, v, "hccn plane %zu: %s %s is the %s address of %s",
                       idx, kind, s, ip == pl->net ? "network" : "broadcast",
                       cidr);
        return -1;
    }
    return 0;
}

/* A plane from its subnet, gateway and detect items (the last two may be
 * NULL); at positions errors about the plane as a whole. */
static int
plane_from(struct hccn__ctx *c,
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
parse_plane(struct hccn__ctx *c,
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
                hccn__sect_err(
                    c, item->keys[k],
                    "hccn plane %zu: unknown key '%s' (expected subnet, "
                    "gateway, detect)",
                    idx, key);
                r = -1;
            }
        }
        if (sub == NULL) {
            hccn__sect_err(c, item, "hccn plane %zu: missing subnet", idx);
            return -1;
        }
    } else if (item->type != AF_YSCALAR) {
        hccn__sect_err(c, item,
                       "hccn plane %zu: expected a mapping or a subnet", idx);
        return -1;
    }
    if (plane_from(c, idx, sub, gw, det, pl) != 0)
        r = -1;
    return r;
}

static int
parse_int_key(struct hccn__ctx *c,
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
        hccn__sect_err(c, v, "hccn %s: '%s' is not an integer in %lld..%lld",
                       key, s, lo, hi);
        return -1;
    }
    return 0;
}

/* The layout: given, or planes / single-subnet / explicit from which of
 * planes and subnet the section has. */
static int
parse_layout(struct hccn__ctx *c,
             const struct af_ynode *layout,
             const struct af_ynode *planes,
             const struct af_ynode *subnet)
{
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
            hccn__sect_err(
                c, layout,
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
    return 0;
}

/* The planes list, or one plane from a top-level subnet. */
static int
parse_planes(struct hccn__ctx *c,
             const struct af_ynode *planes,
             const struct af_ynode *subnet,
             const struct af_ynode *gw,
             const struct af_ynode *det)
{
    size_t k;
    int r = 0;

    if (planes != NULL) {
        if (planes->type != AF_YSEQ || planes->n == 0) {
            hccn__sect_err(c, planes, "hccn planes: expected a list of planes");
            return -1;
        }
        if (planes->n > (size_t)c->npus) {
            hccn__sect_err(c, planes,
                           "hccn planes: %zu planes for %d NPUs per node",
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
    return r;
}

/* No two planes' subnets overlap. */
static int
check_overlaps(struct hccn__ctx *c, const struct af_ynode *planes)
{
    size_t k, q;
    int r = 0;

    for (k = 0; k < c->nplanes; k++)
        for (q = 0; q < k; q++) {
            const struct plane *a = &c->planes[q], *b = &c->planes[k];

            if ((a->net & b->mask) == b->net || (b->net & a->mask) == a->net) {
                char ca[20], cb[20];

                hccn__cidr_str(a->net, a->prefix, ca);
                hccn__cidr_str(b->net, b->prefix, cb);
                hccn__sect_err(
                    c, planes ? planes->items[k] : planes,
                    "hccn plane %zu subnet %s overlaps plane %zu subnet "
                    "%s",
                    k, cb, q, ca);
                r = -1;
            }
        }
    return r;
}

/* first_host, group_step and node_step of a generated layout, with their
 * defaults. */
static int
parse_steps(struct hccn__ctx *c,
            const struct af_ynode *first,
            const struct af_ynode *gstep,
            const struct af_ynode *nstep)
{
    long long groups =
        (c->npus + (long long)c->nplanes - 1) / (long long)c->nplanes;
    int r = 0;

    c->first_host = c->layout == LAYOUT_PLANES ? 101 : 2;
    c->group_step = c->layout == LAYOUT_PLANES ? -1 : 1;
    if (first != NULL && parse_int_key(c, first, "first_host", 0, 4294967295LL,
                                       &c->first_host) != 0)
        r = -1;
    if (gstep != NULL && parse_int_key(c, gstep, "group_step", -65536, 65536,
                                       &c->group_step) != 0)
        r = -1;
    c->node_step = groups * llabs(c->group_step);
    if (c->node_step == 0)
        c->node_step = groups;
    if (nstep != NULL && parse_int_key(c, nstep, "node_step", -16777216,
                                       16777216, &c->node_step) != 0)
        r = -1;
    return r;
}

int
hccn__parse_section(struct hccn__ctx *c, const struct af_ynode *sec)
{
    const struct af_ynode *layout = NULL, *npus = NULL, *mask = NULL;
    const struct af_ynode *planes = NULL, *subnet = NULL, *gw = NULL;
    const struct af_ynode *det = NULL, *first = NULL, *gstep = NULL;
    const struct af_ynode *nstep = NULL;
    long long v;
    size_t k;
    int r = 0;

    if (sec->type != AF_YMAP) {
        hccn__sect_err(c, sec, "hccn: expected a mapping");
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
            hccn__sect_err(c, sec->keys[k], "hccn: unknown key '%s'", key);
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

    if (parse_layout(c, layout, planes, subnet) != 0)
        return -1;

    if (planes != NULL && (subnet != NULL || gw != NULL || det != NULL)) {
        const struct af_ynode *at = subnet ? subnet : gw ? gw : det;

        hccn__sect_err(
            c, at,
            "hccn: subnet, gateway and detect go inside each plane when "
            "planes is given");
        return -1;
    }
    if (subnet == NULL && (gw != NULL || det != NULL)) {
        hccn__sect_err(c, gw ? gw : det,
                       "hccn: gateway and detect need a subnet");
        return -1;
    }
    if (c->layout == LAYOUT_PLANES && planes == NULL) {
        hccn__sect_err(c, layout ? layout : sec,
                       "hccn layout planes needs planes");
        return -1;
    }
    if (c->layout == LAYOUT_SINGLE && subnet == NULL &&
        (planes == NULL || planes->type != AF_YSEQ || planes->n != 1)) {
        hccn__sect_err(c, layout ? layout : sec,
                       "hccn layout single-subnet needs subnet (or exactly one "
                       "plane)");
        return -1;
    }
    if (c->layout == LAYOUT_EXPLICIT && (first || gstep || nstep)) {
        const struct af_ynode *at = first ? first : gstep ? gstep : nstep;

        hccn__sect_err(
            c, at,
            "hccn: first_host, group_step and node_step have no effect "
            "with layout explicit");
        return -1;
    }

    if (parse_planes(c, planes, subnet, gw, det) != 0)
        r = -1;
    if (r != 0)
        return -1;

    if (check_overlaps(c, planes) != 0)
        r = -1;
    if (c->layout != LAYOUT_EXPLICIT &&
        parse_steps(c, first, gstep, nstep) != 0)
        r = -1;
    return r;
}

/* ---- per-host overrides ---- */

/* A list of npus addresses: a YAML list, or one comma-separated string as
 * the vendor deployer's deviceip=... */
static int
parse_ip_list(struct hccn__ctx *c,
              const struct inv_node *node,
              const struct af_ynode *v,
              const char *key,
              uint32_t *out,
              const struct af_ynode **at)
{
    const char *file = hccn__node_file(c, node);
    char what[160];
    size_t k, n = 0;

    snprintf(what, sizeof(what), "%s hccn %s", node->name, key);
    if (v->type == AF_YSEQ) {
        if (v->n != (size_t)c->npus) {
            hccn__errlist_add(&c->nodes, file, v,
                              "%s: %zu addresses for %d NPUs", what, v->n,
                              c->npus);
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
            if (hccn__ip_parse(one, &out[n]) != 0) {
                hccn__errlist_add(&c->nodes, file, v,
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
            hccn__errlist_add(&c->nodes, file, v,
                              "%s: expected %d comma-separated addresses", what,
                              c->npus);
            return -1;
        }
        return 0;
    }
    hccn__errlist_add(&c->nodes, file, v, "%s: expected a list of %d addresses",
                      what, c->npus);
    return -1;
}

int
hccn__parse_override(struct hccn__ctx *c,
                     const struct inv_node *node,
                     struct override *ov)
{
    const struct af_ynode *m = node->hccn;
    const char *file = hccn__node_file(c, node);
    char what[160];
    size_t k;
    int r = 0;

    memset(ov, 0, sizeof(*ov));
    if (m == NULL)
        return 0;
    if (m->type != AF_YMAP) {
        hccn__node_err(c, node, m, "%s hccn: expected a mapping", node->name);
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
                hccn__node_err(c, node, v, "%s: '%s' is not an index >= 0",
                               what, s);
                r = -1;
            } else {
                ov->has_slot = 1;
            }
        } else {
            hccn__node_err(c, node, m->keys[k],
                           "%s hccn: unknown key '%s' (expected device_ips, "
                           "detect_ips, gateways, netmask, slot)",
                           node->name, key);
            r = -1;
        }
    }
    if (ov->has_slot && c->layout == LAYOUT_EXPLICIT) {
        hccn__node_err(c, node, m,
                       "%s hccn: slot has no effect with layout explicit",
                       node->name);
        r = -1;
    }
    return r;
}
