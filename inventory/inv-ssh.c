/* SPDX-License-Identifier: MIT */
/*
 * The inventory's connection settings layered as ssh layers them: what the
 * inventory writes wins, then the first ssh_config value for the node's
 * name, then the built-in defaults; every value remembers where it came
 * from. ssh_config is read once per inventory load (see sshcfg.c).
 */
#include "inv-internal.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "af-err.h"
#include "af-mem.h"
#include "sshcfg.h"

const char *const inv_src_names[INV_NSRC] = {
    "address",
    "port",
    "user",
    "identity",
    "known_hosts",
    "host_keys",
    "connect_timeout",
    "handshake_timeout",
    "jump",
};

int
inv__sshcfg_open(const char *which,
                 const char *home,
                 struct sshcfg **out,
                 char **desc,
                 struct af_err *e)
{
    const char *files[2] = {NULL, NULL}, *incdir[2] = {NULL, NULL};
    int optional[2] = {1, 1};
    char *user = NULL, *udir = NULL;
    int r;

    *out = NULL;
    *desc = NULL;
    if (which != NULL && strcmp(which, "none") == 0) {
        *desc = af_strdup("none");
        return 0;
    }
    if (which != NULL) {
        /* As ssh -F: only this file, and it must be there. */
        files[0] = which;
        optional[0] = 0;
        udir = af_asprintf("%s/.ssh", home);
        incdir[0] = udir;
        r = sshcfg_load(files, optional, incdir, 1, home, out, e);
        *desc = af_strdup(which);
        free(udir);
        return r;
    }
    user = af_asprintf("%s/.ssh/config", home);
    udir = af_asprintf("%s/.ssh", home);
    files[0] = user;
    incdir[0] = udir;
    files[1] = INV_SYSTEM_SSH_CONFIG;
    incdir[1] = "/etc/ssh";
    r = sshcfg_load(files, optional, incdir, 2, home, out, e);
    *desc = af_asprintf("%s, %s", user, INV_SYSTEM_SSH_CONFIG);
    free(user);
    free(udir);
    return r;
}

static const char *
local_user(void)
{
    struct passwd *pw = getpwuid(getuid());

    return pw != NULL && pw->pw_name != NULL ? pw->pw_name : "root";
}

/* A path from ssh_config: "~/" and the %-tokens ssh expands there. */
static char *
cfg_path(const char *v,
         const struct inv_conn_eff *o,
         const char *name,
         const char *home)
{
    struct sshcfg_tokens t;
    char port[16];

    snprintf(port, sizeof(port), "%d", o->port);
    memset(&t, 0, sizeof(t));
    t.host = o->address;
    t.alias = name;
    t.ruser = o->user;
    t.home = home;
    t.port = port;
    if (strstr(v, "%u") != NULL)
        t.luser = local_user();
    return sshcfg_expand(v, &t);
}

#define PICK(field, inval, cfgkey)               \
    do {                                         \
        if (inval) {                             \
            o->src[field] = "inventory";         \
        } else if (sv.v[cfgkey].value != NULL) { \
            o->src[field] = sv.v[cfgkey].where;  \
        } else {                                 \
            o->src[field] = "default";           \
        }                                        \
    } while (0)

static void
eff_hostkeys(const struct inv_conn_in *in,
             const struct sshcfg_vals *sv,
             struct inv_conn_eff *o)
{
    const char *v = sv->v[SSHCFG_STRICTHOSTKEYCHECKING].value;

    if (in->hostkeys != INV_HOSTKEYS_UNSET)
        o->hostkeys = in->hostkeys;
    else if (v == NULL)
        o->hostkeys = INV_HOSTKEYS_UNSET;
    /* "no"/"off" would also accept changed keys in ssh; never here. */
    else if (strcasecmp(v, "accept-new") == 0 || strcasecmp(v, "no") == 0 ||
             strcasecmp(v, "off") == 0)
        o->hostkeys = INV_HOSTKEYS_ACCEPT_NEW;
    else
        o->hostkeys = INV_HOSTKEYS_STRICT;
}

void
inv__conn_eff(const struct sshcfg *cfg,
              const char *name,
              const struct inv_conn_in *in,
              const char *home,
              struct inv_conn_eff *o)
{
    struct sshcfg_vals sv;
    const char *v;

    memset(o, 0, sizeof(*o));
    sshcfg_lookup(cfg, name, &sv);

    PICK(INV_SRC_USER, in->user != NULL, SSHCFG_USER);
    v = in->user ? in->user : sv.v[SSHCFG_USER].value;
    o->user = af_strdup(v ? v : INV_DEFAULT_USER);

    PICK(INV_SRC_PORT, in->port != 0, SSHCFG_PORT);
    v = sv.v[SSHCFG_PORT].value;
    o->port = in->port ? in->port : v ? atoi(v) : INV_DEFAULT_PORT;

    PICK(INV_SRC_ADDRESS, in->address != NULL, SSHCFG_HOSTNAME);
    if (in->address != NULL) {
        o->address = af_strdup(in->address);
    } else if ((v = sv.v[SSHCFG_HOSTNAME].value) != NULL) {
        struct sshcfg_tokens t;

        memset(&t, 0, sizeof(t));
        t.host = name; /* HostName %h is the name as written */
        t.alias = name;
        o->address = sshcfg_expand(v, &t);
    } else {
        o->address = af_strdup(name);
        o->src[INV_SRC_ADDRESS] = "default";
    }

    PICK(INV_SRC_IDENTITY, in->identity != NULL, SSHCFG_IDENTITYFILE);
    v = sv.v[SSHCFG_IDENTITYFILE].value;
    o->identity = in->identity ? af_strdup(in->identity)
                  : v != NULL  ? cfg_path(v, o, name, home)
                               : cfg_path(INV_DEFAULT_IDENTITY, o, name, home);

    PICK(INV_SRC_KNOWN_HOSTS, in->known_hosts != NULL,
         SSHCFG_USERKNOWNHOSTSFILE);
    v = sv.v[SSHCFG_USERKNOWNHOSTSFILE].value;
    o->known_hosts = in->known_hosts ? af_strdup(in->known_hosts)
                     : v != NULL
                         ? cfg_path(v, o, name, home)
                         : cfg_path(INV_DEFAULT_KNOWN_HOSTS, o, name, home);

    PICK(INV_SRC_HOSTKEYS, in->hostkeys != INV_HOSTKEYS_UNSET,
         SSHCFG_STRICTHOSTKEYCHECKING);
    eff_hostkeys(in, &sv, o);

    PICK(INV_SRC_CONNECT_TIMEOUT, in->connect_timeout != 0,
         SSHCFG_CONNECTTIMEOUT);
    v = sv.v[SSHCFG_CONNECTTIMEOUT].value;
    o->connect_timeout = in->connect_timeout ? in->connect_timeout
                         : v                 ? atoi(v)
                                             : INV_DEFAULT_CONNECT_TIMEOUT;
    if (o->connect_timeout > INV_MAX_TIMEOUT)
        o->connect_timeout = INV_MAX_TIMEOUT;

    /* ssh has no handshake timeout of its own: inventory or default. */
    o->src[INV_SRC_HANDSHAKE_TIMEOUT] =
        in->handshake_timeout ? "inventory" : "default";
    o->handshake_timeout = in->handshake_timeout
                               ? in->handshake_timeout
                               : INV_DEFAULT_HANDSHAKE_TIMEOUT;

    PICK(INV_SRC_JUMP, in->jump != NULL, SSHCFG_PROXYJUMP);
    v = in->jump ? in->jump : sv.v[SSHCFG_PROXYJUMP].value;
    o->jump = v != NULL && strcasecmp(v, "none") != 0 ? af_strdup(v) : NULL;
}

void
inv__conn_eff_free(struct inv_conn_eff *eff)
{
    free(eff->address);
    free(eff->user);
    free(eff->identity);
    free(eff->known_hosts);
    free(eff->jump);
    memset(eff, 0, sizeof(*eff));
}

/* ---- jump chains ------------------------------------------------------ */

#define INV_MAX_HOPS 8

void
inv__free_node(struct inv_node *nd)
{
    free(nd->name);
    free(nd->address);
    free(nd->user);
    free(nd->identity);
    free(nd->known_hosts);
    free(nd->jump);
    free(nd->jumps);
    free(nd->reboot_command);
    free(nd->install_path);
    free(nd->groups);
}

struct jr {
    struct inv *inv;
    const char *home;
    struct af_err *e;
    const struct inv_node *at; /* the node whose spec is resolved */
};

static int
jr_fail(struct jr *jr, const char *what, const char *arg)
{
    return af_err_set(jr->e, AF_EINPUT, "%s:%d:%d: node %s: %s '%s'",
                      jr->inv->path, jr->at->line, jr->at->col, jr->at->name,
                      what, arg);
}

/* A jump host that is not a node: "[user@]host[:port]" via ssh_config. */
static struct inv_node *
jr_extra(struct jr *jr, const char *spec)
{
    struct inv *inv = jr->inv;
    struct inv_conn_in in;
    struct inv_conn_eff eff;
    struct inv_node *nd;
    char *host, *at, *colon, *user = NULL;
    size_t i;

    for (i = 0; i < inv->nextra; i++)
        if (strcmp(inv->extra[i]->name, spec) == 0)
            return inv->extra[i];
    memset(&in, 0, sizeof(in));
    host = af_strdup(spec);
    if ((at = strrchr(host, '@')) != NULL) {
        user = af_strndup(host, (size_t)(at - host));
        memmove(host, at + 1, strlen(at + 1) + 1);
        in.user = user;
    }
    if ((colon = strrchr(host, ':')) != NULL && strchr(host, ':') == colon) {
        *colon = '\0';
        in.port = atoi(colon + 1);
        if (in.port < 1 || in.port > 65535)
            in.port = 0;
    }
    inv__conn_eff(inv->sshcfg, host, &in, jr->home, &eff);
    nd = af_calloc(1, sizeof(*nd));
    nd->name = af_strdup(spec);
    nd->address = eff.address;
    nd->port = eff.port;
    nd->user = eff.user;
    nd->identity = eff.identity;
    nd->known_hosts = eff.known_hosts;
    nd->jump = eff.jump;
    nd->hostkeys = eff.hostkeys;
    nd->connect_timeout = eff.connect_timeout;
    nd->handshake_timeout = eff.handshake_timeout;
    memcpy(nd->src, eff.src, sizeof(nd->src));
    nd->index = (size_t)-1;
    nd->file = inv->path;
    nd->line = jr->at->line;
    nd->col = jr->at->col;
    inv->extra =
        af_reallocarray(inv->extra, inv->nextra + 1, sizeof(*inv->extra));
    inv->extra[inv->nextra++] = nd;
    free(host);
    free(user);
    return nd;
}

static int jr_chain(struct jr *jr, struct inv_node *nd, int depth);

/* Append hop (after its own chain) to the list. */
static int
jr_push(struct jr *jr, struct inv_node **list, size_t *n, struct inv_node *h)
{
    if (*n >= INV_MAX_HOPS)
        return jr_fail(jr, "jump chain longer than 8 hops (a loop?) at",
                       h->name);
    list[(*n)++] = h;
    return 0;
}

/* Fill nd->jumps from nd->jump (depth guards against loops). */
static int
jr_chain(struct jr *jr, struct inv_node *nd, int depth)
{
    struct inv_node *list[INV_MAX_HOPS], *h;
    char *spec, *p, *tok, *save = NULL;
    size_t n = 0, i;
    int r = 0, first = 1;

    if (nd->jump == NULL || nd->jumps != NULL)
        return 0;
    if (depth > INV_MAX_HOPS)
        return jr_fail(jr, "jump chain loops through", nd->name);
    spec = af_strdup(nd->jump);
    for (tok = strtok_r(spec, ",", &save); tok != NULL && r == 0;
         tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        p = strncmp(tok, "ssh://", 6) == 0 ? tok + 6 : tok;
        if (*p == '\0') {
            r = jr_fail(jr, "bad jump host", tok);
            break;
        }
        if (strcmp(p, nd->name) == 0) {
            r = jr_fail(jr, "a node cannot be its own jump host", tok);
            break;
        }
        {
            const struct inv_node *f = inv_find(jr->inv, p);

            h = f != NULL ? &jr->inv->nodes[f->index] : jr_extra(jr, p);
        }
        if (first && h->jump != NULL) {
            /* The first hop is reached as its own config says. */
            if ((r = jr_chain(jr, h, depth + 1)) != 0)
                break;
            for (i = 0; i < h->njumps && r == 0; i++)
                r = jr_push(jr, list, &n, h->jumps[i]);
        }
        first = 0;
        if (r == 0)
            r = jr_push(jr, list, &n, h);
    }
    free(spec);
    if (r != 0)
        return r;
    for (i = 0; i < n; i++)
        if (list[i] == nd)
            return jr_fail(jr, "jump chain loops back to", nd->name);
    nd->jumps = af_reallocarray(NULL, n ? n : 1, sizeof(*nd->jumps));
    memcpy(nd->jumps, list, n * sizeof(*list));
    nd->njumps = n;
    return 0;
}

int
inv__resolve_jumps(struct inv *inv, const char *home, struct af_err *e)
{
    struct jr jr = {inv, home, e, NULL};
    size_t i;
    int r;

    for (i = 0; i < inv->nnodes; i++) {
        jr.at = &inv->nodes[i];
        if ((r = jr_chain(&jr, &inv->nodes[i], 0)) != 0)
            return r;
    }
    return 0;
}
