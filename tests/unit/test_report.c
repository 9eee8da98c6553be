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

/* A message naming the node's own address or host key folds anyway. */
Test(report, err_key_drops_the_node_address_name_and_fingerprint)
{
    char *k;

    k = report_err_key("npu004: connect to 127.0.22.4 port 22: Connection "
                       "refused",
                       "npu004", "127.0.22.4");
    cr_expect_str_eq(k, "connect to <address> port 22: Connection refused");
    free(k);
    /* Only whole words: 127.0.22.4 is not inside 127.0.22.40. */
    k = report_err_key("npu004: via 127.0.22.40 and npu0040", "npu004",
                       "127.0.22.4");
    cr_expect_str_eq(k, "via 127.0.22.40 and npu0040");
    free(k);
    k = report_err_key("npu004: unknown host key for npu004.lab (ssh-ed25519 "
                       "SHA256:4f+Ab/9=) not in kh",
                       "npu004", "npu004.lab");
    cr_expect_str_eq(k, "unknown host key for <address> (ssh-ed25519 "
                        "SHA256:<fingerprint>) not in kh");
    free(k);
    k = report_err_key(NULL, "npu004", NULL);
    cr_expect_str_eq(k, "");
    free(k);
}

/* 500 refusals at 500 addresses: one line; a node alone keeps its own. */
Test(report, errors_at_each_nodes_address_fold_into_one_line)
{
    struct report_errs errs;
    char buf[512] = "", node[500][16], msg[500][96], addr[500][32];
    FILE *f = fmemopen(buf, sizeof(buf), "w");
    int i;

    cr_assert_not_null(f);
    report_errs_init(&errs);
    for (i = 0; i < 500; i++) {
        snprintf(node[i], sizeof(node[i]), "npu%03d", i + 1);
        snprintf(addr[i], sizeof(addr[i]), "10.0.%d.%d", i / 200, i % 200);
        snprintf(msg[i], sizeof(msg[i]),
                 "%s: connect to %s port 22: Connection %s", node[i], addr[i],
                 i == 9 ? "timed out" : "refused");
        report_errs_add_at(&errs, node[i], addr[i], msg[i]);
    }
    report_errs_print(&errs, f);
    report_errs_free(&errs);
    fclose(f);
    cr_assert_str_eq(buf, "npu[001-009,011-500]: connect to <address> port "
                          "22: Connection refused\n"
                          "npu010: connect to 10.0.0.9 port 22: Connection "
                          "timed out\n");
}

/* report_fold: blocks largest first with their first item, and the tally. */
Test(report, fold_blocks_and_tally)
{
    static const char *const words[] = {"ok", "failed", "unreachable",
                                        "timeout"};
    static const int items[] = {10, 20, 30, 40};
    struct report_fold rf;
    struct report rep;
    char buf[256] = "", *nodes;
    size_t n;

    report_init(&rep, "test", 0, 0);
    rep.out = fmemopen(buf, sizeof(buf), "w");
    cr_assert_not_null(rep.out);
    report_fold_init(&rf, words, 4);
    report_fold_add(&rf, 0, "a", "npu001", &items[0]);
    report_fold_add(&rf, 2, "b", "npu002", &items[1]);
    report_fold_add(&rf, 2, "b", "npu003", &items[2]);
    report_fold_add(&rf, 1, "c", "npu004", &items[3]);
    n = report_fold_sort(&rf);
    cr_assert_eq(n, 3);
    cr_expect_eq(report_fold_size(&rf, 0), 2);
    cr_expect_eq(*(const int *)report_fold_item(&rf, 0), 20, "first member");
    nodes = report_fold_nodes(&rf, 0);
    cr_expect_str_eq(nodes, "npu[002-003]");
    free(nodes);
    cr_expect_eq(*(const int *)report_fold_item(&rf, 1), 10, "stable order");
    report_fold_tally(&rep, &rf, 3);
    report_fold_free(&rf);
    fclose(rep.out);
    cr_assert_str_eq(buf, "1 ok, 1 failed: npu004, 2 unreachable: "
                          "npu[002-003]\n");
}
