/* SPDX-License-Identifier: MIT */
/*
 * The connection and run settings an inventory writes at each level
 * (defaults, a group's vars, a host item): reading and checking one key,
 * a whole mapping, and layering one level over another.
 */
#include "inv-internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "af-err.h"
#include "af-mem.h"
#include "af-safe.h"
#include "af-yaml.h"

/* ---- settings --------------------------------------------------------- */

int
inv__get_str(struct ld *l,
             const struct af_ynode *key,
             const struct af_ynode *v,
             const char **out)
{
    if (v->type != AF_YSCALAR)
        return inv__fail(l, v, "'%s' must be a string, not %s", key->scalar,
                         inv__type_name(v));
    if (v->scalar[0] == '\0')
        return inv__fail(l, v, "'%s' must not be empty", key->scalar);
    *out = v->scalar;
    return 0;
}

static int
get_int(struct ld *l,
        const struct af_ynode *key,
        const struct af_ynode *v,
        int min,
        int max,
        const char *what,
        int *out)
{
    const char *s = v->scalar;
    long long x = 0;

    if (v->type != AF_YSCALAR)
        return inv__fail(l, v, "'%s' must be an integer, not %s", key->scalar,
                         inv__type_name(v));
    if (*s == '-' && s[1] != '\0')
        s++;
    if (*s == '\0')
        goto bad;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            goto bad;
        if (x < 1000000000LL)
            x = x * 10 + (*s - '0');
    }
    if (v->scalar[0] == '-')
        x = -x;
    if (x < min || x > max)
        return inv__fail(l, v, "'%s' must be %s (%d..%d), got %s", key->scalar,
                         what, min, max, v->scalar);
    *out = (int)x;
    return 0;
bad:
    return inv__fail(l, v, "'%s' must be an integer, got '%s'", key->scalar,
                     v->scalar);
}

static int
get_path(struct ld *l,
         const struct af_ynode *key,
         const struct af_ynode *v,
         const char **out)
{
    int r;

    if ((r = inv__get_str(l, key, v, out)) != 0)
        return r;
    if ((*out)[0] == '~' && (*out)[1] != '/')
        return inv__fail(l, v, "'%s': only '~/' is expanded, not '%s'",
                         key->scalar, *out);
    return 0;
}

static int
get_hostkeys(struct ld *l,
             const struct af_ynode *key,
             const struct af_ynode *v,
             enum inv_hostkeys *out)
{
    const char *hk = NULL;
    int r = inv__get_str(l, key, v, &hk);

    if (r != 0)
        return r;
    if (strcmp(hk, "strict") == 0)
        *out = INV_HOSTKEYS_STRICT;
    else if (strcmp(hk, "accept-new") == 0)
        *out = INV_HOSTKEYS_ACCEPT_NEW;
    else
        return inv__fail(l, v, "'host_keys' is strict or accept-new, not '%s'",
                         hk);
    return 0;
}

static const char *const settings_names[] = {"user",
                                             "port",
                                             "identity",
                                             "known_hosts",
                                             "host_keys",
                                             "connect_timeout",
                                             "handshake_timeout",
                                             "jump",
                                             "become",
                                             "command_timeout",
                                             "reboot_timeout",
                                             "reboot_command",
                                             "install_path",
                                             NULL};

static int
settings_has(const char *k)
{
    size_t i;

    for (i = 0; settings_names[i] != NULL; i++)
        if (strcmp(settings_names[i], k) == 0)
            return 1;
    return 0;
}

/*
 * reboot_command is split on blanks into argv words on the node (no
 * shell): every word must be a safe word, the first not an option.
 */
static int
check_command(struct ld *l, const struct af_ynode *v)
{
    char *cmd = af_strdup(v->scalar), *save = NULL, *t, why[200];
    int r = 0, i = 0;

    for (t = strtok_r(cmd, " \t", &save); t != NULL && r == 0;
         t = strtok_r(NULL, " \t", &save), i++)
        if (af_safe_check(t, i ? AF_SAFE_DASH : 0, why, sizeof(why)) != 0)
            r = inv__fail(l, v, "'reboot_command' word '%s': %s", t, why);
    if (r == 0 && i == 0)
        r = inv__fail(l, v, "'reboot_command' must not be blank");
    free(cmd);
    return r;
}

/*
 * Parse one settings key into s. Returns 1 when key is not a settings key,
 * 0 when parsed, or a negative error.
 */
int
inv__settings_key(struct ld *l,
                  const struct af_ynode *key,
                  const struct af_ynode *v,
                  struct inv_set *s)
{
    const char *k = key->scalar;

    /* A null value (`user: ~`) leaves the setting unset at this level, so
     * the inherited one applies: never a user named "~". */
    if (inv__is_null(v))
        return settings_has(k) ? 0 : 1;
    if (strcmp(k, "user") == 0) {
        int r = inv__get_str(l, key, v, &s->user);

        if (r == 0 && (!inv__name_ok(s->user, 0) || s->user[0] == '-'))
            return inv__fail(l, v,
                             "'user' must be a login name (letters, "
                             "digits, '.', '-' and '_', not starting with "
                             "'-'), got '%s'",
                             s->user);
        return r;
    }
    if (strcmp(k, "port") == 0)
        return get_int(l, key, v, 1, 65535, "a TCP port", &s->port);
    if (strcmp(k, "identity") == 0)
        return get_path(l, key, v, &s->identity);
    if (strcmp(k, "known_hosts") == 0)
        return get_path(l, key, v, &s->known_hosts);
    if (strcmp(k, "connect_timeout") == 0)
        return get_int(l, key, v, 1, INV_MAX_TIMEOUT, "positive seconds",
                       &s->connect_timeout);
    if (strcmp(k, "handshake_timeout") == 0)
        return get_int(l, key, v, 1, INV_MAX_TIMEOUT, "positive seconds",
                       &s->handshake_timeout);
    if (strcmp(k, "jump") == 0)
        return inv__get_str(l, key, v, &s->jump);
    if (strcmp(k, "host_keys") == 0)
        return get_hostkeys(l, key, v, &s->hostkeys);
    if (strcmp(k, "become") == 0) {
        const char *b = NULL;
        int r = inv__get_str(l, key, v, &b);

        if (r == 0 && strcmp(b, "sudo") != 0 && strcmp(b, "none") != 0)
            return inv__fail(l, v, "'become' is sudo or none, not '%s'", b);
        if (r == 0)
            s->become = strcmp(b, "sudo") == 0 ? 2 : 1;
        return r;
    }
    if (strcmp(k, "command_timeout") == 0)
        return get_int(l, key, v, 1, INV_MAX_TIMEOUT, "positive seconds",
                       &s->command_timeout);
    if (strcmp(k, "reboot_timeout") == 0)
        return get_int(l, key, v, 1, INV_MAX_TIMEOUT, "positive seconds",
                       &s->reboot_timeout);
    if (strcmp(k, "reboot_command") == 0) {
        int r = inv__get_str(l, key, v, &s->reboot_command);

        return r == 0 ? check_command(l, v) : r;
    }
    if (strcmp(k, "install_path") == 0) {
        int r = inv__get_str(l, key, v, &s->install_path);
        char why[200];

        if (r == 0 &&
            af_safe_check(s->install_path, AF_SAFE_PATH, why, sizeof(why)) != 0)
            return inv__fail(l, v, "'install_path' %s, got '%s'", why,
                             s->install_path);
        return r;
    }
    return 1;
}

/* A whole settings mapping (defaults or group vars). */
int
inv__settings_map(struct ld *l,
                  const struct af_ynode *m,
                  const char *where,
                  struct inv_set *s)
{
    size_t i;
    int r;

    if (inv__is_null(m))
        return 0;
    if (m->type != AF_YMAP)
        return inv__fail(l, m, "%s must be a mapping, not %s", where,
                         inv__type_name(m));
    for (i = 0; i < m->n; i++) {
        r = inv__settings_key(l, m->keys[i], m->vals[i], s);
        if (r == 1)
            return inv__fail(
                l, m->keys[i],
                "unknown key '%s' in %s (allowed: " INV_SETTINGS_KEYS ")",
                m->keys[i]->scalar, where);
        if (r != 0)
            return r;
    }
    return 0;
}

void
inv__settings_apply(struct inv_set *dst, const struct inv_set *src)
{
    if (src->user)
        dst->user = src->user;
    if (src->port)
        dst->port = src->port;
    if (src->identity)
        dst->identity = src->identity;
    if (src->known_hosts)
        dst->known_hosts = src->known_hosts;
    if (src->connect_timeout)
        dst->connect_timeout = src->connect_timeout;
    if (src->handshake_timeout)
        dst->handshake_timeout = src->handshake_timeout;
    if (src->hostkeys)
        dst->hostkeys = src->hostkeys;
    if (src->jump)
        dst->jump = src->jump;
    if (src->become)
        dst->become = src->become;
    if (src->command_timeout)
        dst->command_timeout = src->command_timeout;
    if (src->reboot_command)
        dst->reboot_command = src->reboot_command;
    if (src->reboot_timeout)
        dst->reboot_timeout = src->reboot_timeout;
    if (src->install_path)
        dst->install_path = src->install_path;
}

/* "~/x" -> $HOME/x; relative -> inventory dir/x; absolute as is. */
char *
inv__resolve_path(const struct ld *l, const char *p)
{
    if (p[0] == '~')
        return af_asprintf("%s%s", l->home, p + 1);
    if (p[0] == '/' || l->dir == NULL)
        return af_strdup(p);
    return af_asprintf("%s/%s", l->dir, p);
}
