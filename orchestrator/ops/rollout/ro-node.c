/* SPDX-License-Identifier: MIT */
/*
 * The per-node job of a rollout: a small state machine (struct nj) that
 * moves through its plan's phases over one agent session: record the step
 * "running", push its package (content-addressed: skipped when the node
 * has the same bytes), run it with the step's timeout, then verify the
 * phase from fresh facts or hand over to the reboot (ro-reboot.c). Builtin
 * phases (hccn) run through hccn-ops. Each node is one job of sched_jobs:
 * the scheduler opens its session, reopens one for every reboot probe and
 * closes it after sched_job_done; this file never closes a session.
 */
#define _GNU_SOURCE
#include "ro-int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "af-mem.h"
#include "agc.h"
#include "hccn-ops.h"
#include "hccn.h"
#include "inv.h"
#include "push.h"
#include "sess.h"
#include "st.h"

const struct pb_plan_step *
nj_cur_step(const struct nj *j)
{
    const struct pb_plan_phase *ph = &j->plan->phases[j->phase];

    return &j->plan->steps[ph->first + j->step];
}

static const char *
nj_stage(const struct nj *j)
{
    return j->plan->phases[j->phase].stage;
}

int
nj_runnable(const struct pb_plan_step *ps)
{
    return ps->action == PB_ACT_INSTALL || ps->action == PB_ACT_UPGRADE ||
           ps->action == PB_ACT_RUN;
}

/* ---- the job's end ----------------------------------------------- */

static void
nj_timer_closed(uv_handle_t *h)
{
    struct nj *j = h->data;

    sched_job_done(j->job);
}

/* The job is over: its timer closes, then the scheduler closes the
 * session and frees the slot. */
static void
nj_finish(struct nj *j)
{
    j->ended_ms = uv_now(&j->ro->loop);
    j->sess = NULL;
    uv_timer_stop(&j->timer);
    uv_close((uv_handle_t *)&j->timer, nj_timer_closed);
}

void
nj_fail(struct nj *j, enum ro_fail f, const char *fmt, ...)
{
    va_list ap;
    struct ro *ro = j->ro;
    struct af_err e;

    if (j->state == NJ_FAILED || j->state == NJ_DONE || j->state == NJ_DETACHED)
        return;
    va_start(ap, fmt);
    vsnprintf(j->reason, sizeof(j->reason), fmt, ap);
    va_end(ap);
    j->fail = f;
    j->state = NJ_FAILED;
    ro->fails[f]++;
    ro_wrote(ro,
             st_node_upsert(ro->st, ro->run, j->node->name, NULL, -1,
                            f == RO_F_UNREACHABLE ? ST_NODE_UNREACHABLE
                                                  : ST_NODE_FAILED,
                            j->reason, &e),
             &e, "a failed node");
    ro_say(ro, j, "failed", "FAILED (%s): %s", ro_fail_names[f], j->reason);
    nj_finish(j);
}

static void
nj_done(struct nj *j)
{
    struct ro *ro = j->ro;
    struct af_err e;

    j->state = NJ_DONE;
    ro_wrote(ro,
             st_node_upsert(ro->st, ro->run, j->node->name, NULL, -1,
                            ST_NODE_DONE, NULL, &e),
             &e, "a finished node");
    ro_say(ro, j, "done", "done (%.1f s)",
           (double)(uv_now(&ro->loop) - j->started_ms) / 1000.0);
    nj_finish(j);
}

/* Interrupted or halted: leave the node as recorded, for resume. */
void
nj_detach(struct nj *j)
{
    if (j->state == NJ_FAILED || j->state == NJ_DONE || j->state == NJ_DETACHED)
        return;
    j->state = NJ_DETACHED;
    ro_say(j->ro, j, "detached", "left for resume (%s)",
           j->ro->stopping ? "interrupted" : "the state file failed");
    nj_finish(j);
}

/* A request on the node's agent failed: classify and fail the node. */
void
nj_agent_fail(struct nj *j, int status, const char *what)
{
    nj_fail(j, status == AF_ETIMEOUT ? RO_F_TIMEOUT : RO_F_UNREACHABLE,
            "%s: %s", what,
            j->sess ? agc_error(sess_agc(j->sess)) : "no session");
}

/* ---- one step: push, run ------------------------------------------- */

static void nj_run_step(struct nj *j);

/* The step's timeout in seconds: the playbook's, capped by --timeout. */
static int
nj_step_timeout(const struct nj *j, const struct pb_plan_step *ps)
{
    int t = ps->timeout > 0 ? ps->timeout : RO_STEP_DEFAULT_S;

    if (j->ro->eff.timeout_s > 0 && j->ro->eff.timeout_s < t)
        t = j->ro->eff.timeout_s;
    return t;
}

static void
nj_push_done_in(int status, const struct push_result *r, void *data)
{
    struct nj *j = data;
    const struct pb_plan_step *ps = nj_cur_step(j);
    struct ro_ev_x x = {-1, (int64_t)r->duration_ms, (int64_t)r->sent};
    char size[32];

    ro_push_progress(j, r, 1);
    if (status == AF_EREMOTE || status == AF_EINPUT) {
        nj_fail(j, RO_F_STEP, "%s: pushing %s failed: %s", ps->name,
                ps->package, r->error);
        return;
    }
    if (status < 0) {
        nj_agent_fail(j, status, "pushing a package");
        return;
    }
    ro_sayx(j->ro, j, "push", &x, "%s: pushed %s (%s in %.2f s%s)", ps->name,
            ps->package, ro_bytes(size, sizeof(size), r->sent),
            (double)r->duration_ms / 1000.0, r->offset > 0 ? ", resumed" : "");
    nj_run_step(j);
}

static int
nj_push_progress(const struct push_result *r, void *data)
{
    ro_push_progress(data, r, 0);
    return 0;
}

static void
nj_push_done(int status, const struct push_result *r, void *data)
{
    struct ro *ro = ((struct nj *)data)->ro;

    ro_tx_enter(ro);
    nj_push_done_in(status, r, data);
    ro_tx_leave(ro);
}

static void
nj_stat_answer_in(struct agc *a,
                  int status,
                  const struct af_kv *body,
                  void *data)
{
    struct nj *j = data;
    const struct pb_plan_step *ps = nj_cur_step(j);
    const struct ro_pkg *p = ro_pkg_get(j->ro, ps->package);
    const char *sha = af_kv_get(body, "sha256");
    struct push_opts po = {j->ro->rate, nj_push_progress};

    if (status < 0 && status != AF_EREMOTE) {
        nj_agent_fail(j, status, "checking a package");
        return;
    }
    if (status == 0 && sha != NULL && strcmp(sha, p->sha) == 0) {
        ro_push_skip(j, p->size);
        nj_run_step(j); /* already there: nothing to push */
        return;
    }
    push_start_opt(a, p->src, ps->package_path, 0600, 30 * 60 * 1000, &po,
                   nj_push_done, j);
}

static void
nj_stat_answer(struct agc *a, int status, const struct af_kv *body, void *data)
{
    struct ro *ro = ((struct nj *)data)->ro;

    ro_tx_enter(ro);
    nj_stat_answer_in(a, status, body, data);
    ro_tx_leave(ro);
}

static int
nj_code_ok(const struct pb_plan_step *ps, int rc)
{
    size_t i;

    if (ps->n_codes == 0)
        return rc == 0;
    for (i = 0; i < ps->n_codes; i++)
        if (ps->codes[i] == rc)
            return 1;
    return 0;
}

/* The step ended with rc but is not accepted: name it and its last line. */
static void
nj_step_failed(struct nj *j,
               const struct pb_plan_step *ps,
               int rc,
               const struct af_buf *tail)
{
    const char *last = tail->data ? tail->data : "";
    size_t len = tail->len, start;

    while (len > 0 && (last[len - 1] == '\n' || last[len - 1] == ' '))
        len--;
    start = len;
    while (start > 0 && last[start - 1] != '\n')
        start--;
    j->fail_rc = rc;
    j->has_fail_rc = 1;
    nj_fail(j, RO_F_STEP, "%s: exit %d: %.*s", ps->name, rc, (int)(len - start),
            last + start);
}

static void
nj_run_answer_in(struct agc *a,
                 int status,
                 const struct af_kv *body,
                 void *data)
{
    struct nj *j = data;
    struct ro *ro = j->ro;
    const struct pb_plan_step *ps = nj_cur_step(j);
    const char *out = af_kv_get(body, "stdout");
    const char *err = af_kv_get(body, "stderr");
    const char *to = af_kv_get(body, "timed_out");
    int timed_out = to != NULL && strcmp(to, "1") == 0;
    struct af_buf tail;
    struct af_err e;
    int rc, ok, w;

    (void)a;
    nj_log_close(j, status, body, nj_step_timeout(j, ps));
    if (status < 0 && status != AF_EREMOTE) {
        nj_agent_fail(j, status, ps->name);
        return;
    }
    if (status == AF_EREMOTE) {
        nj_fail(j, RO_F_STEP, "%s: %s", ps->name,
                af_kv_get(body, "error") ? af_kv_get(body, "error") : "?");
        return;
    }
    rc = af_kv_get(body, "rc") ? atoi(af_kv_get(body, "rc")) : -1;
    af_buf_init(&tail, 0);
    if (out)
        af_buf_puts(&tail, out);
    if (err && *err) {
        af_buf_puts(&tail, "\n[stderr]\n");
        af_buf_puts(&tail, err);
    }
    ok = !timed_out && nj_code_ok(ps, rc);
    /* Ran and accepted: stays "running" (with its exit code) until verified. */
    w = st_step_set(ro->st, ro->run, j->node->name, nj_stage(j), ps->name,
                    ok ? ST_STEP_RUNNING : ST_STEP_FAILED, rc, ps->text,
                    tail.data ? tail.data : "", tail.len, 0, &e);
    if (ro_wrote(ro, w, &e, "a step's result") != 0)
        nj_fail(j, RO_F_STEP, "%s: %s", ps->name, ro->write_msg);
    else if (timed_out)
        nj_fail(j, RO_F_TIMEOUT, "%s: timed out after %d s", ps->name,
                nj_step_timeout(j, ps));
    else if (!ok)
        nj_step_failed(j, ps, rc, &tail);
    af_buf_free(&tail);
    if (!ok || w != 0)
        return;
    {
        struct ro_ev_x x = {rc,
                            (int64_t)(uv_now(&ro->loop) - j->step_started_ms),
                            (int64_t)(out ? strlen(out) : 0) +
                                (int64_t)(err ? strlen(err) : 0)};

        ro_sayx(ro, j, "step", &x, "%s: %s ok (exit %d)", ps->name, ps->text,
                rc);
    }
    j->phase_ran = 1;
    j->step++;
    nj_next(j);
}

static void
nj_run_answer(struct agc *a, int status, const struct af_kv *body, void *data)
{
    struct ro *ro = ((struct nj *)data)->ro;

    ro_tx_enter(ro);
    nj_run_answer_in(a, status, body, data);
    ro_tx_leave(ro);
}

/*
 * Package in place (or none needed): run the step's command. Its whole
 * output streams into the state file (st_log) as it arrives.
 */
static void
nj_run_step(struct nj *j)
{
    struct ro *ro = j->ro;
    const struct pb_plan_step *ps = nj_cur_step(j);
    const char **words;
    int t = nj_step_timeout(j, ps);
    char tmo[16], cap[16];
    struct af_err e;
    size_t k;

    if (ro_wrote(ro,
                 st_log_open(ro->st, ro->run, j->node->name, nj_stage(j),
                             ps->name, 0, &j->log, &e),
                 &e, "a step's output") != 0) {
        nj_fail(j, RO_F_STEP, "%s: %s", ps->name, ro->write_msg);
        return;
    }
    words = af_calloc(ps->argc + 3, sizeof(*words));
    snprintf(tmo, sizeof(tmo), "%d", t);
    snprintf(cap, sizeof(cap), "%d", RO_OUT_CAP);
    words[0] = "run-stream";
    words[1] = tmo;
    words[2] = cap;
    for (k = 0; k < ps->argc; k++)
        words[3 + k] = ps->argv[k];
    agc_request_frames(sess_agc(j->sess), words, ps->argc + 3, RO_FRAME_MAX,
                       nj_run_output, (uint64_t)t * 1000 + 30000, nj_run_answer,
                       j);
    free(words);
}

/* Start the current step: durable "running" first, then push, then run. */
static void
nj_start_step(struct nj *j)
{
    struct ro *ro = j->ro;
    const struct pb_plan_step *ps = nj_cur_step(j);
    struct af_err e;

    if (ro_wrote(ro,
                 st_step_set(ro->st, ro->run, j->node->name, nj_stage(j),
                             ps->name, ST_STEP_RUNNING, ST_NO_EXIT, ps->text,
                             NULL, 0, 0, &e),
                 &e, "a step start") != 0) {
        nj_fail(j, RO_F_STEP, "cannot record step %s: %s", ps->name, e.msg);
        return;
    }
    j->step_started_ms = uv_now(&ro->loop);
    ro_say(ro, j, "step", "%s: %s", ps->name, ps->text);
    /* Write-ahead: "running" is durable before anything reaches the node. */
    ro_tx_after(ro, j);
}

void
nj_step_go(struct nj *j)
{
    struct ro *ro = j->ro;
    const struct pb_plan_step *ps = nj_cur_step(j);

    if (j->state != NJ_STEPS)
        return; /* failed or detached meanwhile */
    if (ps->package != NULL && ps->package_path != NULL) {
        const char *words[2] = {"stat", ps->package_path};

        if (ro_pkg_get(ro, ps->package) == NULL) {
            nj_fail(j, RO_F_STEP, "%s: cannot read package %s", ps->name,
                    ps->package);
            return;
        }
        agc_request(sess_agc(j->sess), words, 2, NULL, 0, 120000,
                    nj_stat_answer, j);
        return;
    }
    nj_run_step(j);
}

/* ---- verification ---------------------------------------------------- */

static void nj_verify(struct nj *j, const struct af_kv *facts);

/* Facts for verification (no reboot needed, or after the reboot). */
static void
nj_verify_facts_in(struct agc *a,
                   int status,
                   const struct af_kv *body,
                   void *data)
{
    struct nj *j = data;

    (void)a;
    if (status < 0) {
        nj_agent_fail(j, status, "facts after the phase");
        return;
    }
    nj_verify(j, body);
}

void
nj_verify_facts(struct agc *a, int status, const struct af_kv *body, void *data)
{
    struct ro *ro = ((struct nj *)data)->ro;

    ro_tx_enter(ro);
    nj_verify_facts_in(a, status, body, data);
    ro_tx_leave(ro);
}

void
nj_request_facts(struct nj *j,
                 void (*cb)(struct agc *, int, const struct af_kv *, void *))
{
    const char *words[2] = {"facts", j->node->install_path};

    agc_request(sess_agc(j->sess), words, 2, NULL, 0, RO_FACTS_TIMEOUT_MS, cb,
                j);
}

/* One step of the phase against the facts; 0 when it holds. */
static int
nj_verify_step(struct nj *j,
               const struct pb_plan_phase *ph,
               const struct pb_plan_step *ps,
               const struct af_kv *facts)
{
    struct ro *ro = j->ro;
    char *why = NULL;
    struct af_err e;
    int ok = pb_plan_step_verify(ps, facts, &why), w;

    if (!ok) {
        w = st_step_set(ro->st, ro->run, j->node->name, ph->stage, ps->name,
                        ST_STEP_FAILED, ST_NO_EXIT, NULL, why,
                        why ? strlen(why) : 0, 0, &e);
        ro_wrote(ro, w, &e, "a failed verification");
        nj_fail(j, RO_F_VERIFY, "%s: verify failed: %s", ps->name,
                why ? why : "?");
        free(why);
        return -1;
    }
    free(why);
    /*
     * A step that waited for this reboot is done by it; the action stays
     * the one recorded when it was started (never "skip (...)").
     */
    w = st_step_set(ro->st, ro->run, j->node->name, ph->stage, ps->name,
                    ps->action == PB_ACT_SKIP && !ps->reboot_pending
                        ? ST_STEP_SKIPPED
                        : ST_STEP_DONE,
                    ST_NO_EXIT, NULL, NULL, 0, 0, &e);
    if (ro_wrote(ro, w, &e, "a verified step") != 0) {
        nj_fail(j, RO_F_STEP, "%s: %s", ps->name, ro->write_msg);
        return -1;
    }
    return 0;
}

/* Check every step of the phase that ran (or awaited a reboot). */
static void
nj_verify(struct nj *j, const struct af_kv *facts)
{
    struct ro *ro = j->ro;
    const struct pb_plan_phase *ph = &j->plan->phases[j->phase];
    struct af_err e;
    size_t k;

    af_kv_free(&j->facts);
    af_kv_init(&j->facts);
    for (k = 0; k < facts->n; k++)
        af_kv_add(&j->facts, facts->keys[k], facts->vals[k]);
    for (k = 0; k < ph->n; k++) {
        const struct pb_plan_step *ps = &j->plan->steps[ph->first + k];

        if (ps->action == PB_ACT_SKIP && !ps->reboot_pending)
            continue;
        if (nj_verify_step(j, ph, ps, facts) != 0)
            return;
    }
    if (ph->n > 0)
        ro_say(ro, j, "verify", "%s: verified", ph->stage);
    j->phase++;
    j->step = 0;
    j->phase_ran = 0;
    if (ro_wrote(ro,
                 st_node_upsert(ro->st, ro->run, j->node->name, NULL, -1,
                                ST_NODE_RUNNING, NULL, &e),
                 &e, "a verified phase") != 0) {
        nj_fail(j, RO_F_STEP, "%s", ro->write_msg);
        return;
    }
    nj_next(j);
}

/* ---- builtin stages --------------------------------------------------- */

/* 0 when every NPU of r ended well, else fails the node. */
static int
nj_hccn_check(struct nj *j,
              struct hop_result *r,
              const char *what,
              enum ro_fail f)
{
    size_t k;
    int bad = 0;

    if (r->status != 0) {
        nj_fail(j, f, "hccn %s: %s", what, r->error);
        bad = 1;
    }
    for (k = 0; !bad && k < r->nnpu; k++) {
        enum hop_status s = r->npus[k].status;

        if (s == HOP_FAILED || s == HOP_REFUSED || s == HOP_PENDING ||
            (f == RO_F_VERIFY && s != HOP_VERIFIED)) {
            nj_fail(j, f, "hccn %s: NPU %d: %s", what, r->npus[k].npu,
                    r->npus[k].detail);
            bad = 1;
        }
    }
    return bad ? -1 : 0;
}

static void
nj_hccn_verified_in(struct sess *s, struct hop_result *r, void *data)
{
    struct nj *j = data;
    size_t n = r->nnpu;
    int bad = nj_hccn_check(j, r, "verify", RO_F_VERIFY);

    (void)s;
    hop_result_free(r);
    free(r);
    nj_part_end(j, nj_stage(j), "verify", !bad, bad ? j->reason : "verified");
    if (bad)
        return;
    ro_say(j->ro, j, "verify", "hccn: %zu NPU%s verified", n,
           n == 1 ? "" : "s");
    j->phase_ran = 1;
    nj_next(j);
}

static void
nj_hccn_verified(struct sess *s, struct hop_result *r, void *data)
{
    struct ro *ro = ((struct nj *)data)->ro;

    ro_tx_enter(ro);
    nj_hccn_verified_in(s, r, data);
    ro_tx_leave(ro);
}

static void
nj_hccn_applied_in(struct sess *s, struct hop_result *r, void *data)
{
    struct nj *j = data;
    struct ro *ro = j->ro;
    struct hop_opts ho;
    size_t changed = r->nchanged, n = r->nnpu;

    if (nj_hccn_check(j, r, "apply", RO_F_STEP) != 0) {
        hop_result_free(r);
        free(r);
        nj_part_end(j, nj_stage(j), "apply", 0, j->reason);
        return;
    }
    hop_result_free(r);
    free(r);
    nj_part_end(j, nj_stage(j), "apply", 1, "applied");
    if (nj_part_begin(j, nj_stage(j), "verify", "verify the address plan") != 0)
        return;
    ro_say(ro, j, "step",
           "hccn: %zu of %zu NPU%s set, the rest already as planned", changed,
           n, n == 1 ? "" : "s");
    memset(&ho, 0, sizeof(ho));
    ho.st = ro->st;
    ho.tool_cb = nj_hccn_tool;
    ho.tool_data = j;
    hop_verify(s, hccn_plan_get(ro->hccn, j->node->index, 0),
               hccn_plan_npus(ro->hccn), j->peers, j->npeers, &ho,
               nj_hccn_verified, j);
}

static void
nj_hccn_applied(struct sess *s, struct hop_result *r, void *data)
{
    struct ro *ro = ((struct nj *)data)->ro;

    ro_tx_enter(ro);
    nj_hccn_applied_in(s, r, data);
    ro_tx_leave(ro);
}

/*
 * Peers to ping: only nodes that have their addresses by now, this batch
 * and the earlier ones (later batches are not configured yet). The first
 * node of a rolling rollout has no peer; later ones ping back to it.
 */
static void
nj_hccn_peers(struct nj *j)
{
    struct ro *ro = j->ro;
    size_t *idx = af_calloc(ro->n ? ro->n : 1, sizeof(*idx));
    size_t m = 0, me = 0, x;

    for (x = 0; x < ro->n; x++) {
        const struct nj *o = &ro->nj[x];

        if (o != j && (!o->reachable || o->batch < 0 || o->batch > j->batch ||
                       o->state == NJ_FAILED))
            continue;
        if (o == j)
            me = m;
        idx[m++] = o->node->index;
    }
    free(j->peers);
    j->peers = NULL;
    j->npeers = 0;
    hop_pick_peers(ro->hccn, ro->fleet.inv, idx, m, me, 2, &j->peers,
                   &j->npeers);
    free(idx);
}

static void
nj_builtin(struct nj *j, const struct pb_plan_phase *ph)
{
    struct ro *ro = j->ro;
    struct hop_opts ho;

    if (strcmp(ph->builtin, "hccn") != 0 || ro->hccn == NULL) {
        nj_fail(j, RO_F_STEP, "stage %s: %s", ph->stage,
                ro->hccn == NULL ? "the inventory has no hccn address plan"
                                 : "unknown builtin");
        return;
    }
    ro_say(ro, j, "step", "hccn: apply the address plan");
    if (nj_part_begin(j, nj_stage(j), "apply", "apply the address plan") != 0)
        return;
    nj_hccn_peers(j);
    memset(&ho, 0, sizeof(ho));
    ho.st = ro->st;
    ho.tool_cb = nj_hccn_tool;
    ho.tool_data = j;
    hop_apply(j->sess, hccn_plan_get(ro->hccn, j->node->index, 0),
              hccn_plan_npus(ro->hccn), &ho, nj_hccn_applied, j);
}

/* ---- the driver of one node -------------------------------------------- */

/* What ends a phase: verify, reboot, or nothing. 1 when it took over. */
static int
nj_phase_end(struct nj *j, const struct pb_plan_phase *ph)
{
    if (ph->reboot && j->reboot_done && !j->phase_ran) {
        /* The reboot of the killed run happened: only verify. */
        j->reboot_done = 0;
        nj_request_facts(j, nj_verify_facts);
        return 1;
    }
    if (ph->reboot) {
        nj_request_facts(j, nj_reboot_facts);
        return 1;
    }
    if (j->phase_ran) {
        nj_request_facts(j, nj_verify_facts);
        return 1;
    }
    return 0;
}

void
nj_next(struct nj *j)
{
    if (j->state == NJ_FAILED || j->state == NJ_DONE || j->state == NJ_DETACHED)
        return;
    if (ro_halted(j->ro)) {
        nj_detach(j);
        return;
    }
    if (j->running_pkg != NULL) {
        nj_wait_installer(j);
        return;
    }
    j->state = NJ_STEPS;
    while (j->phase < j->plan->n_phases) {
        const struct pb_plan_phase *ph = &j->plan->phases[j->phase];

        if (ph->builtin != NULL && !j->phase_ran) {
            nj_builtin(j, ph);
            return;
        }
        if (ph->builtin != NULL) {
            j->phase++;
            j->phase_ran = 0;
            continue;
        }
        while (j->step < ph->n && !nj_runnable(nj_cur_step(j)))
            j->step++;
        if (j->step < ph->n) {
            nj_start_step(j);
            return;
        }
        if (nj_phase_end(j, ph))
            return;
        j->phase++;
        j->step = 0;
    }
    nj_done(j);
}

static void
nj_timer_cb_in(uv_timer_t *t)
{
    struct nj *j = t->data;

    if (ro_halted(j->ro)) {
        nj_detach(j);
        return;
    }
    if (j->state == NJ_SETTLE)
        nj_request_facts(j, nj_verify_facts);
    else if (j->state == NJ_WAIT_INSTALLER)
        nj_next(j);
}

void
nj_timer_cb(uv_timer_t *t)
{
    struct ro *ro = ((struct nj *)t->data)->ro;

    ro_tx_enter(ro);
    nj_timer_cb_in(t);
    ro_tx_leave(ro);
}

/* Nodes waiting on their timer stop waiting; the others stop at their
 * next transition (a node between reboot probes at its next probe). */
void
ro_interrupt_nodes(struct ro *ro)
{
    size_t i;

    sched_stop(&ro->sched);
    for (i = 0; i < ro->batch_n; i++) {
        struct nj *j = &ro->nj[ro->batch_nodes[i]];

        if (j->job == NULL || uv_is_closing((uv_handle_t *)&j->timer))
            continue;
        if (uv_is_active((uv_handle_t *)&j->timer)) {
            uv_timer_stop(&j->timer);
            nj_detach(j);
        }
    }
}

/* First call of a node's job: its timer, its record, its first state.
 * Returns 0 to go on with the session, -1 when the job ended. */
static int
nj_begin(struct nj *j, struct sched_job *job)
{
    struct ro *ro = j->ro;
    struct af_err e;

    j->job = job;
    sched_job_set_user(job, j);
    uv_timer_init(&ro->loop, &j->timer);
    j->timer.data = j;
    if (ro_halted(ro)) {
        /* Interrupted before this node started: it stays pending. */
        nj_finish(j);
        return -1;
    }
    j->started_ms = uv_now(&ro->loop);
    if (ro_wrote(ro,
                 st_node_upsert(ro->st, ro->run, j->node->name, NULL, -1,
                                ST_NODE_RUNNING, NULL, &e),
                 &e, "a node start") != 0) {
        nj_finish(j);
        return -1;
    }
    if (j->resume_rebooting)
        nj_reconcile_start(j);
    return 0;
}

static void
nj_job_ready_in(struct sched_job *job, struct sess *s, int status)
{
    struct nj *j = sched_job_user(job);

    if (j == NULL) {
        struct ro *ro = sched_job_data(job);

        j = &ro->nj[ro->batch_nodes[sched_job_index(job)]];
        if (nj_begin(j, job) != 0)
            return;
    }
    j->sess = s;
    if (j->state == NJ_REBOOT_WAIT || j->state == NJ_RECONCILE) {
        nj_probe_ready(j, s, status);
        return;
    }
    if (status < 0) {
        nj_fail(j, sess_timed_out(s) ? RO_F_TIMEOUT : RO_F_UNREACHABLE, "%s",
                sess_error(s));
        return;
    }
    nj_next(j);
}

static void
nj_job_ready(struct sched_job *job, struct sess *s, int status)
{
    struct ro *ro = sched_job_data(job);

    ro_tx_enter(ro);
    nj_job_ready_in(job, s, status);
    ro_tx_leave(ro);
}

static void
nj_conn_opts(void *data, size_t i, struct conn_opts *o, const void **node)
{
    struct ro *ro = data;
    const struct nj *j = &ro->nj[ro->batch_nodes[i]];

    fleet_conn_opts(&ro->fleet, j->node, o);
    *node = j->node;
}

const struct sched_job_ops nj_ops = {
    .sess_flags = SESS_AGENT,
    .conn_opts = nj_conn_opts,
    .ready = nj_job_ready,
    .closed = NULL,
    .take = ro_pre_take,
    .burst = ro_tx_burst,
};
