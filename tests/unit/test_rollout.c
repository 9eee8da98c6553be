/* SPDX-License-Identifier: MIT */
/* Batch sizes, failure budgets and result folding used by rollouts. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "fold.h"
#include "rollout.h"

static size_t
bs(const char *spec, size_t k, size_t total)
{
    size_t out = 0;

    cr_assert_eq(ro_batch_size(spec, k, total, &out), 0, "spec %s", spec);
    return out;
}

Test(ro, batch_ramp_repeats_last_size)
{
    cr_assert_eq(bs("1,10%", 0, 128), 1);
    cr_assert_eq(bs("1,10%", 1, 128), 12);
    cr_assert_eq(bs("1,10%", 7, 128), 12);
    cr_assert_eq(bs("1,10%,25%", 2, 128), 32);
    cr_assert_eq(bs("1,10%,25%", 9, 128), 32);
    cr_assert_eq(bs("4", 3, 10), 4);
}

Test(ro, batch_percent_rounds_down_but_never_to_zero)
{
    cr_assert_eq(bs("10%", 0, 5), 1);
    cr_assert_eq(bs("50%", 0, 5), 2);
    cr_assert_eq(bs("100%", 0, 7), 7);
}

Test(ro, batch_spec_errors_are_rejected)
{
    size_t out;

    cr_assert_eq(ro_batch_size("", 0, 10, &out), -1);
    cr_assert_eq(ro_batch_size("0", 0, 10, &out), -1);
    cr_assert_eq(ro_batch_size("1,x", 1, 10, &out), -1);
    cr_assert_eq(ro_batch_size("150%", 0, 10, &out), -1);
    cr_assert_eq(ro_batch_size("5%%", 0, 10, &out), -1);
    cr_assert_eq(ro_batch_size("-2", 0, 10, &out), -1);
}

Test(ro, budget_counts_and_percentages)
{
    size_t out = 99;

    cr_assert_eq(ro_parse_budget("0", 64, &out), 0);
    cr_assert_eq(out, 0);
    cr_assert_eq(ro_parse_budget("3", 64, &out), 0);
    cr_assert_eq(out, 3);
    cr_assert_eq(ro_parse_budget("10%", 64, &out), 0);
    cr_assert_eq(out, 6);
    cr_assert_eq(ro_parse_budget("abc", 64, &out), -1);
    cr_assert_eq(ro_parse_budget("5x", 64, &out), -1);
    cr_assert_eq(ro_parse_budget("101%", 64, &out), -1);
}

Test(fold, identical_results_fold_and_keep_first_seen_order)
{
    struct fold *f = fold_new();
    char *nodes;

    fold_add(f, "A", "npu003");
    fold_add(f, "B", "npu010");
    fold_add(f, "A", "npu001");
    fold_add(f, "A", "npu002");
    cr_assert_eq(fold_groups(f), 2);
    cr_assert_str_eq(fold_key(f, 0), "A");
    cr_assert_eq(fold_size(f, 0), 3);
    nodes = fold_nodes(f, 0);
    cr_assert_str_eq(nodes, "npu[001-003]");
    free(nodes);
    nodes = fold_nodes(f, 1);
    cr_assert_str_eq(nodes, "npu010");
    free(nodes);
    fold_free(f);
}

Test(fold, sort_by_size_puts_largest_group_first)
{
    struct fold *f = fold_new();

    fold_add(f, "small", "a1");
    fold_add(f, "big", "b1");
    fold_add(f, "big", "b2");
    fold_sort_by_size(f);
    cr_assert_str_eq(fold_key(f, 0), "big");
    cr_assert_str_eq(fold_key(f, 1), "small");
    fold_free(f);
}
