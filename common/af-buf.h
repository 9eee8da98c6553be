/* SPDX-License-Identifier: MIT */
/*
 * Growable byte buffer with a hard cap (curl dynbuf "toobig"): appends past
 * the cap keep the first max bytes and set the truncated flag instead of
 * growing, so remote output can never make us store unbounded data.
 * The data is always NUL-terminated for convenience.
 */
#ifndef AF_BUF_H
#define AF_BUF_H

#include <stddef.h>

struct af_buf {
    char *data; /* NULL until the first append; NUL-terminated after */
    size_t len;
    size_t cap;
    size_t max;    /* 0 = unlimited */
    int truncated; /* set once an append had to drop bytes */
};

/* Initialise an empty buffer that holds at most max bytes (0 = no cap). */
void af_buf_init(struct af_buf *b, size_t max);
/* Append n bytes; drops what exceeds max and sets truncated. Never fails. */
void af_buf_append(struct af_buf *b, const void *p, size_t n);
void af_buf_puts(struct af_buf *b, const char *s);
void af_buf_printf(struct af_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Forget the contents, keep the allocation and the cap. */
void af_buf_reset(struct af_buf *b);
/* Hand the data to the caller (who frees it) and reinitialise b. */
char *af_buf_steal(struct af_buf *b);
/* Free the data; b may be reused after af_buf_init. Accepts NULL. */
void af_buf_free(struct af_buf *b);

/* Append s as a JSON string literal (with quotes and escapes). */
void af_buf_json_str(struct af_buf *b, const char *s);
/* Same for n bytes that may hold NULs or invalid UTF-8 (afj_quote). */
void af_buf_json_strn(struct af_buf *b, const char *s, size_t n);

#endif /* AF_BUF_H */
