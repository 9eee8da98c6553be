/* SPDX-License-Identifier: MIT */
/*
 * The plan of a rollout: each node planned from its facts (skip, install,
 * upgrade, blocked), handed to the sink as one row per node and step in
 * execution order, and recorded in the state file before anything runs.
 */
#include "ro-int.h"

#include <stdlib.h>
#include <string.h>

#include "af-mem.h"
#include "inv.h"
#include "pb.h"
#include "st.h"

int
ro_replan(struct ro *ro,
          struct nj *j,
          const struct af_kv *facts,
          struct af_err *e)
{
    struct pb_plan_input in;
    struct af_kv vars;
    int r;

    af_kv_init(&vars);
    af_kv_add(&vars, "install_path", j->node->install_path);
    memset(&in, 0, sizeof(in));
    in.stages = ro->eff.stages;
    in.facts = facts;
    in.pkgs = &ro->pkgs;
    in.remote_dir = RO_PKG_DIR;
    in.vars = &vars;
    pb_plan_free(j->plan);
    j->plan = NULL;
    r = pb_plan_node(ro->pb, &in, &j->plan, e);
    af_kv_free(&vars);
    return r;
}

int
ro_needs_work(const struct pb_plan *p)
{
    size_t k;

    for (k = 0; k < p->n_steps; k++)
        if (nj_runnable(&p->steps[k]) || p->steps[k].reboot_pending)
            return 1;
    for (k = 0; k < p->n_phases; k++)
        if (p->phases[k].builtin != NULL)
            return 1; /* builtins decide on the node (apply is idempotent) */
    return 0;
}

static int ro_step_staged(struct ro *ro,
                          const struct nj *j,
                          const struct pb_plan_step *ps);

/*
 * One plan row: the action word and the planner's line (text), the step's
 * versions and package when ps is given; reason is the detail of a skip,
 * a block or an unreachable node.
 */
static void
ro_plan_row(struct ro *ro,
            const struct nj *j,
            const char *stage,
            const char *step,
            const char *action,
            const char *text,
            const char *reason,
            const struct pb_plan_step *ps)
{
    struct ro_ev ev;

    ro_ev_init(&ev, ro, RO_EV_PLAN_ROW);
    ev.ev.node = j->node->name;
    ev.stage = stage;
    ev.ev.step = step;
    ev.ev.action = action;
    ev.text = text;
    ev.ev.reason = reason;
    if (ps != NULL) {
        ev.version = ps->to;
        ev.from = ps->from != NULL && ps->from[0] ? ps->from : NULL;
        ev.package = ps->package;
        ev.package_size = ps->package_size;
        /* bytes: what the step will push (0 when the node has it). */
        if (ps->package != NULL && nj_runnable(ps)) {
            ev.ev.bytes = ro_step_staged(ro, j, ps) ? 0 : ps->package_size;
            ev.has_bytes = 1;
        }
    }
    ro_emit(ro, &ev);
}

/*
 * 1 when the node said it holds the step's package, verified, and it is
 * the same bytes as ours (hashed here on first use): the push will send
 * nothing.
 */
static int
ro_step_staged(struct ro *ro, const struct nj *j, const struct pb_plan_step *ps)
{
    const char *sha;
    const struct ro_pkg *p;

    if (ps->package == NULL || !nj_runnable(ps))
        return 0;
    if ((sha = af_kv_get(&j->staged, ps->package)) == NULL)
        return 0;
    p = ro_pkg_get(ro, ps->package);
    return p != NULL && strcmp(p->sha, sha) == 0;
}

/* One row per node and step, each node's rows in the order they run. */
void
ro_emit_plan(struct ro *ro)
{
    struct ro_ev ev;
    size_t i, k, x;

    for (i = 0; i < ro->n; i++) {
        struct nj *j = &ro->nj[i];

        if (!j->reachable) {
            ro_plan_row(ro, j, NULL, NULL, "unreachable", "unreachable",
                        j->reason, NULL);
            continue;
        }
        if (j->plan == NULL) {
            ro_plan_row(ro, j, NULL, NULL, "reconcile",
                        "was rebooting: wait for it, then plan again", NULL,
                        NULL);
            continue;
        }
        for (k = 0; k < j->plan->n_phases; k++) {
            const struct pb_plan_phase *ph = &j->plan->phases[k];

            if (ph->builtin != NULL) {
                ro_plan_row(ro, j, ph->stage, ph->stage, "apply",
                            "apply + verify the address plan", NULL, NULL);
                continue;
            }
            for (x = 0; x < ph->n; x++) {
                const struct pb_plan_step *ps = &j->plan->steps[ph->first + x];
                char *staged = ro_step_staged(ro, j, ps)
                                   ? af_asprintf("%s (staged)", ps->text)
                                   : NULL;

                ro_plan_row(ro, j, ph->stage, ps->name,
                            pb_action_name(ps->action),
                            staged ? staged : ps->text, ps->reason, ps);
                free(staged);
            }
        }
    }
    ro_ev_init(&ev, ro, RO_EV_PLAN_END);
    ev.text = ro->eff.stages;
    ro_emit(ro, &ev);
}

static enum st_node_status
ro_node_initial(const struct nj *j)
{
    if (j->plan->blocked)
        return ST_NODE_BLOCKED;
    return j->needs_work ? ST_NODE_PENDING : ST_NODE_DONE;
}

static enum st_step_status
ro_step_initial(const struct pb_plan_step *ps)
{
    if (ps->action == PB_ACT_BLOCKED)
        return ST_STEP_BLOCKED;
    if (ps->action == PB_ACT_SKIP && !ps->reboot_pending)
        return ST_STEP_SKIPPED;
    return ST_STEP_PENDING;
}

/* The steps of one node; steps done by an earlier attempt stay done. */
static int
ro_record_steps(struct ro *ro, const struct nj *j, struct af_err *e)
{
    size_t k;
    int r;

    for (k = 0; k < j->plan->n_steps; k++) {
        const struct pb_plan_step *ps = &j->plan->steps[k];
        const char *stage = j->plan->phases[ps->phase].stage;
        enum st_step_status s = ro_step_initial(ps);
        struct st_step old;

        /*
         * Resume: steps already done stay done, and a step the killed
         * run started whose target the facts now show is done too.
         */
        if (st_step_get(ro->st, ro->run, j->node->name, stage, ps->name, &old,
                        NULL) == 0) {
            int keep = old.status == ST_STEP_DONE;
            int started = old.status == ST_STEP_RUNNING;

            if (started && s == ST_STEP_SKIPPED)
                s = ST_STEP_DONE;
            st_step_clear(&old);
            if (keep)
                continue;
            if (started && ps->action == PB_ACT_SKIP) {
                /* Keep the action it was started for, not "skip (...)". */
                r = st_step_set(ro->st, ro->run, j->node->name, stage, ps->name,
                                s, ST_NO_EXIT, NULL, NULL, 0, 0, e);
                if (r != 0)
                    return r;
                continue;
            }
        }
        r = st_step_set(ro->st, ro->run, j->node->name, stage, ps->name, s,
                        ST_NO_EXIT, ps->text, NULL, 0, 0, e);
        if (r != 0)
            return r;
    }
    return 0;
}

/* Record what each node will do before anything runs. */
int
ro_record_plan(struct ro *ro, struct af_err *e)
{
    size_t i;
    int r;

    if ((r = st_begin(ro->st, e)) != 0)
        return r;
    for (i = 0; i < ro->n; i++) {
        struct nj *j = &ro->nj[i];

        if (!j->reachable) {
            r = st_node_upsert(ro->st, ro->run, j->node->name, j->node->address,
                               j->batch, ST_NODE_UNREACHABLE, j->reason, e);
            if (r != 0)
                goto fail;
            continue;
        }
        if (j->plan == NULL)
            continue; /* resume: reconciled before it is planned */
        r = st_node_upsert(ro->st, ro->run, j->node->name, j->node->address,
                           j->batch, ro_node_initial(j),
                           j->plan->blocked ? "a step is blocked" : NULL, e);
        if (r == 0 && j->host_key[0]) {
            struct st_ident id = {j->node->address, j->host_key};

            r = st_node_set_ident(ro->st, ro->run, j->node->name, &id, e);
        }
        if (r != 0)
            goto fail;
        if ((r = ro_record_steps(ro, j, e)) != 0)
            goto fail;
    }
    return st_commit(ro->st, e);
fail:
    st_rollback(ro->st, NULL);
    return r;
}
