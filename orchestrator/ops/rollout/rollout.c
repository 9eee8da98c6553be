/* SPDX-License-Identifier: MIT */
/*
 * The run driver of a rollout (see rollout.h). Synchronous around the
 * batches (check options, load, gather facts, plan, record, start a batch,
 * run the loop until the batch is done, check the failure budget),
 * asynchronous inside one batch where each node is a job of ro-node.c.
 * Signals are watched with uv_signal_t while the run is recorded.
 */
#define _GNU_SOURCE
#include "ro-int.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "af-mem.h"
#include "facts.h"
#include "hccn.h"
#include "inv.h"
#include "pb.h"
#include "rate.h"
#include "st-life.h"
#include "st.h"

void
ro_opts_init(struct ro_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->inventory = "./inventory.yaml";
    o->state = "./ascend-fleet.db";
    o->packages = "./packages";
    o->batch = "1,10%";
    o->max_fail = "0";
    o->fanout = 64;
    o->settle_s = 2;
    o->reboot_poll_ms = 500;
}

const char *
ro_default_playbook(void)
{
    static const char *const cands[] = {
        AF_PLAYBOOK_INSTALLED,
        AF_SOURCE_PLAYBOOK,
    };
    size_t i;

    for (i = 0; i < sizeof(cands) / sizeof(cands[0]); i++)
        if (access(cands[i], R_OK) == 0)
            return cands[i];
    return cands[1];
}

/* ---- setup ------------------------------------------------------------- */

/* Playbook, stages and the packages directory. */
static enum ro_outcome
ro_load_inputs(struct ro *ro, int resumed, const struct ro_opts *o)
{
    struct pb_phases ph;
    struct af_err e;

    if (ro->eff.playbook == NULL)
        ro->eff.playbook = ro_default_playbook();
    if (ro->eff.stages == NULL || !*ro->eff.stages) {
        ro_error(ro, "--stage is required");
        return RO_OUT_USAGE;
    }
    if (pb_load(ro->eff.playbook, &ro->pb, &e) != 0) {
        ro_error(ro, "%s", e.msg);
        return RO_OUT_USAGE;
    }
    memset(&ph, 0, sizeof(ph));
    if (pb_expand_stages(ro->pb, ro->eff.stages, NULL, &ph, &e) != 0) {
        ro_error(ro, "--stage: %s", e.msg);
        return RO_OUT_USAGE;
    }
    pb_phases_free(&ph);
    if (access(ro->eff.packages, R_OK | X_OK) == 0) {
        if (pb_plan_list_packages(ro->eff.packages, &ro->pkgs, &e) != 0) {
            ro_error(ro, "%s", e.msg);
            return RO_OUT_USAGE;
        }
    } else if (!resumed && strcmp(o->packages, "./packages") != 0) {
        ro_error(ro, "--packages %s: %s", ro->eff.packages, strerror(errno));
        return RO_OUT_USAGE;
    }
    return RO_OUT_OK;
}

/*
 * Everything before the facts: options, state file, inventory, lock.
 * Returns RO_OUT_OK to go on, else the outcome to end with (*stop set when
 * the run is simply finished).
 */
static enum ro_outcome
ro_setup(struct ro *ro, const struct ro_opts *o, int64_t resume_run, int *stop)
{
    struct af_err e;
    char why[512];
    enum ro_outcome out;
    int r;

    if (ro_opts_check(&ro->eff, why, sizeof(why)) != 0) {
        ro_error(ro, "%s", why);
        return RO_OUT_USAGE;
    }
    if (resume_run > 0 && access(o->state, F_OK) != 0) {
        ro_error(ro, "no run %lld: no state file at %s", (long long)resume_run,
                 o->state);
        return RO_OUT_USAGE;
    }
    if (st_open(o->state, &ro->st, &e) != 0) {
        ro_error(ro, "%s", e.msg);
        return RO_OUT_USAGE;
    }
    if (resume_run > 0) {
        if (ro_setup_resume(ro, resume_run, &e) != 0) {
            ro_error(ro, "%s", e.msg);
            return RO_OUT_USAGE;
        }
        if (ro_opts_check(&ro->eff, why, sizeof(why)) != 0) {
            ro_error(ro, "run %lld: %s", (long long)resume_run, why);
            return RO_OUT_USAGE;
        }
        ro->run = resume_run;
        ro_resume_event(ro);
    }
    if ((out = ro_load_inputs(ro, resume_run > 0, o)) != RO_OUT_OK)
        return out;
    if (resume_run > 0 && ro_check_inputs(ro) != 0)
        return RO_OUT_USAGE;
    if (fleet_init(&ro->fleet, &ro->loop, ro->eff.inventory, ro->eff.limit,
                   ro->eff.ssh_config, &e) != 0) {
        ro_error(ro, "%s", e.msg);
        return RO_OUT_USAGE;
    }
    ro->fleet.hostkeys = ro->eff.hostkeys;
    ro->fleet.kex = ro->eff.kex;
    if (!ro->eff.plan_only) {
        /* Lock the selected nodes only: other nodes stay free for others. */
        const char **names = af_calloc(ro->fleet.nsel + 1, sizeof(*names));
        size_t i;

        for (i = 0; i < ro->fleet.nsel; i++)
            names[i] = fleet_node(&ro->fleet, i)->name;
        r = st_lock_nodes(ro->st, names, ro->fleet.nsel, &e);
        free(names);
        if (r != 0) {
            ro_error(ro, "%s", e.msg);
            return r == AF_ELOCKED ? RO_OUT_LOCKED : RO_OUT_USAGE;
        }
    }
    if (resume_run > 0) {
        struct st_run cur;

        if (st_run_get(ro->st, resume_run, &cur, &e) == 0) {
            int finished =
                cur.status == ST_RUN_DONE || cur.status == ST_RUN_ABORTED;

            st_run_clear(&cur);
            if (finished) {
                ro_note(ro, "Run %lld is finished; nothing to resume.",
                        (long long)resume_run);
                *stop = 1;
            }
        }
    }
    return RO_OUT_OK;
}

/* ---- facts and plan ------------------------------------------------------ */

/* The hccn address plan, when some node's plan has the builtin phase. */
static int
ro_build_hccn(struct ro *ro)
{
    struct af_err e;
    size_t i, k, ne = 0, x;

    for (i = 0; i < ro->n; i++) {
        const struct pb_plan *p = ro->nj[i].plan;

        for (k = 0; p && k < p->n_phases; k++) {
            const char *const *errs;

            if (p->phases[k].builtin == NULL ||
                strcmp(p->phases[k].builtin, "hccn") != 0)
                continue;
            if (hccn_plan_build(ro->fleet.inv, &ro->hccn, &e) == 0)
                return 0;
            ro_error(ro, "hccn address plan: %s", e.msg);
            errs = ro->hccn ? hccn_plan_errors(ro->hccn, &ne) : NULL;
            for (x = 1; x < ne; x++)
                ro_error(ro, "  %s", errs[x]);
            return -1;
        }
    }
    return 0;
}

static enum ro_outcome
ro_facts_and_plan(struct ro *ro, int64_t resume_run)
{
    struct facts_result *res;
    struct af_err e;
    enum ro_outcome out = RO_OUT_OK;
    size_t i, k;

    ro->n = ro->fleet.nsel;
    ro->nj = af_calloc(ro->n ? ro->n : 1, sizeof(*ro->nj));
    /* With the facts, which packages each node holds already (the plan
     * shows them as staged); their sessions serve the first batches
     * (ro-sess.c). */
    res = facts_gather_staged(&ro->fleet, ro->eff.fanout, RO_FACTS_TIMEOUT_MS,
                              RO_PKG_DIR,
                              ro->eff.plan_only ? 0 : (size_t)ro->eff.fanout);
    for (i = 0; i < ro->n; i++) {
        struct nj *j = &ro->nj[i];

        j->ro = ro;
        j->i = i;
        j->node = fleet_node(&ro->fleet, i);
        j->batch = -1;
        af_kv_init(&j->facts);
        af_kv_init(&j->staged);
        snprintf(j->host_key, sizeof(j->host_key), "%s", res[i].host_key);
    }
    /* The kept sessions are the run's from here: ro_free closes them on
     * every way out. */
    ro_pre_adopt_facts(ro, res);
    if (ro->stopping) {
        facts_results_free(res, ro->n);
        return RO_OUT_INTERRUPTED;
    }
    /* Resume: the nodes must be the machines the run recorded. */
    if (resume_run > 0 && ro_check_identity(ro) != 0) {
        facts_results_free(res, ro->n);
        return RO_OUT_USAGE;
    }
    if (!ro->eff.plan_only && facts_store(ro->st, res, ro->n, &e) != 0) {
        ro_error(ro, "cannot store facts, nothing started: %s", e.msg);
        facts_results_free(res, ro->n);
        return RO_OUT_STATE;
    }
    for (i = 0; i < ro->n && out == RO_OUT_OK; i++) {
        struct nj *j = &ro->nj[i];

        j->reachable = res[i].status == 0;
        if (!j->reachable) {
            snprintf(j->reason, sizeof(j->reason), "%s", res[i].error);
            continue;
        }
        for (k = 0; k < res[i].facts.n; k++)
            af_kv_add(&j->facts, res[i].facts.keys[k], res[i].facts.vals[k]);
        for (k = 0; k < res[i].staged.n; k++)
            af_kv_add(&j->staged, res[i].staged.keys[k], res[i].staged.vals[k]);
        if (ro_replan(ro, j, &j->facts, &e) != 0) {
            ro_error(ro, "%s: %s", j->node->name, e.msg);
            out = RO_OUT_USAGE;
            break;
        }
        j->needs_work = ro_needs_work(j->plan) && !j->plan->blocked;
    }
    facts_results_free(res, ro->fleet.nsel);
    if (out != RO_OUT_OK)
        return out;
    if (ro_build_hccn(ro) != 0)
        return RO_OUT_USAGE;
    if (resume_run > 0 && ro_apply_resume(ro, &e) != 0) {
        ro_error(ro, "run %lld: %s", (long long)resume_run, e.msg);
        return RO_OUT_STATE;
    }
    for (i = 0; i < ro->n; i++) {
        struct nj *j = &ro->nj[i];

        if (j->resume_rebooting && !j->reachable) {
            /* Down because it is rebooting: reconcile it, plan after. */
            j->reachable = 1;
            j->reason[0] = '\0';
        }
        if (j->resume_rebooting || j->running_pkg)
            j->needs_work = 1;
    }
    return RO_OUT_OK;
}

/* 1 when some selected node is blocked or unreachable. */
static int
ro_plan_has_trouble(const struct ro *ro)
{
    size_t i;

    for (i = 0; i < ro->n; i++)
        if (!ro->nj[i].reachable ||
            (ro->nj[i].plan != NULL && ro->nj[i].plan->blocked))
            return 1;
    return 0;
}

/* ---- the run record ------------------------------------------------------ */

static int
ro_create_run(struct ro *ro, struct af_err *e)
{
    struct af_buf cl;
    char *opts = ro_options_json(ro);
    int r;

    af_buf_init(&cl, 0);
    af_buf_printf(&cl, "rollout --stage %s", ro->eff.stages);
    if (ro->eff.limit)
        af_buf_printf(&cl, " --limit '%s'", ro->eff.limit);
    af_buf_printf(&cl, " --batch %s --max-fail %s", ro->eff.batch,
                  ro->eff.max_fail);
    if (ro->eff.timeout_s > 0)
        af_buf_printf(&cl, " --timeout %d", ro->eff.timeout_s);
    r = st_run_create(ro->st, cl.data, ro->eff.stages, opts, &ro->run, e);
    af_buf_free(&cl);
    free(opts);
    return r;
}

/* Resume: the options given on its command line become the run's. */
static int
ro_record_changes(struct ro *ro, struct af_err *e)
{
    char *opts, *note;
    int r;

    if (ro->changes.len == 0)
        return 0;
    opts = ro_options_json(ro);
    note = af_asprintf(" | resume%s", ro->changes.data);
    r = st_run_set_options(ro->st, ro->run, opts, note, e);
    if (r == 0)
        ro_note(ro, "Run %lld continues with%s", (long long)ro->run,
                ro->changes.data);
    free(opts);
    free(note);
    return r;
}

/* Set the run's status; a failure is reported (the outcome stays). */
static void
ro_set_status(struct ro *ro, enum st_run_status s, const char *why)
{
    struct af_err e;

    ro_wrote(ro, st_run_set_status(ro->st, ro->run, s, why, &e), &e,
             "the run's status");
}

/* ---- signals --------------------------------------------------------- */

static const char *
ro_signame(int signo)
{
    return signo == SIGINT    ? "SIGINT"
           : signo == SIGTERM ? "SIGTERM"
           : signo == SIGHUP  ? "SIGHUP"
                              : "a signal";
}

static void
ro_signal_cb(uv_signal_t *h, int signo)
{
    struct ro *ro = h->data;
    struct af_err e;
    char why[128];

    if (ro->stopping && !ro->live) {
        /* Second signal before the run was taken: nothing to record. */
        ro_note(ro, "%s again: stopped; nothing was started",
                ro_signame(signo));
        _exit(128 + ro->stopping);
    }
    if (ro->stopping) {
        /* Second signal: every transition is already durable; go now. */
        snprintf(why, sizeof(why),
                 "interrupted by %s twice: steps in flight were abandoned",
                 ro_signame(signo));
        if (st_run_set_status(ro->st, ro->run, ST_RUN_INTERRUPTED, why, &e) !=
            0)
            ro_error(ro, "cannot record the interruption: %s", e.msg);
        ro_note(ro,
                "Run %lld interrupted; continue with: ascend-fleet "
                "resume",
                (long long)ro->run);
        _exit(128 + ro->stopping);
    }
    /* A closed terminal is taken as the first SIGTERM. */
    ro->stopping = signo == SIGHUP ? SIGTERM : signo;
    if (!ro->live) {
        ro_note(ro,
                "%s: stopping once the facts are in; nothing will be "
                "started (signal again to stop at once)",
                ro_signame(signo));
        return;
    }
    ro_note(ro,
            "%s: no new step starts; waiting for steps in flight "
            "(signal again to stop at once)",
            ro_signame(signo));
    ro_interrupt_nodes(ro);
}

static void
ro_signals_start(struct ro *ro)
{
    static const int sigs[3] = {SIGINT, SIGTERM, SIGHUP};
    int i;

    if (!ro->eff.signals)
        return;
    for (i = 0; i < 3; i++) {
        if (ro->nsig < 3) {
            uv_signal_init(&ro->loop, &ro->sig[i]);
            ro->sig[i].data = ro;
        }
        uv_signal_start(&ro->sig[i], ro_signal_cb, sigs[i]);
        uv_unref((uv_handle_t *)&ro->sig[i]);
    }
    ro->nsig = 3;
}

/*
 * Give the signals back their default action (the confirmation prompt
 * must still die on Ctrl-C); ro_signals_start watches them again.
 */
static void
ro_signals_pause(struct ro *ro)
{
    int i;

    for (i = 0; i < ro->nsig; i++)
        uv_signal_stop(&ro->sig[i]);
}

/* ---- batches ------------------------------------------------------------- */

static void
ro_batch_event(
    struct ro *ro, enum ro_ev_kind k, int b, int nb, size_t done_nodes)
{
    struct ro_ev ev;
    char text[256];
    size_t failed = ro_failed_total(ro);

    ro_ev_init(&ev, ro, k);
    ev.batch = b;
    ev.nbatches = nb;
    ev.count = ro->batch_n;
    ev.done = done_nodes;
    ev.failed = failed;
    ev.budget_left = failed > ro->budget ? 0 : ro->budget - failed;
    snprintf(text, sizeof(text),
             "batch %d/%d: %zu node%s (%zu done, %zu failed, budget %zu)",
             b + 1, nb, ro->batch_n, ro->batch_n == 1 ? "" : "s", done_nodes,
             failed, ro->budget);
    ev.text = text;
    ro_emit(ro, &ev);
    if (k == RO_EV_BATCH && ro->run > 0)
        ro_wrote(ro, st_event(ro->st, ro->run, NULL, "batch", "%s", text), NULL,
                 "an event");
}

/*
 * Run the batches over order[0..norder). Returns RO_OUT_OK when every
 * batch ran, RO_OUT_BUDGET when the budget stopped it (run recorded
 * failed), RO_OUT_INTERRUPTED or RO_OUT_STATE when it was halted.
 */
static enum ro_outcome
ro_batches(struct ro *ro, const size_t *order, size_t norder)
{
    size_t i, done_nodes = 0;
    int maxb = -1, b;
    char why[256];
    struct af_err e;

    for (i = 0; i < norder; i++)
        if (ro->nj[order[i]].batch > maxb)
            maxb = ro->nj[order[i]].batch;
    ro->nbatches = maxb + 1;
    ro->batch_nodes = af_calloc(ro->n ? ro->n : 1, sizeof(size_t));
    for (b = 0; b <= maxb; b++) {
        ro->batch_n = 0;
        for (i = 0; i < norder; i++)
            if (ro->nj[order[i]].batch == b)
                ro->batch_nodes[ro->batch_n++] = order[i];
        if (ro->batch_n == 0)
            continue;
        if (ro_halted(ro))
            break;
        if (ro_budget_exceeded(ro, why, sizeof(why))) {
            ro_note(ro, "%s; no new batch started", why);
            ro_set_status(ro, ST_RUN_FAILED, why);
            return RO_OUT_BUDGET;
        }
        ro->cur_batch = b;
        ro_batch_event(ro, RO_EV_BATCH, b, maxb + 1, done_nodes);
        ro_push_plan(ro);
        ro_progress_start(ro);
        nj_logs_start(ro);
        /* The next batch's sessions open while this one runs. */
        ro_pre_open(ro, b + 1, ro->batch_n);
        if (sched_jobs(&ro->sched, &ro->loop, ro->batch_n, ro->eff.fanout,
                       &nj_ops, ro, &e) != 0) {
            ro_error(ro, "%s", e.msg);
            nj_logs_stop(ro);
            return RO_OUT_STATE;
        }
        nj_logs_stop(ro);
        ro_progress_stop(ro);
        for (i = 0; i < ro->batch_n; i++)
            if (ro->nj[ro->batch_nodes[i]].state == NJ_DONE)
                done_nodes++;
        ro_batch_event(ro, RO_EV_BATCH_END, b, maxb + 1, done_nodes);
    }
    if (ro->write_error)
        return RO_OUT_STATE;
    if (ro->stopping)
        return RO_OUT_INTERRUPTED;
    return RO_OUT_OK;
}

/* ---- the end ------------------------------------------------------------- */

/* One RO_EV_RESULT per node, then RO_EV_RUN_END with the verdict. */
static void
ro_results(struct ro *ro, const char *verdict)
{
    struct ro_ev ev;
    size_t i;

    for (i = 0; i < ro->n; i++) {
        const struct nj *j = &ro->nj[i];
        const char *s, *st = EV_FAILED;

        if (!j->reachable) {
            s = ro_fail_names[RO_F_UNREACHABLE];
            st = EV_UNREACHABLE;
        } else if (j->plan && j->plan->blocked) {
            s = "blocked";
        } else if (j->state == NJ_FAILED) {
            s = ro_fail_names[j->fail];
            st = j->fail == RO_F_TIMEOUT       ? EV_TIMEOUT
                 : j->fail == RO_F_UNREACHABLE ? EV_UNREACHABLE
                                               : EV_FAILED;
        } else if (j->state == NJ_DONE || !j->needs_work) {
            s = "done";
            st = EV_OK;
        } else {
            s = j->state == NJ_DETACHED ? "interrupted" : "not started";
            st = EV_CANCELED;
        }
        ro_ev_init(&ev, ro, RO_EV_RESULT);
        ev.ev.node = j->node->name;
        ev.ev.status = st;
        ev.what = s;
        ev.ev.reason = j->reason[0] ? j->reason : NULL;
        if (j->started_ms > 0)
            ev.ev.duration_ms =
                (int64_t)((j->ended_ms ? j->ended_ms : uv_now(&ro->loop)) -
                          j->started_ms);
        ro_emit(ro, &ev);
    }
    ro_ev_init(&ev, ro, RO_EV_RUN_END);
    ev.what = verdict;
    ro_emit(ro, &ev);
}

/* Record and report how the batches ended; returns the outcome. */
static enum ro_outcome
ro_finish(struct ro *ro, enum ro_outcome out, int signo)
{
    char why[256];
    struct af_err e;
    int any_bad, complete = 1;

    if (out == RO_OUT_BUDGET) {
        ro_results(ro, "stopped");
        return out;
    }
    if (out == RO_OUT_INTERRUPTED) {
        snprintf(why, sizeof(why), "interrupted by %s", ro_signame(signo));
        ro_set_status(ro, ST_RUN_INTERRUPTED, why);
        ro_results(ro, "interrupted");
        ro_note(ro, "Run %lld interrupted; continue with: ascend-fleet resume",
                (long long)ro->run);
        return out;
    }
    if (out == RO_OUT_STATE) {
        /* Where the file still takes writes, say why the run stopped. */
        if (st_run_set_status(ro->st, ro->run, ST_RUN_FAILED, ro->write_msg,
                              &e) != 0)
            ro_error(ro, "the run could not be recorded as stopped either: %s",
                     e.msg);
        ro_results(ro, "stopped");
        return out;
    }
    if (ro_budget_exceeded(ro, why, sizeof(why))) {
        ro_set_status(ro, ST_RUN_FAILED, why);
        ro_results(ro, "failed");
        return RO_OUT_BUDGET;
    }
    any_bad = ro_failed_total(ro) > 0 || ro_plan_has_trouble(ro);
    if (!any_bad && ro_run_complete(ro, &complete) != 0)
        return RO_OUT_STATE;
    if (!any_bad && !complete) {
        /* Resume over part of the run: the nodes left out are not done. */
        ro_set_status(ro, ST_RUN_FAILED,
                      "some nodes of the run are not done (left out by "
                      "--limit)");
        ro_results(ro, "finished; nodes outside --limit are still not done");
        return ro->write_error ? RO_OUT_STATE : RO_OUT_FAILED;
    }
    ro_set_status(ro, any_bad ? ST_RUN_FAILED : ST_RUN_DONE,
                  any_bad ? "some nodes failed or were blocked" : NULL);
    ro_results(ro, any_bad ? "finished with failures" : "done");
    if (ro->write_error)
        return RO_OUT_STATE;
    return any_bad ? RO_OUT_FAILED : RO_OUT_OK;
}

static void
ro_free(struct ro *ro)
{
    size_t i;
    int s;

    ro_pre_close_all(ro);
    ro_pkgs_free(ro);
    for (i = 0; ro->nj && i < ro->n; i++) {
        /* Every step's answer closes its output; this is a safety net. */
        int w = st_log_close(ro->nj[i].log, ST_NO_EXIT, NULL, NULL);

        (void)w;
        pb_plan_free(ro->nj[i].plan);
        af_kv_free(&ro->nj[i].facts);
        af_kv_free(&ro->nj[i].staged);
        free(ro->nj[i].boot_before);
        free(ro->nj[i].boot_after);
        free(ro->nj[i].running_pkg);
        free(ro->nj[i].peers);
    }
    hccn_plan_free(ro->hccn);
    free(ro->nj);
    free(ro->batch_nodes);
    pb_plan_pkgs_free(&ro->pkgs);
    pb_free(ro->pb);
    st_close(ro->st);
    fleet_free(&ro->fleet);
    for (i = 0; i < ro->nowned; i++)
        free(ro->owned[i]);
    af_buf_free(&ro->changes);
    rate_free(ro->rate);
    for (s = 0; s < ro->nsig; s++)
        uv_close((uv_handle_t *)&ro->sig[s], NULL);
    uv_close((uv_handle_t *)&ro->progress, NULL);
    uv_close((uv_handle_t *)&ro->log_timer, NULL);
    uv_run(&ro->loop, UV_RUN_DEFAULT);
    uv_loop_close(&ro->loop);
}

/* The lowest batch number among the nodes to run (-1: none). */
static int
ro_first_batch(const struct ro *ro, const size_t *order, size_t norder)
{
    size_t i;
    int b = -1;

    for (i = 0; i < norder; i++)
        if (b < 0 || ro->nj[order[i]].batch < b)
            b = ro->nj[order[i]].batch;
    return b;
}

/* From the recorded run to its end: batches over the nodes with work. */
static enum ro_outcome
ro_execute(struct ro *ro, int64_t resume_run)
{
    struct af_err e;
    enum ro_outcome out;
    size_t *order, norder = 0, i;

    if (resume_run == 0 && ro_create_run(ro, &e) != 0) {
        ro_error(ro, "%s", e.msg);
        return RO_OUT_STATE;
    }
    if (resume_run > 0 && ro_record_changes(ro, &e) != 0) {
        ro_error(ro, "%s", e.msg);
        return RO_OUT_STATE;
    }
    if (st_run_set_status(ro->st, ro->run, ST_RUN_RUNNING, NULL, &e) != 0) {
        ro_error(ro, "%s", e.msg);
        return RO_OUT_STATE;
    }
    ro->live = 1;
    ro_signals_start(ro);
    order = af_calloc(ro->n ? ro->n : 1, sizeof(*order));
    for (i = 0; i < ro->n; i++)
        if (ro->nj[i].reachable && ro->nj[i].needs_work)
            order[norder++] = i;
    (void)ro_parse_budget(ro->eff.max_fail, ro->n, &ro->budget);
    (void)ro_assign_batches(ro, order, norder);
    ro_pre_trim(ro, ro_first_batch(ro, order, norder));
    for (i = 0; i < ro->n; i++)
        if (!ro->nj[i].reachable)
            ro->fails[RO_F_UNREACHABLE]++;
    if (ro_record_plan(ro, &e) != 0) {
        ro_wrote(ro, -1, &e, "the plan");
        free(order);
        return ro_finish(ro, RO_OUT_STATE, 0);
    }
    out = ro_batches(ro, order, norder);
    free(order);
    return ro_finish(ro, out, ro->stopping);
}

int
ro_run(const struct ro_opts *o,
       int64_t resume_run,
       const struct ro_sink *sink,
       struct ro_result *res)
{
    struct ro *ro = af_calloc(1, sizeof(*ro));
    enum ro_outcome out;
    int stop = 0;

    ro->eff = *o;
    ro->sink = sink;
    af_buf_init(&ro->changes, 0);
    uv_loop_init(&ro->loop);
    uv_timer_init(&ro->loop, &ro->progress);
    ro->progress.data = ro;
    uv_timer_init(&ro->loop, &ro->log_timer);
    ro->log_timer.data = ro;
    out = ro_setup(ro, o, resume_run, &stop);
    if (out != RO_OUT_OK || stop)
        goto out;
    /* Ctrl-C while facts are gathered: nothing starts, nothing recorded. */
    ro_signals_start(ro);
    out = ro_facts_and_plan(ro, resume_run);
    ro_signals_pause(ro);
    if (out == RO_OUT_INTERRUPTED)
        ro_note(ro,
                "Interrupted by %s before anything started; nothing "
                "was recorded",
                ro_signame(ro->stopping));
    if (out != RO_OUT_OK)
        goto out;
    ro_emit_plan(ro);
    if (ro->eff.plan_only) {
        out = ro_plan_has_trouble(ro) ? RO_OUT_FAILED : RO_OUT_OK;
        goto out;
    }
    if (ro_load_packages(ro) != 0) {
        out = RO_OUT_USAGE;
        goto out;
    }
    if (!ro->eff.yes && (sink->confirm == NULL || !sink->confirm(sink->data))) {
        out = RO_OUT_DECLINED;
        goto out;
    }
    if (o->rate > 0)
        ro->rate = rate_new(&ro->loop, o->rate);
    out = ro_execute(ro, resume_run);
out:
    res->outcome = out;
    res->signo = ro->stopping;
    res->run = ro->run;
    ro_free(ro);
    free(ro);
    return 0;
}
