/* SPDX-License-Identifier: MIT */
/* Streaming JSON writer (see af-json.h). */
#include "af-json.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t
afj_utf8_len(const unsigned char *s, size_t n)
{
    unsigned char lo = 0x80, hi = 0xbf;
    size_t need, i;

    if (n == 0)
        return 0;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        need = 2;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        need = 3;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        need = 4;
    else
        return 0;
    /* The second byte's range rules out overlongs, surrogates, > 10FFFF. */
    if (s[0] == 0xe0)
        lo = 0xa0;
    else if (s[0] == 0xed)
        hi = 0x9f;
    else if (s[0] == 0xf0)
        lo = 0x90;
    else if (s[0] == 0xf4)
        hi = 0x8f;
    if (need > n || s[1] < lo || s[1] > hi)
        return 0;
    for (i = 2; i < need; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return need;
}

void
afj_quote(struct af_buf *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, run;

    af_buf_append(b, "\"", 1);
    while (i < n) {
        unsigned char c = p[i];
        size_t l;

        /* Copy a run of plain ASCII at once. */
        for (run = i; run < n && p[run] >= 0x20 && p[run] < 0x7f &&
                      p[run] != '"' && p[run] != '\\';
             run++)
            ;
        if (run > i) {
            af_buf_append(b, p + i, run - i);
            i = run;
            continue;
        }
        switch (c) {
        case '"':
            af_buf_append(b, "\\\"", 2);
            break;
        case '\\':
            af_buf_append(b, "\\\\", 2);
            break;
        case '\n':
            af_buf_append(b, "\\n", 2);
            break;
        case '\r':
            af_buf_append(b, "\\r", 2);
            break;
        case '\t':
            af_buf_append(b, "\\t", 2);
            break;
        case '\b':
            af_buf_append(b, "\\b", 2);
            break;
        case '\f':
            af_buf_append(b, "\\f", 2);
            break;
        default:
            if (c < 0x20 || c == 0x7f) {
                af_buf_printf(b, "\\u%04x", c);
                break;
            }
            l = afj_utf8_len(p + i, n - i);
            if (l == 0) {
                af_buf_append(b, "\\ufffd", 6);
                break;
            }
            af_buf_append(b, p + i, l);
            i += l;
            continue;
        }
        i++;
    }
    af_buf_append(b, "\"", 1);
}

void
afj_init(struct af_json *j, struct af_buf *out)
{
    memset(j, 0, sizeof(*j));
    j->out = out;
}

/* Separator before a value (or a key) at the current level. */
static void
afj_sep(struct af_json *j)
{
    if (j->after_key) {
        j->after_key = 0;
        return;
    }
    if (j->count[j->depth]++ > 0)
        af_buf_append(j->out, ",", 1);
}

static void
afj_open(struct af_json *j, const char *c)
{
    afj_sep(j);
    af_buf_append(j->out, c, 1);
    if (j->depth + 1 >= AFJ_MAX_DEPTH)
        abort(); /* a programming error: nesting is static in callers */
    j->count[++j->depth] = 0;
}

static void
afj_close(struct af_json *j, const char *c)
{
    af_buf_append(j->out, c, 1);
    if (j->depth > 0)
        j->depth--;
}

void
afj_obj_begin(struct af_json *j)
{
    afj_open(j, "{");
}

void
afj_obj_end(struct af_json *j)
{
    afj_close(j, "}");
}

void
afj_arr_begin(struct af_json *j)
{
    afj_open(j, "[");
}

void
afj_arr_end(struct af_json *j)
{
    afj_close(j, "]");
}

void
afj_key(struct af_json *j, const char *key)
{
    afj_sep(j);
    afj_quote(j->out, key, strlen(key));
    af_buf_append(j->out, ":", 1);
    j->after_key = 1;
}

void
afj_strn(struct af_json *j, const char *s, size_t n)
{
    afj_sep(j);
    afj_quote(j->out, s != NULL ? s : "", s != NULL ? n : 0);
}

void
afj_str(struct af_json *j, const char *s)
{
    if (s == NULL) {
        afj_null(j);
        return;
    }
    afj_strn(j, s, strlen(s));
}

void
afj_int(struct af_json *j, int64_t v)
{
    afj_sep(j);
    af_buf_printf(j->out, "%" PRId64, v);
}

void
afj_uint(struct af_json *j, uint64_t v)
{
    afj_sep(j);
    af_buf_printf(j->out, "%" PRIu64, v);
}

void
afj_bool(struct af_json *j, int v)
{
    afj_sep(j);
    af_buf_puts(j->out, v ? "true" : "false");
}

void
afj_null(struct af_json *j)
{
    afj_sep(j);
    af_buf_puts(j->out, "null");
}

void
afj_kstr(struct af_json *j, const char *key, const char *s)
{
    afj_key(j, key);
    afj_str(j, s);
}

void
afj_kstrn(struct af_json *j, const char *key, const char *s, size_t n)
{
    afj_key(j, key);
    afj_strn(j, s, n);
}

void
afj_kint(struct af_json *j, const char *key, int64_t v)
{
    afj_key(j, key);
    afj_int(j, v);
}

void
afj_kuint(struct af_json *j, const char *key, uint64_t v)
{
    afj_key(j, key);
    afj_uint(j, v);
}

void
afj_kbool(struct af_json *j, const char *key, int v)
{
    afj_key(j, key);
    afj_bool(j, v);
}

void
afj_knull(struct af_json *j, const char *key)
{
    afj_key(j, key);
    afj_null(j);
}
