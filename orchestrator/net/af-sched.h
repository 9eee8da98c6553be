/* SPDX-License-Identifier: MIT */
/*
 * The scheduler: a bounded window over n per-node jobs, and the one per-node
 * job runner that exec, facts, hccn and the rollout share (open a session,
 * let the caller work on it, close it, free the slot).
 *
 * The async rule (also stated in sess.h). The file is af-sched.h, not sched.h,
 * so that it never shadows the system <sched.h>, followed by every engine:
 *  1. Callbacks run on the loop thread, never from inside the call that
 *     registered them; a job that ends inside its own start never recurses
 *     into the next start (starts and closes run from an idle handle).
 *  2. Every agent request's callback and every channel's done callback fires
 *     exactly once: ok (0), error (negative AF_E*), or cancelled
 *     (AF_ECANCELED, the session closed first).
 *  3. A job never closes its own session. It calls sched_job_done() exactly
 *     once, from any callback (the ready callback, a request's or channel's
 *     callback); the runner closes the session on the next loop turn (an
 *     agent session is sent "quit" first), and only then frees the slot.
 *     The agent answers in order, so requests still pending then are
 *     answered before the quit; end the job after its last answer.
 *  4. ops->closed is the last callback of a job; nothing touches the job's
 *     session after it.
 */
#ifndef AF_SCHED_H
#define AF_SCHED_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "af-err.h"
#include "conn.h"
#include "sess.h"

/* ---- the bounded window ---- */

struct sched;
struct sched_job;
typedef void (*sched_start_cb)(struct sched *s, size_t i, void *data);

/*
 * Opaque in spirit: fields are public only so callers may embed the struct.
 */
struct sched {
    uv_loop_t *loop;
    size_t n, next, inflight, done;
    size_t window;
    int stopped;
    sched_start_cb start;
    void *data;
    uv_idle_t idle;
    int idle_active;
    struct sched_job *closing; /* jobs whose session closes next turn */
    void (*burst)(void *data, int begin); /* see sched_job_ops.burst */
};

/*
 * Run n jobs with at most window in flight: start(s, i, data) is called for
 * each job i in order, and each job calls sched_slot_done exactly once when
 * it is finished. Runs the loop until every started job is done and the
 * loop is idle. Returns 0, or a negative libuv code if the window's handle
 * could not be set up (e filled; no job started).
 */
int sched_run(struct sched *s,
              uv_loop_t *loop,
              size_t n,
              int window,
              sched_start_cb start,
              void *data,
              struct af_err *e);
/* Job finished: free its slot (callable from any callback). */
void sched_slot_done(struct sched *s);
/* Start no further job; jobs in flight run to their end. */
void sched_stop(struct sched *s);
/* Jobs that were never started (after sched_stop). */
size_t sched_not_started(const struct sched *s);

/* ---- the per-node job runner ---- */

struct sched_job_ops {
    unsigned sess_flags; /* SESS_AGENT, or 0 for a bare SSH connection */
    /*
     * Fill o for job i (strings must outlive the job) and set *node to the
     * caller's opaque node pointer (sess_node).
     */
    void (*conn_opts)(void *data,
                      size_t i,
                      struct conn_opts *o,
                      const void **node);
    /*
     * The session is ready (status 0) or failed (negative; sess_error and
     * sess_timed_out say why). Do the work, then call sched_job_done once.
     */
    void (*ready)(struct sched_job *j, struct sess *s, int status);
    /* Optional: the session is closed; the job's last callback. */
    void (*closed)(struct sched_job *j);
    /*
     * Optional: a session already open (or opening) for job i, kept from
     * an earlier pass or opened ahead while other work ran, or NULL to
     * open one. The job adopts it: ready runs with its status (at once
     * when it is known, else when it is), and it is closed with the job.
     */
    struct sess *(*take)(void *data, size_t i);
    /*
     * Optional: called with begin 1 before the scheduler starts a run of
     * jobs in one loop turn and with 0 after it (the caller may group
     * their work, e.g. one state commit for all of them).
     */
    void (*burst)(void *data, int begin);
};

/*
 * Run ops over n nodes, at most window sessions at a time, until every job
 * is done and its session closed. data is passed to conn_opts and is
 * sched_job_data(). Returns 0 or a negative code (e filled) when the run
 * could not be set up. s may be NULL; when given, sched_stop(s) works.
 */
int sched_jobs(struct sched *s,
               uv_loop_t *loop,
               size_t n,
               int window,
               const struct sched_job_ops *ops,
               void *data,
               struct af_err *e);
/* Finish the job (exactly once; from any callback). See rule 3. */
void sched_job_done(struct sched_job *j);
/*
 * Close the job's session and open a new one to the same node after
 * delay_ms; ops->ready runs again with the new session (a node that
 * reboots). From any callback, instead of sched_job_done.
 */
void sched_job_reopen(struct sched_job *j, uint64_t delay_ms);
/*
 * As sched_job_reopen for a node that is going down and coming back (a
 * reboot): the session closes, and the new one is opened only once a
 * plain TCP connect to the node's SSH port is accepted (probe.h), tried
 * first after first_ms and then every 200 ms growing to 500 ms. A port
 * that accepts before it was ever seen closed counts only after
 * down_grace_ms (the node may not have gone down yet). The session is
 * opened anyway, to report the node's real state through ops->ready, when
 * max_wait_ms passed or sched_stop was called. A node that cannot be
 * probed (a jump host, a name) is reopened as sched_job_reopen would,
 * after first_ms.
 */
void sched_job_reopen_probe(struct sched_job *j,
                            uint64_t first_ms,
                            uint64_t max_wait_ms,
                            uint64_t down_grace_ms);
/*
 * End the job keeping its ready session instead of closing it: the caller
 * owns the returned session from now on (sess_rebind it, and close it or
 * give it to a later job through ops->take). Only after the ready callback
 * reported 0; instead of sched_job_done.
 */
struct sess *sched_job_keep(struct sched_job *j);
size_t sched_job_index(const struct sched_job *j);
void *sched_job_data(const struct sched_job *j);
/* The job's current session (NULL between a reopen's close and open). */
struct sess *sched_job_sess(const struct sched_job *j);
/* The caller's per-job pointer (NULL until set). */
void *sched_job_user(const struct sched_job *j);
void sched_job_set_user(struct sched_job *j, void *user);

/* Milliseconds of a monotonic clock, for durations. */
uint64_t sched_now_ms(void);

#endif /* AF_SCHED_H */
