/* SPDX-License-Identifier: MIT */
/* Binary-safe key/value lists (see af-kv.h). */
#include "af-kv.h"

#include <stdlib.h>
#include <string.h>

#include "af-mem.h"

void
af_kv_init(struct af_kv *kv)
{
    kv->n = 0;
    kv->cap = 0;
    kv->keys = NULL;
    kv->vals = NULL;
    kv->vlens = NULL;
}

/* A NUL-terminated copy of n bytes that may hold NULs. */
static char *
af_kv_dup(const void *val, size_t n)
{
    char *v = af_malloc(n + 1);

    if (n > 0)
        memcpy(v, val, n);
    v[n] = '\0';
    return v;
}

void
af_kv_addn(struct af_kv *kv, const char *key, const void *val, size_t n)
{
    if (kv->n == kv->cap) {
        kv->cap = kv->cap ? kv->cap * 2 : 16;
        kv->keys = af_reallocarray(kv->keys, kv->cap, sizeof(*kv->keys));
        kv->vals = af_reallocarray(kv->vals, kv->cap, sizeof(*kv->vals));
        kv->vlens = af_reallocarray(kv->vlens, kv->cap, sizeof(*kv->vlens));
    }
    kv->keys[kv->n] = af_strdup(key);
    kv->vals[kv->n] = af_kv_dup(val, n);
    kv->vlens[kv->n] = n;
    kv->n++;
}

void
af_kv_add(struct af_kv *kv, const char *key, const char *val)
{
    af_kv_addn(kv, key, val, strlen(val));
}

static long
af_kv_index(const struct af_kv *kv, const char *key)
{
    size_t i;

    for (i = 0; i < kv->n; i++)
        if (strcmp(kv->keys[i], key) == 0)
            return (long)i;
    return -1;
}

void
af_kv_setn(struct af_kv *kv, const char *key, const void *val, size_t n)
{
    long i = af_kv_index(kv, key);
    char *v;

    if (i < 0) {
        af_kv_addn(kv, key, val, n);
        return;
    }
    v = af_kv_dup(val, n);
    free(kv->vals[i]);
    kv->vals[i] = v;
    kv->vlens[i] = n;
}

void
af_kv_set(struct af_kv *kv, const char *key, const char *val)
{
    af_kv_setn(kv, key, val, strlen(val));
}

const char *
af_kv_getn(const struct af_kv *kv, const char *key, size_t *n)
{
    long i = af_kv_index(kv, key);

    if (i < 0)
        return NULL;
    if (n != NULL)
        *n = kv->vlens[i];
    return kv->vals[i];
}

const char *
af_kv_get(const struct af_kv *kv, const char *key)
{
    return af_kv_getn(kv, key, NULL);
}

size_t
af_kv_vlen(const struct af_kv *kv, size_t i)
{
    return kv->vlens[i];
}

void
af_kv_extend(struct af_kv *dst, const struct af_kv *src)
{
    size_t i;

    for (i = 0; i < src->n; i++)
        af_kv_addn(dst, src->keys[i], src->vals[i], src->vlens[i]);
}

void
af_kv_free(struct af_kv *kv)
{
    size_t i;

    if (kv == NULL)
        return;
    for (i = 0; i < kv->n; i++) {
        free(kv->keys[i]);
        free(kv->vals[i]);
    }
    free(kv->keys);
    free(kv->vals);
    free(kv->vlens);
    af_kv_init(kv);
}
