/* SPDX-License-Identifier: MIT */
/*
 * Hostlist expansion and folding: ranges, padding, cartesian products,
 * top-level lists, every rejected pattern, and fold/expand round trips.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "af-err.h"
#include "af-mem.h"
#include "hostlist.h"

/* Expand pattern and compare with the space-separated names in want. */
static void
expect_names(const char *pattern, const char *want)
{
    struct af_err e = {0};
    char **names = NULL, *copy = af_strdup(want), *tok, *save = NULL;
    size_t n = 0, i = 0;
    int r = hl_expand(pattern, &names, &n, &e);

    cr_assert_eq(r, 0, "hl_expand(%s): %s", pattern, e.msg);
    for (tok = strtok_r(copy, " ", &save); tok != NULL;
         tok = strtok_r(NULL, " ", &save), i++) {
        cr_assert_lt(i, n, "%s: only %zu names, wanted more", pattern, n);
        cr_assert_str_eq(names[i], tok, "%s: name %zu", pattern, i);
    }
    cr_assert_eq(i, n, "%s: %zu names, wanted %zu", pattern, n, i);
    hl_names_free(names, n);
    free(copy);
}

/* Expect hl_expand to fail with a message containing both needles. */
static void
expect_error(const char *pattern, const char *problem, const char *text)
{
    struct af_err e = {0};
    char **names = (char **)1;
    size_t n = 99;
    int r = hl_expand(pattern, &names, &n, &e);

    cr_assert_eq(r, AF_EINPUT, "hl_expand(%s) gave %d", pattern, r);
    cr_assert_null(names);
    cr_assert_eq(n, 0);
    cr_assert_eq(e.code, AF_EINPUT);
    cr_assert(strstr(e.msg, problem) != NULL, "'%s': '%s' lacks '%s'", pattern,
              e.msg, problem);
    cr_assert(strstr(e.msg, text) != NULL, "'%s': '%s' lacks '%s'", pattern,
              e.msg, text);
}

static char *
fold_of(const char *pattern)
{
    char **names = NULL, *s;
    size_t n = 0;

    cr_assert_eq(hl_expand(pattern, &names, &n, NULL), 0, "%s", pattern);
    s = hl_fold((const char *const *)names, n);
    hl_names_free(names, n);
    return s;
}

static int
str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* expand(fold(expand(p))) must give the same set of names as expand(p). */
static void
expect_round_trip(const char *pattern)
{
    char **a = NULL, **b = NULL, *folded;
    size_t na = 0, nb = 0, i, k = 0;

    cr_assert_eq(hl_expand(pattern, &a, &na, NULL), 0, "%s", pattern);
    folded = hl_fold((const char *const *)a, na);
    cr_assert_eq(hl_expand(folded, &b, &nb, NULL), 0, "%s -> %s", pattern,
                 folded);
    qsort(a, na, sizeof(*a), str_cmp);
    qsort(b, nb, sizeof(*b), str_cmp);
    /* a may hold duplicates; compare as sets. */
    for (i = 0; i < na; i++) {
        if (i > 0 && strcmp(a[i], a[i - 1]) == 0)
            continue;
        cr_assert_lt(k, nb, "%s -> %s: lost %s", pattern, folded, a[i]);
        cr_assert_str_eq(a[i], b[k], "%s -> %s", pattern, folded);
        k++;
    }
    cr_assert_eq(k, nb, "%s -> %s: extra names", pattern, folded);
    free(folded);
    hl_names_free(a, na);
    hl_names_free(b, nb);
}

Test(hl, plain_name_expands_to_itself)
{
    expect_names("login01", "login01");
}

Test(hl, list_and_span_in_one_range)
{
    expect_names("a[1-3,7]", "a1 a2 a3 a7");
}

Test(hl, zero_padding_is_kept)
{
    expect_names("npu[001-003]", "npu001 npu002 npu003");
    expect_names("npu[098-101]", "npu098 npu099 npu100 npu101");
}

Test(hl, unpadded_range_grows_in_width)
{
    expect_names("[8-10]", "8 9 10");
    expect_names("[08-10]", "08 09 10");
    expect_names("n[0-1]", "n0 n1");
}

Test(hl, cartesian_product_leftmost_slowest)
{
    expect_names("r[1-2]n[01-04]",
                 "r1n01 r1n02 r1n03 r1n04 r2n01 r2n02 r2n03 r2n04");
    expect_names("a[1-2]b[3,5]c", "a1b3c a1b5c a2b3c a2b5c");
}

Test(hl, top_level_commas_separate_terms)
{
    expect_names("login01,npu[1-2]", "login01 npu1 npu2");
    expect_names(" login01 , npu[1,3] ", "login01 npu1 npu3");
}

Test(hl, duplicates_are_kept_in_order)
{
    expect_names("a[1-2],a1", "a1 a2 a1");
}

Test(hl, addresses_expand_like_names)
{
    char **names = NULL;
    size_t n = 0;

    cr_assert_eq(hl_expand("10.1.0.[11-42]", &names, &n, NULL), 0);
    cr_assert_eq(n, 32);
    cr_assert_str_eq(names[0], "10.1.0.11");
    cr_assert_str_eq(names[31], "10.1.0.42");
    hl_names_free(names, n);
}

Test(hl, unbalanced_brackets_are_rejected)
{
    expect_error("a[1-3", "unbalanced '['", "a[1-3");
    expect_error("a1-3]", "unbalanced ']'", "a1-3]");
    expect_error("a[1-2]]", "unbalanced ']'", "a[1-2]]");
    expect_error("a[[1-2]]", "nested '['", "a[[1-2]]");
}

Test(hl, empty_ranges_and_terms_are_rejected)
{
    expect_error("a[]", "empty range", "a[]");
    expect_error("a[1,,2]", "empty range item", "[1,,2]");
    expect_error("a[1,]", "empty range item", "[1,]");
    expect_error("", "empty hostlist", "''");
    expect_error("a,,b", "empty name", "a,,b");
    expect_error("a,", "empty name", "a,");
}

Test(hl, reversed_range_is_rejected)
{
    expect_error("npu[5-3]", "reversed range", "'5-3'");
}

Test(hl, non_numeric_range_is_rejected)
{
    expect_error("npu[a-c]", "non-numeric range", "'a-c'");
    expect_error("npu[1-]", "non-numeric range", "'1-'");
    expect_error("npu[-3]", "non-numeric range", "'-3'");
    expect_error("npu[1-2-3]", "non-numeric range", "'1-2-3'");
    expect_error("npu[1234567890123456789]", "non-numeric range",
                 "1234567890123456789");
}

Test(hl, more_than_a_million_names_is_rejected)
{
    char **names = NULL;
    size_t n = 0;

    expect_error("n[1-1000001]", "more than 1000000 names", "n[1-1000001]");
    expect_error("a[1-1001]b[1-1000]", "more than 1000000", "a[1-1001]");
    expect_error("a[1-600000],b[1-600000]", "more than 1000000", "b[1-");
    cr_assert_eq(hl_expand("n[1-1000000]", &names, &n, NULL), 0);
    cr_assert_eq(n, 1000000);
    cr_assert_str_eq(names[999999], "n1000000");
    hl_names_free(names, n);
}

Test(hl, space_inside_a_name_is_rejected)
{
    expect_error("npu 01", "space inside name", "npu 01");
}

Test(hl, fold_makes_padded_ranges)
{
    const char *names[] = {"npu004", "npu001", "npu007", "npu002", "npu003"};
    char *s = hl_fold(names, 5);

    cr_assert_str_eq(s, "npu[001-004,007]");
    free(s);
}

Test(hl, fold_single_name_and_empty_list)
{
    const char *one[] = {"npu001"};
    char *s = hl_fold(one, 1);

    cr_assert_str_eq(s, "npu001");
    free(s);
    s = hl_fold(NULL, 0);
    cr_assert_str_eq(s, "");
    free(s);
}

Test(hl, fold_keeps_names_without_digits_and_sorts_groups)
{
    const char *names[] = {"npu2",  "mgmt",  "login01", "npu1",
                           "alpha", "npu10", "mgmt"};
    char *s = hl_fold(names, 7);

    cr_assert_str_eq(s, "alpha,login01,mgmt,npu[1-2,10]");
    free(s);
}

Test(hl, fold_separates_widths_and_suffixes)
{
    const char *names[] = {"n01", "n1", "n02", "n2", "n01-ib", "n02-ib"};
    char *s = hl_fold(names, 6);

    cr_assert_str_eq(s, "n[01-02],n[1-2],n[01-02]-ib");
    free(s);
}

Test(hl, fold_joins_unpadded_numbers_of_the_padded_width)
{
    char *s = fold_of("npu[098-101]");

    cr_assert_str_eq(s, "npu[098-101]");
    free(s);
    s = fold_of("npu[8-10]");
    cr_assert_str_eq(s, "npu[8-10]");
    free(s);
}

Test(hl, fold_is_two_dimensional)
{
    char *s = fold_of("r[1-2]n[01-04]");

    cr_assert_str_eq(s, "r[1-2]n[01-04]");
    free(s);
    s = fold_of("r1n1,r2n1,r3n1");
    cr_assert_str_eq(s, "r[1-3]n1");
    free(s);
}

Test(hl, fold_output_does_not_depend_on_input_order)
{
    const char *a[] = {"r2n3", "x", "r1n3", "npu9", "npu10", "r1n2", "npu8"};
    const char *b[] = {"npu10", "r1n2", "x", "npu8", "r2n3", "npu9", "r1n3"};
    char *sa = hl_fold(a, 7), *sb = hl_fold(b, 7);

    cr_assert_str_eq(sa, sb);
    free(sa);
    free(sb);
    expect_round_trip("r2n3,x,r1n3,npu9,npu10,r1n2,npu8");
}

Test(hl, fold_addresses)
{
    char *s = fold_of("10.1.0.[11-42],10.1.9.1");

    cr_assert_str_eq(s, "10.1.0.[11-42],10.1.9.1");
    free(s);
}

Test(hl, fold_of_expand_round_trips)
{
    static const char *canonical[] = {
        "npu[001-032]",
        "login01,npu[001-004,007]",
        "r[1-2]n[01-04]",
        "a[1-3,7]",
        "[8-10]",
        "[08-10]",
        "10.1.0.[11-42]",
        "mgmt,npu[1-2,10]",
        "rack[1-3]-npu[01-16]",
    };
    static const char *messy[] = {
        "n[1-5],n[3-9],n[05-07]", "x[1-2]y[1-2]z[1-2]", "a[1-3]b,a[1-2]c",
        "n9,n10,n09,n010,n100",   "host,host,host1",    "a0,a00,a000,a1",
        "r[1-4]n[1-2],r5n1",
    };
    size_t i;

    for (i = 0; i < sizeof(canonical) / sizeof(*canonical); i++) {
        char *s = fold_of(canonical[i]);

        cr_assert_str_eq(s, canonical[i], "fold(expand(%s))", canonical[i]);
        free(s);
        expect_round_trip(canonical[i]);
    }
    for (i = 0; i < sizeof(messy) / sizeof(*messy); i++)
        expect_round_trip(messy[i]);
}

Test(hl, fold_ten_thousand_names_quickly, .timeout = 10)
{
    char **names = NULL, *s;
    size_t n = 0;

    cr_assert_eq(hl_expand("r[01-40]n[001-250]", &names, &n, NULL), 0);
    cr_assert_eq(n, 10000);
    /* Drop one node so the result is not a single trivial range. */
    free(names[4321]);
    names[4321] = names[--n];
    s = hl_fold((const char *const *)names, n);
    cr_assert_str_eq(s, "r[01-17,19-40]n[001-250],r18n[001-071,073-250]");
    free(s);
    hl_names_free(names, n);
}

/*
 * Found by fuzz_hostlist (a timeout): 41,021 names that fold into 41,021
 * range items; arrays grown one item at a time made expanding that fold
 * quadratic (about a minute under ASan). Same shape, round trip.
 */
Test(hl, fold_and_expand_of_forty_thousand_range_items, .timeout = 20)
{
    expect_round_trip("-npu[0-41020]1");
}
