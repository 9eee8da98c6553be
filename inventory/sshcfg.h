/* SPDX-License-Identifier: MIT */
/*
 * A reader for OpenSSH client configuration files (ssh_config(5)), limited
 * to the keywords ascend-fleet uses: HostName, User, Port, IdentityFile,
 * UserKnownHostsFile, StrictHostKeyChecking, ConnectTimeout and ProxyJump,
 * under `Host` patterns (with `*`, `?` and `!` negation) and `Include`.
 * Other keywords are skipped; `Match` blocks apply only for `Match all`.
 * As in ssh, the first value found for a keyword wins. This module only
 * reads files the caller names: it never looks at ~/.ssh/config by itself
 * and never runs anything (ProxyCommand is ignored).
 */
#ifndef AF_SSHCFG_H
#define AF_SSHCFG_H

#include <stddef.h>

struct af_err;
struct sshcfg;

enum sshcfg_key {
    SSHCFG_HOSTNAME = 0,
    SSHCFG_USER,
    SSHCFG_PORT,
    SSHCFG_IDENTITYFILE,
    SSHCFG_USERKNOWNHOSTSFILE,
    SSHCFG_STRICTHOSTKEYCHECKING,
    SSHCFG_CONNECTTIMEOUT,
    SSHCFG_PROXYJUMP,
    SSHCFG_NKEYS,
};

/* One value found for a host: both strings borrowed from the sshcfg. */
struct sshcfg_val {
    const char *value; /* NULL when no block set the keyword */
    const char *where; /* "FILE:LINE" of the line that set it */
};

/* The values that apply to one host, indexed by enum sshcfg_key. */
struct sshcfg_vals {
    struct sshcfg_val v[SSHCFG_NKEYS];
};

/*
 * Read the files in order (a later file only fills what earlier ones left
 * unset). A NULL entry is skipped. A file named in `optional` positions may
 * be missing: optional[i] != 0 means files[i] is allowed not to exist (as
 * ssh treats ~/.ssh/config and /etc/ssh/ssh_config). `Include` paths that
 * are not absolute are taken relative to incdir[i] (ssh uses ~/.ssh for the
 * user file and /etc/ssh for the system file); incdir may be NULL, and "~/"
 * in any path expands with home.
 *
 * Values are checked where the checks are cheap: Port must be 1..65535,
 * ConnectTimeout a positive number of seconds, StrictHostKeyChecking one of
 * yes/no/ask/accept-new/off. On success returns 0 and *out (free with
 * sshcfg_free). On failure returns AF_EINPUT ("FILE:LINE: message") or
 * -errno ("FILE: reason") and *out is NULL.
 */
int sshcfg_load(const char *const *files,
                const int *optional,
                const char *const *incdir,
                size_t n,
                const char *home,
                struct sshcfg **out,
                struct af_err *e);

/* Free what sshcfg_load returned. Accepts NULL. */
void sshcfg_free(struct sshcfg *cfg);

/*
 * Fill v with the first value of every keyword whose block matches host
 * (the name as the operator wrote it, matched case-insensitively). Never
 * fails; keywords no block sets have value NULL.
 */
void sshcfg_lookup(const struct sshcfg *cfg,
                   const char *host,
                   struct sshcfg_vals *v);

/*
 * 1 if host matches the `Host` pattern list pats (space-separated
 * patterns, `*` and `?` wildcards, a leading `!` negates: a matching
 * negated pattern makes the whole list fail), else 0.
 */
int sshcfg_match_host(const char *pats, const char *host);

/* Values for the %-tokens sshcfg_expand knows; NULL ones stay literal. */
struct sshcfg_tokens {
    const char *host;  /* %h: the host name connected to */
    const char *alias; /* %n: the name as written */
    const char *ruser; /* %r: remote user */
    const char *luser; /* %u: local user */
    const char *home;  /* %d and a leading "~/": local home directory */
    const char *port;  /* %p */
};

/*
 * Expand a leading "~/" and the tokens %h %n %r %u %d %p %% in s. Returns a
 * new string the caller frees; unknown tokens are kept as written.
 */
char *sshcfg_expand(const char *s, const struct sshcfg_tokens *t);

#endif /* AF_SSHCFG_H */
