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
