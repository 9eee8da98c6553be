/* SPDX-License-Identifier: MIT */
/*
 * Layouts and helpers shared by the files of the hccn module only
 * (hccn.c, hccn-parse.c, hccn-rank.c). Nothing outside inventory/
 * includes it.
 */
#ifndef AF_HCCN_INTERNAL_H
#define AF_HCCN_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "hccn.h"

struct af_ynode;
struct inv;
struct inv_node;

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

/* The plan being built: the section as parsed, the errors and the
 * cluster-wide collision table. */
struct hccn__ctx {
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

/* Append a message, "FILE:LINE:COL: " first when at is not NULL. */
void hccn__errlist_add(struct errlist *l,
                       const char *file,
                       const struct af_ynode *at,
                       const char *fmt,
                       ...) __attribute__((format(printf, 4, 5)));

/* Section-level error at a YAML item of the inventory file. */
void hccn__sect_err(struct hccn__ctx *c,
                    const struct af_ynode *at,
                    const char *fmt,
                    ...) __attribute__((format(printf, 3, 4)));

/* The file a node was defined in (its own, or the inventory's). */
const char *hccn__node_file(const struct hccn__ctx *c,
                            const struct inv_node *node);

/* Node-level error, positioned at a YAML item when at is not NULL. */
void hccn__node_err(struct hccn__ctx *c,
                    const struct inv_node *node,
                    const struct af_ynode *at,
                    const char *fmt,
                    ...) __attribute__((format(printf, 4, 5)));

/* IPv4 helpers (host byte order). ip_parse takes exactly dotted decimal. */
int hccn__ip_parse(const char *s, uint32_t *out);
void hccn__ip_str(uint32_t a, char out[16]);
uint32_t hccn__prefix_mask(int prefix);
/* Prefix length of a contiguous netmask, or -1 when it is not one. */
int hccn__mask_prefix(uint32_t m);
void hccn__cidr_str(uint32_t net, int prefix, char out[20]);
uint32_t hccn__bcast(uint32_t net, uint32_t mask);

/* Parse the inventory's `hccn:` section into c (layout, NPUs, planes,
 * steps); errors go to c->sect. Returns 0, or -1 on an error. */
int hccn__parse_section(struct hccn__ctx *c, const struct af_ynode *sec);

/* Parse a host's own `hccn:` mapping into ov; errors go to c->nodes.
 * Returns 0, or -1 on an error. */
int hccn__parse_override(struct hccn__ctx *c,
                         const struct inv_node *node,
                         struct override *ov);

#endif /* AF_HCCN_INTERNAL_H */
