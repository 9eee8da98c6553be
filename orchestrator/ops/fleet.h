/* SPDX-License-Identifier: MIT */
/*
 * What every subcommand shares: the loop, the inventory, the selected
 * nodes, loaded identities and the connection options taken from the
 * command line. One struct fleet is built by a subcommand and passed down
 * explicitly (no globals).
 */
#ifndef AF_FLEET_H
#define AF_FLEET_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "af-sched.h"
#include "conn.h"
#include "sess.h"

struct inv;
struct inv_node;
struct jump_pool;

struct fleet_key {
    char *path;
    ssh_key key; /* NULL when it could not be loaded (see why) */
    char *why;   /* the load error, or NULL */
};

struct fleet {
    uv_loop_t *loop;
    struct inv *inv;
    size_t *sel; /* indices into inv->nodes, inventory order */
    size_t nsel;
    struct fleet_key *keys;
    size_t nkeys;
    enum conn_hostkey_policy hostkeys;
    const char *kex;
    char *agent; /* $SSH_AUTH_SOCK when set, tried before identity files */
    struct jump_pool *jumps; /* shared jump-host sessions (jump.h) */
    int fanout;
};

/*
 * Load the inventory at path, select nodes by limit (NULL = all) and load
 * every identity the selected nodes use. With an ssh-agent
 * ($SSH_AUTH_SOCK) an identity that is missing or encrypted is not an
 * error here: the agent is tried first and the node fails at
 * authentication if nothing gets in. Without one it is (e->msg says
 * "identity FILE is encrypted: load it into ssh-agent" for an encrypted
 * key). ssh_config (NULL, a file or
 * "none") overrides the inventory's ssh_config (see inv_load_ex). On failure
 * returns a negative code with e filled (an input error: the caller exits 2)
 * and leaves f safe to pass to fleet_free.
 */
int fleet_init(struct fleet *f,
               uv_loop_t *loop,
               const char *inventory,
               const char *limit,
               const char *ssh_config,
               struct af_err *e);
void fleet_free(struct fleet *f);

/* The i-th selected node. */
const struct inv_node *fleet_node(const struct fleet *f, size_t i);

/*
 * Fill o for node n (strings borrowed from the inventory and f). A node
 * behind jump hosts gets o->via: the chain's session in f->jumps, shared
 * by every node behind the same chain.
 */
void fleet_conn_opts(const struct fleet *f,
                     const struct inv_node *n,
                     struct conn_opts *o);

/*
 * Open an agent session to node n (sess_open with f's connection options).
 * Jobs that run through the scheduler use sched_jobs instead.
 */
struct sess *fleet_sess_open(const struct fleet *f,
                             const struct inv_node *n,
                             sess_ready_cb cb,
                             void *data);

/* Milliseconds since the epoch (wall clock), for records. */
int64_t fleet_now_ms(void);

#endif /* AF_FLEET_H */
