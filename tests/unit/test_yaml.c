/* SPDX-License-Identifier: MIT */
/*
 * The YAML tree loader (common/af-yaml.c): NUL characters inside a value,
 * encoding errors placed at their real line:col (in memory and from a
 * file), YAML nulls flagged as such, and duplicate keys found among many.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "af-buf.h"
#include "af-err.h"
#include "af-yaml.h"

/* Load len bytes of text; expect failure with exactly message msg. */
static void
expect_fail(const char *text, size_t len, const char *msg)
{
    struct af_err e = {0};
    struct af_ynode *root = (struct af_ynode *)1;
    int r = af_yaml_load_string("t.yaml", text, len, &root, &e);

    cr_assert_eq(r, AF_EYAML, "got %d (%s)", r, e.msg);
    cr_assert_null(root);
    cr_assert_str_eq(e.msg, msg);
}

Test(yaml, nul_escape_inside_a_scalar_is_an_error)
{
    static const char t[] = "a: 1\nb: \"ab\\0cd\"\n";

    expect_fail(t, sizeof(t) - 1,
                "t.yaml:2:4: NUL character (\\0) inside a value");
}

Test(yaml, nul_escape_inside_a_key_is_an_error)
{
    static const char t[] = "\"us\\0er\": x\n";

    expect_fail(t, sizeof(t) - 1,
                "t.yaml:1:1: NUL character (\\0) inside a value");
}

Test(yaml, raw_nul_byte_reports_its_line_and_column)
{
    static const char t[] = "a: 1\nbb: x\0y\n";

    expect_fail(t, sizeof(t) - 1,
                "t.yaml:2:6: control characters are not "
                "allowed (#x0)");
}

Test(yaml, invalid_utf8_reports_its_line_and_column)
{
    static const char t[] = "a: 1\nb: 2\nname: caf\xc3\xa9-\xff\n";

    expect_fail(t, sizeof(t) - 1,
                "t.yaml:3:12: invalid leading UTF-8 "
                "octet (#xFF)");
}

Test(yaml, encoding_error_in_a_file_reports_its_line_and_column)
{
    char path[] = "/tmp/af-yaml-XXXXXX";
    static const char t[] = "x: 1\ny:\n  - a\n  - b\xc3\n"; /* \n ends it */
    struct af_err e = {0};
    struct af_ynode *root = NULL;
    char want[256];
    int fd = mkstemp(path);

    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, t, sizeof(t) - 1), (ssize_t)sizeof(t) - 1);
    close(fd);
    cr_assert_eq(af_yaml_load(path, &root, &e), AF_EYAML);
    unlink(path);
    snprintf(want, sizeof(want), "%s:4:7: invalid trailing UTF-8 octet (#xA)",
             path);
    cr_assert_str_eq(e.msg, want);
    cr_assert_null(root);
}

Test(yaml, nulls_are_flagged_and_quoted_ones_are_not)
{
    static const char t[] = "a: ~\nb: null\nc:\nd: \"~\"\ne: NULL\n"
                            "f: 'null'\ng: x\nh: Null\n";
    static const int want[] = {1, 1, 1, 0, 1, 0, 0, 1};
    struct af_err e = {0};
    struct af_ynode *root = NULL;
    size_t i;

    cr_assert_eq(af_yaml_load_string("t.yaml", t, sizeof(t) - 1, &root, &e), 0,
                 "%s", e.msg);
    cr_assert_eq(root->n, 8);
    for (i = 0; i < root->n; i++)
        cr_assert_eq(root->vals[i]->null, want[i], "key %s",
                     root->keys[i]->scalar);
    af_yaml_free(root);
}

Test(yaml, duplicate_key_among_many_is_found_with_both_positions)
{
    struct af_buf b;
    struct af_err e = {0};
    struct af_ynode *root = NULL;
    int i;

    af_buf_init(&b, 0);
    for (i = 0; i < 5000; i++)
        af_buf_printf(&b, "k%d: %d\n", i, i);
    af_buf_printf(&b, "k17: again\n");
    cr_assert_eq(af_yaml_load_string("t.yaml", b.data, b.len, &root, &e),
                 AF_EYAML);
    cr_assert_str_eq(e.msg, "t.yaml:5001:1: duplicate key 'k17' (first at "
                            "line 18, column 1)");
    cr_assert_null(root);
    af_buf_free(&b);
}

Test(yaml, many_distinct_keys_keep_file_order)
{
    struct af_buf b;
    struct af_err e = {0};
    struct af_ynode *root = NULL;
    char k[32];
    int i;

    af_buf_init(&b, 0);
    for (i = 0; i < 3000; i++)
        af_buf_printf(&b, "k%d: [%d]\n", i, i);
    cr_assert_eq(af_yaml_load_string("t.yaml", b.data, b.len, &root, &e), 0,
                 "%s", e.msg);
    cr_assert_eq(root->n, 3000);
    for (i = 0; i < 3000; i++) {
        snprintf(k, sizeof(k), "k%d", i);
        cr_assert_str_eq(root->keys[i]->scalar, k);
        cr_assert_eq(root->vals[i]->type, AF_YSEQ);
        cr_assert_eq(root->vals[i]->n, 1);
    }
    cr_assert_not_null(af_yaml_get(root, "k2999"));
    af_yaml_free(root);
    af_buf_free(&b);
}
