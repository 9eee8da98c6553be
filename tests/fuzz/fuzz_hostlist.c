/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness: hostlist patterns (inventory/hostlist.c). The input is
 * a pattern; when it expands, folding the names and expanding the fold
 * must give back the same set of names (hostlist.h promises it).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "af-err.h"
#include "af-mem.h"
#include "hostlist.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sort and drop duplicates in place; returns the new count. */
static size_t
uniq(char **v, size_t n)
{
    size_t i, k = 0;

    qsort(v, n, sizeof(*v), cmp_str);
    for (i = 0; i < n; i++)
        if (k == 0 || strcmp(v[k - 1], v[i]) != 0)
            v[k++] = v[i];
    return k;
}

static int
long_number(const uint8_t *d, size_t n)
{
    size_t i, run = 0;

    for (i = 0; i < n; i++) {
        run = (d[i] >= '0' && d[i] <= '9') ? run + 1 : 0;
        if (run >= 5)
            return 1;
    }
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct af_err e;
    char **names = NULL, **back = NULL, **a, **b, *pat, *fold;
    size_t n = 0, nb = 0, ua, ub, i;

    /* Long inputs and numbers of five digits or more mostly exercise the
     * million-name cap, slowly; the unit tests cover large lists. */
    if (size > 512 || memchr(data, '\0', size) != NULL ||
        long_number(data, size))
        return 0;
    pat = af_strndup((const char *)data, size);
    if (hl_expand(pat, &names, &n, &e) != 0 || n > 20000)
        goto out;
    fold = hl_fold((const char *const *)names, n);
    if (hl_expand(fold, &back, &nb, &e) != 0)
        abort();
    a = af_reallocarray(NULL, n, sizeof(*a));
    b = af_reallocarray(NULL, nb, sizeof(*b));
    memcpy(a, names, n * sizeof(*a));
    memcpy(b, back, nb * sizeof(*b));
    ua = uniq(a, n);
    ub = uniq(b, nb);
    if (ua != ub)
        abort();
    for (i = 0; i < ua; i++)
        if (strcmp(a[i], b[i]) != 0)
            abort();
    free(a);
    free(b);
    free(fold);
out:
    hl_names_free(names, n);
    hl_names_free(back, nb);
    free(pat);
    return 0;
}
