/* SPDX-License-Identifier: MIT */
/*
 * The exec engine's store of distinct outputs: bytes are interned by their
 * SHA-256, so every node that printed the same thing points at one copy.
 */
#ifndef AF_EXEC_STORE_H
#define AF_EXEC_STORE_H

#include <stddef.h>

#include "exec.h"

struct exec_slot {
    char sha[65];
    struct exec_blob *blob;
};

struct exec_store {
    struct exec_blob **blobs;
    size_t n, cap;
    struct exec_slot *tab; /* open addressing, size a power of 2 */
    size_t tabsize;
    size_t bytes; /* sum of the distinct outputs' lengths */
};

/* The stored copy of these n bytes (added if new); valid until freed. */
const struct exec_blob *
exec_store_intern(struct exec_store *s, const char *p, size_t n);
void exec_store_free(struct exec_store *s);

#endif /* AF_EXEC_STORE_H */
