/* SPDX-License-Identifier: MIT */
/*
 * The engines as a library, on the rack: they print nothing, return
 * results and emit typed events to the caller's sink (ops/ev.h). exec keeps
 * one copy per distinct output; facts reports each node's end.
 */
#include <criterion/criterion.h>
#include <string.h>
#include <uv.h>

#include "af-err.h"
#include "exec.h"
#include "facts.h"
#include "fleet.h"

#define RACK_INV AF_RACK_DIR "/inventory.yaml"

struct sink_log {
    int ends, outputs, ok;
    int64_t min_duration;
    uint64_t bytes;
    char last_line[64];
};

static void
log_emit(void *ctx, const struct ev *e)
{
    struct sink_log *l = ctx;

    if (e->kind == EV_OUTPUT) {
        l->outputs++;
        snprintf(l->last_line, sizeof(l->last_line), "%.*s", (int)e->len,
                 e->data);
        return;
    }
    if (e->kind != EV_NODE_END)
        return;
    cr_assert_not_null(e->node);
    cr_assert_not_null(e->status);
    l->ends++;
    l->ok += strcmp(e->status, EV_OK) == 0;
    l->bytes += e->bytes;
    if (l->min_duration < 0 || e->duration_ms < l->min_duration)
        l->min_duration = e->duration_ms;
}

static void
fleet_up(struct fleet *f, uv_loop_t *loop, const char *limit)
{
    struct af_err e;

    cr_assert_eq(uv_loop_init(loop), 0);
    cr_assert_eq(fleet_init(f, loop, RACK_INV, limit, NULL, &e), 0, "%s",
                 e.msg);
}

static void
fleet_down(struct fleet *f, uv_loop_t *loop)
{
    fleet_free(f);
    cr_assert_eq(uv_loop_close(loop), 0, "handles left on the loop");
}

Test(engines, exec_emits_events_and_keeps_one_copy_per_output, .timeout = 120)
{
    struct sink_log log = {.min_duration = -1};
    struct ev_sink sink = {log_emit, &log};
    struct exec_opts o = {
        .command = "echo same; echo last",
        .max_output = 4096,
        .fanout = 4,
        .lines = 1,
    };
    struct exec_run *run;
    struct af_err e;
    struct fleet f;
    uv_loop_t loop;
    size_t i;

    fleet_up(&f, &loop, "npu[001-008]");
    cr_assert_eq(exec_run(&f, &o, &sink, &run, &e), 0, "%s", e.msg);
    cr_assert_eq(exec_run_count(run), 8);
    cr_expect_eq(log.ends, 8);
    cr_expect_eq(log.ok, 8);
    cr_expect_eq(log.outputs, 16, "one EV_OUTPUT per line");
    cr_expect_str_eq(log.last_line, "last");
    cr_expect_eq(log.bytes, 8 * strlen("same\nlast\n"));
    cr_expect_geq(log.min_duration, 0);
    /* stdout "same\nlast\n" and the empty stderr: two blobs for 8 nodes. */
    cr_expect_eq(exec_run_blobs(run), 2);
    for (i = 1; i < 8; i++)
        cr_expect_eq(exec_run_result(run, i)->out,
                     exec_run_result(run, 0)->out);
    exec_run_free(run);
    fleet_down(&f, &loop);
}

Test(engines, exec_refuses_max_output_out_of_range, .timeout = 30)
{
    struct exec_opts o = {.command = "true", .fanout = 1};
    struct exec_run *run;
    struct af_err e;
    struct fleet f;
    uv_loop_t loop;

    fleet_up(&f, &loop, "npu001");
    o.max_output = 0;
    cr_expect_eq(exec_run(&f, &o, NULL, &run, &e), AF_EINPUT);
    o.max_output = EXEC_MAX_OUTPUT_MAX + 1;
    cr_expect_eq(exec_run(&f, &o, NULL, &run, &e), AF_EINPUT);
    cr_expect_null(run);
    fleet_down(&f, &loop);
}

Test(engines, facts_emits_one_node_end_per_node, .timeout = 200)
{
    struct sink_log log = {.min_duration = -1};
    struct ev_sink sink = {log_emit, &log};
    struct facts_result *res;
    struct fleet f;
    uv_loop_t loop;

    fleet_up(&f, &loop, "npu[001-004]");
    res = facts_gather_ev(&f, 4, 120000, &sink);
    cr_expect_eq(log.ends, 4);
    cr_expect_eq(log.ok, 4, "%s", res[0].error);
    cr_expect_gt(log.bytes, 0);
    facts_results_free(res, f.nsel);
    fleet_down(&f, &loop);
}
