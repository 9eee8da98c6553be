/* SPDX-License-Identifier: MIT */
/*
 * Command-line contract shared by the subcommands: --json output is JSON
 * Lines, every line with the schema version "v" and a "type"; options may
 * follow positionals.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "af-mem.h"
#include "harness.h"
#include "st.h"
#include "tjson.h"

Test(cli, runs_json_has_a_schema_version, .timeout = 60)
{
    char dir[] = "/tmp/af-cli-XXXXXX", *state;
    const char *argv[] = {AF_BIN, "runs", "--json", "--state", NULL, NULL};
    struct th_result r;
    struct jv *doc;

    cr_assert_not_null(mkdtemp(dir));
    state = af_asprintf("%s/state.db", dir);
    argv[4] = state;
    /* Read-only commands never create a state file: make an empty one. */
    {
        struct st *s = NULL;

        cr_assert_eq(st_open(state, &s, NULL), 0);
        st_close(s);
    }
    cr_assert_eq(th_run(&r, 30, argv), 0);
    cr_expect_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    /* No runs: the summary alone says so. */
    doc = jsonl_parse(r.out);
    cr_assert_eq(doc->n, 1, "%s", r.out);
    cr_expect_str_eq(jstr(doc->kids[0], "type"), "summary");
    cr_expect_eq(jnum(doc->kids[0], "total"), 0);
    jv_free(doc);
    th_result_free(&r);
    /* The option may come after a positional too (status RUN --state). */
    {
        const char *st[] = {AF_BIN, "status", "7", "--state", state, NULL};

        cr_assert_eq(th_run(&r, 30, st), 0);
        cr_expect_eq(r.status, 2, "exit %d: %s", r.status, r.err);
        cr_expect_not_null(strstr(r.err, state), "--state not taken: %s",
                           r.err);
        th_result_free(&r);
    }
    free(state);
    state = af_asprintf("rm -rf %s", dir);
    cr_expect_eq(system(state), 0);
    free(state);
}

/* hccn plan --json: valid and invalid plans are JSON Lines, with "v". */
Test(cli, hccn_plan_json_has_a_schema_version, .timeout = 60)
{
    static const char *const files[] = {"910-4.yaml", "err-overlap.yaml"};
    char dir[] = "/tmp/af-cli-XXXXXX";
    size_t i;

    cr_assert_not_null(mkdtemp(dir));
    for (i = 0; i < 2; i++) {
        char *inv =
            af_asprintf("%s/tests/unit/data/hccn/%s", AF_SOURCE_DIR, files[i]);
        char *state = af_asprintf("%s/state.db", dir);
        const char *argv[] = {AF_BIN, "hccn",    "plan", "--json", "-i",
                              inv,    "--state", state,  NULL};
        struct th_result r;
        struct jv *doc;
        const struct jv *sum;

        cr_assert_eq(th_run(&r, 30, argv), 0);
        cr_expect_eq(r.status, i == 0 ? 0 : 2, "%s: exit %d: %s", files[i],
                     r.status, r.err);
        doc = jsonl_parse(r.out);
        sum = doc->kids[doc->n - 1];
        cr_expect_str_eq(jstr(sum, "type"), "summary");
        cr_expect_eq(jget(sum, "valid")->t, J_BOOL);
        cr_expect_eq(jget(sum, "valid")->b, i == 0);
        cr_expect_eq(jget(sum, "errors")->t, J_ARR);
        if (i == 0) {
            cr_expect_gt(jsonl_count(doc, "node"), 0, "%s", r.out);
            cr_expect_eq(jget(sum, "errors")->n, 0);
        } else {
            cr_expect_eq(doc->n, 1, "an invalid plan has no node line");
            cr_expect_gt(jget(sum, "errors")->n, 0);
        }
        jv_free(doc);
        th_result_free(&r);
        free(inv);
        free(state);
    }
    {
        char *rm = af_asprintf("rm -rf %s", dir);

        cr_expect_eq(system(rm), 0);
        free(rm);
    }
}

/* inventory show --json: one "node" line per node, then "summary". */
Test(cli, inventory_show_json_has_a_schema_version, .timeout = 60)
{
    const char *argv[] = {
        AF_BIN,    "inventory",    "show",
        "--json",  "-i",           AF_RACK_DIR "/inventory.yaml",
        "--limit", "npu[001-003]", NULL};
    struct th_result r;
    struct jv *doc;
    const struct jv *n;

    cr_assert_eq(th_run(&r, 30, argv), 0);
    cr_expect_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    doc = jsonl_parse(r.out);
    cr_assert_eq(doc->n, 4, "%s", r.out);
    n = jsonl_nth(doc, "node", 0);
    cr_assert_not_null(n);
    cr_expect_str_eq(jstr(n, "name"), "npu001");
    cr_expect_eq(jget(n, "groups")->t, J_ARR);
    cr_expect_str_eq(jstr(doc->kids[3], "type"), "summary");
    cr_expect_eq(jnum(doc->kids[3], "total"), 3.0);
    jv_free(doc);
    th_result_free(&r);
}
