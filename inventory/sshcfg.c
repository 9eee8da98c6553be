/* SPDX-License-Identifier: MIT */
/*
 * ssh_config reading: every file becomes a flat list of (block, keyword,
 * value, FILE:LINE) entries; a lookup walks the list once and keeps the
 * first value of each keyword whose block matches, which is ssh's "first
 * obtained value wins". Nothing here resolves names or runs commands.
 */
#define _DEFAULT_SOURCE
#include "sshcfg.h"

#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "af-err.h"
#include "af-mem.h"

/* ssh allows 16 levels of Include. */
#define SSHCFG_MAX_DEPTH 16

enum blk_kind {
    BLK_ALL,   /* before any Host line, or `Match all` */
    BLK_HOST,  /* `Host patterns` */
    BLK_NEVER, /* a Match we do not evaluate */
};

struct blk {
    enum blk_kind kind;
    char *pats;
};

struct ent {
    int key;
    size_t blk;
    char *value;
    char *where;
};

struct sshcfg {
    struct blk *blks;
    size_t nblks;
    struct ent *ents;
    size_t nents;
};

static const char *const key_names[SSHCFG_NKEYS] = {
    "HostName",
    "User",
    "Port",
    "IdentityFile",
    "UserKnownHostsFile",
    "StrictHostKeyChecking",
    "ConnectTimeout",
    "ProxyJump",
};

struct rd {
    struct sshcfg *cfg;
    const char *home;
    const char *incdir;
    struct af_err *e;
};

static size_t
add_blk(struct sshcfg *cfg, enum blk_kind kind, const char *pats)
{
    cfg->blks = af_reallocarray(cfg->blks, cfg->nblks + 1, sizeof(*cfg->blks));
    cfg->blks[cfg->nblks].kind = kind;
    cfg->blks[cfg->nblks].pats = pats ? af_strdup(pats) : NULL;
    return cfg->nblks++;
}

static void
add_ent(struct sshcfg *cfg,
        int key,
        size_t blk,
        const char *value,
        const char *file,
        int line)
{
    struct ent *en;

    cfg->ents = af_reallocarray(cfg->ents, cfg->nents + 1, sizeof(*cfg->ents));
    en = &cfg->ents[cfg->nents++];
    en->key = key;
    en->blk = blk;
    en->value = af_strdup(value);
    en->where = af_asprintf("%s:%d", file, line);
}

/* "~/x" with home, else a copy. */
static char *
tilde(const char *p, const char *home)
{
    if (p[0] == '~' && (p[1] == '/' || p[1] == '\0') && home != NULL)
        return af_asprintf("%s%s", home, p + 1);
    return af_strdup(p);
}

/*
 * Split the next word off *s (double quotes group, and are removed);
 * returns NULL at the end. Modifies the line in place.
 */
static char *
next_word(char **s)
{
    char *p = *s, *w, *o;

    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '\0')
        return NULL;
    w = o = p;
    while (*p != '\0' && *p != ' ' && *p != '\t') {
        if (*p == '"') {
            p++;
            while (*p != '\0' && *p != '"')
                *o++ = *p++;
            if (*p == '"')
                p++;
            continue;
        }
        *o++ = *p++;
    }
    if (*p != '\0')
        p++;
    *o = '\0';
    *s = p;
    return w;
}

static int read_file(
    struct rd *rd, const char *path, int optional, size_t *blk, int depth);

static int
do_include(struct rd *rd,
           char *args,
           const char *file,
           int line,
           size_t *blk,
           int depth)
{
    char *w, *pat;
    glob_t g;
    size_t i;
    int r = 0, gr;

    if (depth >= SSHCFG_MAX_DEPTH)
        return af_err_set(rd->e, AF_EINPUT,
                          "%s:%d: Include nested too "
                          "deeply",
                          file, line);
    while ((w = next_word(&args)) != NULL) {
        if (w[0] == '~' || w[0] == '/' || rd->incdir == NULL)
            pat = tilde(w, rd->home);
        else
            pat = af_asprintf("%s/%s", rd->incdir, w);
        memset(&g, 0, sizeof(g));
        gr = glob(pat, 0, NULL, &g);
        free(pat);
        if (gr == GLOB_NOMATCH)
            continue;
        if (gr != 0) {
            globfree(&g);
            return af_err_set(rd->e, AF_EINPUT,
                              "%s:%d: cannot expand "
                              "Include '%s'",
                              file, line, w);
        }
        for (i = 0; i < g.gl_pathc && r == 0; i++)
            r = read_file(rd, g.gl_pathv[i], 0, blk, depth + 1);
        globfree(&g);
        if (r != 0)
            return r;
    }
    return 0;
}

static int
check_value(struct rd *rd, int key, const char *v, const char *file, int line)
{
    char *end;
    long x;

    if (key == SSHCFG_PORT || key == SSHCFG_CONNECTTIMEOUT) {
        errno = 0;
        x = strtol(v, &end, 10);
        if (*v == '\0' || *end != '\0' || errno != 0 || x < 1 ||
            (key == SSHCFG_PORT && x > 65535))
            return af_err_set(rd->e, AF_EINPUT, "%s:%d: bad %s '%s'", file,
                              line, key_names[key], v);
    }
    if (key == SSHCFG_STRICTHOSTKEYCHECKING && strcasecmp(v, "yes") != 0 &&
        strcasecmp(v, "no") != 0 && strcasecmp(v, "ask") != 0 &&
        strcasecmp(v, "off") != 0 && strcasecmp(v, "accept-new") != 0)
        return af_err_set(rd->e, AF_EINPUT,
                          "%s:%d: bad "
                          "StrictHostKeyChecking '%s'",
                          file, line, v);
    return 0;
}

/* One line: keyword, optional '=', arguments. */
static int
parse_line(
    struct rd *rd, char *s, const char *file, int line, size_t *blk, int depth)
{
    char *kw, *v;
    size_t n;
    int k;

    while (*s == ' ' || *s == '\t')
        s++;
    if (*s == '\0' || *s == '#')
        return 0;
    kw = s;
    while (*s != '\0' && *s != ' ' && *s != '\t' && *s != '=')
        s++;
    n = (size_t)(s - kw);
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s == '=')
        s++;
    while (*s == ' ' || *s == '\t')
        s++;
    kw[n] = '\0';
    if (strcasecmp(kw, "Host") == 0) {
        if (*s == '\0')
            return af_err_set(rd->e, AF_EINPUT,
                              "%s:%d: Host without a "
                              "pattern",
                              file, line);
        *blk = add_blk(rd->cfg, BLK_HOST, s);
        return 0;
    }
    if (strcasecmp(kw, "Match") == 0) {
        v = next_word(&s);
        *blk = add_blk(
            rd->cfg,
            v != NULL && strcasecmp(v, "all") == 0 ? BLK_ALL : BLK_NEVER, NULL);
        return 0;
    }
    if (strcasecmp(kw, "Include") == 0)
        return do_include(rd, s, file, line, blk, depth);
    for (k = 0; k < SSHCFG_NKEYS; k++)
        if (strcasecmp(kw, key_names[k]) == 0)
            break;
    if (k == SSHCFG_NKEYS)
        return 0; /* a keyword we do not use */
    if ((v = next_word(&s)) == NULL)
        return af_err_set(rd->e, AF_EINPUT, "%s:%d: %s without a value", file,
                          line, key_names[k]);
    if (check_value(rd, k, v, file, line) != 0)
        return AF_EINPUT;
    add_ent(rd->cfg, k, *blk, v, file, line);
    return 0;
}

static int
read_file(struct rd *rd, const char *path, int optional, size_t *blk, int depth)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int ln = 0, r = 0;

    if (f == NULL) {
        if (optional && errno == ENOENT)
            return 0;
        return af_err_set(rd->e, -errno, "%s: %s", path, strerror(errno));
    }
    while (r == 0 && (len = getline(&line, &cap, f)) >= 0) {
        ln++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        r = parse_line(rd, line, path, ln, blk, depth);
    }
    free(line);
    fclose(f);
    return r;
}

int
sshcfg_load(const char *const *files,
            const int *optional,
            const char *const *incdir,
            size_t n,
            const char *home,
            struct sshcfg **out,
            struct af_err *e)
{
    struct sshcfg *cfg = af_calloc(1, sizeof(*cfg));
    struct rd rd;
    size_t i, blk;
    int r = 0;

    *out = NULL;
    rd.cfg = cfg;
    rd.home = home;
    rd.e = e;
    for (i = 0; i < n && r == 0; i++) {
        char *path;

        if (files[i] == NULL)
            continue;
        rd.incdir = incdir != NULL ? incdir[i] : NULL;
        /* Each top-level file starts outside any Host block. */
        blk = add_blk(cfg, BLK_ALL, NULL);
        path = tilde(files[i], home);
        r = read_file(&rd, path, optional != NULL && optional[i], &blk, 0);
        free(path);
    }
    if (r != 0) {
        sshcfg_free(cfg);
        return r;
    }
    *out = cfg;
    return 0;
}

void
sshcfg_free(struct sshcfg *cfg)
{
    size_t i;

    if (cfg == NULL)
        return;
    for (i = 0; i < cfg->nblks; i++)
        free(cfg->blks[i].pats);
    for (i = 0; i < cfg->nents; i++) {
        free(cfg->ents[i].value);
        free(cfg->ents[i].where);
    }
    free(cfg->blks);
    free(cfg->ents);
    free(cfg);
}

/* Glob match with * and ?, case-insensitive, on [p, pe). */
static int
wild(const char *p, const char *pe, const char *s)
{
    for (; p < pe; p++, s++) {
        if (*p == '*') {
            for (;; s++) {
                if (wild(p + 1, pe, s))
                    return 1;
                if (*s == '\0')
                    return 0;
            }
        }
        if (*s == '\0')
            return 0;
        if (*p != '?' &&
            tolower((unsigned char)*p) != tolower((unsigned char)*s))
            return 0;
    }
    return *s == '\0';
}

int
sshcfg_match_host(const char *pats, const char *host)
{
    const char *p = pats, *q;
    int hit = 0, neg;

    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '\0')
            break;
        q = p;
        while (*q != '\0' && *q != ' ' && *q != '\t' && *q != ',')
            q++;
        neg = *p == '!';
        if (wild(p + neg, q, host)) {
            if (neg)
                return 0;
            hit = 1;
        }
        p = q;
    }
    return hit;
}

void
sshcfg_lookup(const struct sshcfg *cfg, const char *host, struct sshcfg_vals *v)
{
    unsigned char *memo;
    size_t i;

    memset(v, 0, sizeof(*v));
    if (cfg == NULL)
        return;
    /* 0 unknown, 1 matches, 2 does not: each block is matched once. */
    memo = af_calloc(cfg->nblks + 1, 1);
    for (i = 0; i < cfg->nents; i++) {
        const struct ent *en = &cfg->ents[i];
        const struct blk *b = &cfg->blks[en->blk];

        if (v->v[en->key].value != NULL)
            continue;
        if (memo[en->blk] == 0)
            memo[en->blk] =
                b->kind == BLK_ALL || (b->kind == BLK_HOST &&
                                       sshcfg_match_host(b->pats, host))
                    ? 1
                    : 2;
        if (memo[en->blk] != 1)
            continue;
        v->v[en->key].value = en->value;
        v->v[en->key].where = en->where;
    }
    free(memo);
}

char *
sshcfg_expand(const char *s, const struct sshcfg_tokens *t)
{
    size_t cap = strlen(s) + 1, len = 0;
    char *o;
    const char *rep;

    if (s[0] == '~' && s[1] == '/' && t->home != NULL) {
        char *tmp = af_asprintf("%%d%s", s + 1), *r;

        r = sshcfg_expand(tmp, t);
        free(tmp);
        return r;
    }
    o = af_malloc(cap);
    for (; *s; s++) {
        char lit[3] = {'%', 0, 0};

        rep = NULL;
        if (*s == '%' && s[1] != '\0') {
            switch (s[1]) {
            case '%':
                rep = "%";
                break;
            case 'h':
                rep = t->host;
                break;
            case 'n':
                rep = t->alias;
                break;
            case 'r':
                rep = t->ruser;
                break;
            case 'u':
                rep = t->luser;
                break;
            case 'd':
                rep = t->home;
                break;
            case 'p':
                rep = t->port;
                break;
            default:
                break;
            }
            lit[1] = s[1];
            if (rep == NULL)
                rep = lit;
            s++;
        } else {
            lit[0] = *s;
            rep = lit;
        }
        while (len + strlen(rep) + 1 > cap) {
            cap *= 2;
            o = af_realloc(o, cap);
        }
        memcpy(o + len, rep, strlen(rep));
        len += strlen(rep);
    }
    o[len] = '\0';
    return o;
}
