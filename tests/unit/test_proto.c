/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the agent protocol codec (common/af-proto.c) and SHA-256
 * (common/af-sha256.c): percent encoding, key=value bodies, malformed
 * input and the FIPS 180-4 test vectors.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "af-proto.h"
#include "af-sha256.h"

static const char af_plain_set[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._/:,+@=-";

Test(proto, encode_decode_every_single_byte)
{
    int c;

    for (c = 0; c < 256; c++) {
        char in = (char)c;
        char *enc = af_proto_encode(&in, 1);
        int plain = c != 0 && strchr(af_plain_set, c) != NULL;
        long n;

        if (plain) {
            cr_assert_eq(strlen(enc), 1, "byte %d", c);
            cr_assert_eq((unsigned char)enc[0], c);
        } else {
            cr_assert_eq(strlen(enc), 3, "byte %d -> %s", c, enc);
            cr_assert_eq(enc[0], '%');
        }
        n = af_proto_decode(enc);
        cr_assert_eq(n, 1, "byte %d", c);
        cr_assert_eq((unsigned char)enc[0], c, "byte %d", c);
        free(enc);
    }
}

Test(proto, encode_decode_all_bytes_in_one_string)
{
    char in[512];
    char *enc;
    long n;
    int i;

    for (i = 0; i < 512; i++)
        in[i] = (char)(255 - i % 256);
    enc = af_proto_encode(in, sizeof(in));
    cr_assert_null(strchr(enc, ' '));
    cr_assert_null(strchr(enc, '\n'));
    cr_assert_null(strchr(enc, '\r'));
    for (i = 0; enc[i] != '\0'; i++)
        if (enc[i] == '%')
            cr_assert(strchr("0123456789ABCDEF", enc[i + 1]) != NULL &&
                      strchr("0123456789ABCDEF", enc[i + 2]) != NULL &&
                      enc[i + 1] != '\0' && enc[i + 2] != '\0');
    n = af_proto_decode(enc);
    cr_assert_eq(n, 512);
    cr_assert_eq(memcmp(enc, in, sizeof(in)), 0);
    free(enc);
}

Test(proto, plain_characters_stay_readable)
{
    char *enc = af_proto_encode(af_plain_set, strlen(af_plain_set));

    cr_assert_str_eq(enc, af_plain_set);
    free(enc);
    enc = af_proto_encode("a b%c\n", 6);
    cr_assert_str_eq(enc, "a%20b%25c%0A");
    free(enc);
    enc = af_proto_encode("", 0);
    cr_assert_str_eq(enc, "");
    free(enc);
}

Test(proto, decode_accepts_lower_case_hex)
{
    char s[] = "x%2fy%2F%e4%b8%ad";
    long n = af_proto_decode(s);

    cr_assert_eq(n, 7);
    cr_assert_str_eq(s, "x/y/\xe4\xb8\xad");
}

Test(proto, decode_rejects_malformed_escapes)
{
    const char *bad[] = {"%",   "abc%", "%4",  "a%4",
                         "%zz", "%g0",  "%0g", "ok%%20"};
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *s = strdup(bad[i]);

        cr_assert_eq(af_proto_decode(s), -1, "'%s' accepted", bad[i]);
        free(s);
    }
}

Test(proto, decode_keeps_nul_bytes_in_length)
{
    char s[] = "a%00b";
    long n = af_proto_decode(s);

    cr_assert_eq(n, 3);
    cr_assert_eq(s[0], 'a');
    cr_assert_eq(s[1], '\0');
    cr_assert_eq(s[2], 'b');
}

Test(proto, kv_add_get_set)
{
    struct af_kv kv;

    af_kv_init(&kv);
    cr_assert_null(af_kv_get(&kv, "a"));
    af_kv_add(&kv, "a", "1");
    af_kv_add(&kv, "b", "2");
    af_kv_add(&kv, "a", "3");
    cr_assert_eq(kv.n, 3);
    cr_assert_str_eq(af_kv_get(&kv, "a"), "1");
    af_kv_set(&kv, "a", "9");
    cr_assert_eq(kv.n, 3);
    cr_assert_str_eq(af_kv_get(&kv, "a"), "9");
    cr_assert_str_eq(kv.vals[2], "3");
    af_kv_set(&kv, "c", "new");
    cr_assert_eq(kv.n, 4);
    cr_assert_str_eq(kv.keys[3], "c");
    af_kv_free(&kv);
    cr_assert_eq(kv.n, 0);
}

Test(proto, kv_format_parse_round_trip)
{
    const char *keys[] = {"plain",  "spaces",       "lines",
                          "equals", "percent",      "empty",
                          "utf8",   "npu.3.health", "plain"};
    const char *vals[] = {"24.1.rc1",
                          "a b  c ",
                          "one\ntwo\r\n",
                          "k=v=w",
                          "100%",
                          "",
                          "\xe4\xb8\xad\xe6\x96\x87",
                          "Warning",
                          "dup"};
    struct af_kv kv, back;
    size_t i, len;
    char *body;

    af_kv_init(&kv);
    af_kv_init(&back);
    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        af_kv_add(&kv, keys[i], vals[i]);
    body = af_proto_kv_format(&kv, &len);
    cr_assert_eq(len, strlen(body));
    cr_assert(strncmp(body, "plain=24.1.rc1\nspaces=a%20b%20%20c%20\n", 38) ==
                  0,
              "body starts %.40s", body);
    cr_assert_eq(af_proto_kv_parse(&back, body, len), 0);
    cr_assert_eq(back.n, kv.n);
    for (i = 0; i < kv.n; i++) {
        cr_assert_str_eq(back.keys[i], keys[i]);
        cr_assert_str_eq(back.vals[i], vals[i]);
    }
    free(body);
    af_kv_free(&kv);
    af_kv_free(&back);
}

Test(proto, kv_format_of_empty_list_is_empty)
{
    struct af_kv kv;
    size_t len = 99;
    char *body;

    af_kv_init(&kv);
    body = af_proto_kv_format(&kv, &len);
    cr_assert_eq(len, 0);
    cr_assert_str_eq(body, "");
    cr_assert_eq(af_proto_kv_parse(&kv, body, 0), 0);
    cr_assert_eq(kv.n, 0);
    free(body);
}

Test(proto, kv_parse_rejects_malformed_lines)
{
    const char *bad[] = {
        "a=1\nno-equals\n", /* line without '=' */
        "a=1\nb=2",         /* missing final newline */
        "a=1\n=2\n",        /* empty key */
        "a=1\nb=%zz\n",     /* bad escape */
        "a=1\nb c=2\n",     /* space in key */
        "a=1\nb%41=2\n",    /* '%' in key */
    };
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct af_kv kv;

        af_kv_init(&kv);
        cr_assert_eq(af_proto_kv_parse(&kv, bad[i], strlen(bad[i])), -1,
                     "accepted: %s", bad[i]);
        cr_assert_eq(kv.n, 1, "case %zu kept %zu lines", i, kv.n);
        cr_assert_str_eq(kv.keys[0], "a");
        af_kv_free(&kv);
    }
}

Test(proto, kv_parse_respects_length_not_nul)
{
    const char body[] = "a=1\nb=2\n";
    struct af_kv kv;

    af_kv_init(&kv);
    cr_assert_eq(af_proto_kv_parse(&kv, body, 4), 0);
    cr_assert_eq(kv.n, 1);
    cr_assert_null(af_kv_get(&kv, "b"));
    af_kv_free(&kv);
}

Test(sha256, known_vectors)
{
    char hex[65];

    af_sha256_hex("", 0, hex);
    cr_assert_str_eq(
        hex,
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    af_sha256_hex("abc", 3, hex);
    cr_assert_str_eq(
        hex,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    af_sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                  56, hex);
    cr_assert_str_eq(
        hex,
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

Test(sha256, million_a_one_shot_and_in_odd_chunks)
{
    static const char want[] =
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
    size_t n = 1000000, off = 0, step = 1;
    char *m = malloc(n);
    struct af_sha256 c;
    char hex[65];

    cr_assert_not_null(m);
    memset(m, 'a', n);
    af_sha256_hex(m, n, hex);
    cr_assert_str_eq(hex, want);
    af_sha256_init(&c);
    while (off < n) {
        size_t take = step < n - off ? step : n - off;

        af_sha256_update(&c, m + off, take);
        off += take;
        step = step * 7 % 1000 + 1; /* 1, 8, 57, 400, ... mixed sizes */
    }
    af_sha256_final_hex(&c, hex);
    cr_assert_str_eq(hex, want);
    free(m);
}

Test(sha256, padding_boundaries_match_one_shot)
{
    unsigned char buf[130];
    size_t n;

    for (n = 0; n < sizeof(buf); n++)
        buf[n] = (unsigned char)(n * 31 + 7);
    for (n = 54; n <= 129; n++) {
        struct af_sha256 c;
        char a[65], b[65];

        af_sha256_hex(buf, n, a);
        af_sha256_init(&c);
        af_sha256_update(&c, buf, n / 2);
        af_sha256_update(&c, buf + n / 2, n - n / 2);
        af_sha256_final_hex(&c, b);
        cr_assert_str_eq(a, b, "length %zu", n);
    }
    /* 64 zero bytes: a full block, padding goes to a second block. */
    memset(buf, 0, 64);
    {
        char h[65];

        af_sha256_hex(buf, 64, h);
        cr_assert_str_eq(h, "f5a5fd42d16a20302798ef6ed309979b43003d2320d9f0e8"
                            "ea9831a92759fb4b");
    }
}
