/* SPDX-License-Identifier: MIT */
/* The JSON writer: structure, and escaping of every byte. */
#include <string.h>

#include <criterion/criterion.h>

#include "af-json.h"

static char *
quote(const char *s, size_t n)
{
    struct af_buf b;

    af_buf_init(&b, 0);
    afj_quote(&b, s, n);
    return af_buf_steal(&b);
}

Test(json, nul_and_control_bytes_are_escaped)
{
    char *q = quote("X\0Y\x01\x1f\x7f\n\t\r\b\f\"\\", 13);

    cr_assert_str_eq(
        q, "\"X\\u0000Y\\u0001\\u001f\\u007f\\n\\t\\r\\b\\f\\\"\\\\\"");
    free(q);
}

Test(json, every_byte_gives_valid_output)
{
    char in[1], *q;
    int c;

    for (c = 0; c < 256; c++) {
        size_t i;

        in[0] = (char)c;
        q = quote(in, 1);
        for (i = 0; q[i]; i++)
            cr_assert((unsigned char)q[i] >= 0x20 && (unsigned char)q[i] < 0x7f,
                      "byte %d gave raw byte %d", c, (unsigned char)q[i]);
        if (c >= 0x80)
            cr_assert_str_eq(q, "\"\\ufffd\"", "lone byte %d", c);
        free(q);
    }
}

Test(json, valid_utf8_passes_and_invalid_is_replaced)
{
    static const struct {
        const char *in;
        const char *out;
    } cases[] = {
        {"\xc3\xa9", "\"\xc3\xa9\""},                  /* é */
        {"\xe2\x82\xac", "\"\xe2\x82\xac\""},          /* € */
        {"\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\""},  /* U+1F600 */
        {"\xc0\x80", "\"\\ufffd\\ufffd\""},            /* overlong NUL */
        {"\xe0\x80\x80", "\"\\ufffd\\ufffd\\ufffd\""}, /* overlong */
        {"\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\""}, /* surrogate */
        {"\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""}, /* >10FFFF */
        {"a\xe2\x82", "\"a\\ufffd\\ufffd\""}, /* truncated */
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *q = quote(cases[i].in, strlen(cases[i].in));

        cr_assert_str_eq(q, cases[i].out, "case %zu", i);
        free(q);
    }
}

Test(json, writer_places_commas_and_nesting)
{
    struct af_buf b;
    struct af_json j;

    af_buf_init(&b, 0);
    afj_init(&j, &b);
    afj_obj_begin(&j);
    afj_kint(&j, "v", 1);
    afj_kstrn(&j, "out", "a\0b", 3);
    afj_key(&j, "list");
    afj_arr_begin(&j);
    afj_int(&j, -2);
    afj_bool(&j, 1);
    afj_null(&j);
    afj_obj_begin(&j);
    afj_obj_end(&j);
    afj_arr_end(&j);
    afj_kstr(&j, "none", NULL);
    afj_kuint(&j, "big", 18446744073709551615ULL);
    afj_obj_end(&j);
    cr_assert_str_eq(b.data, "{\"v\":1,\"out\":\"a\\u0000b\",\"list\":[-2,true,"
                             "null,{}],\"none\":null,"
                             "\"big\":18446744073709551615}");
    af_buf_free(&b);
}
