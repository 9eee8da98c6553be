/* SPDX-License-Identifier: MIT */
/*
 * Allocation helpers that abort on out-of-memory (as tmux and OpenSSH
 * xmalloc do): this is an application, so one error class leaves every
 * signature. Memory sized by remote input is capped by the caller instead.
 */
#ifndef AF_MEM_H
#define AF_MEM_H

#include <stddef.h>

void *af_malloc(size_t n);
void *af_calloc(size_t nmemb, size_t size);
void *af_realloc(void *p, size_t n);
/* Growth helper: realloc p to nmemb*size, aborting on overflow or OOM. */
void *af_reallocarray(void *p, size_t nmemb, size_t size);
char *af_strdup(const char *s);
char *af_strndup(const char *s, size_t n);
/* printf into a new string; the caller frees it. */
char *af_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* AF_MEM_H */
