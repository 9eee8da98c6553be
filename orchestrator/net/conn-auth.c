/* SPDX-License-Identifier: MIT */
/*
 * The conn's host key check against known_hosts and its public-key
 * authentication (ssh-agent, then the identity file); conn.c drives them.
 */
#define _DEFAULT_SOURCE
#include "conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "af-mem.h"
#include "internal.h"
#include "khosts.h"

/* libssh asks for a passphrase only for encrypted keys: note it, refuse. */
static int
conn_key_passphrase_cb(
    const char *prompt, char *buf, size_t len, int echo, int verify, void *ud)
{
    (void)prompt;
    (void)buf;
    (void)len;
    (void)echo;
    (void)verify;
    *(int *)ud = 1;
    return -1;
}

int
conn_key_load(const char *path, ssh_key *out, struct af_err *e)
{
    int asked = 0, rc;

    *out = NULL;
    if (access(path, F_OK) != 0)
        return af_err_set(e, AF_ENOTFOUND, "identity %s: %s", path,
                          strerror(errno));
    rc = ssh_pki_import_privkey_file(path, NULL, conn_key_passphrase_cb, &asked,
                                     out);
    if (rc == SSH_OK)
        return 0;
    *out = NULL;
    if (asked)
        return af_err_set(e, AF_EAUTH,
                          "identity %s is encrypted: load it "
                          "into ssh-agent",
                          path);
    return af_err_set(e, AF_EAUTH, "cannot load identity %s", path);
}

static char *
conn_fingerprint(struct conn *c)
{
    ssh_key srv = NULL;
    unsigned char *hash = NULL;
    size_t hlen = 0;
    char *fp = NULL, *ret;

    if (ssh_get_server_publickey(c->s, &srv) != SSH_OK)
        return af_strdup("(unknown)");
    if (ssh_get_publickey_hash(srv, SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen) ==
        0)
        fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen);
    ret = af_asprintf("%s %s", ssh_key_type_to_char(ssh_key_type(srv)),
                      fp ? fp : "(unknown)");
    ssh_string_free_char(fp);
    ssh_clean_pubkey_hash(&hash);
    ssh_key_free(srv);
    return ret;
}

/* "SHA256:<base64>" of the server's key, or NULL. */
static char *
conn_sha256(struct conn *c)
{
    ssh_key srv = NULL;
    unsigned char *hash = NULL;
    size_t hlen = 0;
    char *fp = NULL, *ret = NULL;

    if (ssh_get_server_publickey(c->s, &srv) != SSH_OK)
        return NULL;
    if (ssh_get_publickey_hash(srv, SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen) ==
        0)
        fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen);
    if (fp != NULL)
        ret = af_strdup(fp);
    ssh_string_free_char(fp);
    ssh_clean_pubkey_hash(&hash);
    ssh_key_free(srv);
    return ret;
}

/* The key passed the check: keep its fingerprint (conn_hostkey). */
static int
conn_hostkey_ok(struct conn *c)
{
    free(c->hostkey_fp);
    c->hostkey_fp = conn_sha256(c);
    return 0;
}

const char *
conn_hostkey(const struct conn *c)
{
    return c->hostkey_fp;
}

/* 1 if the server's key is marked @revoked in known_hosts. */
static int
conn_hostkey_revoked(struct conn *c)
{
    ssh_key srv = NULL;
    int r;

    if (ssh_get_server_publickey(c->s, &srv) != SSH_OK)
        return 0;
    r = khosts_revoked(c->known_hosts, srv);
    ssh_key_free(srv);
    return r;
}

/* Check the server's key against known_hosts; 0 ok, -1 failed. */
int
conn__hostkey(struct conn *c)
{
    enum ssh_known_hosts_e k;
    char *fp;

    /* libssh ignores @revoked: refused here first, in every mode. */
    if (conn_hostkey_revoked(c)) {
        fp = conn_fingerprint(c);
        conn__fail(c, AF_EHOSTKEY, CONN_FAIL_UNREACHABLE,
                   "%s: host key for %s (%s) is REVOKED in %s; refusing to "
                   "connect",
                   c->name, c->host, fp, c->known_hosts);
        free(fp);
        return -1;
    }
    k = ssh_session_is_known_server(c->s);
    if (k == SSH_KNOWN_HOSTS_OK)
        return conn_hostkey_ok(c);
    fp = conn_fingerprint(c);
    switch (k) {
    case SSH_KNOWN_HOSTS_CHANGED:
    case SSH_KNOWN_HOSTS_OTHER:
        conn__fail(c, AF_EHOSTKEY, CONN_FAIL_UNREACHABLE,
                   "%s: host key for %s has CHANGED (now %s); refusing to "
                   "connect: if this is expected, remove the old key from %s",
                   c->name, c->host, fp, c->known_hosts);
        break;
    case SSH_KNOWN_HOSTS_UNKNOWN:
    case SSH_KNOWN_HOSTS_NOT_FOUND:
        if (c->policy == CONN_HOSTKEY_ACCEPT_NEW) {
            if (ssh_session_update_known_hosts(c->s) == SSH_OK) {
                free(fp);
                return conn_hostkey_ok(c);
            }
            conn__fail(c, AF_EHOSTKEY, CONN_FAIL_UNREACHABLE,
                       "%s: cannot record host key in %s: %s", c->name,
                       c->known_hosts, ssh_get_error(c->s));
            break;
        }
        conn__fail(c, AF_EHOSTKEY, CONN_FAIL_UNREACHABLE,
                   "%s: unknown host key for %s (%s) not in %s; add it, or "
                   "run with --host-keys accept-new",
                   c->name, c->host, fp, c->known_hosts);
        break;
    default:
        conn__fail(c, AF_EHOSTKEY, CONN_FAIL_UNREACHABLE,
                   "%s: cannot check host key against %s: %s", c->name,
                   c->known_hosts, ssh_get_error(c->s));
        break;
    }
    free(fp);
    return -1;
}

/* Why no key got in, once every method was tried. */
static void
conn_auth_denied(struct conn *c)
{
    if (c->agent != NULL && c->key == NULL)
        conn__fail(c, AF_EAUTH, CONN_FAIL_UNREACHABLE,
                   "%s: no key from ssh-agent accepted for user %s, and %s",
                   c->name, c->user,
                   c->key_error ? c->key_error : "no identity file");
    else if (c->agent != NULL)
        conn__fail(c, AF_EAUTH, CONN_FAIL_UNREACHABLE,
                   "%s: no key accepted for user %s (ssh-agent, then %s)",
                   c->name, c->user, c->identity);
    else if (c->key == NULL)
        conn__fail(c, AF_EAUTH, CONN_FAIL_UNREACHABLE, "%s: %s", c->name,
                   c->key_error ? c->key_error : "no identity");
    else
        conn__fail(c, AF_EAUTH, CONN_FAIL_UNREACHABLE,
                   "%s: public key %s denied for user %s", c->name, c->identity,
                   c->user);
}

/*
 * Public-key authentication as ssh orders it: the agent's keys first, then
 * the identity file. Returns SSH_AUTH_AGAIN, SSH_AUTH_SUCCESS, or anything
 * else once the conn failed. The agent socket itself is blocking local I/O
 * in libssh (style guide B2-12); the exchange with the node is not.
 */
int
conn__auth(struct conn *c)
{
    int rc;

    if (c->auth_step == 0) {
        rc = ssh_userauth_agent(c->s, NULL);
        if (rc == SSH_AUTH_AGAIN || rc == SSH_AUTH_SUCCESS)
            return rc;
        /* Denied, or the agent is unreachable: go on to the key file. */
        c->auth_step = 1;
    }
    if (c->auth_step == 1 && c->key != NULL) {
        rc = ssh_userauth_publickey(c->s, NULL, c->key);
        if (rc == SSH_AUTH_AGAIN || rc == SSH_AUTH_SUCCESS)
            return rc;
        if (rc == SSH_AUTH_ERROR) {
            conn__fail(c, AF_EAUTH, CONN_FAIL_UNREACHABLE,
                       "%s: authentication error: %s", c->name,
                       ssh_get_error(c->s));
            return rc;
        }
    }
    c->auth_step = 2;
    conn_auth_denied(c);
    return SSH_AUTH_DENIED;
}
