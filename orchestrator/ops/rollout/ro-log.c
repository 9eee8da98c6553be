/* SPDX-License-Identifier: MIT */
/*
 * The full output of a rollout's steps (see ro-int.h): what the agent
 * streams while a step runs goes into the state file through st_log, a
 * timer writes what quiet steps have buffered, and the parts of builtin
 * phases (hccn apply, verify) are recorded as steps whose output is the
 * transcript of their hccn_tool calls. Nothing here prints.
 */
#include "ro-int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "af-kv.h"
#include "inv.h"
#include "st.h"

void
nj_run_output(void *data, uint64_t total, const char *p, size_t n)
{
    struct nj *j = data;
    int r;

    (void)total;
    if (j->log == NULL)
        return;
    /* A failed write is kept by the recorder and reported at its close. */
    r = st_log_write(j->log, p, n, NULL);
    (void)r;
}

static void
nj_logs_tick(uv_timer_t *t)
{
    struct ro *ro = t->data;
    struct af_err e;
    size_t i;
    int began = 0, r;

    for (i = 0; i < ro->batch_n; i++) {
        struct nj *j = &ro->nj[ro->batch_nodes[i]];

        if (j->log == NULL || st_log_buffered(j->log) == 0)
            continue;
        if (!began && ro_wrote(ro, st_begin(ro->st, &e), &e,
                               "running steps' output") != 0)
            return;
        began = 1;
        /* A failure stays with the recorder: reported at its close. */
        r = st_log_sync(j->log, NULL);
        (void)r;
    }
    if (began)
        ro_wrote(ro, st_commit(ro->st, &e), &e, "running steps' output");
}

void
nj_logs_start(struct ro *ro)
{
    uv_timer_start(&ro->log_timer, nj_logs_tick, ST_LOG_FLUSH_MS,
                   ST_LOG_FLUSH_MS);
    /* It never keeps the loop alive by itself. */
    uv_unref((uv_handle_t *)&ro->log_timer);
}

void
nj_logs_stop(struct ro *ro)
{
    uv_timer_stop(&ro->log_timer);
}

void
nj_log_close(struct nj *j, int status, const struct af_kv *body, int timeout_s)
{
    const char *rc = af_kv_get(body, "rc"), *to = af_kv_get(body, "timed_out");
    const char *sig = af_kv_get(body, "signal");
    char why[256];
    struct af_err e;
    int code = ST_NO_EXIT;

    if (j->log == NULL)
        return;
    if (status == 0 && to != NULL && strcmp(to, "1") == 0) {
        snprintf(why, sizeof(why), "timed out after %d s", timeout_s);
    } else if (status == 0 && sig != NULL && strcmp(sig, "0") != 0) {
        snprintf(why, sizeof(why), "killed by signal %s", sig);
    } else if (status == 0) {
        code = rc ? atoi(rc) : -1;
        snprintf(why, sizeof(why), "exit %d", code);
    } else if (status == AF_EREMOTE) {
        snprintf(why, sizeof(why), "not started: %.200s",
                 af_kv_get(body, "error") ? af_kv_get(body, "error") : "?");
    } else {
        snprintf(why, sizeof(why), "agent lost: %.200s",
                 j->sess ? agc_error(sess_agc(j->sess)) : af_strerror(status));
    }
    ro_wrote(j->ro, st_log_close(j->log, code, why, &e), &e, "a step's output");
    j->log = NULL;
}

int
nj_part_begin(struct nj *j,
              const char *stage,
              const char *step,
              const char *action)
{
    struct ro *ro = j->ro;
    struct af_err e;

    if (ro_wrote(ro,
                 st_step_set(ro->st, ro->run, j->node->name, stage, step,
                             ST_STEP_RUNNING, ST_NO_EXIT, action, NULL, 0, 0,
                             &e),
                 &e, "a step start") != 0 ||
        ro_wrote(ro,
                 st_log_open(ro->st, ro->run, j->node->name, stage, step, 0,
                             &j->log, &e),
                 &e, "a step's output") != 0) {
        nj_fail(j, RO_F_STEP, "%s: %s", step, ro->write_msg);
        return -1;
    }
    return 0;
}

void
nj_part_end(
    struct nj *j, const char *stage, const char *step, int ok, const char *why)
{
    struct ro *ro = j->ro;
    struct af_err e;

    ro_wrote(ro, st_log_close(j->log, ST_NO_EXIT, why, &e), &e,
             "a step's output");
    j->log = NULL;
    ro_wrote(ro,
             st_step_set(ro->st, ro->run, j->node->name, stage, step,
                         ok ? ST_STEP_DONE : ST_STEP_FAILED, ST_NO_EXIT, NULL,
                         ok ? NULL : why, ok ? 0 : strlen(why), 0, &e),
             &e, "a step's end");
}

void
nj_hccn_tool(void *data, const char *cmd, int status, const struct af_kv *body)
{
    struct nj *j = data;
    const char *rc = af_kv_get(body, "rc"), *to = af_kv_get(body, "timed_out");
    struct af_buf b;
    const char *p;
    size_t n;
    int r;

    if (j->log == NULL)
        return;
    af_buf_init(&b, 0);
    af_buf_printf(&b, "$ %s\n", cmd);
    if ((p = af_kv_getn(body, "stdout", &n)) != NULL)
        af_buf_append(&b, p, n);
    if ((p = af_kv_getn(body, "stderr", &n)) != NULL)
        af_buf_append(&b, p, n);
    if (b.len > 0 && b.data[b.len - 1] != '\n')
        af_buf_append(&b, "\n", 1);
    if (status != 0)
        af_buf_printf(&b, "[agent: %s]\n",
                      af_kv_get(body, "error") ? af_kv_get(body, "error")
                                               : af_strerror(status));
    else if (to != NULL && strcmp(to, "1") == 0)
        af_buf_printf(&b, "[timed out]\n");
    else if (rc != NULL && strcmp(rc, "0") != 0)
        af_buf_printf(&b, "[exit %s]\n", rc);
    /* A failed write stays with the recorder, reported at its close. */
    r = st_log_write(j->log, b.data, b.len, NULL);
    (void)r;
    af_buf_free(&b);
}
