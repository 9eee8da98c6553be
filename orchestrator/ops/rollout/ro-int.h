/* SPDX-License-Identifier: MIT */
/*
 * What the files of the rollout engine share, and nothing outside it uses:
 * the run (struct ro), the per-node job (struct nj) and the functions each
 * file offers the others. The files split by concern:
 *   rollout.c    run driver: setup, facts and plan, batches, the end
 *   ro-batch.c   batch sizes, the failure budget, batch assignment
 *   ro-node.c    the per-node step machine (push, run, verify, hccn)
 *   ro-reboot.c  reboot and its proof by a new boot_id
 *   ro-resume.c  recorded options and resume reconciliation
 *   ro-pkg.c     vendor packages: mapped, hashed, loaded on first use
 *   ro-plan.c    planning per node, the plan as events, recording it
 *   ro-ev.c      events to the sink and the state file, write checks
 */
#ifndef AF_RO_INT_H
#define AF_RO_INT_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "af-buf.h"
#include "af-err.h"
#include "af-proto.h"
#include "af-sched.h"
#include "fleet.h"
#include "pb-plan.h"
#include "rollout.h"

struct agc;
struct hop_peer;
struct sess;
struct st;

#define RO_OUT_CAP (64 * 1024)
/* Largest output frame the agent sends (it reads 64 KiB at a time). */
#define RO_FRAME_MAX        (1024 * 1024)
#define RO_FACTS_TIMEOUT_MS 120000
#define RO_PKG_DIR          "/var/lib/ascend-fleet/packages"
#define RO_STEP_DEFAULT_S   600

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

extern const char *const ro_fail_names[RO_F_COUNT];

struct push_src;

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
    NJ_DETACHED, /* interrupted: left for resume, neither done nor failed */
};

struct ro;
struct nj;

typedef void (*nj_fn)(struct nj *j);

struct nj {
    struct ro *ro;
    size_t i; /* index into ro->fleet selection */
    const struct inv_node *node;
    struct pb_plan *plan;
    struct af_kv facts;
    struct af_kv staged; /* packages the node holds verified: name -> sha */
    int reachable;
    int batch;
    int needs_work;
    enum nj_state state;
    struct sess *sess;
    uv_timer_t timer;
    struct sched_job *job; /* its job on the scheduler, once started */
    size_t phase;
    size_t step;        /* next step index within the phase */
    int phase_ran;      /* a step of this phase ran */
    uint64_t push_left; /* bytes of its packages this batch still to send */
    uint64_t push_sent; /* bytes the push in flight sent so far */
    int in_push;        /* counted in ro->pushing */
    uint64_t ended_ms;  /* loop time it was done, failed or detached */
    int has_fail_rc;    /* the step failed with exit code fail_rc */
    int fail_rc;
    char *boot_before;
    char *boot_after;
    uint64_t reboot_deadline;
    uint64_t down_grace_ms; /* next reboot probes: see ro-reboot.c */
    uint64_t hard_deadline; /* resume: give up on an unreachable node */
    int resume_rebooting;
    int reboot_done;        /* resume saw the new boot_id: never reboot again */
    int resume_running;     /* a step was running when the run was killed */
    char *running_pkg;      /* its package path on the node */
    struct hop_peer *peers; /* hccn verify: sampled same-plane peers */
    size_t npeers;
    char host_key[128]; /* fingerprint seen when facts were gathered */
    enum ro_fail fail;
    char reason[512];
    uint64_t started_ms;
    uint64_t step_started_ms;
    struct st_log *log; /* the running step's full output, while it runs */
};

struct ro {
    struct ro_opts eff;    /* effective options (resume: from the state file) */
    char *owned[16];       /* strings eff points to that the run owns */
    struct af_buf changes; /* resume: options changed on its command line */
    const char *rec_inv, *rec_pb, *rec_pkgs; /* resume: recorded inputs */
    size_t nowned;
    const struct ro_sink *sink;
    uv_loop_t loop;
    struct fleet fleet;
    struct st *st;
    struct pb *pb;
    struct pb_pkgs pkgs;
    struct ro_pkg *rpkgs;
    size_t nrpkgs;
    struct rate *rate; /* --rate: the push phase's aggregate cap */
    int64_t run;
    struct nj *nj;
    size_t n;
    struct sched sched;
    size_t *batch_nodes;
    size_t batch_n;
    uv_timer_t progress;
    uv_timer_t log_timer; /* writes running steps' buffered output */
    uv_signal_t sig[3];
    int nsig;
    int stopping;    /* the first signal: start nothing new */
    int live;        /* this process recorded the run running */
    int write_error; /* a state write failed: start nothing new */
    char write_msg[512];
    int cur_batch, nbatches;
    uint64_t push_done; /* bytes pushed in this batch (the live line) */
    size_t pushing;     /* pushes in flight */
    int64_t done_ms;    /* summed durations of the nodes done, for ETAs */
    size_t done_n;
    int fails[RO_F_COUNT];
    size_t budget;
    struct hccn_plan *hccn; /* built when a builtin hccn phase is planned */
    struct sess **pre;      /* per node: a session opened ahead (ro-sess.c) */
    struct nj **after;      /* steps to start once the commit is done */
    size_t nafter, cap_after;
    int tx_depth; /* ro_tx_enter nesting */
    int tx_open;  /* a state transaction is open (ro-tx.c) */
};

/* ro-ev.c */
void ro_ev_init(struct ro_ev *ev, const struct ro *ro, enum ro_ev_kind k);
void ro_emit(const struct ro *ro, struct ro_ev *ev);
/* RO_EV_RESUME for ro->run. */
void ro_resume_event(const struct ro *ro);
void ro_error(const struct ro *ro, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void ro_note(const struct ro *ro, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A node event: recorded in the state file (checked), then to the sink. */
void ro_say(struct ro *ro,
            const struct nj *j,
            const char *kind,
            const char *fmt,
            ...) __attribute__((format(printf, 4, 5)));
/*
 * Check a state write's result r. On failure the run starts nothing more
 * (ro->write_error), the first failure's message is kept and reported, and
 * -1 is returned; 0 when r is 0.
 */
/* The same with the step's exit code, duration and output bytes. */
struct ro_ev_x {
    int exit_code;
    int64_t duration_ms;
    int64_t bytes;
};
void ro_sayx(struct ro *ro,
             const struct nj *j,
             const char *kind,
             const struct ro_ev_x *x,
             const char *fmt,
             ...) __attribute__((format(printf, 5, 6)));
int ro_wrote(struct ro *ro, int r, const struct af_err *e, const char *what);
/* 1 when no new step may start (interrupted or a failed write). */
int ro_halted(const struct ro *ro);
void ro_progress_start(struct ro *ro);
/* ---- ro-log.c: the full output of steps (state/st-log) ---- */

/* While a batch runs: every ST_LOG_FLUSH_MS, the output that running
 * steps buffered is written, in one transaction. */
void nj_logs_start(struct ro *ro);
void nj_logs_stop(struct ro *ro);
/* agc sink of a run-stream request (data is the nj): bytes into j->log. */
void nj_run_output(void *data, uint64_t total, const char *p, size_t n);
/*
 * The step's command ended, any way (status and body of the agent's
 * answer; timeout_s its timeout): record how in j->log and close it. A
 * failed write of its output is reported through ro_wrote.
 */
void
nj_log_close(struct nj *j, int status, const struct af_kv *body, int timeout_s);
/*
 * A part of a builtin phase (hccn "apply", "verify") is recorded as step
 * `step` of `stage`: running now, its output (j->log) the transcript of
 * its tool calls. Returns 0, or -1 when the node failed (not recorded).
 */
int nj_part_begin(struct nj *j,
                  const char *stage,
                  const char *step,
                  const char *action);
/* The part ended: done, or failed with why (also its output tail). */
void nj_part_end(
    struct nj *j, const char *stage, const char *step, int ok, const char *why);
/* hop_tool_cb (data is the nj): "$ command", its stdout and stderr, and
 * how it ended when not with exit 0, into j->log. */
void
nj_hccn_tool(void *data, const char *cmd, int status, const struct af_kv *body);
void ro_progress_stop(struct ro *ro);
/* "512 B", "12.3 KiB", "300.0 MiB", "2.50 GiB" in buf; returns buf. */
const char *ro_bytes(char *buf, size_t n, uint64_t bytes);
/* The push counters of the live line: a batch starts (each node's planned
 * package bytes), a step's package is already on the node, a push goes
 * on (r from push.h: offset, bytes sent so far) or ends. */
void ro_push_plan(struct ro *ro);
void ro_push_skip(struct nj *j, uint64_t size);
struct push_result;
void ro_push_progress(struct nj *j, const struct push_result *r, int end);

/* ro-sess.c: sessions opened before their batch */
struct facts_result;
/* Take the sessions the facts gathering kept (res[i].kept) as nodes'. */
void ro_pre_adopt_facts(struct ro *ro, struct facts_result *res);
/* Batches assigned: keep those of batches first and first + 1 only. */
void ro_pre_trim(struct ro *ro, int first_batch);
/* Open batch's sessions ahead, within the window less running jobs. */
void ro_pre_open(struct ro *ro, int batch, size_t running);
/* sched_job_ops.take of the rollout's jobs (job k of the batch). */
struct sess *ro_pre_take(void *data, size_t k);
/* Close every session not taken (the loop must run afterwards). */
void ro_pre_close_all(struct ro *ro);

/* ro-tx.c: one commit per burst of state writes */
/* A node-machine callback begins: its writes join one transaction. */
void ro_tx_enter(struct ro *ro);
/* It ends: the outermost leave commits. */
void ro_tx_leave(struct ro *ro);
/*
 * Commit what was written so far, before an action that needs it durable.
 * 0 when committed (or nothing was open), -1 when the commit failed (the
 * writes are rolled back, reported, the run halts).
 */
int ro_tx_flush(struct ro *ro);
/*
 * Run go(j) once what was written so far is committed: at once when no
 * transaction is open, else after the commit that ends the burst (so the
 * nodes of a batch starting together share one commit). When that commit
 * fails the node fails instead (the run halts).
 */
void ro_tx_after(struct ro *ro, struct nj *j);
/* sched_job_ops.burst of the rollout's jobs. */
void ro_tx_burst(void *data, int begin);

/* ro-batch.c */
size_t ro_failed_total(const struct ro *ro);
/* 1 when failures exceed the budget, with the reason in why. */
int ro_budget_exceeded(const struct ro *ro, char *why, size_t whylen);
/* Batch numbers for order[0..n) (keeping ones recorded earlier). */
int ro_assign_batches(struct ro *ro, const size_t *order, size_t n);

/* ro-node.c */
/* The rollout's per-node jobs on sched_jobs. */
extern const struct sched_job_ops nj_ops;
void nj_next(struct nj *j);
/* The current step's record is durable: push its package, run it. */
void nj_step_go(struct nj *j);
void nj_fail(struct nj *j, enum ro_fail f, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void nj_agent_fail(struct nj *j, int status, const char *what);
void
nj_request_facts(struct nj *j,
                 void (*cb)(struct agc *, int, const struct af_kv *, void *));
void nj_verify_facts(struct agc *a,
                     int status,
                     const struct af_kv *body,
                     void *data);
void nj_timer_cb(uv_timer_t *t);
void nj_detach(struct nj *j);
int nj_runnable(const struct pb_plan_step *ps);
const struct pb_plan_step *nj_cur_step(const struct nj *j);
void ro_interrupt_nodes(struct ro *ro);

/* ro-reboot.c */
void nj_reboot_facts(struct agc *a,
                     int status,
                     const struct af_kv *body,
                     void *data);
void nj_probe_ready(struct nj *j, struct sess *s, int status);
/* Not back yet: a new session after the poll interval (or give up). */
void nj_wait_more(struct nj *j);

/* ro-resume.c (reconciliation of a node caught mid-reboot) */
void nj_reconcile_start(struct nj *j);
void nj_reconcile_facts(struct agc *a,
                        int status,
                        const struct af_kv *body,
                        void *data);

/* ro-resume.c */
char *ro_options_json(struct ro *ro);
/* Resume: refuse changed inputs (unless --force); 0 or -1 (reported). */
int ro_check_inputs(struct ro *ro);
/*
 * Resume: refuse (error emitted, -1) when a node's address or host key is
 * not the one the run recorded for it, unless --force (then noted, 0).
 */
int ro_check_identity(struct ro *ro);
int ro_setup_resume(struct ro *ro, int64_t run, struct af_err *e);
int ro_apply_resume(struct ro *ro, struct af_err *e);
void nj_replan_facts(struct agc *a,
                     int status,
                     const struct af_kv *body,
                     void *data);
void nj_wait_installer(struct nj *j);
/* Is every node the run recorded done (or skipped)? */
int ro_run_complete(struct ro *ro, int *complete);

/* ro-pkg.c */
const struct ro_pkg *ro_pkg_get(struct ro *ro, const char *name);
int ro_load_packages(struct ro *ro);
void ro_pkgs_free(struct ro *ro);

/* ro-plan.c */
int ro_replan(struct ro *ro,
              struct nj *j,
              const struct af_kv *facts,
              struct af_err *e);
int ro_needs_work(const struct pb_plan *p);
void ro_emit_plan(struct ro *ro);
int ro_record_plan(struct ro *ro, struct af_err *e);

#endif /* AF_RO_INT_H */
