/* SPDX-License-Identifier: MIT */
/*
 * Shared between the inventory's own files (inv.c, inv-settings.c,
 * inv-ssh.c); not part of
 * the module's interface.
 */
#ifndef AF_INV_INTERNAL_H
#define AF_INV_INTERNAL_H

#include "inv.h"

#include <stddef.h>

struct af_err;
struct af_ynode;
struct sshcfg;

#define INV_SETTINGS_KEYS                                          \
    "user, port, identity, known_hosts, host_keys, jump, become, " \
    "{connect,handshake,command,reboot}_timeout, reboot_command, " \
    "install_path"

/* Settings as written at one level; 0 / NULL = not set at this level. */
struct inv_set {
    const char *user;
    int port;
    const char *identity;
    const char *known_hosts;
    int connect_timeout;
    int handshake_timeout;
    enum inv_hostkeys hostkeys;
    const char *jump;
    int become; /* 0 unset, 1 none, 2 sudo */
    int command_timeout;
    const char *reboot_command;
    int reboot_timeout;
    const char *install_path;
};

/* Open-addressing table of node indices (stored +1, 0 = empty slot). */
struct inv_index {
    size_t *slot;
    size_t cap; /* power of two */
    size_t used;
};

/* Load-time state. */
struct ld {
    struct inv *inv;
    size_t cap; /* allocated inv->nodes */
    char *dir;  /* inventory file's directory, or NULL */
    char *home;
    struct inv_index addr; /* by address:port */
    struct af_err *e;
};

/* Fail with AF_EINPUT and "FILE:LINE:COL: msg" at node n. */
int inv__fail(struct ld *l, const struct af_ynode *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "a list", "a mapping" or "a scalar", for messages. */
const char *inv__type_name(const struct af_ynode *n);
/* YAML's null (unquoted empty, "~", "null"): there, but without a value. */
int inv__is_null(const struct af_ynode *n);
/* 1 if s is a valid node name (address: also ':'). */
int inv__name_ok(const char *s, int address);

/* inv-settings.c: a non-empty string value for key k into *out. */
int inv__get_str(struct ld *l,
                 const struct af_ynode *k,
                 const struct af_ynode *v,
                 const char **out);
/*
 * inv-settings.c: read one settings key k: v into s. Returns 0, 1 if k
 * is not a settings key (the caller decides), or a negative error.
 */
int inv__settings_key(struct ld *l,
                      const struct af_ynode *k,
                      const struct af_ynode *v,
                      struct inv_set *s);
/* inv-settings.c: read a mapping of settings keys (where names it). */
int inv__settings_map(struct ld *l,
                      const struct af_ynode *m,
                      const char *where,
                      struct inv_set *s);
/* inv-settings.c: copy what src sets over dst. */
void inv__settings_apply(struct inv_set *dst, const struct inv_set *src);
/* inv-settings.c: p against the inventory's directory (caller frees). */
char *inv__resolve_path(const struct ld *l, const char *p);

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
/*
 * inv-gateway.c: check every group's `gateway:` (the groups mapping of the
 * file, once all hosts are loaded) and fill inv->gateways.
 */
int inv__load_gateways(struct ld *l, const struct af_ynode *groups);

#endif /* AF_INV_INTERNAL_H */
