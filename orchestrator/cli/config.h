/* SPDX-License-Identifier: MIT */
/*
 * Defaults file: the operator's standing defaults for the shared options,
 * read from $AF_SYSCONFDIR/config.yaml (AF_SYSCONFDIR defaults to
 * /etc/ascend-fleet), then $XDG_CONFIG_HOME/ascend-fleet/config.yaml
 * (~/.config/ascend-fleet/config.yaml when XDG_CONFIG_HOME is unset or
 * not absolute). A later file overrides the keys an earlier one sets;
 * command-line options override both. A missing file is no error.
 *
 * Each file is one YAML mapping with these keys, all optional:
 *   fanout: N                      as -f N (1..100000)
 *   state: PATH                    as --state PATH
 *   host_keys: strict|accept-new   as --host-keys
 *   ssh_config: FILE|none          as --ssh-config
 *   inventory: PATH                as -i PATH
 * A leading "~/" in a path is the operator's $HOME; other relative paths
 * are taken from the current directory, as on the command line. Anything
 * else (an unknown key, a bad or missing value, a list where a value
 * belongs) is an error reported as "FILE:LINE:COL: problem".
 */
#ifndef AF_CONFIG_H
#define AF_CONFIG_H

#include <stddef.h>

struct af_err;

#define CFG_PATH_MAX 4096

/* What the files set; a field left unset keeps its built-in default. */
struct cfg {
    int fanout;                    /* 0: unset */
    int host_keys;                 /* -1: unset; else conn_hostkey_policy */
    char state[CFG_PATH_MAX];      /* "": unset (likewise below) */
    char ssh_config[CFG_PATH_MAX]; /* a file, or "none" */
    char inventory[CFG_PATH_MAX];
};

/* All fields unset. */
void cfg_init(struct cfg *c);

/*
 * Read the defaults file at path into c, overriding the keys it sets.
 * Returns 0 (also when there is no file at path), or an AF_E* / -errno
 * code with e->msg "PATH:LINE:COL: problem" (or "PATH: reason" when the
 * file cannot be read).
 */
int cfg_load_file(struct cfg *c, const char *path, struct af_err *e);

/* Same for text in memory; name stands for the file in messages. */
int cfg_load_string(struct cfg *c,
                    const char *name,
                    const char *text,
                    size_t len,
                    struct af_err *e);

/*
 * The two files, in the order they are read, from the environment
 * (AF_SYSCONFDIR, XDG_CONFIG_HOME, HOME). user is "" when neither
 * XDG_CONFIG_HOME nor HOME gives a place. Returns 0, or AF_EINPUT when a
 * path does not fit in cap bytes.
 */
int cfg_paths(char *sys, char *user, size_t cap, struct af_err *e);

/* cfg_init, then both files of cfg_paths in order. */
int cfg_load(struct cfg *c, struct af_err *e);

#endif /* AF_CONFIG_H */
