/* SPDX-License-Identifier: MIT */
/* Plausibility bounds of node facts (see af-facts.h). */
#include "af-facts.h"

#include <stdio.h>
#include <string.h>

/* A decimal count in 0..AF_FACTS_MAX_NPUS, or "" (unknown). */
static int
af_facts_count_ok(const char *v, long *out)
{
    long n = 0;

    *out = 0;
    if (v[0] == '\0')
        return 1;
    for (; *v != '\0'; v++) {
        if (*v < '0' || *v > '9')
            return 0;
        n = n * 10 + (*v - '0');
        if (n > AF_FACTS_MAX_NPUS)
            return 0;
    }
    *out = n;
    return 1;
}

/* For a key "<prefix><i>.<rest>", 1 when i is a device index in range. */
static int
af_facts_index_ok(const char *key, const char *prefix)
{
    size_t pl = strlen(prefix);
    const char *p = key + pl;
    long n = 0;

    if (strncmp(key, prefix, pl) != 0)
        return 1;
    if (*p < '0' || *p > '9')
        return 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        n = n * 10 + (*p - '0');
        if (n >= AF_FACTS_MAX_NPUS)
            return 0;
    }
    return *p == '.';
}

int
af_facts_check(const struct af_kv *kv, char *why, size_t whysz)
{
    static const char *const counts[] = {"npu_count", "npu_health_ok"};
    long n[2];
    size_t i;

    if (kv->n > AF_FACTS_MAX_KEYS) {
        snprintf(why, whysz, "%zu keys (at most %d)", kv->n, AF_FACTS_MAX_KEYS);
        return -1;
    }
    for (i = 0; i < kv->n; i++) {
        if (af_kv_vlen(kv, i) > AF_FACTS_MAX_VALUE) {
            snprintf(why, whysz, "%s has %zu bytes (at most %d)", kv->keys[i],
                     af_kv_vlen(kv, i), AF_FACTS_MAX_VALUE);
            return -1;
        }
        if (memchr(kv->vals[i], '\0', af_kv_vlen(kv, i)) != NULL) {
            snprintf(why, whysz, "%s holds a NUL byte", kv->keys[i]);
            return -1;
        }
        if (!af_facts_index_ok(kv->keys[i], "npu.") ||
            !af_facts_index_ok(kv->keys[i], "hccn.")) {
            snprintf(why, whysz, "key %.64s names no NPU 0..%d", kv->keys[i],
                     AF_FACTS_MAX_NPUS - 1);
            return -1;
        }
    }
    for (i = 0; i < 2; i++) {
        const char *v = af_kv_get(kv, counts[i]);

        if (v != NULL && !af_facts_count_ok(v, &n[i])) {
            snprintf(why, whysz, "%s '%.32s' is not a count of 0..%d NPUs",
                     counts[i], v, AF_FACTS_MAX_NPUS);
            return -1;
        }
        if (v == NULL)
            n[i] = 0;
    }
    if (n[1] > n[0]) {
        snprintf(why, whysz, "npu_health_ok %ld is above npu_count %ld", n[1],
                 n[0]);
        return -1;
    }
    return 0;
}
