/* SPDX-License-Identifier: MIT */
/*
 * ascend-fleet logs RUN NODE [STEP]: the full output of a node's steps as
 * the state file keeps it (state/st-log.c), byte for byte. Read-only: it
 * takes no lock and never creates a state file, so it works beside a
 * running rollout (a step still running shows what arrived so far).
 */
#define _GNU_SOURCE
#include "cmd.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "af-buf.h"
#include "af-err.h"
#include "af-json.h"
#include "af-mem.h"
#include "report.h"
#include "st.h"

enum { LOGS_OPT_ATTEMPT = CMD_OPT_FIRST_PRIVATE };

struct logs_args {
    int attempt; /* --attempt, 0 = the latest */
};

struct logs_out {
    int tty;             /* stdout is a terminal: escape node bytes */
    int last_nl;         /* the last byte written was a newline */
    size_t n;            /* bytes written */
    struct af_buf *json; /* collect instead of printing */
};

static void
logs_usage(FILE *out)
{
    fprintf(out,
            "usage: ascend-fleet logs RUN NODE [STEP] [--attempt N] "
            "[--state FILE] [--json]\n"
            "The full output (stdout and stderr, as it arrived) of NODE's "
            "steps in RUN.\n"
            "STEP (a step name, or STAGE/STEP) prints that step's output "
            "exactly as the\n"
            "node wrote it; without STEP every step that ran is shown, in "
            "the order they\n"
            "ran, each attempt after a header line.\n"
            "  -i, --inventory FILE   finds the default state file\n"
            "      --state FILE       state file (default " AF_DEFAULT_STATE
            ")\n"
            "      --attempt N        that attempt of STEP (default: the "
            "latest)\n"
            "      --json             one JSON object per attempt "
            "(type \"log\")\n"
            "Exit codes: 0 shown, 2 unknown run, node, step or attempt, or "
            "no state file.\n");
}

static int
logs_opt(void *ctx, int opt, const char *arg)
{
    struct logs_args *a = ctx;
    char *end;
    long v;

    if (opt != LOGS_OPT_ATTEMPT)
        return AF_EXIT_USAGE;
    v = strtol(arg, &end, 10);
    if (*arg == '\0' || *end != '\0' || v <= 0 || v > 1000000) {
        fprintf(stderr, "ascend-fleet logs: bad --attempt '%s'\n", arg);
        return AF_EXIT_USAGE;
    }
    a->attempt = (int)v;
    return 0;
}

/* Output bytes as they come from the state file. */
static int
logs_emit(void *data, const char *p, size_t n)
{
    struct logs_out *o = data;

    if (n == 0)
        return 0;
    if (o->json != NULL) {
        af_buf_append(o->json, p, n);
    } else if (o->tty) {
        struct af_buf b;

        /* Node bytes never reach a terminal raw (report.h). */
        af_buf_init(&b, 0);
        report_escape(&b, p, n, 1);
        fwrite(b.data ? b.data : "", 1, b.len, stdout);
        af_buf_free(&b);
    } else {
        fwrite(p, 1, n, stdout);
    }
    o->n += n;
    o->last_nl = p[n - 1] == '\n';
    return 0;
}

/* "exit 0", "timed out after 5 s", or "running" for the header. */
static const char *
logs_result(const struct st_log_info *l)
{
    if (l->result != NULL)
        return l->result;
    return l->complete ? "ended" : "running (or its run was killed)";
}

static void
logs_header(const struct st_log_info *l, int first)
{
    char *res = report_safe(logs_result(l));

    printf("%s==> %s %s/%s attempt %d: %s, %" PRIu64 " bytes",
           first ? "" : "\n", l->node, l->stage, l->step, l->attempt, res,
           l->bytes);
    if (l->dropped > 0)
        printf(" (%" PRIu64 " dropped)", l->dropped);
    printf(" <==\n");
    free(res);
}

static int
logs_json(struct st *st,
          int64_t run,
          const struct st_log_info *l,
          struct af_err *e)
{
    struct af_buf out, line;
    struct logs_out o = {0};
    struct af_json j;
    int r;

    af_buf_init(&out, 0);
    o.json = &out;
    r = st_log_read(st, run, l->node, l->stage, l->step, l->attempt, logs_emit,
                    &o, e);
    if (r != 0) {
        af_buf_free(&out);
        return r;
    }
    af_buf_init(&line, 0);
    afj_init(&j, &line);
    afj_obj_begin(&j);
    afj_kint(&j, "v", REPORT_JSON_VERSION);
    afj_kstr(&j, "type", "log");
    afj_kint(&j, "run", run);
    afj_kstr(&j, "node", l->node);
    afj_kstr(&j, "stage", l->stage);
    afj_kstr(&j, "step", l->step);
    afj_kint(&j, "attempt", l->attempt);
    afj_kstr(&j, "result", l->result);
    if (l->exit_code == ST_NO_EXIT)
        afj_knull(&j, "exit_code");
    else
        afj_kint(&j, "exit_code", l->exit_code);
    afj_kbool(&j, "complete", l->complete);
    afj_kuint(&j, "bytes", l->bytes);
    afj_kuint(&j, "dropped", l->dropped);
    afj_kint(&j, "started_ms", l->started);
    afj_kint(&j, "updated_ms", l->updated);
    afj_kstrn(&j, "output", out.data ? out.data : "", out.len);
    afj_obj_end(&j);
    af_buf_append(&line, "\n", 1);
    fwrite(line.data, 1, line.len, stdout);
    af_buf_free(&line);
    af_buf_free(&out);
    return 0;
}

/* Print attempts [0, n) of logs: raw (one STEP), or each with a header. */
static int
logs_print(struct st *st,
           int64_t run,
           const struct st_log_info *logs,
           size_t n,
           int json,
           int headers)
{
    struct af_err e = {0};
    size_t i;
    int r = 0;

    for (i = 0; i < n && r == 0; i++) {
        const struct st_log_info *l = &logs[i];
        struct logs_out o = {0};

        if (json) {
            r = logs_json(st, run, l, &e);
            continue;
        }
        o.tty = isatty(STDOUT_FILENO);
        if (headers)
            logs_header(l, i == 0);
        r = st_log_read(st, run, l->node, l->stage, l->step, l->attempt,
                        logs_emit, &o, &e);
        if (r == 0 && headers && o.n > 0 && !o.last_nl)
            putchar('\n');
    }
    if (r != 0)
        fprintf(stderr, "ascend-fleet logs: %s\n", e.msg);
    return r == 0 ? AF_EXIT_OK : AF_EXIT_INTERNAL;
}

/*
 * Find STEP ("step" or "stage/step") among the node's steps: its stage in
 * *stage (borrowed from steps). Prints why and returns AF_EXIT_USAGE when
 * it is unknown or names steps of two stages.
 */
static int
logs_find_step(const struct st_step *steps,
               size_t ns,
               const char *node,
               int64_t run,
               const char *want,
               const char **stage,
               const char **step)
{
    const char *slash = strchr(want, '/');
    struct af_buf names;
    size_t i, hits = 0;

    *stage = NULL;
    af_buf_init(&names, 0);
    for (i = 0; i < ns; i++) {
        const struct st_step *s = &steps[i];
        int match =
            slash ? strncmp(want, s->stage, (size_t)(slash - want)) == 0 &&
                        s->stage[slash - want] == '\0' &&
                        strcmp(slash + 1, s->step) == 0
                  : strcmp(want, s->step) == 0;

        af_buf_printf(&names, "%s%s/%s", i ? ", " : "", s->stage, s->step);
        if (!match)
            continue;
        hits++;
        *stage = s->stage;
        *step = s->step;
    }
    if (hits == 1) {
        af_buf_free(&names);
        return 0;
    }
    if (hits == 0)
        fprintf(stderr,
                "ascend-fleet logs: no step '%s' for node %s in run %" PRId64
                " (its steps: %s)\n",
                want, node, run, names.data ? names.data : "none");
    else
        fprintf(stderr,
                "ascend-fleet logs: step '%s' is in more than one stage of "
                "node %s in run %" PRId64 "; name it as STAGE/STEP (%s)\n",
                want, node, run, names.data);
    af_buf_free(&names);
    return AF_EXIT_USAGE;
}

/* One step: its latest attempt (or --attempt). */
static int
logs_step(struct st *st,
          int64_t run,
          const char *node,
          const char *want,
          const struct logs_args *a,
          int json)
{
    struct st_step *steps = NULL;
    struct st_log_info *logs = NULL;
    const char *stage = NULL, *step = NULL;
    struct af_err e = {0};
    size_t ns = 0, nl = 0, i, pick;
    int rc;

    if (st_step_list(st, run, node, &steps, &ns, &e) != 0 ||
        st_log_list(st, run, node, NULL, NULL, &logs, &nl, &e) != 0) {
        fprintf(stderr, "ascend-fleet logs: %s\n", e.msg);
        rc = AF_EXIT_INTERNAL;
        goto out;
    }
    if ((rc = logs_find_step(steps, ns, node, run, want, &stage, &step)) != 0)
        goto out;
    pick = nl;
    for (i = 0; i < nl; i++) {
        if (strcmp(logs[i].stage, stage) != 0 ||
            strcmp(logs[i].step, step) != 0)
            continue;
        if (a->attempt == 0 ? pick == nl || logs[i].attempt > logs[pick].attempt
                            : logs[i].attempt == a->attempt)
            pick = i;
    }
    if (pick == nl && a->attempt != 0) {
        fprintf(stderr,
                "ascend-fleet logs: step %s/%s of node %s in run %" PRId64
                " has no attempt %d\n",
                stage, step, node, run, a->attempt);
        rc = AF_EXIT_USAGE;
    } else if (pick == nl) {
        for (i = 0; i < ns; i++)
            if (strcmp(steps[i].stage, stage) == 0 &&
                strcmp(steps[i].step, step) == 0)
                break;
        fprintf(stderr,
                "ascend-fleet logs: step %s/%s of node %s in run %" PRId64
                " has no recorded output (it is %s)\n",
                stage, step, node, run,
                i < ns ? st_step_status_name(steps[i].status) : "unknown");
        rc = AF_EXIT_OK;
    } else {
        rc = logs_print(st, run, &logs[pick], 1, json, 0);
    }
out:
    st_steps_free(steps, ns);
    st_log_infos_free(logs, nl);
    return rc;
}

/* Every recorded attempt of node, in the order they started. */
static int
logs_node(struct st *st, int64_t run, const char *node, int json)
{
    struct st_log_info *logs = NULL;
    struct af_err e = {0};
    size_t nl = 0;
    int rc;

    if (st_log_list(st, run, node, NULL, NULL, &logs, &nl, &e) != 0) {
        fprintf(stderr, "ascend-fleet logs: %s\n", e.msg);
        return AF_EXIT_INTERNAL;
    }
    if (nl == 0)
        fprintf(stderr,
                "ascend-fleet logs: node %s ran no step in run %" PRId64 "\n",
                node, run);
    rc = logs_print(st, run, logs, nl, json, 1);
    st_log_infos_free(logs, nl);
    return rc;
}

int
cmd_logs_main(int argc, char **argv)
{
    static const struct option own[] = {
        {"attempt", required_argument, NULL, LOGS_OPT_ATTEMPT},
        {0, 0, 0, 0},
    };
    static const struct cmd_spec spec = {
        .name = "logs",
        .own = own,
        .handle = logs_opt,
        .usage = logs_usage,
        .max_args = 3,
    };
    struct logs_args a = {0};
    struct cmd_opts o;
    struct st *st = NULL;
    struct st_run run;
    struct st_node node;
    struct af_err e = {0};
    int64_t id;
    char *end;
    int r, rc = AF_EXIT_USAGE;

    cmd_opts_init(&o);
    if ((r = cmd_getopt(argc, argv, &spec, &o, &a)) != 0)
        return r < 0 ? AF_EXIT_OK : r;
    if (argc - optind < 2) {
        logs_usage(stderr);
        return AF_EXIT_USAGE;
    }
    id = strtoll(argv[optind], &end, 10);
    if (*end || id <= 0) {
        fprintf(stderr, "ascend-fleet logs: bad run id '%s'\n", argv[optind]);
        return AF_EXIT_USAGE;
    }
    if (a.attempt != 0 && argc - optind < 3) {
        fprintf(stderr, "ascend-fleet logs: --attempt needs a STEP\n");
        return AF_EXIT_USAGE;
    }
    if (cmd_state_open(&o, "logs", 0, &st) != 0)
        return AF_EXIT_USAGE;
    if (st_run_get(st, id, &run, &e) != 0) {
        fprintf(stderr, "ascend-fleet logs: %s in %s\n", e.msg, o.state);
        rc = e.code == AF_ENOTFOUND ? AF_EXIT_USAGE : AF_EXIT_INTERNAL;
        goto out;
    }
    st_run_clear(&run);
    if (st_node_get(st, id, argv[optind + 1], &node, &e) != 0) {
        fprintf(stderr, "ascend-fleet logs: %s\n", e.msg);
        rc = e.code == AF_ENOTFOUND ? AF_EXIT_USAGE : AF_EXIT_INTERNAL;
        goto out;
    }
    st_node_clear(&node);
    if (argc - optind == 3)
        rc = logs_step(st, id, argv[optind + 1], argv[optind + 2], &a, o.json);
    else
        rc = logs_node(st, id, argv[optind + 1], o.json);
out:
    st_close(st);
    fflush(stdout);
    return rc;
}
