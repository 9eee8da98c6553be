/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of common/af-kv.c (binary-safe, length-carrying key/values)
 * and of the protocol's key=value body codec keeping every byte of a value.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "af-facts.h"
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

/* Facts of a node, "k=v" words; NULL ends. */
static int
facts_of(const char *const *pairs, char *why, size_t whysz)
{
    struct af_kv kv;
    int rc;

    af_kv_init(&kv);
    for (; *pairs != NULL; pairs++) {
        const char *eq = strchr(*pairs, '=');
        char key[64];

        snprintf(key, sizeof(key), "%.*s", (int)(eq - *pairs), *pairs);
        af_kv_add(&kv, key, eq + 1);
    }
    why[0] = '\0';
    rc = af_facts_check(&kv, why, whysz);
    af_kv_free(&kv);
    return rc;
}

Test(facts_check, plausible_facts_pass)
{
    const char *ok[] = {"hostname=n1",
                        "npu_count=8",
                        "npu_health_ok=7",
                        "npu.7.health=OK",
                        "hccn.63.address=1.2.3.4",
                        "npu_chip=910B",
                        NULL};
    const char *empty[] = {"npu_count=", "npu_health_ok=", NULL};
    const char *none[] = {"hostname=x", NULL};
    char why[128];

    cr_assert_eq(facts_of(ok, why, sizeof(why)), 0, "%s", why);
    cr_assert_eq(facts_of(empty, why, sizeof(why)), 0, "%s", why);
    cr_assert_eq(facts_of(none, why, sizeof(why)), 0, "%s", why);
}

Test(facts_check, counts_and_device_indexes_are_bounded)
{
    static const struct {
        const char *pairs[3];
        const char *why;
    } bad[] = {
        {{"npu_count=2000000000", NULL}, "npu_count"},
        {{"npu_count=65", NULL}, "npu_count"},
        {{"npu_count=-1", NULL}, "npu_count"},
        {{"npu_count=8x", NULL}, "npu_count"},
        {{"npu_count=4", "npu_health_ok=5"}, "npu_health_ok 5 is above"},
        {{"npu.64.health=OK", NULL}, "npu.64.health"},
        {{"npu.99999999999999999999.health=OK", NULL}, "npu.9"},
        {{"hccn.x.address=1", NULL}, "hccn.x"},
    };
    char why[128];
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *pairs[3] = {bad[i].pairs[0], bad[i].pairs[1], NULL};

        cr_expect_eq(facts_of(pairs, why, sizeof(why)), -1, "case %zu", i);
        cr_expect_not_null(strstr(why, bad[i].why), "case %zu: %s", i, why);
    }
}

Test(facts_check, key_count_value_size_and_nul_are_bounded)
{
    struct af_kv kv;
    char why[128], big[AF_FACTS_MAX_VALUE + 2];
    size_t i;

    af_kv_init(&kv);
    for (i = 0; i <= AF_FACTS_MAX_KEYS; i++)
        af_kv_add(&kv, "a", "");
    cr_assert_eq(af_facts_check(&kv, why, sizeof(why)), -1);
    cr_assert_not_null(strstr(why, "keys"), "%s", why);
    af_kv_free(&kv);

    memset(big, 'v', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    af_kv_add(&kv, "os_id", big);
    cr_assert_eq(af_facts_check(&kv, why, sizeof(why)), -1);
    cr_assert_not_null(strstr(why, "os_id has"), "%s", why);
    af_kv_free(&kv);

    af_kv_addn(&kv, "kernel", "6.1\0x", 5);
    cr_assert_eq(af_facts_check(&kv, why, sizeof(why)), -1);
    cr_assert_not_null(strstr(why, "NUL"), "%s", why);
    af_kv_free(&kv);
}
