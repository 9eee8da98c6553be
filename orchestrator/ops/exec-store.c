/* SPDX-License-Identifier: MIT */
/* Distinct outputs kept once, keyed by SHA-256 (see exec-store.h). */
#include "exec-store.h"

#include <stdlib.h>
#include <string.h>

#include "af-mem.h"
#include "af-sha256.h"

static uint64_t
exec_sha_key(const char *sha)
{
    uint64_t k = 0;
    int i;

    for (i = 0; i < 16; i++)
        k = k * 16 +
            (uint64_t)(sha[i] <= '9' ? sha[i] - '0' : sha[i] - 'a' + 10);
    return k;
}

static void
exec_store_grow(struct exec_store *s)
{
    size_t size = s->tabsize ? s->tabsize * 2 : 64, i;
    struct exec_slot *tab = af_calloc(size, sizeof(*tab));

    for (i = 0; i < s->tabsize; i++) {
        size_t h;

        if (s->tab[i].blob == NULL)
            continue;
        h = (size_t)exec_sha_key(s->tab[i].sha) & (size - 1);
        while (tab[h].blob != NULL)
            h = (h + 1) & (size - 1);
        tab[h] = s->tab[i];
    }
    free(s->tab);
    s->tab = tab;
    s->tabsize = size;
}

const struct exec_blob *
exec_store_intern(struct exec_store *s, const char *p, size_t n)
{
    char sha[65];
    size_t h;
    struct exec_blob *b;

    af_sha256_hex(p, n, sha);
    if ((s->n + 1) * 2 > s->tabsize)
        exec_store_grow(s);
    h = (size_t)exec_sha_key(sha) & (s->tabsize - 1);
    for (; s->tab[h].blob != NULL; h = (h + 1) & (s->tabsize - 1))
        if (strcmp(s->tab[h].sha, sha) == 0)
            return s->tab[h].blob;
    b = af_calloc(1, sizeof(*b));
    b->data = af_malloc(n + 1);
    if (n)
        memcpy(b->data, p, n);
    b->data[n] = '\0';
    b->len = n;
    b->id = s->n;
    s->bytes += n;
    memcpy(s->tab[h].sha, sha, sizeof(sha));
    s->tab[h].blob = b;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->blobs = af_reallocarray(s->blobs, s->cap, sizeof(*s->blobs));
    }
    s->blobs[s->n++] = b;
    return b;
}

void
exec_store_free(struct exec_store *s)
{
    size_t i;

    for (i = 0; i < s->n; i++) {
        free(s->blobs[i]->data);
        free(s->blobs[i]);
    }
    free(s->blobs);
    free(s->tab);
}
