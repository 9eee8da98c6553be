/* SPDX-License-Identifier: MIT */
/*
 * The rollout engine (see rollout.h). Synchronous around the batches
 * (plan, record, start a batch, run the loop until the batch is done,
 * check the failure budget), asynchronous inside one batch: every node is a
 * small state machine (struct nj) moving through its plan's phases over
 * one agent session, with a timer for reboot waits. Each transition is
 * committed to the state file before the action it enables.
 */
#define _GNU_SOURCE
#include "rollout.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "af-buf.h"
#include "af-mem.h"
#include "af-sha256.h"
#include "cmd.h"
#include "facts.h"
#include "fleet.h"
#include "fold.h"
#include "hccn-ops.h"
#include "hccn.h"
#include "hostlist.h"
#include "inv.h"
#include "pb-plan.h"
#include "pb.h"
#include "push.h"
#include "sess.h"
#include "st.h"

#ifndef AF_PLAYBOOK_DEFAULT
#define AF_PLAYBOOK_DEFAULT "playbooks/ascend.yaml"
#endif

#define RO_OUT_CAP          (64 * 1024)
#define RO_FACTS_TIMEOUT_MS 120000
#define RO_PKG_DIR          "/var/lib/ascend-fleet/packages"

/* Why a node failed, counted apart in the summary. */
enum ro_fail {
    RO_OK = 0,
    RO_F_UNREACHABLE,
    RO_F_STEP,
    RO_F_TIMEOUT,
    RO_F_VERIFY,
    RO_F_REBOOT,
    RO_F_COUNT,
};

static const char *const ro_fail_names[RO_F_COUNT] = {
    "ok",      "unreachable",   "step failed",
    "timeout", "verify failed", "reboot timeout",
};

struct ro_pkg {
    char *name;
    char *path;
    struct push_src *src; /* streamed to nodes, never mapped */
    size_t size;
    char sha[65];
};

enum nj_state {
    NJ_IDLE,
    NJ_WAIT_INSTALLER, /* resume: an installer from the killed run runs */
    NJ_STEPS,
    NJ_REBOOT_WAIT, /* reboot sent, waiting for the node to come back */
    NJ_SETTLE,      /* back with a new boot_id, stability window */
    NJ_RECONCILE,   /* resume: was rebooting when the run was killed */
    NJ_DONE,
    NJ_FAILED,
};

struct ro;

struct nj {
    struct ro *ro;
    size_t i; /* index into ro->fleet selection */
    const struct inv_node *node;
    struct pb_plan *plan;
    struct af_kv facts;
    int reachable;
    int batch;
    int needs_work;
    enum nj_state state;
    struct sess *sess;
    uv_timer_t timer;
    size_t phase;
    size_t step;   /* next step index within the phase */
    int phase_ran; /* a step of this phase ran */
    char *boot_before;
    char *boot_after;
    uint64_t reboot_deadline;
    uint64_t hard_deadline; /* resume: give up on an unreachable node */
    int resume_rebooting;
    int reboot_done;        /* resume saw the new boot_id: never reboot again */
    int resume_running;     /* a step was running when the run was killed */
    char *running_pkg;      /* its package path on the node */
    struct hop_peer *peers; /* hccn verify: sampled same-plane peers */
    size_t npeers;
    enum ro_fail fail;
    char reason[512];
    uint64_t started_ms;
};

struct ro {
    struct ro_opts eff; /* effective options (resume: from the state file) */
    uv_loop_t loop;
    struct fleet fleet;
    struct st *st;
    struct pb *pb;
    struct pb_pkgs pkgs;
    struct ro_pkg *rpkgs;
    size_t nrpkgs;
    int64_t run;
    struct nj *nj;
    size_t n;
    struct sched fan;
    size_t *batch_nodes;
    size_t batch_n;
    int tty; /* live status line on a terminal */
    uv_timer_t progress;
    int cur_batch, nbatches;
    int fails[RO_F_COUNT];
    size_t budget;
    struct hccn_plan *hccn; /* built when a builtin hccn phase is planned */
    int db_failed;          /* a state write failed: start no more steps */
    char db_why[512];       /* the first failed write and its error */
};

/* free() for strings we own but keep behind const pointers. */
static void
free_const(const void *p)
{
    free((void *)(uintptr_t)p);
}

void
ro_opts_init(struct ro_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->inventory = "./inventory.yaml";
    o->state = AF_DEFAULT_STATE;
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

/* ---- output --------------------------------------------------------- */

/*
 * Check a state write: on failure keep the first one (what was not
 * recorded and SQLite's message) and stop the run from starting anything
 * new. Returns r.
 */
static int
ro_db(struct ro *ro, int r, const char *what, const char *msg)
{
    if (r == 0 || ro->db_failed)
        return r;
    ro->db_failed = 1;
    snprintf(ro->db_why, sizeof(ro->db_why),
             "state write failed (%s): %s; no further step started", what,
             msg && *msg ? msg : st_errmsg(ro->st));
    return r;
}

static void ro_say(struct ro *ro,
                   const struct nj *j,
                   const char *kind,
                   const char *fmt,
                   ...) __attribute__((format(printf, 4, 5)));

/* One event: recorded in the state file, printed as a line (or JSON). */
static void
ro_say(
    struct ro *ro, const struct nj *j, const char *kind, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    time_t now = time(NULL);
    struct tm tm;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (ro->st != NULL && ro->run > 0)
        ro_db(ro,
              st_event(ro->st, ro->run, j ? j->node->name : NULL, kind, "%s",
                       msg),
              "event", NULL);
    if (ro->eff.json) {
        struct af_buf b;

        af_buf_init(&b, 0);
        af_buf_printf(&b, "{\"ts\":%lld,\"run\":%lld,\"node\":",
                      (long long)fleet_now_ms(), (long long)ro->run);
        af_buf_json_str(&b, j ? j->node->name : NULL);
        af_buf_puts(&b, ",\"kind\":");
        af_buf_json_str(&b, kind);
        af_buf_puts(&b, ",\"text\":");
        af_buf_json_str(&b, msg);
        af_buf_puts(&b, "}\n");
        fwrite(b.data, 1, b.len, stdout);
        af_buf_free(&b);
    } else {
        localtime_r(&now, &tm);
        printf("%s%02d:%02d:%02d %-8s %s\n", ro->tty ? "\r\033[K" : "",
               tm.tm_hour, tm.tm_min, tm.tm_sec, j ? j->node->name : "", msg);
    }
    fflush(stdout);
}

static size_t ro_failed_total(const struct ro *ro);

/*
 * The live line on a terminal: batch k/n, nodes per state, the failure
 * budget left and the slowest node still working.
 */
static void
ro_progress_cb(uv_timer_t *t)
{
    struct ro *ro = t->data;
    size_t i, running = 0, rebooting = 0, done = 0, failed, pending = 0;
    const struct nj *slow = NULL;
    uint64_t now = uv_now(&ro->loop);

    for (i = 0; i < ro->n; i++) {
        const struct nj *j = &ro->nj[i];

        if (!j->needs_work || !j->reachable)
            continue;
        switch (j->state) {
        case NJ_DONE:
            done++;
            break;
        case NJ_FAILED:
            break;
        case NJ_REBOOT_WAIT:
        case NJ_SETTLE:
        case NJ_RECONCILE:
            rebooting++;
            break;
        case NJ_IDLE:
            if (j->started_ms == 0) {
                pending++;
                break;
            }
            /* fall through */
        default:
            running++;
            break;
        }
        if (j->started_ms && j->state != NJ_DONE && j->state != NJ_FAILED &&
            (slow == NULL || j->started_ms < slow->started_ms))
            slow = j;
    }
    failed = ro_failed_total(ro);
    printf("\r\033[K[batch %d/%d] running %zu, rebooting %zu, done %zu, "
           "failed %zu, waiting %zu | budget left %zu",
           ro->cur_batch + 1, ro->nbatches, running, rebooting, done, failed,
           pending, failed > ro->budget ? 0 : ro->budget - failed);
    if (slow != NULL)
        printf(" | slowest %s %.0f s", slow->node->name,
               (double)(now - slow->started_ms) / 1000.0);
    fflush(stdout);
}

/* ---- options stored with the run -------------------------------------- */

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

static char *
ro_options_json(const struct ro_opts *o)
{
    struct af_buf b;
    char fan[16];
    int first = 1;
    char *inv = realpath(o->inventory, NULL);
    char *pb = realpath(o->playbook, NULL);
    char *pk = realpath(o->packages, NULL);

    snprintf(fan, sizeof(fan), "%d", o->fanout);
    af_buf_init(&b, 0);
    opt_json(&b, "inventory", inv ? inv : o->inventory, &first);
    opt_json(&b, "limit", o->limit, &first);
    opt_json(&b, "playbook", pb ? pb : o->playbook, &first);
    opt_json(&b, "packages", pk ? pk : o->packages, &first);
    opt_json(&b, "stages", o->stages, &first);
    opt_json(&b, "batch", o->batch, &first);
    opt_json(&b, "max_fail", o->max_fail, &first);
    opt_json(&b, "fanout", fan, &first);
    opt_json(&b, "host_keys",
             o->hostkeys == CONN_HOSTKEY_ACCEPT_NEW ? "accept-new" : "strict",
             &first);
    af_buf_puts(&b, "}");
    free(inv);
    free(pb);
    free(pk);
    return af_buf_steal(&b);
}

/* ---- batches and budget ------------------------------------------------ */

/*
 * Size of batch k for total nodes from a spec like "1,10%,25%" (the last
 * entry repeats). Percentages round down, with at least one node.
 */
int
ro_batch_size(const char *spec, size_t k, size_t total, size_t *out)
{
    char *dup = af_strdup(spec), *save = NULL, *tok;
    size_t i = 0;
    long last = -1;
    int pct = 0, lastpct = 0, r = 0;

    for (tok = strtok_r(dup, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save), i++) {
        char *end;
        long v = strtol(tok, &end, 10);

        pct = *end == '%';
        if (end == tok || (*end && !(pct && end[1] == '\0')) || v < 1 ||
            (pct && v > 100)) {
            r = -1;
            goto out;
        }
        last = v;
        lastpct = pct;
        if (i == k)
            break;
    }
    if (last < 0) {
        r = -1;
        goto out;
    }
    if (lastpct) {
        size_t s = total * (size_t)last / 100;

        *out = s ? s : 1;
    } else {
        *out = (size_t)last;
    }
out:
    free(dup);
    return r;
}

int
ro_parse_budget(const char *spec, size_t total, size_t *out)
{
    char *end;
    long v = strtol(spec, &end, 10);

    if (end == spec || v < 0)
        return -1;
    if (*end == '%' && end[1] == '\0' && v <= 100) {
        *out = total * (size_t)v / 100;
        return 0;
    }
    if (*end != '\0')
        return -1;
    *out = (size_t)v;
    return 0;
}

static size_t
ro_failed_total(const struct ro *ro)
{
    size_t s = 0;
    int f;

    for (f = RO_F_UNREACHABLE; f < RO_F_COUNT; f++)
        s += (size_t)ro->fails[f];
    return s;
}

/* ---- node job ------------------------------------------------------------ */

static void nj_next(struct nj *j);
static void nj_finish(struct nj *j);
static int ro_replan(struct ro *ro, struct nj *j, const struct af_kv *facts);

static const struct pb_plan_step *
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

static void nj_fail(struct nj *j, enum ro_fail f, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
nj_fail(struct nj *j, enum ro_fail f, const char *fmt, ...)
{
    va_list ap;
    struct ro *ro = j->ro;
    struct af_err e = {0};

    if (j->state == NJ_FAILED || j->state == NJ_DONE)
        return;
    va_start(ap, fmt);
    vsnprintf(j->reason, sizeof(j->reason), fmt, ap);
    va_end(ap);
    j->fail = f;
    j->state = NJ_FAILED;
    ro->fails[f]++;
    ro_db(ro,
          st_node_upsert(ro->st, ro->run, j->node->name, NULL, -1,
                         f == RO_F_UNREACHABLE ? ST_NODE_UNREACHABLE
                                               : ST_NODE_FAILED,
                         j->reason, &e),
          "node failure", e.msg);
    ro_say(ro, j, "failed", "FAILED (%s): %s", ro_fail_names[f], j->reason);
    nj_finish(j);
}

static void
nj_timer_closed(uv_handle_t *h)
{
    struct nj *j = h->data;

    sched_slot_done(&j->ro->fan);
}

static void
nj_sess_closed_final(struct sess *s, void *data)
{
    struct nj *j = data;

    (void)s;
    j->sess = NULL;
    uv_close((uv_handle_t *)&j->timer, nj_timer_closed);
}

/* The job is over: close the session, then the timer, then free a slot. */
static void
nj_finish(struct nj *j)
{
    uv_timer_stop(&j->timer);
    if (j->sess != NULL) {
        struct sess *s = j->sess;

        j->sess = NULL;
        sess_close(s, nj_sess_closed_final);
        return;
    }
    uv_close((uv_handle_t *)&j->timer, nj_timer_closed);
}

static void
nj_done(struct nj *j)
{
    struct ro *ro = j->ro;
    struct af_err e = {0};

    j->state = NJ_DONE;
    ro_db(ro,
          st_node_upsert(ro->st, ro->run, j->node->name, NULL, -1, ST_NODE_DONE,
                         NULL, &e),
          "node done", e.msg);
    ro_say(ro, j, "done", "done (%.1f s)",
           (double)(uv_now(&ro->loop) - j->started_ms) / 1000.0);
    nj_finish(j);
}

/* A request on the node's agent failed: classify and fail the node. */
static void
nj_agent_fail(struct nj *j, int status, const char *what)
{
    nj_fail(j, status == AF_ETIMEOUT ? RO_F_TIMEOUT : RO_F_UNREACHABLE,
            "%s: %s", what, agc_error(sess_agc(j->sess)));
}

static const struct ro_pkg *
ro_pkg_find(const struct ro *ro, const char *name)
{
    size_t i;

    for (i = 0; i < ro->nrpkgs; i++)
        if (strcmp(ro->rpkgs[i].name, name) == 0)
            return &ro->rpkgs[i];
    return NULL;
}

static int ro_pkg_load(struct ro *ro, const char *name);

/*
 * The package, mapped and hashed; loaded on first use (a node re-planned
 * after resume may need one no plan needed at start). NULL if unreadable.
 */
static const struct ro_pkg *
ro_pkg_get(struct ro *ro, const char *name)
{
    const struct ro_pkg *p = ro_pkg_find(ro, name);

    if (p == NULL && ro_pkg_load(ro, name) == 0)
        p = ro_pkg_find(ro, name);
    return p;
}

static void nj_run_step(struct nj *j);

static void
nj_push_done(int status, const struct push_result *r, void *data)
{
    struct nj *j = data;
    const struct pb_plan_step *ps = nj_cur_step(j);

    if (status == AF_EREMOTE || status == AF_EINPUT) {
        nj_fail(j, RO_F_STEP, "%s: pushing %s failed: %s", ps->name,
                ps->package, r->error);
        return;
    }
    if (status < 0) {
        nj_agent_fail(j, status, "pushing a package");
        return;
    }
    ro_say(j->ro, j, "push", "%s: pushed %s (%.1f MiB in %.1f s%s)", ps->name,
           ps->package, (double)r->sent / 1048576.0,
           (double)r->duration_ms / 1000.0, r->offset > 0 ? ", resumed" : "");
    nj_run_step(j);
}

static void
nj_stat_answer(struct agc *a, int status, const struct af_kv *body, void *data)
{
    struct nj *j = data;
    const struct pb_plan_step *ps = nj_cur_step(j);
    const struct ro_pkg *p = ro_pkg_get(j->ro, ps->package);
    const char *sha = af_kv_get(body, "sha256");

    if (status < 0 && status != AF_EREMOTE) {
        nj_agent_fail(j, status, "checking a package");
        return;
    }
    if (status == 0 && sha != NULL && strcmp(sha, p->sha) == 0) {
        nj_run_step(j); /* already there: nothing to push */
        return;
    }
    push_start(a, p->src, ps->package_path, 0600, 30 * 60 * 1000, nj_push_done,
               j);
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

static void
nj_run_answer(struct agc *a, int status, const struct af_kv *body, void *data)
{
    struct af_err e = {0};
    struct nj *j = data;
    struct ro *ro = j->ro;
    const struct pb_plan_step *ps = nj_cur_step(j);
    const char *out = af_kv_get(body, "stdout");
    const char *err = af_kv_get(body, "stderr");
    struct af_buf tail;
    int rc;

    (void)a;
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
    if (af_kv_get(body, "timed_out") &&
        strcmp(af_kv_get(body, "timed_out"), "1") == 0) {
        ro_db(ro,
              st_step_set(ro->st, ro->run, j->node->name, nj_stage(j), ps->name,
                          ST_STEP_FAILED, rc, ps->text,
                          tail.data ? tail.data : "", tail.len, 0, &e),
              "step result", e.msg);
        af_buf_free(&tail);
        nj_fail(j, RO_F_TIMEOUT, "%s: timed out after %d s", ps->name,
                ps->timeout);
        return;
    }
    if (!nj_code_ok(ps, rc)) {
        const char *last = tail.data ? tail.data : "";
        size_t len = tail.len;

        ro_db(ro,
              st_step_set(ro->st, ro->run, j->node->name, nj_stage(j), ps->name,
                          ST_STEP_FAILED, rc, ps->text, last, len, 0, &e),
              "step result", e.msg);
        /* Name the failing step and the command's last line. */
        while (len > 0 && (last[len - 1] == '\n' || last[len - 1] == ' '))
            len--;
        {
            size_t start = len;

            while (start > 0 && last[start - 1] != '\n')
                start--;
            nj_fail(j, RO_F_STEP, "%s: exit %d: %.*s", ps->name, rc,
                    (int)(len - start), last + start);
        }
        af_buf_free(&tail);
        return;
    }
    /* Ran: stays "running" (with its exit code) until verified. */
    if (ro_db(ro,
              st_step_set(ro->st, ro->run, j->node->name, nj_stage(j), ps->name,
                          ST_STEP_RUNNING, rc, ps->text,
                          tail.data ? tail.data : "", tail.len, 0, &e),
              "step result", e.msg) != 0) {
        af_buf_free(&tail);
        nj_fail(j, RO_F_STEP, "%s: %s", ps->name, ro->db_why);
        return;
    }
    af_buf_free(&tail);
    ro_say(ro, j, "step", "%s: %s ok (exit %d)", ps->name, ps->text, rc);
    j->phase_ran = 1;
    j->step++;
    nj_next(j);
}

/* Package in place (or none needed): run the step's command. */
static void
nj_run_step(struct nj *j)
{
    const struct pb_plan_step *ps = nj_cur_step(j);
    const char **words = af_calloc(ps->argc + 3, sizeof(*words));
    char tmo[16], cap[16];
    size_t k;

    snprintf(tmo, sizeof(tmo), "%d", ps->timeout > 0 ? ps->timeout : 600);
    snprintf(cap, sizeof(cap), "%d", RO_OUT_CAP);
    words[0] = "run";
    words[1] = tmo;
    words[2] = cap;
    for (k = 0; k < ps->argc; k++)
        words[3 + k] = ps->argv[k];
    agc_request(sess_agc(j->sess), words, ps->argc + 3, NULL, 0,
                (uint64_t)(ps->timeout > 0 ? ps->timeout : 600) * 1000 + 30000,
                nj_run_answer, j);
    free(words);
}

/* Start the current step: durable "running" first, then push, then run. */
static void
nj_start_step(struct nj *j)
{
    struct ro *ro = j->ro;
    const struct pb_plan_step *ps = nj_cur_step(j);
    struct af_err e;

    if (ro->db_failed) {
        nj_fail(j, RO_F_STEP, "%s not started: %s", ps->name, ro->db_why);
        return;
    }
    if (ro_db(ro,
              st_step_set(ro->st, ro->run, j->node->name, nj_stage(j), ps->name,
                          ST_STEP_RUNNING, ST_NO_EXIT, ps->text, NULL, 0, 0,
                          &e),
              "step start", e.msg) != 0) {
        nj_fail(j, RO_F_STEP, "cannot record step %s: %s", ps->name, e.msg);
        return;
    }
    ro_say(ro, j, "step", "%s: %s", ps->name, ps->text);
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

static void nj_verify(struct nj *j, const struct af_kv *facts);

/* Facts for verification (no reboot needed, or after the reboot). */
static void
nj_verify_facts(struct agc *a, int status, const struct af_kv *body, void *data)
{
    struct nj *j = data;

    (void)a;
    if (status < 0) {
        nj_agent_fail(j, status, "facts after the phase");
        return;
    }
    nj_verify(j, body);
}

static void
nj_request_facts(struct nj *j, agc_resp_cb cb)
{
    const char *words[2] = {"facts", j->node->install_path};

    agc_request(sess_agc(j->sess), words, 2, NULL, 0, RO_FACTS_TIMEOUT_MS, cb,
                j);
}

/* Check every step of the phase that ran (or awaited a reboot). */
static void
nj_verify(struct nj *j, const struct af_kv *facts)
{
    struct af_err e = {0};
    struct ro *ro = j->ro;
    const struct pb_plan_phase *ph = &j->plan->phases[j->phase];
    size_t k;

    af_kv_free(&j->facts);
    af_kv_init(&j->facts);
    for (k = 0; k < facts->n; k++)
        af_kv_add(&j->facts, facts->keys[k], facts->vals[k]);
    for (k = 0; k < ph->n; k++) {
        const struct pb_plan_step *ps = &j->plan->steps[ph->first + k];
        char *why = NULL;

        if (ps->action == PB_ACT_SKIP && !ps->reboot_pending)
            continue;
        if (!pb_plan_step_verify(ps, facts, &why)) {
            ro_db(ro,
                  st_step_set(ro->st, ro->run, j->node->name, ph->stage,
                              ps->name, ST_STEP_FAILED, ST_NO_EXIT, ps->text,
                              why, why ? strlen(why) : 0, 0, &e),
                  "verify result", e.msg);
            nj_fail(j, RO_F_VERIFY, "%s: verify failed: %s", ps->name,
                    why ? why : "?");
            free(why);
            return;
        }
        free(why);
        if (ro_db(ro,
                  st_step_set(ro->st, ro->run, j->node->name, ph->stage,
                              ps->name,
                              ps->action == PB_ACT_SKIP ? ST_STEP_SKIPPED
                                                        : ST_STEP_DONE,
                              ST_NO_EXIT, ps->text, NULL, 0, 0, &e),
                  "verify result", e.msg) != 0) {
            nj_fail(j, RO_F_VERIFY, "%s: %s", ps->name, ro->db_why);
            return;
        }
    }
    if (ph->n > 0)
        ro_say(ro, j, "verify", "%s: verified", ph->stage);
    j->phase++;
    j->step = 0;
    j->phase_ran = 0;
    if (ro_db(ro,
              st_node_upsert(ro->st, ro->run, j->node->name, NULL, -1,
                             ST_NODE_RUNNING, NULL, &e),
              "node status", e.msg) != 0) {
        nj_fail(j, RO_F_VERIFY, "%s", ro->db_why);
        return;
    }
    nj_next(j);
}

/* ---- reboot ---------------------------------------------------------- */

static void nj_probe(struct nj *j);
static void nj_reconcile_facts(struct agc *a,
                               int status,
                               const struct af_kv *body,
                               void *data);
static void nj_replan_facts(struct agc *a,
                            int status,
                            const struct af_kv *body,
                            void *data);

static void
nj_timer_cb(uv_timer_t *t)
{
    struct nj *j = t->data;

    if (j->state == NJ_REBOOT_WAIT || j->state == NJ_RECONCILE)
        nj_probe(j);
    else if (j->state == NJ_SETTLE)
        nj_request_facts(j, nj_verify_facts);
    else if (j->state == NJ_WAIT_INSTALLER)
        nj_next(j);
}

static void
nj_wait_more(struct nj *j)
{
    struct ro *ro = j->ro;
    uint64_t now = uv_now(&ro->loop);

    if (j->state == NJ_RECONCILE) {
        if (now >= j->hard_deadline) {
            nj_fail(j, RO_F_UNREACHABLE,
                    "not reachable within %d s of "
                    "resuming",
                    j->node->reboot_timeout);
            return;
        }
        uv_timer_start(&j->timer, nj_timer_cb, (uint64_t)ro->eff.reboot_poll_ms,
                       0);
        return;
    }
    if (now >= j->reboot_deadline) {
        nj_fail(j, RO_F_REBOOT,
                "did not come back with a new boot_id within %d s",
                j->node->reboot_timeout);
        return;
    }
    uv_timer_start(&j->timer, nj_timer_cb, (uint64_t)ro->eff.reboot_poll_ms, 0);
}

static void
nj_probe_closed(struct sess *s, void *data)
{
    struct nj *j = data;

    (void)s;
    j->sess = NULL;
    nj_wait_more(j);
}

static void
nj_back(struct nj *j)
{
    struct ro *ro = j->ro;
    struct af_err e = {0};

    if (ro_db(ro,
              st_node_set_boot(ro->st, ro->run, j->node->name, j->boot_before,
                               j->boot_after, &e),
              "boot ids", e.msg) != 0 ||
        ro_db(ro,
              st_node_upsert(ro->st, ro->run, j->node->name, NULL, -1,
                             ST_NODE_VERIFYING, NULL, &e),
              "node status", e.msg) != 0) {
        nj_fail(j, RO_F_REBOOT, "%s", ro->db_why);
        return;
    }
    ro_say(ro, j, "reboot", "back with boot_id %.8s (was %.8s)", j->boot_after,
           j->boot_before ? j->boot_before : "?");
    j->state = NJ_SETTLE;
    uv_timer_start(&j->timer, nj_timer_cb, (uint64_t)ro->eff.settle_s * 1000,
                   0);
}

static void
nj_probe_facts(struct agc *a, int status, const struct af_kv *body, void *data)
{
    struct nj *j = data;
    const char *boot = af_kv_get(body, "boot_id");

    (void)a;
    if (status == 0 && boot != NULL && *boot &&
        (j->boot_before == NULL || strcmp(boot, j->boot_before) != 0)) {
        free(j->boot_after);
        j->boot_after = af_strdup(boot);
        nj_back(j);
        return;
    }
    /* Down, or the same boot: the reboot has not happened yet. */
    {
        struct sess *s = j->sess;

        j->sess = NULL;
        sess_close(s, nj_probe_closed);
    }
}

static void
nj_probe_ready(struct sess *s, int status)
{
    struct nj *j = sess_data(s);

    if (status < 0) {
        /* Down, as a rebooting node should be for a while. */
        j->sess = NULL;
        sess_close(s, nj_probe_closed);
        return;
    }
    j->sess = s;
    nj_request_facts(j, j->state == NJ_RECONCILE ? nj_reconcile_facts
                                                 : nj_probe_facts);
}

static void
nj_probe(struct nj *j)
{
    fleet_sess_open(&j->ro->fleet, j->node, nj_probe_ready, j);
}

static void
nj_reboot_sent_closed(struct sess *s, void *data)
{
    struct nj *j = data;

    (void)s;
    j->sess = NULL;
    nj_wait_more(j);
}

static void
nj_reboot_answer(struct agc *a,
                 int status,
                 const struct af_kv *body,
                 void *data)
{
    struct nj *j = data;
    struct sess *s = j->sess;

    (void)a;
    if (status < 0) {
        nj_fail(j, status == AF_ETIMEOUT ? RO_F_TIMEOUT : RO_F_REBOOT,
                "reboot request failed: %s",
                status == AF_EREMOTE && af_kv_get(body, "error")
                    ? af_kv_get(body, "error")
                    : agc_error(a));
        return;
    }
    ro_db(j->ro,
          st_event(j->ro->st, j->ro->run, j->node->name, "reboot-sent",
                   "boot_id %s", j->boot_before),
          "event", NULL);
    j->state = NJ_REBOOT_WAIT;
    j->sess = NULL;
    sess_close(s, nj_reboot_sent_closed);
}

/* Fresh boot_id, durable "rebooting", then the reboot request. */
static void
nj_reboot_facts(struct agc *a, int status, const struct af_kv *body, void *data)
{
    struct nj *j = data;
    struct ro *ro = j->ro;
    const char *boot = af_kv_get(body, "boot_id");
    const char **words;
    size_t n = 0;
    struct af_err e;

    if (status < 0 || boot == NULL) {
        nj_agent_fail(j, status < 0 ? status : AF_EPROTO,
                      "facts before the reboot");
        return;
    }
    free(j->boot_before);
    j->boot_before = af_strdup(boot);
    j->reboot_deadline =
        uv_now(&ro->loop) + (uint64_t)j->node->reboot_timeout * 1000;
    /* Write-ahead: "rebooting" with the old boot_id before the request. */
    if (st_node_set_boot(ro->st, ro->run, j->node->name, boot, NULL, &e) != 0 ||
        st_node_upsert(ro->st, ro->run, j->node->name, NULL, -1,
                       ST_NODE_REBOOTING, NULL, &e) != 0) {
        nj_fail(j, RO_F_REBOOT, "cannot record the reboot: %s", e.msg);
        return;
    }
    ro_say(ro, j, "reboot", "rebooting (boot_id %.8s)", boot);
    /* The node's own reboot command (inventory), split on blanks. */
    {
        char *cmd = af_strdup(j->node->reboot_command), *save = NULL, *t;

        words = af_calloc(strlen(cmd) + 3, sizeof(*words));
        words[n++] = "reboot";
        words[n++] = "1";
        for (t = strtok_r(cmd, " \t", &save); t;
             t = strtok_r(NULL, " \t", &save))
            words[n++] = t;
        agc_request(a, words, n, NULL, 0, 60000, nj_reboot_answer, j);
        free(cmd);
    }
    free(words);
}

/* ---- the driver -------------------------------------------------------- */

/* Is step k of the current phase to be run? */
static int
nj_runnable(const struct pb_plan_step *ps)
{
    return ps->action == PB_ACT_INSTALL || ps->action == PB_ACT_UPGRADE ||
           ps->action == PB_ACT_RUN;
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

/* ---- builtin stages ------------------------------------------------- */

static void
nj_hccn_verified(struct sess *s, struct hop_result *r, void *data)
{
    struct nj *j = data;
    struct ro *ro = j->ro;
    size_t k;

    (void)s;
    if (r->status != 0) {
        nj_fail(j, RO_F_VERIFY, "hccn verify: %s", r->error);
        hop_result_free(r);
        free(r);
        return;
    }
    for (k = 0; k < r->nnpu; k++) {
        if (r->npus[k].status != HOP_VERIFIED) {
            nj_fail(j, RO_F_VERIFY, "hccn verify: NPU %d: %s", r->npus[k].npu,
                    r->npus[k].detail);
            hop_result_free(r);
            free(r);
            return;
        }
    }
    ro_say(ro, j, "verify", "hccn: %zu NPUs verified", r->nnpu);
    hop_result_free(r);
    free(r);
    j->phase_ran = 1;
    nj_next(j);
}

static void
nj_hccn_applied(struct sess *s, struct hop_result *r, void *data)
{
    struct nj *j = data;
    struct ro *ro = j->ro;
    struct hop_opts ho;
    size_t k;

    if (r->status != 0) {
        nj_fail(j, RO_F_STEP, "hccn apply: %s", r->error);
        hop_result_free(r);
        free(r);
        return;
    }
    for (k = 0; k < r->nnpu; k++) {
        if (r->npus[k].status == HOP_FAILED ||
            r->npus[k].status == HOP_REFUSED) {
            nj_fail(j, RO_F_STEP, "hccn apply: NPU %d: %s", r->npus[k].npu,
                    r->npus[k].detail);
            hop_result_free(r);
            free(r);
            return;
        }
    }
    ro_say(ro, j, "step",
           "hccn: %zu of %zu NPUs set, the rest already as "
           "planned",
           r->nchanged, r->nnpu);
    hop_result_free(r);
    free(r);
    memset(&ho, 0, sizeof(ho));
    ho.st = ro->st;
    hop_verify(s, hccn_plan_get(ro->hccn, j->node->index, 0),
               hccn_plan_npus(ro->hccn), j->peers, j->npeers, &ho,
               nj_hccn_verified, j);
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
    /*
     * Ping only nodes that have their addresses by now: this batch and the
     * earlier ones (later batches are not configured yet). The first node
     * of a rolling rollout has no peer; later ones ping back to it.
     */
    {
        size_t *idx = af_calloc(ro->n ? ro->n : 1, sizeof(*idx));
        size_t m = 0, me = 0, x;

        for (x = 0; x < ro->n; x++) {
            const struct nj *o = &ro->nj[x];

            if (o != j && (!o->reachable || o->batch < 0 ||
                           o->batch > j->batch || o->state == NJ_FAILED))
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
    memset(&ho, 0, sizeof(ho));
    ho.st = ro->st;
    hop_apply(j->sess, hccn_plan_get(ro->hccn, j->node->index, 0),
              hccn_plan_npus(ro->hccn), &ho, nj_hccn_applied, j);
}

static void
nj_next(struct nj *j)
{
    if (j->state == NJ_FAILED || j->state == NJ_DONE)
        return;
    if (j->running_pkg != NULL) {
        /* Resume: an installer of the killed run may still be working
         * (the agent compares every process's argv with the exact path). */
        const char *words[2] = {"running", j->running_pkg};

        agc_request(sess_agc(j->sess), words, 2, NULL, 0, 30000,
                    nj_wait_installer_answer, j);
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
        /* Phase complete. */
        if (ph->reboot && j->reboot_done && !j->phase_ran) {
            /* The reboot of the killed run happened: only verify. */
            j->reboot_done = 0;
            nj_request_facts(j, nj_verify_facts);
            return;
        }
        if (ph->reboot) {
            nj_request_facts(j, nj_reboot_facts);
            return;
        }
        if (j->phase_ran) {
            nj_request_facts(j, nj_verify_facts);
            return;
        }
        j->phase++;
        j->step = 0;
    }
    nj_done(j);
}

/* Decide again from fresh facts and go on from the first phase. */
static void
nj_replan_facts(struct agc *a, int status, const struct af_kv *body, void *data)
{
    struct af_err e = {0};
    struct nj *j = data;
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
    if (ro_replan(j->ro, j, &j->facts) != 0) {
        nj_fail(j, RO_F_STEP, "cannot plan the node again");
        return;
    }
    if (j->plan->blocked) {
        nj_fail(j, RO_F_STEP, "a step is blocked after resume");
        return;
    }
    /* Steps the new facts show finished are done, not pending. */
    for (k = 0; k < j->plan->n_steps; k++) {
        const struct pb_plan_step *ps = &j->plan->steps[k];
        struct st_step old;

        if (ps->action != PB_ACT_SKIP || ps->reboot_pending)
            continue;
        if (st_step_get(j->ro->st, j->ro->run, j->node->name,
                        j->plan->phases[ps->phase].stage, ps->name, &old,
                        NULL) != 0)
            continue;
        if (old.status == ST_STEP_PENDING || old.status == ST_STEP_RUNNING)
            ro_db(j->ro,
                  st_step_set(j->ro->st, j->ro->run, j->node->name,
                              j->plan->phases[ps->phase].stage, ps->name,
                              ST_STEP_DONE, ST_NO_EXIT, old.action, NULL, 0, 0,
                              &e),
                  "step done", e.msg);
        st_step_clear(&old);
    }
    j->phase = 0;
    j->step = 0;
    j->phase_ran = 0;
    j->state = NJ_STEPS;
    nj_next(j);
}

/*
 * Resume of a node that was rebooting when the run was killed: a new
 * boot_id proves the reboot happened (never send a second one); the same
 * boot_id for a grace period means it was never sent, and the plan (which
 * shows the reboot still pending) sends exactly one.
 */
static void
nj_reconcile_facts(struct agc *a,
                   int status,
                   const struct af_kv *body,
                   void *data)
{
    struct af_err e = {0};
    struct nj *j = data;
    struct ro *ro = j->ro;
    const char *boot = af_kv_get(body, "boot_id");

    if (status < 0) {
        struct sess *s = j->sess;

        j->sess = NULL;
        sess_close(s, nj_probe_closed);
        return;
    }
    if (boot && j->boot_before && strcmp(boot, j->boot_before) != 0) {
        ro_say(ro, j, "resume",
               "came back from its reboot (boot_id %.8s, "
               "was %.8s)",
               boot, j->boot_before);
        ro_db(ro,
              st_node_set_boot(ro->st, ro->run, j->node->name, j->boot_before,
                               boot, &e),
              "boot ids", e.msg);
        j->reboot_done = 1;
    } else if (uv_now(&ro->loop) < j->reboot_deadline) {
        struct sess *s = j->sess;

        /* The reboot may still be on its way: do not send another. */
        j->sess = NULL;
        sess_close(s, nj_probe_closed);
        return;
    } else {
        ro_say(ro, j, "resume", "never went down; the plan decides again");
    }
    j->resume_rebooting = 0;
    nj_replan_facts(a, 0, body, j);
}

static void
nj_ready(struct sess *s, int status)
{
    struct nj *j = sess_data(s);

    if (status < 0) {
        if (j->state == NJ_RECONCILE) {
            sess_close(s, nj_probe_closed);
            return;
        }
        j->sess = s;
        nj_fail(j, sess_timed_out(s) ? RO_F_TIMEOUT : RO_F_UNREACHABLE, "%s",
                sess_error(s));
        return;
    }
    j->sess = s;
    nj_next(j);
}

static void
nj_start(struct sched *fan, size_t k, void *data)
{
    struct af_err e = {0};
    struct ro *ro = data;
    struct nj *j = &ro->nj[ro->batch_nodes[k]];

    (void)fan;
    uv_timer_init(&ro->loop, &j->timer);
    j->timer.data = j;
    j->started_ms = uv_now(&ro->loop);
    ro_db(ro,
          st_node_upsert(ro->st, ro->run, j->node->name, NULL, -1,
                         ST_NODE_RUNNING, NULL, &e),
          "node status", e.msg);
    if (j->resume_rebooting) {
        j->state = NJ_RECONCILE;
        j->reboot_deadline = uv_now(&ro->loop) + 30000;
        j->hard_deadline =
            uv_now(&ro->loop) + (uint64_t)j->node->reboot_timeout * 1000;
        nj_probe(j);
        return;
    }
    fleet_sess_open(&ro->fleet, j->node, nj_ready, j);
}

/* ---- planning ------------------------------------------------------------ */

static int
ro_replan(struct ro *ro, struct nj *j, const struct af_kv *facts)
{
    struct pb_plan_input in;
    struct af_err e;
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
    r = pb_plan_node(ro->pb, &in, &j->plan, &e);
    af_kv_free(&vars);
    if (r != 0)
        fprintf(stderr, "ascend-fleet: %s: %s\n", j->node->name, e.msg);
    return r;
}

static int
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

static void
ro_print_plan(struct ro *ro)
{
    struct fold *f = fold_new();
    struct af_buf key;
    size_t i, k, g;

    af_buf_init(&key, 0);
    for (i = 0; i < ro->n; i++) {
        struct nj *j = &ro->nj[i];

        if (!j->reachable) {
            af_buf_reset(&key);
            af_buf_printf(&key, "%-14s unreachable (%s)", "-", j->reason);
            fold_add(f, key.data, j->node->name);
            continue;
        }
        if (j->plan == NULL) {
            af_buf_reset(&key);
            af_buf_printf(&key,
                          "%-14s was rebooting: wait for it, then "
                          "plan again",
                          "-");
            fold_add(f, key.data, j->node->name);
            continue;
        }
        for (k = 0; k < j->plan->n_phases; k++) {
            const struct pb_plan_phase *ph = &j->plan->phases[k];
            size_t x;

            if (ph->builtin != NULL) {
                af_buf_reset(&key);
                af_buf_printf(&key, "%-14s apply + verify the address plan",
                              ph->stage);
                fold_add(f, key.data, j->node->name);
                continue;
            }
            for (x = 0; x < ph->n; x++) {
                const struct pb_plan_step *ps = &j->plan->steps[ph->first + x];

                af_buf_reset(&key);
                af_buf_printf(&key, "%-14s %s%s", ps->name, ps->text,
                              ps->reboot_pending ? " (reboot pending)" : "");
                fold_add(f, key.data, j->node->name);
            }
        }
    }
    printf("Plan (stages %s):\n", ro->eff.stages);
    for (g = 0; g < fold_groups(f); g++) {
        char *nodes = fold_nodes(f, g);

        printf("  %s: %s\n", fold_key(f, g), nodes);
        free(nodes);
    }
    fold_free(f);
    af_buf_free(&key);
}

/* Open and hash one package of the packages directory (push.h). */
static int
ro_pkg_load(struct ro *ro, const char *name)
{
    struct ro_pkg *rp;
    struct push_src *src = NULL;
    struct af_err e = {0, ""};
    char *path = af_asprintf("%s/%s", ro->eff.packages, name);

    if (push_src_open(path, &src, &e) != 0) {
        fprintf(stderr, "ascend-fleet: %s\n", e.msg);
        free(path);
        return -1;
    }
    ro->rpkgs = af_reallocarray(ro->rpkgs, ro->nrpkgs + 1, sizeof(*ro->rpkgs));
    rp = &ro->rpkgs[ro->nrpkgs++];
    memset(rp, 0, sizeof(*rp));
    rp->name = af_strdup(name);
    rp->path = path;
    rp->src = src;
    rp->size = (size_t)push_src_size(src);
    snprintf(rp->sha, sizeof(rp->sha), "%s", push_src_sha(src));
    return 0;
}

/* Map and hash every package some plan uses, before anything runs. */
static int
ro_load_packages(struct ro *ro)
{
    size_t i, k;

    for (i = 0; i < ro->n; i++) {
        const struct pb_plan *p = ro->nj[i].plan;

        for (k = 0; p != NULL && k < p->n_steps; k++) {
            const struct pb_plan_step *ps = &p->steps[k];

            if (!nj_runnable(ps) || ps->package == NULL ||
                ro_pkg_find(ro, ps->package) != NULL)
                continue;
            if (ro_pkg_load(ro, ps->package) != 0)
                return -1;
        }
    }
    return 0;
}

static void
ro_free(struct ro *ro)
{
    size_t i;

    for (i = 0; i < ro->nrpkgs; i++) {
        push_src_free(ro->rpkgs[i].src);
        free(ro->rpkgs[i].name);
        free(ro->rpkgs[i].path);
    }
    free(ro->rpkgs);
    for (i = 0; ro->nj && i < ro->n; i++) {
        pb_plan_free(ro->nj[i].plan);
        af_kv_free(&ro->nj[i].facts);
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
}

/* Record what each node will do before anything runs. */
static int
ro_record_plan(struct ro *ro, struct af_err *e)
{
    size_t i, k;
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
        r = st_node_upsert(
            ro->st, ro->run, j->node->name, j->node->address, j->batch,
            j->plan->blocked ? ST_NODE_BLOCKED
                             : (j->needs_work ? ST_NODE_PENDING : ST_NODE_DONE),
            j->plan->blocked ? "a step is blocked" : NULL, e);
        if (r != 0)
            goto fail;
        for (k = 0; k < j->plan->n_steps; k++) {
            const struct pb_plan_step *ps = &j->plan->steps[k];
            enum st_step_status s =
                ps->action == PB_ACT_BLOCKED
                    ? ST_STEP_BLOCKED
                    : (ps->action == PB_ACT_SKIP && !ps->reboot_pending
                           ? ST_STEP_SKIPPED
                           : ST_STEP_PENDING);
            struct st_step old;

            /*
             * Resume: steps already done stay done, and a step the killed
             * run started whose target the facts now show is done too.
             */
            if (st_step_get(ro->st, ro->run, j->node->name,
                            j->plan->phases[ps->phase].stage, ps->name, &old,
                            NULL) == 0) {
                int keep = old.status == ST_STEP_DONE;

                if (old.status == ST_STEP_RUNNING && s == ST_STEP_SKIPPED)
                    s = ST_STEP_DONE;
                st_step_clear(&old);
                if (keep)
                    continue;
            }
            r = st_step_set(ro->st, ro->run, j->node->name,
                            j->plan->phases[ps->phase].stage, ps->name, s,
                            ST_NO_EXIT, ps->text, NULL, 0, 0, e);
            if (r != 0)
                goto fail;
        }
    }
    return st_commit(ro->st, e);
fail:
    st_rollback(ro->st, NULL);
    return r;
}

static int
ro_confirm(struct ro *ro)
{
    char ans[16];

    if (ro->eff.yes)
        return 1;
    if (!isatty(STDIN_FILENO)) {
        fprintf(stderr, "ascend-fleet rollout: not on a terminal: pass --yes "
                        "to start the rollout\n");
        return 0;
    }
    printf("Start the rollout on these nodes? [y/N] ");
    fflush(stdout);
    if (fgets(ans, sizeof(ans), stdin) == NULL)
        return 0;
    return ans[0] == 'y' || ans[0] == 'Y';
}

/* ---- main entry ---------------------------------------------------------- */

static int
ro_setup_resume(struct ro *ro, int64_t run, struct af_err *e)
{
    struct st_run r;
    struct af_kv kv;
    int rc;

    if ((rc = st_run_get(ro->st, run, &r, e)) != 0)
        return rc;
    af_kv_init(&kv);
    if ((rc = st_run_options(ro->st, run, &kv, e)) != 0) {
        st_run_clear(&r);
        af_kv_free(&kv);
        return rc;
    }
#define TAKE(field, key)             \
    if (af_kv_get(&kv, key) != NULL) \
        ro->eff.field = af_strdup(af_kv_get(&kv, key));
    TAKE(inventory, "inventory");
    TAKE(limit, "limit");
    TAKE(playbook, "playbook");
    TAKE(packages, "packages");
    TAKE(stages, "stages");
    TAKE(batch, "batch");
    TAKE(max_fail, "max_fail");
#undef TAKE
    if (af_kv_get(&kv, "fanout"))
        ro->eff.fanout = atoi(af_kv_get(&kv, "fanout"));
    if (af_kv_get(&kv, "host_keys") &&
        strcmp(af_kv_get(&kv, "host_keys"), "accept-new") == 0)
        ro->eff.hostkeys = CONN_HOSTKEY_ACCEPT_NEW;
    st_run_clear(&r);
    af_kv_free(&kv);
    return 0;
}

static void
ro_free_eff(struct ro *ro, int resumed)
{
    if (!resumed)
        return;
    free_const(ro->eff.inventory);
    free_const(ro->eff.limit);
    free_const(ro->eff.playbook);
    free_const(ro->eff.packages);
    free_const(ro->eff.stages);
    free_const(ro->eff.batch);
    free_const(ro->eff.max_fail);
}

/* Nodes recorded by the run being resumed: status and boot ids. */
static void
ro_apply_resume(struct ro *ro)
{
    struct st_node *nodes = NULL;
    struct st_step *steps = NULL;
    size_t n = 0, ns = 0, i, k;

    if (st_node_list(ro->st, ro->run, &nodes, &n, NULL) != 0)
        return;
    for (k = 0; k < n; k++) {
        for (i = 0; i < ro->n; i++) {
            struct nj *j = &ro->nj[i];

            if (strcmp(j->node->name, nodes[k].node) != 0)
                continue;
            j->batch = nodes[k].batch;
            if (nodes[k].status == ST_NODE_REBOOTING &&
                nodes[k].boot_id_before != NULL) {
                j->resume_rebooting = 1;
                j->boot_before = af_strdup(nodes[k].boot_id_before);
            }
        }
    }
    if (st_step_list(ro->st, ro->run, NULL, &steps, &ns, NULL) == 0) {
        for (k = 0; k < ns; k++) {
            if (steps[k].status != ST_STEP_RUNNING ||
                steps[k].exit_code != ST_NO_EXIT)
                continue;
            /* Caught mid-step: wait for a leftover installer first. */
            for (i = 0; i < ro->n; i++) {
                struct nj *j = &ro->nj[i];
                size_t s;

                if (strcmp(j->node->name, steps[k].node) != 0 ||
                    j->plan == NULL)
                    continue;
                for (s = 0; s < j->plan->n_steps; s++)
                    if (strcmp(j->plan->steps[s].name, steps[k].step) == 0 &&
                        j->plan->steps[s].package_path != NULL &&
                        j->running_pkg == NULL)
                        j->running_pkg =
                            af_strdup(j->plan->steps[s].package_path);
            }
        }
        st_steps_free(steps, ns);
    }
    st_nodes_free(nodes, n);
}

static void
ro_summary(struct ro *ro, const char *verdict)
{
    struct fold *by[RO_F_COUNT + 2];
    size_t i;
    int f;

    for (f = 0; f < RO_F_COUNT + 2; f++)
        by[f] = fold_new();
    for (i = 0; i < ro->n; i++) {
        struct nj *j = &ro->nj[i];
        int slot;

        if (!j->reachable)
            slot = RO_F_UNREACHABLE;
        else if (j->plan && j->plan->blocked)
            slot = RO_F_COUNT; /* blocked */
        else if (j->state == NJ_FAILED)
            slot = (int)j->fail;
        else if (j->state == NJ_DONE || !j->needs_work)
            slot = RO_OK;
        else
            slot = RO_F_COUNT + 1; /* not started */
        fold_add(by[slot], "", j->node->name);
    }
    printf("Run %lld %s:", (long long)ro->run, verdict);
    for (f = 0; f < RO_F_COUNT + 2; f++) {
        const char *name = f == RO_F_COUNT       ? "blocked"
                           : f == RO_F_COUNT + 1 ? "not started"
                           : f == RO_OK          ? "done"
                                                 : ro_fail_names[f];

        if (fold_groups(by[f]) == 0) {
            if (f == RO_OK)
                printf(" 0 done");
            continue;
        }
        {
            char *nodes = fold_nodes(by[f], 0);

            printf("%s %zu %s: %s", f == RO_OK ? "" : ",", fold_size(by[f], 0),
                   name, nodes);
            free(nodes);
        }
    }
    printf("\n");
    for (f = 0; f < RO_F_COUNT + 2; f++)
        fold_free(by[f]);
}

int
ro_run(const struct ro_opts *o, int64_t resume_run)
{
    struct ro ro_, *ro = &ro_;
    struct af_err e;
    size_t i, k, total, done_nodes, nb;
    int rc = AF_EXIT_INTERNAL, r;
    struct facts_result *res = NULL;
    size_t *order = NULL, norder = 0;
    char *opts = NULL;

    memset(ro, 0, sizeof(*ro));
    ro->eff = *o;
    uv_loop_init(&ro->loop);
    uv_timer_init(&ro->loop, &ro->progress);
    ro->progress.data = ro;
    ro->tty = isatty(STDOUT_FILENO) && !o->json;
    if ((r = st_open(o->state, &ro->st, &e)) != 0) {
        fprintf(stderr, "ascend-fleet: %s\n", e.msg);
        rc = AF_EXIT_USAGE;
        goto out;
    }
    if (resume_run > 0) {
        if (ro_setup_resume(ro, resume_run, &e) != 0) {
            fprintf(stderr, "ascend-fleet resume: %s\n", e.msg);
            rc = AF_EXIT_USAGE;
            goto out;
        }
        ro->run = resume_run;
    }
    if (ro->eff.playbook == NULL)
        ro->eff.playbook = ro_default_playbook();
    if (ro->eff.stages == NULL || !*ro->eff.stages) {
        fprintf(stderr, "ascend-fleet rollout: --stage is required\n");
        rc = AF_EXIT_USAGE;
        goto out;
    }
    if ((r = pb_load(ro->eff.playbook, &ro->pb, &e)) != 0) {
        fprintf(stderr, "ascend-fleet: %s\n", e.msg);
        rc = AF_EXIT_USAGE;
        goto out;
    }
    {
        struct pb_phases ph;

        memset(&ph, 0, sizeof(ph));
        if (pb_expand_stages(ro->pb, ro->eff.stages, NULL, &ph, &e) != 0) {
            fprintf(stderr, "ascend-fleet: --stage: %s\n", e.msg);
            rc = AF_EXIT_USAGE;
            goto out;
        }
        pb_phases_free(&ph);
    }
    if (access(ro->eff.packages, R_OK | X_OK) == 0) {
        if (pb_plan_list_packages(ro->eff.packages, &ro->pkgs, &e) != 0) {
            fprintf(stderr, "ascend-fleet: %s\n", e.msg);
            rc = AF_EXIT_USAGE;
            goto out;
        }
    } else if (resume_run == 0 && strcmp(o->packages, "./packages") != 0) {
        fprintf(stderr, "ascend-fleet: --packages %s: %s\n", ro->eff.packages,
                strerror(errno));
        rc = AF_EXIT_USAGE;
        goto out;
    }
    if ((r = fleet_init(&ro->fleet, &ro->loop, ro->eff.inventory, ro->eff.limit,
                        o->ssh_config, &e)) != 0) {
        fprintf(stderr, "ascend-fleet: %s\n", e.msg);
        rc = AF_EXIT_USAGE;
        goto out;
    }
    ro->fleet.hostkeys = ro->eff.hostkeys;
    ro->fleet.kex = ro->eff.kex;
    if (!ro->eff.plan_only) {
        /* Lock the selected nodes only: other nodes stay free for others. */
        const char **names = af_calloc(ro->fleet.nsel + 1, sizeof(*names));

        for (i = 0; i < ro->fleet.nsel; i++)
            names[i] = fleet_node(&ro->fleet, i)->name;
        r = st_lock_nodes(ro->st, names, ro->fleet.nsel, &e);
        free(names);
        if (r != 0) {
            fprintf(stderr, "ascend-fleet: %s\n", e.msg);
            rc = r == AF_ELOCKED ? AF_EXIT_LOCKED : AF_EXIT_USAGE;
            goto out;
        }
    }
    if (resume_run > 0) {
        struct st_run cur;

        if (st_run_get(ro->st, resume_run, &cur, &e) == 0) {
            int finished =
                cur.status == ST_RUN_DONE || cur.status == ST_RUN_ABORTED;

            st_run_clear(&cur);
            if (finished) {
                printf("Run %lld is finished; nothing to resume.\n",
                       (long long)resume_run);
                rc = AF_EXIT_OK;
                goto out;
            }
        }
    }

    /* Facts and plan. */
    ro->n = ro->fleet.nsel;
    ro->nj = af_calloc(ro->n ? ro->n : 1, sizeof(*ro->nj));
    res = facts_gather(&ro->fleet, ro->eff.fanout, RO_FACTS_TIMEOUT_MS);
    if (!ro->eff.plan_only && facts_store(ro->st, res, ro->n, &e) != 0) {
        fprintf(stderr,
                "ascend-fleet: cannot store facts, nothing started: "
                "%s\n",
                e.msg);
        rc = AF_EXIT_FAILED;
        goto out;
    }
    for (i = 0; i < ro->n; i++) {
        struct nj *j = &ro->nj[i];

        j->ro = ro;
        j->i = i;
        j->node = fleet_node(&ro->fleet, i);
        j->batch = -1;
        af_kv_init(&j->facts);
        j->reachable = res[i].status == 0;
        if (!j->reachable) {
            snprintf(j->reason, sizeof(j->reason), "%s", res[i].error);
            continue;
        }
        for (k = 0; k < res[i].facts.n; k++)
            af_kv_add(&j->facts, res[i].facts.keys[k], res[i].facts.vals[k]);
        if (ro_replan(ro, j, &j->facts) != 0) {
            rc = AF_EXIT_USAGE;
            goto out;
        }
        j->needs_work = ro_needs_work(j->plan) && !j->plan->blocked;
    }
    for (i = 0; i < ro->n && ro->hccn == NULL; i++) {
        const struct pb_plan *p = ro->nj[i].plan;

        for (k = 0; p && k < p->n_phases; k++) {
            if (p->phases[k].builtin == NULL ||
                strcmp(p->phases[k].builtin, "hccn") != 0)
                continue;
            if (hccn_plan_build(ro->fleet.inv, &ro->hccn, &e) != 0) {
                size_t ne = 0, x;
                const char *const *errs =
                    ro->hccn ? hccn_plan_errors(ro->hccn, &ne) : NULL;

                fprintf(stderr, "ascend-fleet: hccn address plan: %s\n", e.msg);
                for (x = 1; x < ne; x++)
                    fprintf(stderr, "  %s\n", errs[x]);
                rc = AF_EXIT_USAGE;
                goto out;
            }
            break;
        }
    }
    if (resume_run > 0)
        ro_apply_resume(ro);
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
    ro_print_plan(ro);
    if (!ro->eff.plan_only && ro_load_packages(ro) != 0) {
        rc = AF_EXIT_USAGE;
        goto out;
    }
    if (ro->eff.plan_only) {
        rc = AF_EXIT_OK;
        goto out;
    }
    if (!ro_confirm(ro)) {
        rc = AF_EXIT_USAGE;
        goto out;
    }
    if (resume_run == 0) {
        struct af_buf cl;

        opts = ro_options_json(&ro->eff);
        af_buf_init(&cl, 0);
        af_buf_printf(&cl, "rollout --stage %s", ro->eff.stages);
        if (ro->eff.limit)
            af_buf_printf(&cl, " --limit '%s'", ro->eff.limit);
        af_buf_printf(&cl, " --batch %s --max-fail %s", ro->eff.batch,
                      ro->eff.max_fail);
        r = st_run_create(ro->st, cl.data, ro->eff.stages, opts, &ro->run, &e);
        af_buf_free(&cl);
        if (r != 0) {
            fprintf(stderr, "ascend-fleet: %s\n", e.msg);
            goto out;
        }
    }
    if (st_run_set_status(ro->st, ro->run, ST_RUN_RUNNING, NULL, &e) != 0) {
        fprintf(stderr, "ascend-fleet: %s\n", e.msg);
        goto out;
    }

    /* Batches over the nodes that have work, in inventory order. */
    order = af_calloc(ro->n ? ro->n : 1, sizeof(*order));
    for (i = 0; i < ro->n; i++)
        if (ro->nj[i].reachable && ro->nj[i].needs_work)
            order[norder++] = i;
    total = norder;
    if (ro_parse_budget(ro->eff.max_fail, ro->n, &ro->budget) < 0 ||
        ro_batch_size(ro->eff.batch, 0, total ? total : 1, &nb) < 0) {
        fprintf(stderr, "ascend-fleet: bad --batch '%s' or --max-fail '%s'\n",
                ro->eff.batch, ro->eff.max_fail);
        rc = AF_EXIT_USAGE;
        goto out;
    }
    {
        /* Keep batch numbers recorded by an earlier attempt of the run. */
        size_t pos = 0;
        int b = 0;

        while (pos < norder) {
            ro_batch_size(ro->eff.batch, (size_t)b, total, &nb);
            for (k = 0; k < nb && pos < norder; k++, pos++)
                if (ro->nj[order[pos]].batch < 0)
                    ro->nj[order[pos]].batch = b;
            b++;
        }
    }
    for (i = 0; i < ro->n; i++)
        if (!ro->nj[i].reachable)
            ro->fails[RO_F_UNREACHABLE]++;
    if ((r = ro_record_plan(ro, &e)) != 0) {
        fprintf(stderr, "ascend-fleet: %s\n", e.msg);
        goto out;
    }
    ro->batch_nodes = af_calloc(ro->n ? ro->n : 1, sizeof(size_t));
    done_nodes = 0;
    {
        int maxb = -1, b;

        for (i = 0; i < norder; i++)
            if (ro->nj[order[i]].batch > maxb)
                maxb = ro->nj[order[i]].batch;
        for (b = 0; b <= maxb; b++) {
            ro->batch_n = 0;
            for (i = 0; i < norder; i++)
                if (ro->nj[order[i]].batch == b)
                    ro->batch_nodes[ro->batch_n++] = order[i];
            if (ro->batch_n == 0)
                continue;
            if (ro->db_failed)
                break;
            if (ro_failed_total(ro) > ro->budget) {
                char why[256];

                snprintf(why, sizeof(why),
                         "failure budget exceeded: %zu failed > max-fail %zu",
                         ro_failed_total(ro), ro->budget);
                ro_say(ro, NULL, "run", "%s; no new batch started", why);
                if (ro_db(ro,
                          st_run_set_status(ro->st, ro->run, ST_RUN_FAILED, why,
                                            &e),
                          "run status", e.msg) != 0)
                    fprintf(stderr, "ascend-fleet: %s\n", ro->db_why);
                ro_summary(ro, "stopped");
                rc = AF_EXIT_BUDGET;
                goto out;
            }
            ro_say(ro, NULL, "batch",
                   "batch %d/%d: %zu nodes (%zu done, "
                   "%zu failed, budget %zu)",
                   b + 1, maxb + 1, ro->batch_n, done_nodes,
                   ro_failed_total(ro), ro->budget);
            ro->cur_batch = b;
            ro->nbatches = maxb + 1;
            if (ro->tty) {
                uv_timer_start(&ro->progress, ro_progress_cb, 500, 1000);
                uv_unref((uv_handle_t *)&ro->progress);
            }
            (void)sched_run(&ro->fan, &ro->loop, ro->batch_n, ro->eff.fanout,
                            nj_start, ro, NULL);
            if (ro->tty) {
                uv_timer_stop(&ro->progress);
                printf("\r\033[K");
                fflush(stdout);
            }
            for (i = 0; i < ro->batch_n; i++)
                if (ro->nj[ro->batch_nodes[i]].state == NJ_DONE)
                    done_nodes++;
        }
    }
    if (ro->db_failed) {
        /* Recorded as stopped where the file still takes a write. */
        if (st_run_set_status(ro->st, ro->run, ST_RUN_FAILED, ro->db_why, &e) !=
            0)
            fprintf(stderr,
                    "ascend-fleet: cannot record the run as "
                    "stopped: %s\n",
                    e.msg);
        fprintf(stderr, "ascend-fleet: run %lld stopped: %s\n",
                (long long)ro->run, ro->db_why);
        ro_summary(ro, "stopped");
        rc = AF_EXIT_FAILED;
        goto out;
    }
    if (ro_failed_total(ro) > ro->budget) {
        char why[256];

        snprintf(why, sizeof(why),
                 "failure budget exceeded: %zu failed > max-fail %zu",
                 ro_failed_total(ro), ro->budget);
        if (st_run_set_status(ro->st, ro->run, ST_RUN_FAILED, why, &e) != 0)
            fprintf(stderr,
                    "ascend-fleet: cannot record the run's end: "
                    "%s\n",
                    e.msg);
        ro_summary(ro, "failed");
        rc = AF_EXIT_BUDGET;
        goto out;
    }
    {
        int any_bad = ro_failed_total(ro) > 0;

        for (i = 0; i < ro->n; i++)
            if (ro->nj[i].plan && ro->nj[i].plan->blocked)
                any_bad = 1;
        if (st_run_set_status(
                ro->st, ro->run, any_bad ? ST_RUN_FAILED : ST_RUN_DONE,
                any_bad ? "some nodes failed or were blocked" : NULL,
                &e) != 0) {
            fprintf(stderr,
                    "ascend-fleet: cannot record the run's end: "
                    "%s\n",
                    e.msg);
            any_bad = 1;
        }
        ro_summary(ro, any_bad ? "finished with failures" : "done");
        rc = any_bad ? AF_EXIT_FAILED : AF_EXIT_OK;
    }
out:
    free(opts);
    free(order);
    facts_results_free(res, ro->fleet.nsel);
    ro_free(ro);
    ro_free_eff(ro, resume_run > 0);
    uv_close((uv_handle_t *)&ro->progress, NULL);
    uv_run(&ro->loop, UV_RUN_DEFAULT);
    uv_loop_close(&ro->loop);
    return rc;
}
