/* SPDX-License-Identifier: MIT */
/*
 * Command-line contract shared by the subcommands: JSON documents carry the
 * schema version "v" and parse; options may follow positionals.
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
    doc = json_parse(r.out);
    cr_assert_not_null(doc, "not JSON: %s", r.out);
    cr_expect_eq(jnum(doc, "v"), 1.0);
    cr_expect_not_null(jget(doc, "runs"));
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
