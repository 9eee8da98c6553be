/* SPDX-License-Identifier: MIT */
/*
 * Folding identical per-node results into one block headed by the folded
 * node set, as clush -b and dshbak -c do. Groups keep the order in which
 * their first member was added; members keep insertion order.
 */
#ifndef AF_FOLD_H
#define AF_FOLD_H

#include <stddef.h>

struct fold;

struct fold *fold_new(void);
/* Add node name under key (both copied). */
void fold_add(struct fold *f, const char *key, const char *name);
/*
 * As fold_add, and keep item (borrowed, never touched) when name starts a
 * new group: fold_item then gives the group's first member's item.
 */
void fold_add_item(struct fold *f,
                   const char *key,
                   const char *name,
                   const void *item);
/* The item of group i's first member (NULL when added by fold_add). */
const void *fold_item(const struct fold *f, size_t i);
size_t fold_groups(const struct fold *f);
/* Key of group i (borrowed). */
const char *fold_key(const struct fold *f, size_t i);
/* Position of group i in the order groups were first added (0-based). */
size_t fold_order(const struct fold *f, size_t i);
size_t fold_size(const struct fold *f, size_t i);
/* Folded node set of group i ("npu[001-004,009]"); the caller frees it. */
char *fold_nodes(const struct fold *f, size_t i);
/* Sort groups by size, largest first (stable). */
void fold_sort_by_size(struct fold *f);
void fold_free(struct fold *f);

#endif /* AF_FOLD_H */
