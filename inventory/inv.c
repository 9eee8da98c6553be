/* SPDX-License-Identifier: MIT */
/*
 * Inventory loading and node selection. The YAML tree is walked once:
 * settings are checked where they are written (so errors point there) and
 * layered defaults -> group vars -> host item; host names and addresses are
 * expanded with hostlist.c and checked for duplicates through two hash
 * tables, so a 10,000-node inventory loads in linear time. Nothing here
 * contacts a node or looks a name up in DNS.
 */
#include "inv.h"
#include "inv-internal.h"

#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "af-err.h"
#include "af-mem.h"
#include "af-safe.h"
#include "af-yaml.h"
#include "hostlist.h"
#include "sshcfg.h"

int
inv__fail(struct ld *l, const struct af_ynode *n, const char *fmt, ...)
{
    char msg[AF_ERR_MSG_LEN];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return af_err_set(l->e, AF_EINPUT, "%s:%d:%d: %s", l->inv->path, n->line,
                      n->col, msg);
}

const char *
inv__type_name(const struct af_ynode *n)
{
    switch (n->type) {
    case AF_YSEQ:
        return "a list";
    case AF_YMAP:
        return "a mapping";
    case AF_YSCALAR:
        break;
    }
    return "a scalar";
}

/* YAML's null (unquoted empty, "~", "null"): there, but without a value. */
int
inv__is_null(const struct af_ynode *n)
{
    return n->type == AF_YSCALAR && n->null;
}

int
inv__name_ok(const char *s, int address)
{
    if (*s == '\0')
        return 0;
    for (; *s; s++) {
        char c = *s;

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_' ||
            (address && c == ':'))
            continue;
        return 0;
    }
    return 1;
}

/* ---- hash tables ------------------------------------------------------ */

static uint64_t
hash_key(const char *s, int port)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */

    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    h ^= (uint64_t)(unsigned)port;
    h *= 1099511628211ULL;
    return h;
}

/*
 * Slot for (key, port): the one holding a matching node or the empty one
 * where it would go. port < 0 means "by name", else "by address:port".
 */
static size_t *
index_slot(const struct inv_index *ix,
           const struct inv *inv,
           const char *key,
           int port)
{
    size_t i = (size_t)hash_key(key, port < 0 ? 0 : port) & (ix->cap - 1);

    for (;; i = (i + 1) & (ix->cap - 1)) {
        const struct inv_node *nd;

        if (ix->slot[i] == 0)
            return &ix->slot[i];
        nd = &inv->nodes[ix->slot[i] - 1];
        if (port < 0 ? strcmp(nd->name, key) == 0
                     : nd->port == port && strcmp(nd->address, key) == 0)
            return &ix->slot[i];
    }
}

static void
index_add(struct inv_index *ix, const struct inv *inv, size_t node, int byaddr)
{
    const struct inv_node *nd = &inv->nodes[node];

    if (ix->used * 2 >= ix->cap) {
        struct inv_index big = {
            af_calloc(ix->cap ? ix->cap * 2 : 64, sizeof(size_t)),
            ix->cap ? ix->cap * 2 : 64, 0};
        size_t i;

        for (i = 0; i < ix->cap; i++) {
            const struct inv_node *o;

            if (ix->slot[i] == 0)
                continue;
            o = &inv->nodes[ix->slot[i] - 1];
            *index_slot(&big, inv, byaddr ? o->address : o->name,
                        byaddr ? o->port : -1) = ix->slot[i];
            big.used++;
        }
        free(ix->slot);
        *ix = big;
    }
    *index_slot(ix, inv, byaddr ? nd->address : nd->name,
                byaddr ? nd->port : -1) = node + 1;
    ix->used++;
}

static const struct inv_node *
index_find(const struct inv_index *ix,
           const struct inv *inv,
           const char *key,
           int port)
{
    size_t *s;

    if (ix == NULL || ix->cap == 0)
        return NULL;
    s = index_slot(ix, inv, key, port);
    return *s ? &inv->nodes[*s - 1] : NULL;
}

/* ---- hosts ------------------------------------------------------------ */

static int
node_has_group(const struct inv_node *nd, const char *g)
{
    size_t i;

    for (i = 0; i < nd->ngroups; i++)
        if (nd->groups[i] == g)
            return 1;
    return 0;
}

/* Add or merge one node. */
static int
add_node(struct ld *l,
         const char *name,
         struct inv_conn_eff *eff,
         const struct inv_set *s,
         const struct af_ynode *namenode,
         const struct af_ynode *addrnode,
         const struct af_ynode *hccn,
         int gi)
{
    const char *address = eff->address;
    int port = eff->port;
    struct inv *inv = l->inv;
    const struct inv_node *old;
    struct inv_node *nd;
    char *g = gi >= 0 ? inv->groups[gi] : NULL;

    old = index_find(inv->index, inv, name, -1);
    if (old != NULL) {
        nd = &inv->nodes[old->index];
        if (g == NULL || node_has_group(nd, g) || nd->ngroups == 0)
            return inv__fail(l, namenode,
                             "duplicate node name '%s' (first "
                             "defined at line %d, column %d)",
                             name, nd->line, nd->col);
        if (strcmp(nd->address, address) != 0 || nd->port != port)
            return inv__fail(l, addrnode,
                             "node '%s' is also defined at line %d, "
                             "column %d with address %s:%d; a node listed in "
                             "several groups needs the same address and port",
                             name, nd->line, nd->col, nd->address, nd->port);
        if (hccn != NULL && nd->hccn != NULL)
            return inv__fail(l, hccn,
                             "node '%s' already has an 'hccn' section "
                             "(line %d, column %d)",
                             name, nd->hccn->line, nd->hccn->col);
        if (hccn != NULL)
            nd->hccn = hccn;
        nd->groups =
            af_reallocarray(nd->groups, nd->ngroups + 1, sizeof(*nd->groups));
        nd->groups[nd->ngroups++] = g;
        return 0;
    }
    old = index_find(&l->addr, inv, address, port);
    if (old != NULL)
        return inv__fail(l, addrnode,
                         "address %s:%d of node '%s' is already "
                         "used by node '%s' (line %d, column %d)",
                         address, port, name, old->name, old->line, old->col);

    if (inv->nnodes == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        inv->nodes = af_reallocarray(inv->nodes, l->cap, sizeof(*nd));
    }
    nd = &inv->nodes[inv->nnodes];
    memset(nd, 0, sizeof(*nd));
    nd->index = inv->nnodes++;
    nd->name = af_strdup(name);
    nd->address = eff->address;
    nd->port = port;
    nd->user = eff->user;
    nd->identity = eff->identity;
    nd->known_hosts = eff->known_hosts;
    nd->jump = eff->jump;
    nd->become = s->become == 2;
    nd->hostkeys = eff->hostkeys;
    nd->connect_timeout = eff->connect_timeout;
    nd->handshake_timeout = eff->handshake_timeout;
    memcpy(nd->src, eff->src, sizeof(nd->src));
    memset(eff, 0, sizeof(*eff)); /* the node owns the strings now */
    nd->command_timeout = s->command_timeout;
    nd->reboot_command = af_strdup(s->reboot_command);
    nd->reboot_timeout = s->reboot_timeout;
    nd->install_path = af_strdup(s->install_path);
    if (g != NULL) {
        nd->groups = af_malloc(sizeof(*nd->groups));
        nd->groups[nd->ngroups++] = g;
    }
    nd->hccn = hccn;
    nd->file = inv->path;
    nd->line = namenode->line;
    nd->col = namenode->col;
    index_add(inv->index, inv, nd->index, 0);
    index_add(&l->addr, inv, nd->index, 1);
    return 0;
}

/* Expand a name or address pattern; errors point at node v. */
static int
expand_at(struct ld *l,
          const char *key,
          const struct af_ynode *v,
          char ***names,
          size_t *n)
{
    struct af_err he;
    int r;

    *names = NULL;
    *n = 0;
    if (v->type != AF_YSCALAR)
        return inv__fail(l, v, "'%s' must be a string, not %s", key,
                         inv__type_name(v));
    if (v->scalar[0] == '\0')
        return inv__fail(l, v, "empty %s",
                         strcmp(key, "name") == 0 ? "host name" : key);
    if ((r = hl_expand(v->scalar, names, n, &he)) != 0)
        return inv__fail(l, v, "'%s': %s", key, he.msg);
    return 0;
}

/* One item of a hosts: list; gi is the group index or -1. */
static int
add_item(struct ld *l,
         const struct af_ynode *item,
         const struct inv_set *base,
         int gi)
{
    const struct af_ynode *namenode = NULL, *addrnode = NULL, *hccn = NULL;
    struct inv_set s = *base, own;
    struct inv_conn_in in;
    struct inv_conn_eff eff;
    char **names = NULL, **addrs = NULL, *identity = NULL, *known = NULL;
    size_t nn = 0, na = 0, i;
    int r = AF_EINTERNAL;

    memset(&own, 0, sizeof(own));
    if (item->type == AF_YSCALAR) {
        namenode = item;
    } else if (item->type != AF_YMAP) {
        return inv__fail(l, item,
                         "a host entry must be a mapping with 'name', "
                         "not %s",
                         inv__type_name(item));
    } else {
        for (i = 0; i < item->n; i++) {
            const struct af_ynode *k = item->keys[i], *v = item->vals[i];

            if (strcmp(k->scalar, "name") == 0) {
                namenode = v;
            } else if (strcmp(k->scalar, "address") == 0) {
                addrnode = v;
            } else if (strcmp(k->scalar, "hccn") == 0) {
                if (v->type != AF_YMAP)
                    return inv__fail(l, v, "'hccn' must be a mapping, not %s",
                                     inv__type_name(v));
                hccn = v;
            } else if ((r = inv__settings_key(l, k, v, &own)) != 0) {
                if (r == 1)
                    return inv__fail(
                        l, k,
                        "unknown key '%s' in a host entry "
                        "(allowed: name, address, hccn, " INV_SETTINGS_KEYS ")",
                        k->scalar);
                return r;
            }
        }
        if (namenode == NULL)
            return inv__fail(l, item, "host entry without 'name'");
    }
    inv__settings_apply(&s, &own);

    if ((r = expand_at(l, "name", namenode, &names, &nn)) != 0)
        goto out;
    for (i = 0; i < nn; i++) {
        if (!inv__name_ok(names[i], 0)) {
            r = inv__fail(l, namenode,
                          "invalid host name '%s' (letters, digits, "
                          "'.', '-' and '_' only)",
                          names[i]);
            goto out;
        }
    }
    if (addrnode != NULL) {
        if ((r = expand_at(l, "address", addrnode, &addrs, &na)) != 0)
            goto out;
        if (nn > 1 && na == 1) {
            r = inv__fail(l, addrnode,
                          "name expands to %zu hosts but address is "
                          "the single address '%s' (give a range of %zu "
                          "addresses)",
                          nn, addrs[0], nn);
            goto out;
        }
        if (na != nn) {
            r = inv__fail(l, addrnode,
                          "name expands to %zu host%s but address "
                          "to %zu",
                          nn, nn == 1 ? "" : "s", na);
            goto out;
        }
        for (i = 0; i < na; i++) {
            if (!inv__name_ok(addrs[i], 1)) {
                r = inv__fail(l, addrnode, "invalid address '%s'", addrs[i]);
                goto out;
            }
        }
    }
    identity = s.identity ? inv__resolve_path(l, s.identity) : NULL;
    known = s.known_hosts ? inv__resolve_path(l, s.known_hosts) : NULL;
    memset(&in, 0, sizeof(in));
    in.user = s.user;
    in.port = s.port;
    in.identity = identity;
    in.known_hosts = known;
    in.hostkeys = s.hostkeys;
    in.connect_timeout = s.connect_timeout;
    in.handshake_timeout = s.handshake_timeout;
    in.jump = s.jump;
    for (i = 0; i < nn; i++) {
        in.address = addrs ? addrs[i] : NULL;
        inv__conn_eff(l->inv->sshcfg, names[i], &in, l->home, &eff);
        r = add_node(l, names[i], &eff, &s, namenode,
                     addrnode ? addrnode : namenode, hccn, gi);
        inv__conn_eff_free(&eff);
        if (r != 0)
            goto out;
    }
    r = 0;
out:
    free(identity);
    free(known);
    hl_names_free(names, nn);
    hl_names_free(addrs, na);
    return r;
}

static int
add_items(struct ld *l,
          const struct af_ynode *list,
          const char *where,
          const struct inv_set *base,
          int gi)
{
    size_t i;
    int r;

    if (inv__is_null(list))
        return 0;
    if (list->type != AF_YSEQ)
        return inv__fail(l, list, "'hosts' in %s must be a list, not %s", where,
                         inv__type_name(list));
    for (i = 0; i < list->n; i++)
        if ((r = add_item(l, list->items[i], base, gi)) != 0)
            return r;
    return 0;
}

static int
load_groups(struct ld *l,
            const struct af_ynode *groups,
            const struct inv_set *base)
{
    struct inv *inv = l->inv;
    size_t i, j;
    int r;

    if (inv__is_null(groups))
        return 0;
    if (groups->type != AF_YMAP)
        return inv__fail(l, groups,
                         "'groups' must be a mapping of group names, "
                         "not %s",
                         inv__type_name(groups));
    inv->groups = af_calloc(groups->n ? groups->n : 1, sizeof(char *));
    for (i = 0; i < groups->n; i++) {
        const struct af_ynode *k = groups->keys[i], *g = groups->vals[i];
        const struct af_ynode *hosts = NULL;
        struct inv_set s = *base, vars;
        char where[160];

        if (!inv__name_ok(k->scalar, 0))
            return inv__fail(l, k,
                             "invalid group name '%s' (letters, digits, "
                             "'.', '-' and '_' only)",
                             k->scalar);
        inv->groups[inv->ngroups++] = af_strdup(k->scalar);
        snprintf(where, sizeof(where), "group '%s'", k->scalar);
        if (inv__is_null(g))
            continue;
        if (g->type != AF_YMAP)
            return inv__fail(l, g,
                             "group '%s' must be a mapping with 'vars' and "
                             "'hosts', not %s",
                             k->scalar, inv__type_name(g));
        memset(&vars, 0, sizeof(vars));
        for (j = 0; j < g->n; j++) {
            if (strcmp(g->keys[j]->scalar, "vars") == 0) {
                snprintf(where, sizeof(where), "'vars' of group '%s'",
                         k->scalar);
                if ((r = inv__settings_map(l, g->vals[j], where, &vars)) != 0)
                    return r;
            } else if (strcmp(g->keys[j]->scalar, "hosts") == 0) {
                hosts = g->vals[j];
            } else if (strcmp(g->keys[j]->scalar, "gateway") == 0) {
                continue; /* checked once every host is in */
            } else {
                return inv__fail(l, g->keys[j],
                                 "unknown key '%s' in group '%s' "
                                 "(allowed: vars, hosts, gateway)",
                                 g->keys[j]->scalar, k->scalar);
            }
        }
        inv__settings_apply(&s, &vars);
        snprintf(where, sizeof(where), "group '%s'", k->scalar);
        if (hosts != NULL &&
            (r = add_items(l, hosts, where, &s, (int)inv->ngroups - 1)) != 0)
            return r;
    }
    return 0;
}

static char *
home_dir(void)
{
    const char *h = getenv("HOME");
    struct passwd *pw;

    if (h != NULL && h[0] != '\0')
        return af_strdup(h);
    pw = getpwuid(getuid());
    return af_strdup(pw != NULL && pw->pw_dir != NULL ? pw->pw_dir : "/");
}

int
inv_load(const char *path, struct inv **out, struct af_err *e)
{
    return inv_load_ex(path, NULL, out, e);
}

/* Read the ssh_config the command line, or else the inventory, names. */
static int
load_sshcfg(struct ld *l, const char *cli, const struct af_ynode *key)
{
    struct inv *inv = l->inv;
    char *p;
    int r;

    if (cli != NULL || key == NULL)
        return inv__sshcfg_open(cli, l->home, &inv->sshcfg, &inv->ssh_config,
                                l->e);
    if (strcmp(key->scalar, "none") == 0)
        return inv__sshcfg_open("none", l->home, &inv->sshcfg, &inv->ssh_config,
                                l->e);
    p = inv__resolve_path(l, key->scalar);
    r = inv__sshcfg_open(p, l->home, &inv->sshcfg, &inv->ssh_config, l->e);
    free(p);
    return r;
}

int
inv_load_ex(const char *path,
            const char *ssh_config,
            struct inv **out,
            struct af_err *e)
{
    struct inv *inv = af_calloc(1, sizeof(*inv));
    struct ld l;
    const struct af_ynode *root, *defaults = NULL, *groups = NULL;
    const struct af_ynode *hosts = NULL;
    const char *slash;
    /* Connection settings stay unset here: ssh_config may fill them. */
    struct inv_set base = {
        .command_timeout = INV_DEFAULT_COMMAND_TIMEOUT,
        .reboot_command = INV_DEFAULT_REBOOT_COMMAND,
        .reboot_timeout = INV_DEFAULT_REBOOT_TIMEOUT,
        .install_path = INV_DEFAULT_INSTALL_PATH,
    };
    const struct af_ynode *sshcfg_key = NULL;
    struct inv_set defs;
    size_t i;
    int r = AF_EINTERNAL;

    *out = NULL;
    memset(&l, 0, sizeof(l));
    l.inv = inv;
    l.e = e;
    inv->path = af_strdup(path);
    inv->index = af_calloc(1, sizeof(*inv->index));
    slash = strrchr(path, '/');
    if (slash != NULL)
        l.dir = slash == path ? af_strdup("/")
                              : af_strndup(path, (size_t)(slash - path));
    l.home = home_dir();

    if ((r = af_yaml_load(path, &inv->root, e)) != 0)
        goto out;
    root = inv->root;
    if (root->type != AF_YMAP) {
        r = inv__fail(&l, root,
                      "the inventory must be a mapping with 'groups' "
                      "and/or 'hosts', not %s",
                      inv__type_name(root));
        goto out;
    }
    for (i = 0; i < root->n; i++) {
        const char *k = root->keys[i]->scalar;

        if (strcmp(k, "defaults") == 0) {
            defaults = root->vals[i];
        } else if (strcmp(k, "groups") == 0) {
            groups = root->vals[i];
        } else if (strcmp(k, "hosts") == 0) {
            hosts = root->vals[i];
        } else if (strcmp(k, "hccn") == 0) {
            inv->hccn = root->vals[i];
        } else if (strcmp(k, "ssh_config") == 0) {
            const char *sc;

            if ((r = inv__get_str(&l, root->keys[i], root->vals[i], &sc)) != 0)
                goto out;
            sshcfg_key = root->vals[i];
        } else {
            r = inv__fail(
                &l, root->keys[i],
                "unknown key '%s' at the top level "
                "(allowed: defaults, groups, hosts, hccn, ssh_config)",
                k);
            goto out;
        }
    }
    if ((r = load_sshcfg(&l, ssh_config, sshcfg_key)) != 0)
        goto out;
    memset(&defs, 0, sizeof(defs));
    if (defaults != NULL &&
        (r = inv__settings_map(&l, defaults, "defaults", &defs)) != 0)
        goto out;
    inv__settings_apply(&base, &defs);
    if (groups != NULL && (r = load_groups(&l, groups, &base)) != 0)
        goto out;
    if (hosts != NULL &&
        (r = add_items(&l, hosts, "the top level", &base, -1)) != 0)
        goto out;
    /* A group term in --limit must never be mistaken for a host. */
    for (i = 0; groups != NULL && groups->type == AF_YMAP && i < groups->n;
         i++) {
        const struct inv_node *nd = inv_find(inv, groups->keys[i]->scalar);

        if (nd != NULL) {
            r = inv__fail(&l, groups->keys[i],
                          "group '%s' has the same name as "
                          "the host defined at line %d, column %d",
                          nd->name, nd->line, nd->col);
            goto out;
        }
    }
    if (inv->nnodes == 0) {
        r = inv__fail(&l, root, "the inventory defines no nodes");
        goto out;
    }
    if ((r = inv__load_gateways(&l, groups)) != 0)
        goto out;
    if ((r = inv__resolve_jumps(inv, l.home, e)) != 0)
        goto out;
    *out = inv;
    inv = NULL;
    r = 0;
out:
    free(l.addr.slot);
    free(l.dir);
    free(l.home);
    inv_free(inv);
    return r;
}

void
inv_free(struct inv *inv)
{
    size_t i;

    if (inv == NULL)
        return;
    for (i = 0; i < inv->nnodes; i++)
        inv__free_node(&inv->nodes[i]);
    free(inv->nodes);
    for (i = 0; i < inv->nextra; i++) {
        inv__free_node(inv->extra[i]);
        free(inv->extra[i]);
    }
    free(inv->extra);
    for (i = 0; i < inv->ngroups; i++)
        free(inv->groups[i]);
    free(inv->groups);
    free(inv->gateways);
    af_yaml_free(inv->root);
    if (inv->index != NULL)
        free(inv->index->slot);
    free(inv->index);
    sshcfg_free(inv->sshcfg);
    free(inv->ssh_config);
    free(inv->path);
    free(inv);
}

const struct inv_node *
inv_find(const struct inv *inv, const char *name)
{
    if (inv == NULL || name == NULL)
        return NULL;
    return index_find(inv->index, inv, name, -1);
}

int
inv_group_index(const struct inv *inv, const char *name)
{
    size_t i;

    for (i = 0; i < inv->ngroups; i++)
        if (strcmp(inv->groups[i], name) == 0)
            return (int)i;
    return -1;
}
