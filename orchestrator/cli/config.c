/* SPDX-License-Identifier: MIT */
/* Defaults file: see config.h. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "af-err.h"
#include "af-yaml.h"
#include "conn.h"

#define CFG_KEYS "fanout, state, host_keys, ssh_config, inventory"

void
cfg_init(struct cfg *c)
{
    memset(c, 0, sizeof(*c));
    c->host_keys = -1;
}

static int
cfg_bad(struct af_err *e,
        const char *name,
        const struct af_ynode *n,
        const char *what)
{
    return af_err_set(e, AF_EINPUT, "%s:%d:%d: %s", name, n->line, n->col,
                      what);
}

/* The scalar text of key's value v, or NULL after setting e. */
static const char *
cfg_scalar(const char *name,
           const char *key,
           const struct af_ynode *v,
           struct af_err *e)
{
    char msg[128];

    if (v->type != AF_YSCALAR) {
        snprintf(msg, sizeof(msg), "'%s' wants a single value, not a %s", key,
                 v->type == AF_YSEQ ? "list" : "mapping");
        cfg_bad(e, name, v, msg);
        return NULL;
    }
    if (v->null || v->scalar[0] == '\0') {
        snprintf(msg, sizeof(msg), "'%s' wants a value", key);
        cfg_bad(e, name, v, msg);
        return NULL;
    }
    return v->scalar;
}

/* A path value into out: "~/" expands to $HOME. */
static int
cfg_path(const char *name,
         const char *key,
         const struct af_ynode *v,
         char *out,
         struct af_err *e)
{
    const char *s = cfg_scalar(name, key, v, e), *home = getenv("HOME");
    char msg[128];
    int n;

    if (s == NULL)
        return AF_EINPUT;
    if (strncmp(s, "~/", 2) == 0) {
        if (home == NULL || home[0] == '\0') {
            snprintf(msg, sizeof(msg), "'%s': '~/' but HOME is not set", key);
            return cfg_bad(e, name, v, msg);
        }
        n = snprintf(out, CFG_PATH_MAX, "%s/%s", home, s + 2);
    } else {
        n = snprintf(out, CFG_PATH_MAX, "%s", s);
    }
    if (n < 0 || n >= CFG_PATH_MAX) {
        out[0] = '\0';
        snprintf(msg, sizeof(msg), "'%s': path longer than %d bytes", key,
                 CFG_PATH_MAX - 1);
        return cfg_bad(e, name, v, msg);
    }
    return 0;
}

static int
cfg_fanout(struct cfg *c,
           const char *name,
           const struct af_ynode *v,
           struct af_err *e)
{
    const char *s = cfg_scalar(name, "fanout", v, e);
    char *end, msg[160];
    long n;

    if (s == NULL)
        return AF_EINPUT;
    errno = 0;
    n = strtol(s, &end, 10);
    if (v->quoted || *end != '\0' || errno != 0 || n < 1 || n > 100000) {
        snprintf(msg, sizeof(msg),
                 "'fanout' wants a number from 1 to 100000, not '%.64s'", s);
        return cfg_bad(e, name, v, msg);
    }
    c->fanout = (int)n;
    return 0;
}

static int
cfg_host_keys(struct cfg *c,
              const char *name,
              const struct af_ynode *v,
              struct af_err *e)
{
    const char *s = cfg_scalar(name, "host_keys", v, e);
    char msg[160];

    if (s == NULL)
        return AF_EINPUT;
    if (strcmp(s, "strict") == 0) {
        c->host_keys = CONN_HOSTKEY_STRICT;
    } else if (strcmp(s, "accept-new") == 0) {
        c->host_keys = CONN_HOSTKEY_ACCEPT_NEW;
    } else {
        snprintf(msg, sizeof(msg),
                 "'host_keys' is strict or accept-new, not '%.64s'", s);
        return cfg_bad(e, name, v, msg);
    }
    return 0;
}

/* Apply the pairs of root to a copy of c, so a bad file changes nothing. */
static int
cfg_apply(struct cfg *c,
          const char *name,
          const struct af_ynode *root,
          struct af_err *e)
{
    struct cfg *t;
    size_t i;
    int r = 0;

    if (root->type == AF_YSCALAR && root->null)
        return 0; /* a file holding only a comment or "~" */
    if (root->type != AF_YMAP)
        return cfg_bad(e, name, root,
                       "a defaults file is a mapping of " CFG_KEYS);
    t = malloc(sizeof(*t));
    if (t == NULL)
        return af_err_set(e, AF_EINTERNAL, "%s: out of memory", name);
    *t = *c;
    for (i = 0; r == 0 && i < root->n; i++) {
        const char *k = root->keys[i]->scalar;
        const struct af_ynode *v = root->vals[i];
        char msg[192];

        if (strcmp(k, "fanout") == 0) {
            r = cfg_fanout(t, name, v, e);
        } else if (strcmp(k, "host_keys") == 0) {
            r = cfg_host_keys(t, name, v, e);
        } else if (strcmp(k, "state") == 0) {
            r = cfg_path(name, k, v, t->state, e);
        } else if (strcmp(k, "ssh_config") == 0) {
            r = cfg_path(name, k, v, t->ssh_config, e);
        } else if (strcmp(k, "inventory") == 0) {
            r = cfg_path(name, k, v, t->inventory, e);
        } else {
            snprintf(msg, sizeof(msg), "unknown key '%.64s' (known: %s)", k,
                     CFG_KEYS);
            r = cfg_bad(e, name, root->keys[i], msg);
        }
    }
    if (r == 0)
        *c = *t;
    free(t);
    return r;
}

int
cfg_load_string(struct cfg *c,
                const char *name,
                const char *text,
                size_t len,
                struct af_err *e)
{
    struct af_ynode *root = NULL;
    int r = af_yaml_load_string(name, text, len, &root, e);

    if (r == 0)
        r = cfg_apply(c, name, root, e);
    af_yaml_free(root);
    return r;
}

int
cfg_load_file(struct cfg *c, const char *path, struct af_err *e)
{
    struct af_ynode *root = NULL;
    int r;

    if (access(path, F_OK) != 0 && errno == ENOENT)
        return 0;
    r = af_yaml_load(path, &root, e);
    if (r == 0)
        r = cfg_apply(c, path, root, e);
    af_yaml_free(root);
    return r;
}

int
cfg_paths(char *sys, char *user, size_t cap, struct af_err *e)
{
    const char *dir = getenv("AF_SYSCONFDIR");
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    int n, m = 0;

    if (dir == NULL || dir[0] == '\0')
        dir = "/etc/ascend-fleet";
    n = snprintf(sys, cap, "%s/config.yaml", dir);
    user[0] = '\0';
    /* The XDG spec ignores a relative XDG_CONFIG_HOME. */
    if (xdg != NULL && xdg[0] == '/')
        m = snprintf(user, cap, "%s/ascend-fleet/config.yaml", xdg);
    else if (home != NULL && home[0] != '\0')
        m = snprintf(user, cap, "%s/.config/ascend-fleet/config.yaml", home);
    if (n < 0 || (size_t)n >= cap || m < 0 || (size_t)m >= cap)
        return af_err_set(e, AF_EINPUT,
                          "defaults file: path longer than %zu bytes", cap - 1);
    return 0;
}

int
cfg_load(struct cfg *c, struct af_err *e)
{
    char sys[CFG_PATH_MAX], user[CFG_PATH_MAX];
    int r;

    cfg_init(c);
    if ((r = cfg_paths(sys, user, sizeof(sys), e)) != 0)
        return r;
    if ((r = cfg_load_file(c, sys, e)) != 0)
        return r;
    if (user[0] != '\0' && (r = cfg_load_file(c, user, e)) != 0)
        return r;
    return 0;
}
