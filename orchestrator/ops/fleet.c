/* SPDX-License-Identifier: MIT */
/* Shared subcommand context. */
#define _DEFAULT_SOURCE
#include "fleet.h"

#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "af-mem.h"
#include "inv.h"
#include "jump.h"

int64_t
fleet_now_ms(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static const struct fleet_key *
fleet_key_find(const struct fleet *f, const char *path)
{
    size_t i;

    for (i = 0; i < f->nkeys; i++)
        if (strcmp(f->keys[i].path, path) == 0)
            return &f->keys[i];
    return NULL;
}

/* Load one identity; without an agent a failure ends the run. */
static int
fleet_key_add(struct fleet *f, const struct inv_node *n, struct af_err *e)
{
    struct af_err ke = {0};
    struct fleet_key *k;
    ssh_key key = NULL;
    int r;

    if ((r = conn_key_load(n->identity, &key, &ke)) != 0 && f->agent == NULL) {
        if (r == AF_ENOTFOUND)
            return af_err_set(e, AF_EAUTH,
                              "%s: cannot load identity %s "
                              "(node %s): no such file, and no ssh-agent",
                              f->inv->path, n->identity, n->name);
        return af_err_set(e, r, "%s: %s (node %s)", f->inv->path, ke.msg,
                          n->name);
    }
    f->keys = af_reallocarray(f->keys, f->nkeys + 1, sizeof(*f->keys));
    k = &f->keys[f->nkeys++];
    k->path = af_strdup(n->identity);
    k->key = key;
    k->why = r != 0 ? af_strdup(ke.msg) : NULL;
    return 0;
}

int
fleet_init(struct fleet *f,
           uv_loop_t *loop,
           const char *inventory,
           const char *limit,
           const char *ssh_config,
           struct af_err *e)
{
    size_t i;
    int r;

    memset(f, 0, sizeof(*f));
    f->loop = loop;
    f->fanout = 64;
    if (getenv("SSH_AUTH_SOCK") != NULL && getenv("SSH_AUTH_SOCK")[0] != '\0')
        f->agent = af_strdup(getenv("SSH_AUTH_SOCK"));
    if ((r = inv_load_ex(inventory, ssh_config, &f->inv, e)) != 0)
        return r;
    if ((r = inv_select(f->inv, limit, &f->sel, &f->nsel, e)) != 0)
        return r;
    f->jumps = jump_pool_new(loop);
    for (i = 0; i < f->nsel; i++) {
        const struct inv_node *n = fleet_node(f, i);

        size_t h;

        if (fleet_key_find(f, n->identity) == NULL &&
            (r = fleet_key_add(f, n, e)) != 0)
            return r;
        for (h = 0; h < n->njumps; h++)
            if (fleet_key_find(f, n->jumps[h]->identity) == NULL &&
                (r = fleet_key_add(f, n->jumps[h], e)) != 0)
                return r;
    }
    return 0;
}

void
fleet_free(struct fleet *f)
{
    size_t i;

    for (i = 0; i < f->nkeys; i++) {
        free(f->keys[i].path);
        free(f->keys[i].why);
        ssh_key_free(f->keys[i].key);
    }
    free(f->keys);
    free(f->agent);
    jump_pool_free(f->jumps);
    free(f->sel);
    inv_free(f->inv);
    memset(f, 0, sizeof(*f));
}

const struct inv_node *
fleet_node(const struct fleet *f, size_t i)
{
    return &f->inv->nodes[f->sel[i]];
}

static void
fleet_node_opts(const struct fleet *f,
                const struct inv_node *n,
                struct conn_opts *o)
{
    const struct fleet_key *k;

    memset(o, 0, sizeof(*o));
    o->name = n->name;
    o->host = n->address;
    o->port = n->port;
    o->user = n->user;
    k = fleet_key_find(f, n->identity);
    o->key = k != NULL ? k->key : NULL;
    o->key_error = k != NULL ? k->why : NULL;
    o->agent = f->agent;
    o->identity = n->identity;
    o->known_hosts = n->known_hosts;
    /* An explicit --host-keys accept-new wins; else what the node asks. */
    o->hostkey_policy = f->hostkeys == CONN_HOSTKEY_ACCEPT_NEW ||
                                n->hostkeys == INV_HOSTKEYS_ACCEPT_NEW
                            ? CONN_HOSTKEY_ACCEPT_NEW
                            : CONN_HOSTKEY_STRICT;
    /* As in OpenSSH, ConnectTimeout bounds the TCP connect only. */
    o->connect_timeout_ms = (uint64_t)n->connect_timeout * 1000;
    o->handshake_timeout_ms = (uint64_t)n->handshake_timeout * 1000;
    o->auth_timeout_ms = o->handshake_timeout_ms;
    o->kex = f->kex;
    o->become = n->become;
}

void
fleet_conn_opts(const struct fleet *f,
                const struct inv_node *n,
                struct conn_opts *o)
{
    struct conn_opts hops[8];
    size_t i;

    fleet_node_opts(f, n, o);
    if (n->njumps == 0 || f->jumps == NULL)
        return;
    for (i = 0; i < n->njumps && i < 8; i++) {
        fleet_node_opts(f, n->jumps[i], &hops[i]);
        hops[i].become = 0; /* a jump host only forwards */
    }
    /* One shared session per chain (jump.c copies what it keeps). */
    o->via = jump_get(f->jumps, hops, i);
}

struct sess *
fleet_sess_open(const struct fleet *f,
                const struct inv_node *n,
                sess_ready_cb cb,
                void *data)
{
    struct conn_opts o;

    fleet_conn_opts(f, n, &o);
    return sess_open(f->loop, &o, SESS_AGENT, n, cb, data);
}
