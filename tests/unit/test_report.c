/* SPDX-License-Identifier: MIT */
/* The reporter's terminal escaping and error folding. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "report.h"

static char *
esc(const char *s, size_t n, int keep_nl)
{
    struct af_buf b;

    af_buf_init(&b, 0);
    report_escape(&b, s, n, keep_nl);
    af_buf_append(&b, "", 0);
    return b.data ? af_buf_steal(&b) : strdup("");
}

Test(report, controls_nul_del_c1_and_bad_utf8_are_escaped)
{
    char *e = esc("a\0b\033[2J\007\x7f\xc2\x9b\xff\r", 13, 0);

    cr_assert_str_eq(e, "a\\x00b\\x1b[2J\\x07\\x7f\\xc2\\x9b\\xff\\x0d");
    free(e);
}

Test(report, text_and_utf8_pass_newlines_only_when_asked)
{
    char *e = esc("caf\xc3\xa9 \xe2\x82\xac\n\tx", 12, 1);

    cr_assert_str_eq(e, "caf\xc3\xa9 \xe2\x82\xac\n\tx");
    free(e);
    e = esc("a\nb", 3, 0);
    cr_assert_str_eq(e, "a\\x0ab");
    free(e);
}

Test(report, every_byte_alone_is_printable_or_escaped)
{
    int c;

    for (c = 0; c < 256; c++) {
        char in = (char)c, *e = esc(&in, 1, 0);
        size_t i;

        for (i = 0; e[i]; i++)
            cr_assert((unsigned char)e[i] >= 0x20 && (unsigned char)e[i] < 0x7f,
                      "byte %d reached the terminal raw", c);
        free(e);
    }
}

Test(report, equal_errors_fold_by_message_without_the_node_name)
{
    struct report_errs errs;
    char buf[512] = "";
    FILE *f = fmemopen(buf, sizeof(buf), "w");
    int i;

    cr_assert_not_null(f);
    report_errs_init(&errs);
    for (i = 1; i <= 500; i++) {
        char node[16], msg[64];

        snprintf(node, sizeof(node), "npu%03d", i);
        snprintf(msg, sizeof(msg), "%s: public key k denied for user root",
                 node);
        report_errs_add(&errs, node, i == 7 ? "npu007: timed out" : msg);
    }
    report_errs_print(&errs, f);
    report_errs_free(&errs);
    fclose(f);
    cr_assert_str_eq(buf, "npu[001-006,008-500]: public key k denied for "
                          "user root\nnpu007: timed out\n");
}
