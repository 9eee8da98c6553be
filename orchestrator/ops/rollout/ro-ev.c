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
#include <string.h>

#include "inv.h"
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
        ev.ev.bytes = x->bytes;
    }
    if (j != NULL && j->plan != NULL && j->state == NJ_STEPS &&
        j->phase < j->plan->n_phases) {
        ev.stage = j->plan->phases[j->phase].stage;
        if (j->step < j->plan->phases[j->phase].n) {
            ev.ev.step = nj_cur_step(j)->name;
            ev.ev.action = nj_cur_step(j)->text;
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

/*
 * The live line: batch k/n, nodes per state, the failure budget left and
 * the slowest node still working.
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
