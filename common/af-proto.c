/* SPDX-License-Identifier: MIT */
/*
 * Codec of the orchestrator <-> agent protocol (see af-proto.h): percent
 * encoding of words and values, and the "key=value\n" body format.
 * Plain libc plus af-mem, so the static agent builds it too.
 */
#include "af-proto.h"

#include <stdlib.h>
#include <string.h>

#include "af-mem.h"

static int
af_proto_plain(unsigned char c)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
        (c >= '0' && c <= '9'))
        return 1;
    return c != '\0' && strchr("._/:,+@=-", c) != NULL;
}

char *
af_proto_encode(const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i, out = 0;
    char *r;

    for (i = 0; i < n; i++)
        out += af_proto_plain((unsigned char)s[i]) ? 1 : 3;
    r = af_malloc(out + 1);
    out = 0;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (af_proto_plain(c)) {
            r[out++] = (char)c;
        } else {
            r[out++] = '%';
            r[out++] = hex[c >> 4];
            r[out++] = hex[c & 15];
        }
    }
    r[out] = '\0';
    return r;
}

static int
af_proto_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

long
af_proto_decode(char *s)
{
    size_t in = 0, out = 0;

    while (s[in] != '\0') {
        if (s[in] == '%') {
            int hi, lo;

            if (s[in + 1] == '\0' || s[in + 2] == '\0')
                return -1;
            hi = af_proto_hexval(s[in + 1]);
            lo = af_proto_hexval(s[in + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            s[out++] = (char)(hi << 4 | lo);
            in += 3;
        } else {
            s[out++] = s[in++];
        }
    }
    s[out] = '\0';
    return (long)out;
}

char *
af_proto_kv_format(const struct af_kv *kv, size_t *len)
{
    size_t i, total = 0, off = 0;
    char **enc;
    char *r;

    enc = af_calloc(kv->n ? kv->n : 1, sizeof(*enc));
    for (i = 0; i < kv->n; i++) {
        enc[i] = af_proto_encode(kv->vals[i], kv->vlens[i]);
        total += strlen(kv->keys[i]) + 1 + strlen(enc[i]) + 1;
    }
    r = af_malloc(total + 1);
    for (i = 0; i < kv->n; i++) {
        size_t kl = strlen(kv->keys[i]), vl = strlen(enc[i]);

        memcpy(r + off, kv->keys[i], kl);
        off += kl;
        r[off++] = '=';
        memcpy(r + off, enc[i], vl);
        off += vl;
        r[off++] = '\n';
        free(enc[i]);
    }
    r[off] = '\0';
    free(enc);
    if (len != NULL)
        *len = off;
    return r;
}

/*
 * A key is non-empty and made of printable non-space ASCII other than '='
 * and '%', so that it never needs escaping.
 */
static int
af_proto_key_ok(const char *k, size_t n)
{
    size_t i;

    if (n == 0)
        return 0;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)k[i];

        if (c <= ' ' || c >= 0x7f || c == '=' || c == '%')
            return 0;
    }
    return 1;
}

int
af_proto_kv_parse(struct af_kv *kv, const char *body, size_t len)
{
    size_t off = 0, nkeys = 0;

    while (off < len) {
        const char *line = body + off;
        const char *nl = memchr(line, '\n', len - off);
        const char *eq;
        size_t llen, klen;
        char *key, *val;
        long vlen;

        if (nl == NULL)
            return -1;
        if (++nkeys > AF_PROTO_MAX_KEYS)
            return -2;
        llen = (size_t)(nl - line);
        eq = memchr(line, '=', llen);
        if (eq == NULL)
            return -1;
        klen = (size_t)(eq - line);
        if (!af_proto_key_ok(line, klen))
            return -1;
        if (memchr(eq + 1, '\0', (size_t)(nl - eq - 1)) != NULL)
            return -1;
        val = af_strndup(eq + 1, (size_t)(nl - eq - 1));
        vlen = af_proto_decode(val);
        if (vlen < 0) {
            free(val);
            return -1;
        }
        key = af_strndup(line, klen);
        af_kv_addn(kv, key, val, (size_t)vlen);
        free(key);
        free(val);
        off += llen + 1;
    }
    return 0;
}
