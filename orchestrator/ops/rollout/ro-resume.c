/* SPDX-License-Identifier: MIT */
/*
 * Resume: the options a run was started with (stored with the run as a
 * flat JSON object), what the state file says of each node (its batch, a
 * reboot it was waiting for, a step caught mid-install), and the per-node
 * reconciliation when the job starts: a new boot_id proves a reboot
 * happened, a leftover installer is waited for, and the node is planned
 * again from fresh facts before it goes on.
 */
#define _GNU_SOURCE
#include "ro-int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "af-mem.h"
#include "af-sha256.h"
#include "agc.h"
#include "inv.h"
#include "sess.h"
#include "st.h"

static void
opt_json(struct af_buf *b, const char *k, const char *v, int *first)
{
    if (v == NULL)
        return;
    af_buf_puts(b, *first ? "{" : ",");
    *first = 0;
    af_buf_json_str(b, k);
    af_buf_append(b, ":", 1);
    af_buf_json_str(b, v);
}

/* sha256 of a file's bytes, or "unreadable". */
static void
ro_file_sha(const char *path, char out[65])
{
    struct af_sha256 c;
    char buf[65536];
    size_t n;
    FILE *f = fopen(path, "rb");

    if (f == NULL) {
        snprintf(out, 65, "unreadable");
        return;
    }
    af_sha256_init(&c);
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        af_sha256_update(&c, buf, n);
    fclose(f);
    af_sha256_final_hex(&c, out);
}

/* The package set as "name:size,..." (names sorted); caller frees. */
static char *
ro_pkg_set(const struct pb_pkgs *p)
{
    struct af_buf b;
    size_t i;

    af_buf_init(&b, 0);
    af_buf_append(&b, "", 0);
    for (i = 0; i < p->n; i++)
        af_buf_printf(&b, "%s%s:%llu", i ? "," : "", p->v[i].name,
                      p->v[i].size);
    return af_buf_steal(&b);
}

char *
ro_options_json(struct ro *ro)
{
    const struct ro_opts *o = &ro->eff;
    struct af_buf b;
    char fan[16], tmo[16], isha[65], psha[65];
    int first = 1;
    char *inv = realpath(o->inventory, NULL);
    char *pb = realpath(o->playbook, NULL);
    char *pk = realpath(o->packages, NULL);
    char *set = ro_pkg_set(&ro->pkgs);

    snprintf(fan, sizeof(fan), "%d", o->fanout);
    snprintf(tmo, sizeof(tmo), "%d", o->timeout_s);
    ro_file_sha(o->inventory, isha);
    ro_file_sha(o->playbook, psha);
    af_buf_init(&b, 0);
    opt_json(&b, "inventory", inv ? inv : o->inventory, &first);
    opt_json(&b, "limit", o->limit, &first);
    opt_json(&b, "playbook", pb ? pb : o->playbook, &first);
    opt_json(&b, "packages", pk ? pk : o->packages, &first);
    opt_json(&b, "stages", o->stages, &first);
    opt_json(&b, "batch", o->batch, &first);
    opt_json(&b, "max_fail", o->max_fail, &first);
    opt_json(&b, "fanout", fan, &first);
    if (o->timeout_s > 0)
        opt_json(&b, "timeout", tmo, &first);
    opt_json(&b, "host_keys",
             o->hostkeys == CONN_HOSTKEY_ACCEPT_NEW ? "accept-new" : "strict",
             &first);
    opt_json(&b, "inventory_sha256", isha, &first);
    opt_json(&b, "playbook_sha256", psha, &first);
    opt_json(&b, "package_set", set, &first);
    af_buf_puts(&b, "}");
    free(inv);
    free(pb);
    free(pk);
    free(set);
    return af_buf_steal(&b);
}

/* Add to d the entries of a (comma-separated) missing from b, each with
 * prefix. */
static void
ro_set_missing(struct af_buf *d,
               const char *a,
               const char *b,
               const char *prefix)
{
    char *dup = af_strdup(a), *save = NULL, *t;
    size_t bl = strlen(b);

    for (t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        size_t tl = strlen(t);
        const char *p = b;
        int found = 0;

        while (!found && (p = strstr(p, t)) != NULL) {
            found =
                (p == b || p[-1] == ',') && (p + tl == b + bl || p[tl] == ',');
            p += tl;
        }
        if (!found)
            af_buf_printf(d, " %s%s", prefix, t);
    }
    free(dup);
}

int
ro_check_inputs(struct ro *ro)
{
    char isha[65], psha[65];
    char *set = ro_pkg_set(&ro->pkgs);
    struct af_buf d;
    int bad = 0;

    af_buf_init(&d, 0);
    ro_file_sha(ro->eff.inventory, isha);
    ro_file_sha(ro->eff.playbook, psha);
    if (ro->rec_inv != NULL && strcmp(ro->rec_inv, isha) != 0) {
        af_buf_printf(&d, "\n  inventory %s: sha256 %.12s, the run has %.12s",
                      ro->eff.inventory, isha, ro->rec_inv);
        bad = 1;
    }
    if (ro->rec_pb != NULL && strcmp(ro->rec_pb, psha) != 0) {
        af_buf_printf(&d, "\n  playbook %s: sha256 %.12s, the run has %.12s",
                      ro->eff.playbook, psha, ro->rec_pb);
        bad = 1;
    }
    if (ro->rec_pkgs != NULL && strcmp(ro->rec_pkgs, set) != 0) {
        af_buf_printf(&d, "\n  packages %s:", ro->eff.packages);
        ro_set_missing(&d, set, ro->rec_pkgs, "+");
        ro_set_missing(&d, ro->rec_pkgs, set, "-");
        bad = 1;
    }
    free(set);
    if (bad && !ro->eff.force) {
        ro_error(ro,
                 "run %lld was started with other inputs:%s\nresume with "
                 "--force to continue with these",
                 (long long)ro->run, d.data);
        af_buf_free(&d);
        return -1;
    }
    if (bad)
        af_buf_puts(&ro->changes, " --force");
    af_buf_free(&d);
    return 0;
}

int
ro_check_identity(struct ro *ro)
{
    struct af_buf d;
    size_t i, nbad = 0;
    struct af_err e;
    char what[600];

    af_buf_init(&d, 0);
    for (i = 0; i < ro->n; i++) {
        const struct nj *j = &ro->nj[i];
        char *addr = NULL, *key = NULL;
        struct st_ident rec, now;

        if (st_node_ident(ro->st, ro->run, j->node->name, &addr, &key, &e) != 0)
            continue; /* not in the run yet: nothing recorded to differ */
        rec.address = addr;
        rec.host_key = key;
        now.address = j->node->address;
        now.host_key = j->host_key[0] ? j->host_key : NULL;
        if (st_ident_diff(&rec, &now, what, sizeof(what))) {
            af_buf_printf(&d, "\n  %s: %s", j->node->name, what);
            nbad++;
        }
        free(addr);
        free(key);
    }
    if (nbad && !ro->eff.force) {
        ro_error(ro,
                 "run %lld: %zu node%s %s not the machine%s the run "
                 "recorded:%s\nresume with --force to continue on these "
                 "machines",
                 (long long)ro->run, nbad, nbad == 1 ? "" : "s",
                 nbad == 1 ? "is" : "are", nbad == 1 ? "" : "s", d.data);
        af_buf_free(&d);
        return -1;
    }
    if (nbad)
        ro_note(ro, "run %lld continues on other machines (--force):%s",
                (long long)ro->run, d.data);
    af_buf_free(&d);
    return 0;
}

/* Point *field at a copy of v, owned by the run. */
static const char *
ro_own(struct ro *ro, const char *v)
{
    if (ro->nowned >= sizeof(ro->owned) / sizeof(ro->owned[0]))
        return NULL;
    ro->owned[ro->nowned] = af_strdup(v);
    return ro->owned[ro->nowned++];
}

/*
 * One recorded option: taken unless the operator gave it, else the given
 * value stays and, when it differs, is noted as a change (flag value).
 */
static void
ro_opt(struct ro *ro,
       const char **field,
       const struct af_kv *kv,
       const char *key,
       unsigned bit,
       const char *flag)
{
    const char *v = af_kv_get(kv, key);

    if (!(ro->eff.given & bit)) {
        if (v != NULL && (v = ro_own(ro, v)) != NULL)
            *field = v;
        return;
    }
    if (*field != NULL && (v == NULL || strcmp(v, *field) != 0))
        af_buf_printf(&ro->changes, " %s %s", flag, *field);
}

static void
ro_opt_int(struct ro *ro,
           int *field,
           const struct af_kv *kv,
           const char *key,
           unsigned bit,
           const char *flag)
{
    const char *v = af_kv_get(kv, key);

    if (!(ro->eff.given & bit)) {
        if (v != NULL)
            *field = atoi(v);
        return;
    }
    if (v == NULL || atoi(v) != *field)
        af_buf_printf(&ro->changes, " %s %d", flag, *field);
}

int
ro_setup_resume(struct ro *ro, int64_t run, struct af_err *e)
{
    struct st_run r;
    struct af_kv kv;
    const char *hk;
    int rc;

    if ((rc = st_run_get(ro->st, run, &r, e)) != 0)
        return rc;
    st_run_clear(&r);
    af_kv_init(&kv);
    /* The options the run was started with, read by SQLite's json_each. */
    if ((rc = st_run_options(ro->st, run, &kv, e)) != 0) {
        af_kv_free(&kv);
        return rc;
    }
    ro_opt(ro, &ro->eff.inventory, &kv, "inventory", RO_GIVEN_INVENTORY, "-i");
    ro_opt(ro, &ro->eff.limit, &kv, "limit", RO_GIVEN_LIMIT, "--limit");
    ro_opt(ro, &ro->eff.playbook, &kv, "playbook", RO_GIVEN_PLAYBOOK,
           "--playbook");
    ro_opt(ro, &ro->eff.packages, &kv, "packages", RO_GIVEN_PACKAGES,
           "--packages");
    ro_opt(ro, &ro->eff.stages, &kv, "stages", RO_GIVEN_STAGES, "--stage");
    ro_opt(ro, &ro->eff.batch, &kv, "batch", RO_GIVEN_BATCH, "--batch");
    ro_opt(ro, &ro->eff.max_fail, &kv, "max_fail", RO_GIVEN_MAXFAIL,
           "--max-fail");
    ro_opt_int(ro, &ro->eff.fanout, &kv, "fanout", RO_GIVEN_FANOUT, "--fanout");
    ro_opt_int(ro, &ro->eff.timeout_s, &kv, "timeout", RO_GIVEN_TIMEOUT,
               "--timeout");
    hk = af_kv_get(&kv, "host_keys");
    if (!(ro->eff.given & RO_GIVEN_HOSTKEYS))
        ro->eff.hostkeys = hk && strcmp(hk, "accept-new") == 0
                               ? CONN_HOSTKEY_ACCEPT_NEW
                               : CONN_HOSTKEY_STRICT;
    else if (hk == NULL ||
             strcmp(hk, ro->eff.hostkeys == CONN_HOSTKEY_ACCEPT_NEW
                            ? "accept-new"
                            : "strict") != 0)
        af_buf_printf(&ro->changes, " --host-keys %s",
                      ro->eff.hostkeys == CONN_HOSTKEY_ACCEPT_NEW ? "accept-new"
                                                                  : "strict");
    if (af_kv_get(&kv, "inventory_sha256"))
        ro->rec_inv = ro_own(ro, af_kv_get(&kv, "inventory_sha256"));
    if (af_kv_get(&kv, "playbook_sha256"))
        ro->rec_pb = ro_own(ro, af_kv_get(&kv, "playbook_sha256"));
    if (af_kv_get(&kv, "package_set"))
        ro->rec_pkgs = ro_own(ro, af_kv_get(&kv, "package_set"));
    af_kv_free(&kv);
    return 0;
}

static struct nj *
ro_find_nj(struct ro *ro, const char *name)
{
    size_t i;

    for (i = 0; i < ro->n; i++)
        if (strcmp(ro->nj[i].node->name, name) == 0)
            return &ro->nj[i];
    return NULL;
}

/* A step caught mid-step: wait for a leftover installer first. */
static void
ro_resume_running_step(struct ro *ro, const struct st_step *st)
{
    struct nj *j = ro_find_nj(ro, st->node);
    size_t s;

    if (j == NULL || j->plan == NULL)
        return;
    for (s = 0; s < j->plan->n_steps; s++)
        if (strcmp(j->plan->steps[s].name, st->step) == 0 &&
            j->plan->steps[s].package_path != NULL && j->running_pkg == NULL)
            j->running_pkg = af_strdup(j->plan->steps[s].package_path);
}

/* Nodes recorded by the run being resumed: status and boot ids. */
int
ro_apply_resume(struct ro *ro, struct af_err *e)
{
    struct st_node *nodes = NULL;
    struct st_step *steps = NULL;
    size_t n = 0, ns = 0, k;
    int r;

    if ((r = st_node_list(ro->st, ro->run, &nodes, &n, e)) != 0)
        return r;
    for (k = 0; k < n; k++) {
        struct nj *j = ro_find_nj(ro, nodes[k].node);

        if (j == NULL)
            continue;
        j->batch = nodes[k].batch;
        if (nodes[k].status == ST_NODE_REBOOTING &&
            nodes[k].boot_id_before != NULL) {
            j->resume_rebooting = 1;
            j->boot_before = af_strdup(nodes[k].boot_id_before);
        }
    }
    st_nodes_free(nodes, n);
    if ((r = st_step_list(ro->st, ro->run, NULL, &steps, &ns, e)) != 0)
        return r;
    for (k = 0; k < ns; k++)
        if (steps[k].status == ST_STEP_RUNNING &&
            steps[k].exit_code == ST_NO_EXIT)
            ro_resume_running_step(ro, &steps[k]);
    st_steps_free(steps, ns);
    return 0;
}

int
ro_run_complete(struct ro *ro, int *complete)
{
    struct st_node *nodes = NULL;
    size_t n = 0, k;
    struct af_err e;
    int r = st_node_list(ro->st, ro->run, &nodes, &n, &e);

    if (ro_wrote(ro, r, &e, "the run's nodes (reading)") != 0)
        return -1;
    *complete = 1;
    for (k = 0; k < n; k++)
        if (nodes[k].status != ST_NODE_DONE &&
            nodes[k].status != ST_NODE_SKIPPED)
            *complete = 0;
    st_nodes_free(nodes, n);
    return 0;
}

/* ---- per node, when its job starts ----------------------------------- */

/* Steps the new facts show finished are done, not pending. */
static int
nj_mark_finished(struct nj *j)
{
    struct ro *ro = j->ro;
    struct af_err e;
    size_t k;

    for (k = 0; k < j->plan->n_steps; k++) {
        const struct pb_plan_step *ps = &j->plan->steps[k];
        const char *stage = j->plan->phases[ps->phase].stage;
        struct st_step old;
        int w = 0;

        if (ps->action != PB_ACT_SKIP || ps->reboot_pending)
            continue;
        if (st_step_get(ro->st, ro->run, j->node->name, stage, ps->name, &old,
                        NULL) != 0)
            continue;
        /* Keep the action it was started for: it is what happened. */
        if (old.status == ST_STEP_PENDING || old.status == ST_STEP_RUNNING)
            w = st_step_set(ro->st, ro->run, j->node->name, stage, ps->name,
                            ST_STEP_DONE, ST_NO_EXIT, NULL, NULL, 0, 0, &e);
        st_step_clear(&old);
        if (ro_wrote(ro, w, &e, "a step finished before resume") != 0)
            return -1;
    }
    return 0;
}

/* Decide again from fresh facts and go on from the first phase. */
void
nj_replan_facts(struct agc *a, int status, const struct af_kv *body, void *data)
{
    struct nj *j = data;
    struct af_err e;
    size_t k;

    (void)a;
    if (status < 0) {
        nj_agent_fail(j, status, "facts");
        return;
    }
    af_kv_free(&j->facts);
    af_kv_init(&j->facts);
    for (k = 0; k < body->n; k++)
        af_kv_add(&j->facts, body->keys[k], body->vals[k]);
    if (ro_replan(j->ro, j, &j->facts, &e) != 0) {
        nj_fail(j, RO_F_STEP, "cannot plan the node again: %s", e.msg);
        return;
    }
    if (j->plan->blocked) {
        nj_fail(j, RO_F_STEP, "a step is blocked after resume");
        return;
    }
    if (nj_mark_finished(j) != 0) {
        nj_fail(j, RO_F_STEP, "%s", j->ro->write_msg);
        return;
    }
    j->phase = 0;
    j->step = 0;
    j->phase_ran = 0;
    j->state = NJ_STEPS;
    nj_next(j);
}

static void
nj_wait_installer_answer(struct agc *a,
                         int status,
                         const struct af_kv *body,
                         void *data)
{
    struct nj *j = data;
    const char *n = af_kv_get(body, "running");

    (void)a;
    if (status < 0 && status != AF_EREMOTE) {
        nj_agent_fail(j, status, "checking for a running installer");
        return;
    }
    if (n != NULL && strcmp(n, "0") != 0) {
        /* Still running: look again shortly. */
        j->state = NJ_WAIT_INSTALLER;
        uv_timer_start(&j->timer, nj_timer_cb, 2000, 0);
        return;
    }
    free(j->running_pkg);
    j->running_pkg = NULL;
    j->resume_running = 0;
    ro_say(j->ro, j, "resume", "no installer left running");
    /* The plan was made before it finished: decide again from facts. */
    j->state = NJ_IDLE;
    nj_request_facts(j, nj_replan_facts);
}

/*
 * Resume: an installer of the killed run may still be working (the agent
 * compares every process's argv with the exact path: no pattern).
 */
void
nj_wait_installer(struct nj *j)
{
    const char *words[2] = {"running", j->running_pkg};

    agc_request(sess_agc(j->sess), words, 2, NULL, 0, 30000,
                nj_wait_installer_answer, j);
}

/*
 * Resume of a node that was rebooting when the run was killed: a new
 * boot_id proves the reboot happened (never send a second one); the same
 * boot_id for a grace period means it was never sent, and the plan (which
 * shows the reboot still pending) sends exactly one.
 */
void
nj_reconcile_facts(struct agc *a,
                   int status,
                   const struct af_kv *body,
                   void *data)
{
    struct nj *j = data;
    struct ro *ro = j->ro;
    const char *boot = af_kv_get(body, "boot_id");
    struct af_err e;

    if (status < 0) {
        nj_wait_more(j);
        return;
    }
    if (boot && j->boot_before && strcmp(boot, j->boot_before) != 0) {
        ro_say(ro, j, "resume",
               "came back from its reboot (boot_id %.8s, was %.8s)", boot,
               j->boot_before);
        if (ro_wrote(ro,
                     st_node_set_boot(ro->st, ro->run, j->node->name,
                                      j->boot_before, boot, &e),
                     &e, "the new boot_id") != 0) {
            nj_fail(j, RO_F_REBOOT, "%s", ro->write_msg);
            return;
        }
        j->reboot_done = 1;
    } else if (uv_now(&ro->loop) < j->reboot_deadline) {
        /* The reboot may still be on its way: do not send another. */
        nj_wait_more(j);
        return;
    } else {
        ro_say(ro, j, "resume", "never went down; the plan decides again");
    }
    j->resume_rebooting = 0;
    nj_replan_facts(a, 0, body, j);
}

void
nj_reconcile_start(struct nj *j)
{
    uint64_t now = uv_now(&j->ro->loop);

    j->state = NJ_RECONCILE;
    j->reboot_deadline = now + 30000;
    j->hard_deadline = now + (uint64_t)j->node->reboot_timeout * 1000;
}
