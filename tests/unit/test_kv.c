/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of common/af-kv.c (binary-safe, length-carrying key/values)
 * and of the protocol's key=value body codec keeping every byte of a value.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "af-kv.h"
#include "af-proto.h"

Test(kv, values_keep_nul_bytes_and_their_length)
{
    static const char val[] = {'X', '\0', 'Y', '\0', 'Z'};
    struct af_kv kv;
    const char *v;
    size_t n = 0;

    af_kv_init(&kv);
    af_kv_addn(&kv, "out", val, sizeof(val));
    af_kv_add(&kv, "rc", "0");
    v = af_kv_getn(&kv, "out", &n);
    cr_assert_not_null(v);
    cr_assert_eq(n, sizeof(val));
    cr_assert_eq(memcmp(v, val, sizeof(val)), 0);
    cr_assert_eq(v[n], '\0', "a value is NUL-terminated after its length");
    /* Readers of text see the part before the first NUL. */
    cr_assert_str_eq(af_kv_get(&kv, "out"), "X");
    cr_assert_eq(af_kv_vlen(&kv, 0), sizeof(val));
    cr_assert_eq(af_kv_vlen(&kv, 1), 1);
    cr_assert_str_eq(af_kv_getn(&kv, "rc", NULL), "0");
    cr_assert_null(af_kv_getn(&kv, "missing", &n));
    af_kv_free(&kv);
    cr_assert_eq(kv.n, 0);
    af_kv_free(&kv);
}

Test(kv, set_replaces_bytes_and_length_of_the_first_value)
{
    struct af_kv kv;
    size_t n = 0;

    af_kv_init(&kv);
    af_kv_add(&kv, "k", "long value");
    af_kv_add(&kv, "k", "second");
    af_kv_setn(&kv, "k", "a\0b", 3);
    cr_assert_eq(kv.n, 2);
    cr_assert_eq(memcmp(af_kv_getn(&kv, "k", &n), "a\0b", 4), 0);
    cr_assert_eq(n, 3);
    af_kv_set(&kv, "k", "");
    cr_assert_str_eq(af_kv_getn(&kv, "k", &n), "");
    cr_assert_eq(n, 0);
    af_kv_setn(&kv, "new", "\0", 1);
    cr_assert_eq(kv.n, 3);
    cr_assert_eq(af_kv_vlen(&kv, 2), 1);
    af_kv_free(&kv);
}

Test(kv, extend_copies_every_byte_in_order)
{
    struct af_kv a, b;

    af_kv_init(&a);
    af_kv_init(&b);
    af_kv_addn(&a, "x", "1\0002", 3);
    af_kv_add(&a, "y", "two");
    af_kv_add(&b, "first", "f");
    af_kv_extend(&b, &a);
    cr_assert_eq(b.n, 3);
    cr_assert_str_eq(b.keys[1], "x");
    cr_assert_eq(af_kv_vlen(&b, 1), 3);
    cr_assert_eq(memcmp(b.vals[1], "1\0002", 3), 0);
    cr_assert_str_eq(b.vals[2], "two");
    af_kv_free(&a);
    af_kv_free(&b);
}

Test(kv, wire_round_trip_keeps_nul_bytes)
{
    static const char out[] = "before\0after\0";
    struct af_kv kv, back;
    const char *v;
    size_t len, n = 0;
    char *body;

    af_kv_init(&kv);
    af_kv_init(&back);
    af_kv_addn(&kv, "stdout", out, sizeof(out) - 1);
    af_kv_add(&kv, "rc", "0");
    body = af_proto_kv_format(&kv, &len);
    cr_assert_not_null(strstr(body, "stdout=before%00after%00\n"), "%s", body);
    cr_assert_eq(af_proto_kv_parse(&back, body, len), 0);
    v = af_kv_getn(&back, "stdout", &n);
    cr_assert_eq(n, sizeof(out) - 1, "decoded %zu bytes", n);
    cr_assert_eq(memcmp(v, out, n), 0);
    cr_assert_str_eq(af_kv_get(&back, "rc"), "0");
    free(body);
    af_kv_free(&kv);
    af_kv_free(&back);
}

Test(kv, parse_refuses_raw_nul_and_lines_without_equals)
{
    static const char raw_nul[] = "a=x\0y\n";
    struct af_kv kv;

    af_kv_init(&kv);
    cr_assert_eq(af_proto_kv_parse(&kv, raw_nul, sizeof(raw_nul) - 1), -1);
    cr_assert_eq(af_proto_kv_parse(&kv, "hello\n", 6), -1);
    af_kv_free(&kv);
}

Test(kv, parse_stops_at_the_key_limit)
{
    size_t n = (AF_PROTO_MAX_KEYS + 1) * 3, i;
    char *body = malloc(n);
    struct af_kv kv;

    cr_assert_not_null(body);
    for (i = 0; i < n; i += 3)
        memcpy(body + i, "a=\n", 3);
    af_kv_init(&kv);
    cr_assert_eq(af_proto_kv_parse(&kv, body, n - 3), 0);
    cr_assert_eq(kv.n, AF_PROTO_MAX_KEYS);
    af_kv_free(&kv);
    cr_assert_eq(af_proto_kv_parse(&kv, body, n), -2);
    cr_assert_leq(kv.n, AF_PROTO_MAX_KEYS);
    af_kv_free(&kv);
    free(body);
}
