/* SPDX-License-Identifier: MIT */
/*
 * The inventory: which nodes exist, how to reach them (address, port, user,
 * keys, timeouts), which groups they belong to, and the per-node settings an
 * install needs (reboot command, install path). Read once from YAML before
 * the loop starts; everything is checked at load time and every problem is
 * reported as "FILE:LINE:COL: message". The `hccn:` sections are kept as
 * YAML nodes here and checked by the hccn module.
 */
#ifndef AF_INV_H
#define AF_INV_H

#include <stddef.h>

struct af_err;
struct af_ynode;
struct inv_index;
struct sshcfg;

/* Built-in defaults, used when neither defaults, group vars nor host say. */
#define INV_DEFAULT_USER              "root"
#define INV_DEFAULT_PORT              22
#define INV_DEFAULT_IDENTITY          "~/.ssh/id_ed25519"
#define INV_DEFAULT_KNOWN_HOSTS       "~/.ssh/known_hosts"
#define INV_DEFAULT_CONNECT_TIMEOUT   10
#define INV_DEFAULT_HANDSHAKE_TIMEOUT 30
#define INV_DEFAULT_COMMAND_TIMEOUT   600
#define INV_DEFAULT_REBOOT_COMMAND    "systemctl reboot"
#define INV_DEFAULT_REBOOT_TIMEOUT    600
#define INV_DEFAULT_INSTALL_PATH      "/usr/local/Ascend"
/* Upper bound for every timeout, in seconds (7 days). */
#define INV_MAX_TIMEOUT 604800
/* The system-wide ssh_config read after the operator's ~/.ssh/config. */
#define INV_SYSTEM_SSH_CONFIG "/etc/ssh/ssh_config"

/* Host-key policy a node asks for (inventory host_keys, ssh_config
 * StrictHostKeyChecking); UNSET leaves it to the command line. */
enum inv_hostkeys {
    INV_HOSTKEYS_UNSET = 0,
    INV_HOSTKEYS_STRICT,
    INV_HOSTKEYS_ACCEPT_NEW,
};

/* Connection settings whose origin inventory show reports. */
enum inv_src {
    INV_SRC_ADDRESS = 0,
    INV_SRC_PORT,
    INV_SRC_USER,
    INV_SRC_IDENTITY,
    INV_SRC_KNOWN_HOSTS,
    INV_SRC_HOSTKEYS,
    INV_SRC_CONNECT_TIMEOUT,
    INV_SRC_HANDSHAKE_TIMEOUT,
    INV_SRC_JUMP,
    INV_NSRC,
};

/* Names of the enum inv_src settings as the inventory spells them. */
extern const char *const inv_src_names[INV_NSRC];

/* One node. All strings are owned by the struct inv it belongs to. */
struct inv_node {
    char *name;
    char *address; /* defaults to name */
    int port;      /* 1..65535 */
    char *user;
    char *identity;        /* absolute, or as written if the file had no dir */
    char *known_hosts;     /* same */
    int connect_timeout;   /* seconds, > 0: TCP connect only */
    int handshake_timeout; /* seconds, > 0: SSH handshake and auth */
    enum inv_hostkeys hostkeys;
    char *jump; /* jump hosts "a,b" (ProxyJump syntax) or NULL */
    int become; /* 1: commands run through `sudo -n` (become: sudo) */
    /* The resolved chain: jumps[0] is reached directly, each next one
     * through the previous, the node through the last. Entries are
     * inventory nodes or inv->extra hosts; owned by the inv. */
    struct inv_node **jumps;
    size_t njumps;
    /* Where each enum inv_src setting came from: "inventory", "default",
     * or "FILE:LINE" of an ssh_config line (borrowed from the inv). */
    const char *src[INV_NSRC];
    int command_timeout; /* seconds, > 0 */
    char *reboot_command;
    int reboot_timeout; /* seconds, > 0 */
    char *install_path; /* absolute */
    char **groups;      /* names borrowed from inv->groups, file order */
    size_t ngroups;
    const struct af_ynode *hccn; /* per-host `hccn:` mapping or NULL */
    size_t index;                /* position in inv->nodes */
    const char *file;            /* inv->path */
    int line, col;               /* where the node's name is written */
};

struct inv {
    char *path;
    struct inv_node *nodes; /* in file order: groups first, then hosts */
    size_t nnodes;
    char **groups; /* group names in file order (may be empty) */
    size_t ngroups;
    struct af_ynode *root;       /* the parsed file, owned */
    const struct af_ynode *hccn; /* top-level `hccn:` section or NULL */
    struct inv_index *index;     /* private name lookup table */
    struct sshcfg *sshcfg;       /* ssh_config files read, or NULL */
    /* Jump hosts that are not inventory nodes (from `jump:` or ProxyJump
     * specs), each named by its spec and set up from ssh_config. */
    struct inv_node **extra;
    size_t nextra;
    char *ssh_config; /* which ones, for messages: "none", ... */
    /* Per group (ngroups): index in nodes of its `gateway:`, or -1. */
    long *gateways;
};

/*
 * Read and check the inventory at path. Its top level holds `defaults:` (a
 * settings mapping), `groups:` (name -> {vars: settings, hosts: [items]}),
 * `hosts:` (ungrouped items) and `hccn:`. A host item is a mapping with
 * `name` (a hostlist pattern, required), `address` (one address for one
 * name, else a pattern giving as many addresses as the name gives names,
 * paired in order), `hccn` (mapping) and settings; a plain string is a
 * name alone.
 * The settings keys are user, port, identity, known_hosts, host_keys
 * (strict or accept-new), connect_timeout (TCP connect), handshake_timeout
 * (SSH handshake and authentication), jump (jump hosts, ProxyJump syntax),
 * become (sudo or none: run everything through `sudo -n` for a non-root
 * login), command_timeout, reboot_command, reboot_timeout and
 * install_path.
 * A null value (unquoted empty, "~", "null") leaves a setting unset at that
 * level. Settings are inherited built-in defaults -> `defaults:` -> group
 * `vars:` -> host item; "~/"
 * in identity and known_hosts expands with $HOME, and a relative path
 * there is taken relative to the inventory file's directory.
 *
 * Connection settings the inventory leaves unset come from ssh_config, as
 * ssh would read it for the node's name (Host patterns match the name):
 * HostName (only without `address`), User, Port, IdentityFile,
 * UserKnownHostsFile, StrictHostKeyChecking, ConnectTimeout and ProxyJump,
 * and only then from the built-in defaults. The files read are
 * ~/.ssh/config then /etc/ssh/ssh_config (missing ones are skipped), or the
 * single file named by the top-level `ssh_config:` key, or none for
 * `ssh_config: none`. inv_load_ex's ssh_config argument (the command line)
 * overrides the key the same way. A host named in several
 * groups with the same address and port is one node in all those groups;
 * the first entry's other settings apply.
 *
 * On success returns 0 and *out is a new inventory the caller frees with
 * inv_free. On failure *out is NULL and the return value is AF_EYAML (YAML
 * syntax), AF_EINPUT (anything the YAML says that we reject) or -errno (the
 * file cannot be read); e->msg reads "FILE:LINE:COL: message" pointing at
 * the offending YAML node (or "FILE: message" for read errors).
 */
int inv_load(const char *path, struct inv **out, struct af_err *e);

/* inv_load with ssh_config (a file, or "none"; NULL = as the inventory
 * says) overriding the inventory's `ssh_config:`. Errors in ssh_config
 * files read "FILE:LINE: message". */
int inv_load_ex(const char *path,
                const char *ssh_config,
                struct inv **out,
                struct af_err *e);

/*
 * The gateway package pushes to n go through: the `gateway:` host of n's
 * group, or NULL when n's groups have none or n is that gateway itself.
 * Borrowed from inv.
 */
const struct inv_node *inv_gateway(const struct inv *inv,
                                   const struct inv_node *n);
/* Free an inventory and everything it owns. Accepts NULL. */
void inv_free(struct inv *inv);

/*
 * Select nodes with a --limit expression. limit NULL selects every node;
 * "" is an error (an unset shell variable must not mean "all"). Otherwise it is
 * a comma-separated list of terms (a comma inside [] belongs to a range); a
 * term is a hostlist pattern ("npu[001-008]"), a group name ("rack01" or
 * "@rack01"), and a leading "!" excludes what the term selects. With only "!"
 * terms the exclusion applies to all nodes. Every term must match at least one
 * node or group, and the result must not be empty.
 *
 * On success returns 0, *idx is a new array (caller frees with free()) of
 * *n node indices in inventory order without duplicates (NULL when *n is 0,
 * which only happens for an inventory without nodes). On failure returns
 * AF_EINPUT with e->msg like "--limit: 'x' matches no node or group".
 */
int inv_select(const struct inv *inv,
               const char *limit,
               size_t **idx,
               size_t *n,
               struct af_err *e);

/* The node called name, or NULL. Borrowed from inv. O(1). */
const struct inv_node *inv_find(const struct inv *inv, const char *name);

/* Index of group name in inv->groups, or -1. */
int inv_group_index(const struct inv *inv, const char *name);

#endif /* AF_INV_H */
