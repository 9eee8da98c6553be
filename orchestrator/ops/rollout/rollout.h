/* SPDX-License-Identifier: MIT */
/*
 * Staged rollouts: plan from fresh facts, batches like Ansible's serial,
 * a failure budget, packages pushed content-addressed, rolling reboots
 * proven by a new boot_id, verification from facts, and every transition
 * written to the state file before the action it enables. A run that was
 * killed, interrupted or partly failed is continued by ro_run with its run
 * id (resume): recorded options are reused, nodes already done stay done, a
 * node caught mid-reboot is reconciled by its boot_id and a step caught
 * mid-install is decided again from the node's facts.
 *
 * The engine never prints: everything an operator may see is a typed event
 * handed to the caller's sink (struct ro_sink), and ro_run returns an
 * outcome the caller turns into an exit code.
 */
#ifndef AF_ROLLOUT_H
#define AF_ROLLOUT_H

#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "ev.h"

/* Which options the operator gave (struct ro_opts.given): on resume they
 * replace the recorded ones and are recorded in turn. */
enum {
    RO_GIVEN_INVENTORY = 1 << 0,
    RO_GIVEN_LIMIT = 1 << 1,
    RO_GIVEN_PLAYBOOK = 1 << 2,
    RO_GIVEN_PACKAGES = 1 << 3,
    RO_GIVEN_STAGES = 1 << 4,
    RO_GIVEN_BATCH = 1 << 5,
    RO_GIVEN_MAXFAIL = 1 << 6,
    RO_GIVEN_FANOUT = 1 << 7,
    RO_GIVEN_TIMEOUT = 1 << 8,
    RO_GIVEN_HOSTKEYS = 1 << 9,
};

struct ro_opts {
    const char *inventory;
    const char *limit;
    const char *state;
    const char *playbook;
    const char *packages;
    const char *stages;
    const char *batch;    /* "1,10%" */
    const char *max_fail; /* "0", "2", "10%" */
    int fanout;
    int plan_only;
    int yes;
    int progress; /* emit RO_EV_PROGRESS for a live line */
    enum conn_hostkey_policy hostkeys;
    const char *kex;
    int timeout_s; /* cap of every step in seconds, 0 = the playbook's */
    const char *ssh_config; /* NULL, a file or "none" (not recorded) */
    int settle_s;           /* stability window after a node came back */
    int reboot_poll_ms;     /* how often to look for a rebooting node */
    int signals;            /* handle SIGINT/SIGTERM/SIGHUP (see ro_run) */
    unsigned given;         /* RO_GIVEN_* bits */
    int force;     /* resume even if inventory, playbook or packages changed */
    uint64_t rate; /* cap of all pushes together, bytes/s; 0 = none (not
                      recorded) */
};

void ro_opts_init(struct ro_opts *o);

/*
 * Check the option values that need no file or node (batch spec, failure
 * budget, settle, fanout). Returns 0, or -1 with a message in why (which
 * names the option and the bad value).
 */
int ro_opts_check(const struct ro_opts *o, char *why, size_t whylen);

/* What an event reports. */
enum ro_ev_kind {
    RO_EV_ERROR,     /* setup failed or a write failed: reason */
    RO_EV_NOTE,      /* a run-level message: text */
    RO_EV_PLAN_ROW,  /* node's planned step: stage, step, action, reason */
    RO_EV_PLAN_END,  /* the plan is complete: text = stages */
    RO_EV_BATCH,     /* a batch starts: batch, nbatches, count */
    RO_EV_BATCH_END, /* the batch's nodes are all finished */
    RO_EV_STEP,      /* a node event: status says which (see below) */
    RO_EV_PROGRESS,  /* counts for a live line */
    RO_EV_RESULT,    /* one node's end result: status */
    RO_EV_RUN_END,   /* the run ended: what is the verdict */
    RO_EV_RESUME,    /* resume starts: run is the run resumed */
};

/*
 * One event: the shared engine event of ev.h (node, step, action, status
 * as an EV_* word, exit code, duration, bytes, reason) plus what only a
 * rollout has. Strings are borrowed for the duration of the sink call.
 * For RO_EV_STEP, what is the event kind recorded in the state file
 * ("step", "push", "reboot", "verify", "resume", "done", "failed",
 * "detached") and ev.action the step's planned action; for RO_EV_RESULT,
 * what is the node's outcome ("done", "step failed", "timeout", "blocked",
 * "interrupted", "not started", ...). text is the line an operator reads.
 */
struct ro_ev {
    struct ev ev;
    enum ro_ev_kind kind;
    int64_t ts_ms; /* wall clock */
    int64_t run;   /* 0 before the run is recorded */
    const char *stage;
    const char *what;
    const char *text;
    int has_bytes; /* ev.bytes is a measure (a push of 0 bytes too) */
    /* RO_EV_PLAN_ROW: the step's versions and package (NULL when none);
     * ev.action is the action word ("install", "skip", ...), text the
     * planner's line ("install 24.1.0"); RO_EV_STEP "push": package. */
    const char *version, *from, *package;
    uint64_t package_size;
    /* RO_EV_BATCH and RO_EV_PROGRESS */
    int batch, nbatches;
    size_t count, running, rebooting, done, failed, waiting, budget_left;
    const char *slowest;
    int64_t slowest_ms;
    /* RO_EV_PROGRESS: nodes with work in the run and finished so far;
     * estimated time left for the batch and the run (-1: not known yet,
     * no node has finished); bytes pushed and to push in this batch and
     * pushes in flight (push_total counts what is still planned). */
    size_t nodes_total, nodes_finished;
    int64_t eta_batch_ms, eta_run_ms;
    uint64_t push_done, push_total;
    size_t pushing;
};

/*
 * Where the events go. event is called synchronously from ro_run (and from
 * the loop it runs), never concurrently. confirm is asked once before
 * anything changes on a node (unless o->yes); it returns 1 to go on.
 */
struct ro_sink {
    void (*event)(const struct ro_ev *ev, void *data);
    int (*confirm)(void *data);
    void *data;
};

/* How a run ended; the CLI maps it to an exit code. */
enum ro_outcome {
    RO_OUT_OK,          /* every selected node done (or nothing to do) */
    RO_OUT_FAILED,      /* some node failed, was blocked or unreachable */
    RO_OUT_USAGE,       /* bad input: options, inventory, playbook */
    RO_OUT_LOCKED,      /* the state file is held by another process */
    RO_OUT_BUDGET,      /* the failure budget stopped the run */
    RO_OUT_INTERRUPTED, /* a signal stopped it; see signo */
    RO_OUT_DECLINED,    /* the operator did not confirm */
    RO_OUT_STATE,       /* a state write failed: nothing further started */
};

struct ro_result {
    enum ro_outcome outcome;
    int signo;   /* RO_OUT_INTERRUPTED: the first signal */
    int64_t run; /* the run id, 0 when none was recorded */
};

/*
 * Run a new rollout (resume_run 0) or continue run resume_run: options not
 * in o->given come from the state file; those given replace them and are
 * recorded with the run. A resume whose inventory, playbook or package set
 * differs from the run's (by content) is refused with the difference
 * unless o->force. With o->signals, the first SIGINT, SIGTERM or SIGHUP starts
 * nothing new, lets steps in flight finish (nodes waiting for a reboot are
 * left to resume), records the run paused as interrupted and returns
 * RO_OUT_INTERRUPTED; a second one records the same and exits the process
 * at once with 128 + the signal. Fills *res and returns 0.
 */
int ro_run(const struct ro_opts *o,
           int64_t resume_run,
           const struct ro_sink *sink,
           struct ro_result *res);

/*
 * Size of batch k (0-based) of total nodes for a spec like "1,10%,25%":
 * entries are counts or percentages of total (rounded down, at least 1),
 * and the last entry repeats. Returns 0, or -1 for a malformed spec.
 */
int ro_batch_size(const char *spec, size_t k, size_t total, size_t *out);

/*
 * The failure budget for "N" or "P%" of total nodes. The run stops when
 * failures exceed it. Returns 0, or -1 for a malformed value.
 */
int ro_parse_budget(const char *spec, size_t total, size_t *out);

/* Path of the playbook shipped with this build. */
const char *ro_default_playbook(void);

#endif /* AF_ROLLOUT_H */
