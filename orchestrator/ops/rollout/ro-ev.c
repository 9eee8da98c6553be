/* SPDX-License-Identifier: MIT */
/*
 * Events of a rollout: each node event is appended to the state file's
 * event log and handed to the caller's sink, which alone decides how (and
 * whether) to show it. Also the checks of state writes: a failed write
 * halts the run (no further step starts) and is reported once.
 */
#define _GNU_SOURCE
#include "ro-int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "af-mem.h"
#include "inv.h"
#include "pb-plan.h"
#include "push.h"
#include "st.h"

const char *const ro_fail_names[RO_F_COUNT] = {
    "ok",      "unreachable",   "step failed",
    "timeout", "verify failed", "reboot timeout",
};

/* The ev.h kind for a rollout event. */
static enum ev_kind
ro_ev_base(enum ro_ev_kind k)
{
    switch (k) {
    case RO_EV_STEP:
        return EV_STEP;
    case RO_EV_RESULT:
        return EV_NODE_END;
    default:
        return EV_NOTICE;
    }
}

void
ro_ev_init(struct ro_ev *ev, const struct ro *ro, enum ro_ev_kind k)
{
    memset(ev, 0, sizeof(*ev));
    ev_init(&ev->ev, ro_ev_base(k), NULL);
    ev->kind = k;
    ev->ts_ms = fleet_now_ms();
    ev->run = ro->run;
    ev->eta_batch_ms = ev->eta_run_ms = -1;
}

void
ro_resume_event(const struct ro *ro)
{
    struct ro_ev ev;
    char text[64];

    snprintf(text, sizeof(text), "Resuming run %lld", (long long)ro->run);
    ro_ev_init(&ev, ro, RO_EV_RESUME);
    ev.text = text;
    ro_emit(ro, &ev);
}

void
ro_emit(const struct ro *ro, struct ro_ev *ev)
{
    if (ro->sink != NULL && ro->sink->event != NULL)
        ro->sink->event(ev, ro->sink->data);
}

static void
ro_vtext(const struct ro *ro, enum ro_ev_kind k, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void
ro_vtext(const struct ro *ro, enum ro_ev_kind k, const char *fmt, va_list ap)
{
    char msg[1024];
    struct ro_ev ev;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    ro_ev_init(&ev, ro, k);
    if (k == RO_EV_ERROR)
        ev.ev.reason = msg;
    ev.text = msg;
    ro_emit(ro, &ev);
}

void
ro_error(const struct ro *ro, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    ro_vtext(ro, RO_EV_ERROR, fmt, ap);
    va_end(ap);
}

void
ro_note(const struct ro *ro, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    ro_vtext(ro, RO_EV_NOTE, fmt, ap);
    va_end(ap);
}

static void ro_vsay(struct ro *ro,
                    const struct nj *j,
                    const char *kind,
                    const struct ro_ev_x *x,
                    const char *fmt,
                    va_list ap) __attribute__((format(printf, 5, 0)));

/* The EV_* status word of a node event of this kind. */
static const char *
ro_ev_status(const struct nj *j, const char *kind, const struct ro_ev_x *x)
{
    if (j == NULL)
        return NULL;
    if (strcmp(kind, "failed") == 0)
        return j->fail == RO_F_TIMEOUT       ? EV_TIMEOUT
               : j->fail == RO_F_UNREACHABLE ? EV_UNREACHABLE
                                             : EV_FAILED;
    if (strcmp(kind, "detached") == 0)
        return EV_CANCELED;
    if (strcmp(kind, "done") == 0 || strcmp(kind, "verify") == 0 ||
        strcmp(kind, "push") == 0 || x != NULL)
        return EV_OK;
    return EV_RUNNING;
}

static void
ro_vsay(struct ro *ro,
        const struct nj *j,
        const char *kind,
        const struct ro_ev_x *x,
        const char *fmt,
        va_list ap)
{
    char msg[1024];
    struct ro_ev ev;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (ro->st != NULL && ro->run > 0)
        ro_wrote(ro,
                 st_event(ro->st, ro->run, j ? j->node->name : NULL, kind, "%s",
                          msg),
                 NULL, "an event");
    ro_ev_init(&ev, ro, j ? RO_EV_STEP : RO_EV_NOTE);
    ev.ev.node = j ? j->node->name : NULL;
    ev.what = kind;
    ev.ev.status = ro_ev_status(j, kind, x);
    ev.text = msg;
    if (x != NULL) {
        ev.ev.exit_code = x->exit_code;
        ev.ev.duration_ms = x->duration_ms;
        ev.ev.bytes = (uint64_t)x->bytes;
        ev.has_bytes = 1;
    }
    if (j != NULL && j->started_ms > 0 &&
        (strcmp(kind, "done") == 0 || strcmp(kind, "failed") == 0 ||
         strcmp(kind, "detached") == 0)) {
        ev.ev.duration_ms = (int64_t)(uv_now(&ro->loop) - j->started_ms);
        if (strcmp(kind, "done") == 0) {
            ro->done_ms += ev.ev.duration_ms;
            ro->done_n++;
        }
    }
    /* A node event names the step it is at; a failure, the step that
     * failed or timed out (with its exit code). */
    if (j != NULL && strcmp(kind, "failed") == 0 && j->has_fail_rc)
        ev.ev.exit_code = j->fail_rc;
    if (j != NULL && j->plan != NULL &&
        (j->state == NJ_STEPS ||
         (j->state == NJ_FAILED &&
          (j->fail == RO_F_STEP || j->fail == RO_F_TIMEOUT))) &&
        j->phase < j->plan->n_phases) {
        ev.stage = j->plan->phases[j->phase].stage;
        if (j->step < j->plan->phases[j->phase].n) {
            ev.ev.step = nj_cur_step(j)->name;
            ev.ev.action = pb_action_name(nj_cur_step(j)->action);
            ev.version = nj_cur_step(j)->to;
            if (strcmp(kind, "push") == 0) {
                ev.package = nj_cur_step(j)->package;
                ev.package_size = nj_cur_step(j)->package_size;
            }
        }
    }
    if (j != NULL && j->fail != RO_OK)
        ev.ev.reason = j->reason;
    ro_emit(ro, &ev);
}

void
ro_say(
    struct ro *ro, const struct nj *j, const char *kind, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    ro_vsay(ro, j, kind, NULL, fmt, ap);
    va_end(ap);
}

void
ro_sayx(struct ro *ro,
        const struct nj *j,
        const char *kind,
        const struct ro_ev_x *x,
        const char *fmt,
        ...)
{
    va_list ap;

    va_start(ap, fmt);
    ro_vsay(ro, j, kind, x, fmt, ap);
    va_end(ap);
}

int
ro_wrote(struct ro *ro, int r, const struct af_err *e, const char *what)
{
    if (r == 0)
        return 0;
    if (!ro->write_error) {
        ro->write_error = 1;
        /* st_event takes no af_err: SQLite's own message says why. */
        snprintf(ro->write_msg, sizeof(ro->write_msg),
                 "state write failed: cannot record %s in the state file: "
                 "%s; no further step is started",
                 what,
                 e != NULL && e->msg[0] ? e->msg
                 : ro->st != NULL       ? st_errmsg(ro->st)
                                        : "database error");
        ro_error(ro, "%s", ro->write_msg);
    }
    return -1;
}

int
ro_halted(const struct ro *ro)
{
    return ro->stopping || ro->write_error;
}

const char *
ro_bytes(char *buf, size_t n, uint64_t bytes)
{
    double v = (double)bytes;

    if (bytes < 1024)
        snprintf(buf, n, "%llu B", (unsigned long long)bytes);
    else if (bytes < 1024 * 1024)
        snprintf(buf, n, "%.1f KiB", v / 1024.0);
    else if (bytes < 1024ULL * 1024 * 1024)
        snprintf(buf, n, "%.1f MiB", v / 1048576.0);
    else
        snprintf(buf, n, "%.2f GiB", v / 1073741824.0);
    return buf;
}

/* ---- push counters for the live line ----------------------------------- */

static int
nj_finished(const struct nj *j)
{
    return j->state == NJ_DONE || j->state == NJ_FAILED ||
           j->state == NJ_DETACHED;
}

void
ro_push_plan(struct ro *ro)
{
    size_t i, k;

    ro->push_done = 0;
    for (i = 0; i < ro->batch_n; i++) {
        struct nj *j = &ro->nj[ro->batch_nodes[i]];

        j->push_left = 0;
        j->push_sent = 0;
        if (j->plan == NULL || !j->needs_work || !j->reachable)
            continue;
        for (k = 0; k < j->plan->n_steps; k++) {
            const struct pb_plan_step *ps = &j->plan->steps[k];

            if (nj_runnable(ps) && ps->package != NULL)
                j->push_left += ps->package_size;
        }
    }
}

static void
nj_push_less(struct nj *j, uint64_t n)
{
    j->push_left = n < j->push_left ? j->push_left - n : 0;
}

void
ro_push_skip(struct nj *j, uint64_t size)
{
    nj_push_less(j, size);
}

void
ro_push_progress(struct nj *j, const struct push_result *r, int end)
{
    struct ro *ro = j->ro;

    if (r->sent == 0 && !end) {
        /* The push starts: what the node already holds is not sent. */
        nj_push_less(j, r->offset);
        j->push_sent = 0;
        if (!j->in_push)
            ro->pushing++;
        j->in_push = 1;
        return;
    }
    if (r->sent > j->push_sent) {
        nj_push_less(j, r->sent - j->push_sent);
        ro->push_done += r->sent - j->push_sent;
        j->push_sent = r->sent;
    }
    if (end) {
        /* Failed part-way: the rest will not be sent in this batch. */
        if (r->size > r->offset + r->sent)
            nj_push_less(j, r->size - r->offset - r->sent);
        j->push_sent = 0;
        if (j->in_push)
            ro->pushing--;
        j->in_push = 0;
    }
}

/*
 * Time left, from the mean duration of the nodes done so far: the batch's
 * nodes still working need the mean minus what they already took, the
 * ones waiting for a slot go in waves of --fanout; each later batch is as
 * many waves of the mean. -1 while no node is done.
 */
static void
ro_eta(const struct ro *ro, uint64_t now, struct ro_ev *ev)
{
    int64_t avg, left = 0, later = 0;
    size_t waiting = 0, i,
           fan = ro->eff.fanout > 0 ? (size_t)ro->eff.fanout : 1;
    size_t *per;
    int b;

    ev->eta_batch_ms = ev->eta_run_ms = -1;
    if (ro->done_n == 0)
        return;
    avg = ro->done_ms / (int64_t)ro->done_n;
    for (i = 0; i < ro->batch_n; i++) {
        const struct nj *j = &ro->nj[ro->batch_nodes[i]];
        int64_t rest;

        if (!j->needs_work || !j->reachable || nj_finished(j))
            continue;
        if (j->started_ms == 0) {
            waiting++;
            continue;
        }
        /* Slower than the mean so far: a tenth of it still to go. */
        rest = avg - (int64_t)(now - j->started_ms);
        if (rest < avg / 10)
            rest = avg / 10;
        if (rest > left)
            left = rest;
    }
    left += (int64_t)((waiting + fan - 1) / fan) * avg;
    per = af_calloc(ro->nbatches > 0 ? (size_t)ro->nbatches : 1, sizeof(*per));
    for (i = 0; i < ro->n; i++)
        if (ro->nj[i].needs_work && ro->nj[i].reachable &&
            ro->nj[i].batch > ro->cur_batch && ro->nj[i].batch < ro->nbatches)
            per[ro->nj[i].batch]++;
    for (b = ro->cur_batch + 1; b < ro->nbatches; b++)
        later += (int64_t)((per[b] + fan - 1) / fan) * avg;
    free(per);
    ev->eta_batch_ms = left;
    ev->eta_run_ms = left + later;
}

/*
 * The live line: batch k/n, nodes per state, the failure budget left,
 * the slowest node still working, ETAs and the push counters.
 */
static void
ro_progress_cb(uv_timer_t *t)
{
    struct ro *ro = t->data;
    const struct nj *slow = NULL;
    uint64_t now = uv_now(&ro->loop);
    struct ro_ev ev;
    size_t i;

    ro_ev_init(&ev, ro, RO_EV_PROGRESS);
    for (i = 0; i < ro->n; i++) {
        const struct nj *j = &ro->nj[i];

        if (!j->needs_work || !j->reachable)
            continue;
        ev.nodes_total++;
        if (nj_finished(j))
            ev.nodes_finished++;
        if (j->batch == ro->cur_batch && !nj_finished(j))
            ev.push_total += j->push_left;
        switch (j->state) {
        case NJ_DONE:
            ev.done++;
            break;
        case NJ_FAILED:
        case NJ_DETACHED:
            break;
        case NJ_REBOOT_WAIT:
        case NJ_SETTLE:
        case NJ_RECONCILE:
            ev.rebooting++;
            break;
        case NJ_IDLE:
            if (j->started_ms == 0) {
                ev.waiting++;
                break;
            }
            /* fall through */
        default:
            ev.running++;
            break;
        }
        if (j->started_ms && j->state != NJ_DONE && j->state != NJ_FAILED &&
            (slow == NULL || j->started_ms < slow->started_ms))
            slow = j;
    }
    ev.failed = ro_failed_total(ro);
    ev.budget_left = ev.failed > ro->budget ? 0 : ro->budget - ev.failed;
    ev.batch = ro->cur_batch;
    ev.nbatches = ro->nbatches;
    if (slow != NULL) {
        ev.slowest = slow->node->name;
        ev.slowest_ms = (int64_t)(now - slow->started_ms);
    }
    ev.push_done = ro->push_done;
    ev.push_total += ro->push_done;
    ev.pushing = ro->pushing;
    ro_eta(ro, now, &ev);
    ro_emit(ro, &ev);
}

void
ro_progress_start(struct ro *ro)
{
    if (!ro->eff.progress)
        return;
    uv_timer_start(&ro->progress, ro_progress_cb, 500, 1000);
    uv_unref((uv_handle_t *)&ro->progress);
}

void
ro_progress_stop(struct ro *ro)
{
    if (ro->eff.progress)
        uv_timer_stop(&ro->progress);
}
