/* SPDX-License-Identifier: MIT */
/* Aborting allocation wrappers. */
#include "af-mem.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
af_oom(size_t n)
{
    fprintf(stderr, "ascend-fleet: out of memory (%zu bytes)\n", n);
    abort();
}

void *
af_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (p == NULL)
        af_oom(n);
    return p;
}

void *
af_calloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

    if (p == NULL)
        af_oom(nmemb * size);
    return p;
}

void *
af_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);

    if (q == NULL)
        af_oom(n);
    return q;
}

void *
af_reallocarray(void *p, size_t nmemb, size_t size)
{
    if (size != 0 && nmemb > SIZE_MAX / size)
        af_oom(SIZE_MAX);
    return af_realloc(p, nmemb * size);
}

char *
af_strdup(const char *s)
{
    return af_strndup(s, strlen(s));
}

char *
af_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = af_malloc(len + 1);

    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *
af_asprintf(const char *fmt, ...)
{
    va_list ap;
    int n;
    char *p;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        af_oom(0);
    p = af_malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}
