/* SPDX-License-Identifier: MIT */
/*
 * Shared between the inventory's own files (inv.c, inv-ssh.c); not part of
 * the module's interface.
 */
#ifndef AF_INV_INTERNAL_H
#define AF_INV_INTERNAL_H

#include "inv.h"

struct af_err;
struct sshcfg;

/* Connection settings as one host item writes them (NULL / 0 = unset). */
struct inv_conn_in {
    const char *address; /* the item's address for this name, or NULL */
    const char *user;
    int port;
    const char *identity;    /* already resolved against the inventory */
    const char *known_hosts; /* same */
    enum inv_hostkeys hostkeys;
    int connect_timeout;
    int handshake_timeout;
    const char *jump;
};

/* Effective settings for one node; strings owned until moved or freed. */
struct inv_conn_eff {
    char *address, *user, *identity, *known_hosts, *jump;
    int port;
    enum inv_hostkeys hostkeys;
    int connect_timeout, handshake_timeout;
    const char *src[INV_NSRC];
};

/*
 * Read the ssh_config files `which` names: NULL for ssh's defaults
 * (home/.ssh/config then INV_SYSTEM_SSH_CONFIG, both optional), "none" for
 * no file, else that one file (which must exist). *desc (caller frees) says
 * what was read. Returns 0, or an error from sshcfg_load.
 */
int inv__sshcfg_open(const char *which,
                     const char *home,
                     struct sshcfg **out,
                     char **desc,
                     struct af_err *e);

/*
 * Layer in (inventory) over ssh_config's values for name over the
 * built-in defaults into out (free with inv__conn_eff_free).
 */
void inv__conn_eff(const struct sshcfg *cfg,
                   const char *name,
                   const struct inv_conn_in *in,
                   const char *home,
                   struct inv_conn_eff *out);
void inv__conn_eff_free(struct inv_conn_eff *eff);

/*
 * Resolve every node's jump spec into node->jumps (see inv.h), adding
 * jump hosts that are not nodes to inv->extra. A hop "[user@]host[:port]"
 * names an inventory node when it is a node's name alone; a hop's own jump
 * chain comes first, as with ssh. Returns 0, or AF_EINPUT with
 * "FILE:LINE:COL: ..." (a bad spec, a loop, a chain over 8 hops).
 */
int inv__resolve_jumps(struct inv *inv, const char *home, struct af_err *e);
/* Free what a node owns (not the node itself). */
void inv__free_node(struct inv_node *nd);

#endif /* AF_INV_INTERNAL_H */
