/* SPDX-License-Identifier: MIT */
/* Capped buffer and JSON string escaping. */
#include "af-buf.h"
#include "af-json.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "af-mem.h"
#include <stdlib.h>

void
af_buf_init(struct af_buf *b, size_t max)
{
    memset(b, 0, sizeof(*b));
    b->max = max;
}

void
af_buf_append(struct af_buf *b, const void *p, size_t n)
{
    size_t want;

    if (b->max != 0 && b->len + n > b->max) {
        n = b->max > b->len ? b->max - b->len : 0;
        b->truncated = 1;
    }
    want = b->len + n + 1;
    if (want > b->cap) {
        size_t ncap = b->cap ? b->cap : 64;

        while (ncap < want)
            ncap *= 2;
        b->data = af_realloc(b->data, ncap);
        b->cap = ncap;
    }
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void
af_buf_puts(struct af_buf *b, const char *s)
{
    af_buf_append(b, s, strlen(s));
}

void
af_buf_printf(struct af_buf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(small)) {
        af_buf_append(b, small, (size_t)n);
        return;
    }
    {
        char *big = af_malloc((size_t)n + 1);

        va_start(ap, fmt);
        vsnprintf(big, (size_t)n + 1, fmt, ap);
        va_end(ap);
        af_buf_append(b, big, (size_t)n);
        free(big);
    }
}

void
af_buf_reset(struct af_buf *b)
{
    b->len = 0;
    b->truncated = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

char *
af_buf_steal(struct af_buf *b)
{
    char *p = b->data ? b->data : af_strdup("");
    size_t max = b->max;

    af_buf_init(b, max);
    return p;
}

void
af_buf_free(struct af_buf *b)
{
    if (b == NULL)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void
af_buf_json_strn(struct af_buf *b, const char *s, size_t n)
{
    afj_quote(b, s, n);
}

void
af_buf_json_str(struct af_buf *b, const char *s)
{
    if (s == NULL) {
        af_buf_puts(b, "null");
        return;
    }
    af_buf_json_strn(b, s, strlen(s));
}
