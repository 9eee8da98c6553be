/* SPDX-License-Identifier: MIT */
/* Group identical results; node sets are folded by the hostlist module. */
#include "fold.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "af-mem.h"
#include "hostlist.h"

struct fold_group {
    char *key;
    uint64_t hash;
    char **names;
    size_t n, cap;
    size_t order;
    const void *item; /* the first member's, borrowed */
};

struct fold {
    struct fold_group *g;
    size_t n, cap;
};

static uint64_t
fold_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;

    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

struct fold *
fold_new(void)
{
    return af_calloc(1, sizeof(struct fold));
}

void
fold_add(struct fold *f, const char *key, const char *name)
{
    fold_add_item(f, key, name, NULL);
}

void
fold_add_item(struct fold *f,
              const char *key,
              const char *name,
              const void *item)
{
    uint64_t h = fold_hash(key);
    struct fold_group *g = NULL;
    size_t i;

    for (i = 0; i < f->n; i++) {
        if (f->g[i].hash == h && strcmp(f->g[i].key, key) == 0) {
            g = &f->g[i];
            break;
        }
    }
    if (g == NULL) {
        if (f->n == f->cap) {
            f->cap = f->cap ? f->cap * 2 : 8;
            f->g = af_reallocarray(f->g, f->cap, sizeof(*f->g));
        }
        g = &f->g[f->n];
        memset(g, 0, sizeof(*g));
        g->key = af_strdup(key);
        g->hash = h;
        g->order = f->n;
        g->item = item;
        f->n++;
    }
    if (g->n == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 8;
        g->names = af_reallocarray(g->names, g->cap, sizeof(*g->names));
    }
    g->names[g->n++] = af_strdup(name);
}

size_t
fold_groups(const struct fold *f)
{
    return f->n;
}

const char *
fold_key(const struct fold *f, size_t i)
{
    return f->g[i].key;
}

size_t
fold_order(const struct fold *f, size_t i)
{
    return f->g[i].order;
}

const void *
fold_item(const struct fold *f, size_t i)
{
    return f->g[i].item;
}

size_t
fold_size(const struct fold *f, size_t i)
{
    return f->g[i].n;
}

char *
fold_nodes(const struct fold *f, size_t i)
{
    return hl_fold((const char *const *)f->g[i].names, f->g[i].n);
}

static int
fold_cmp_size(const void *a, const void *b)
{
    const struct fold_group *x = a, *y = b;

    if (x->n != y->n)
        return x->n > y->n ? -1 : 1;
    return x->order < y->order ? -1 : (x->order > y->order);
}

void
fold_sort_by_size(struct fold *f)
{
    if (f->n > 1)
        qsort(f->g, f->n, sizeof(*f->g), fold_cmp_size);
}

void
fold_free(struct fold *f)
{
    size_t i, j;

    if (f == NULL)
        return;
    for (i = 0; i < f->n; i++) {
        for (j = 0; j < f->g[i].n; j++)
            free(f->g[i].names[j]);
        free(f->g[i].names);
        free(f->g[i].key);
    }
    free(f->g);
    free(f);
}
