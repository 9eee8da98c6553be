/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness: the protocol decoder (common/af-proto.c). The input is
 * taken as a response body ("key=value\n" lines, may hold any byte) and as
 * a percent-encoded word. Invariants checked besides memory safety:
 * a parsed body formats and parses back to the same pairs, and encoding
 * any bytes then decoding gives them back.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "af-mem.h"
#include "af-proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
kv_roundtrip(const struct af_kv *kv)
{
    struct af_kv again;
    size_t len, i;
    char *body = af_proto_kv_format(kv, &len);

    af_kv_init(&again);
    if (af_proto_kv_parse(&again, body, len) != 0 || again.n != kv->n)
        abort();
    for (i = 0; i < kv->n; i++)
        if (strcmp(again.keys[i], kv->keys[i]) != 0 ||
            strcmp(again.vals[i], kv->vals[i]) != 0)
            abort();
    af_kv_free(&again);
    free(body);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct af_kv kv;
    char *word, *enc;
    long n;

    af_kv_init(&kv);
    if (af_proto_kv_parse(&kv, (const char *)data, size) == 0)
        kv_roundtrip(&kv);
    af_kv_free(&kv);

    word = af_strndup((const char *)data, size);
    n = af_proto_decode(word);
    if (n > (long)size)
        abort();
    free(word);

    enc = af_proto_encode((const char *)data, size);
    if (strpbrk(enc, " \n") != NULL)
        abort();
    n = af_proto_decode(enc);
    if (n != (long)size || memcmp(enc, data, size) != 0)
        abort();
    free(enc);
    return 0;
}
