/* SPDX-License-Identifier: MIT */
/*
 * Binary-safe key/value lists: what the agent reports (facts, command
 * results) on its way from the wire to the printer. Keys are C strings;
 * values are length-carrying bytes that may hold NULs. Every value is also
 * NUL-terminated after its length, so code that reads text (af_kv_get)
 * keeps working and sees the value up to its first NUL; code that must not
 * lose bytes uses the length-aware accessors (af_kv_getn, af_kv_vlen).
 * Plain libc plus af-mem, so the static agent builds it too. The wire
 * encoding of a list is in af-proto.h.
 */
#ifndef AF_KV_H
#define AF_KV_H

#include <stddef.h>

/* A flat list of key/value pairs, order kept, keys may repeat. */
struct af_kv {
    size_t n;
    size_t cap;
    char **keys;
    char **vals; /* vals[i] has vlens[i] bytes, then a NUL */
    size_t *vlens;
};

void af_kv_init(struct af_kv *kv);
/* Append copies of key and the C string val. Aborts on OOM. */
void af_kv_add(struct af_kv *kv, const char *key, const char *val);
/* Append copies of key and the n bytes at val (NULs kept). */
void af_kv_addn(struct af_kv *kv, const char *key, const void *val, size_t n);
/* Replace the first value for key, or append. */
void af_kv_set(struct af_kv *kv, const char *key, const char *val);
void af_kv_setn(struct af_kv *kv, const char *key, const void *val, size_t n);
/*
 * First value for key as a NUL-terminated string, or NULL. Borrowed. A
 * value holding NUL bytes reads as its part before the first one.
 */
const char *af_kv_get(const struct af_kv *kv, const char *key);
/* First value for key and its full length in *n (if not NULL), or NULL. */
const char *af_kv_getn(const struct af_kv *kv, const char *key, size_t *n);
/* Length of the i-th value (i < kv->n). */
size_t af_kv_vlen(const struct af_kv *kv, size_t i);
/* Append copies of every pair of src to dst, bytes and order kept. */
void af_kv_extend(struct af_kv *dst, const struct af_kv *src);
void af_kv_free(struct af_kv *kv);

#endif /* AF_KV_H */
