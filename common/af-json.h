/* SPDX-License-Identifier: MIT */
/*
 * A small streaming JSON writer over an af_buf, used by every --json output
 * instead of hand-built strings. Commas and nesting are tracked here; the
 * caller only says what comes next.
 *
 * Strings are binary-safe (pointer + length): '"' and '\' are escaped, every
 * control byte (0x00-0x1f, 0x7f) becomes \u00XX (or \n, \t, \r, \b, \f),
 * valid UTF-8 passes through, and every byte that is not part of a valid,
 * shortest-form UTF-8 sequence of a Unicode scalar (overlongs, surrogates,
 * > U+10FFFF, truncated sequences) becomes \ufffd, one per byte, so the
 * output is always valid UTF-8 JSON.
 */
#ifndef AF_JSON_H
#define AF_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "af-buf.h"

#define AFJ_MAX_DEPTH 32

struct af_json {
    struct af_buf *out;
    int depth;
    unsigned char count[AFJ_MAX_DEPTH]; /* values written at each level */
    int after_key;                      /* a key was written, value next */
};

/* Start writing into out (appended to; not reset). */
void afj_init(struct af_json *j, struct af_buf *out);

void afj_obj_begin(struct af_json *j);
void afj_obj_end(struct af_json *j);
void afj_arr_begin(struct af_json *j);
void afj_arr_end(struct af_json *j);
/* The key of the next member of the current object. */
void afj_key(struct af_json *j, const char *key);

void afj_str(struct af_json *j, const char *s); /* NULL writes null */
void afj_strn(struct af_json *j, const char *s, size_t n);
void afj_int(struct af_json *j, int64_t v);
void afj_uint(struct af_json *j, uint64_t v);
void afj_bool(struct af_json *j, int v);
void afj_null(struct af_json *j);

/* Object members in one call: key then value. */
void afj_kstr(struct af_json *j, const char *key, const char *s);
void afj_kstrn(struct af_json *j, const char *key, const char *s, size_t n);
void afj_kint(struct af_json *j, const char *key, int64_t v);
void afj_kuint(struct af_json *j, const char *key, uint64_t v);
void afj_kbool(struct af_json *j, const char *key, int v);
void afj_knull(struct af_json *j, const char *key);

/* Append s (n bytes) as a quoted JSON string literal, escaped as above. */
void afj_quote(struct af_buf *b, const char *s, size_t n);
/*
 * Length of the valid UTF-8 sequence at s (at most n bytes): 1-4, or 0 if
 * s does not start one (shortest form, no surrogates, <= U+10FFFF).
 */
size_t afj_utf8_len(const unsigned char *s, size_t n);

#endif /* AF_JSON_H */
