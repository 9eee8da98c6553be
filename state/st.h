/* SPDX-License-Identifier: MIT */
/*
 * The SQLite state file: runs, the nodes of a run, node-step rows, an
 * append-only event log, the latest facts per node and hccn results, plus
 * the run lock that keeps a second ascend-fleet process away. Every call
 * is one transaction (or joins the caller's st_begin batch) and commits with
 * synchronous=FULL before it returns, so a state change is durable before
 * the action it enables. This module never talks to nodes and never prints;
 * the schema is documented for operators in state/SCHEMA.md.
 *
 * Every call that writes (or takes a lock) is ST_MUST_CHECK: a write the
 * caller does not look at is a defect, because the design promises that a
 * change is on disk before the action it enables. The implementation is
 * split by table family: st.c (open, migrate, batches), st-schema.c (the
 * migration scripts), st-lock.c (per-node write locks), st-run.c (runs,
 * nodes, steps), st-log.c (full step output), st-event.c, st-facts.c
 * (facts, hccn).
 */
#ifndef AF_ST_H
#define AF_ST_H

#include <stddef.h>
#include <stdint.h>

struct af_err;
struct af_kv;

/* The caller must look at the result (gcc and clang warn otherwise). */
#define ST_MUST_CHECK __attribute__((warn_unused_result))

/* Schema version this build writes; older files are migrated on open. */
#define ST_SCHEMA_VERSION 5
/* Bytes of command output kept per step (the tail, i.e. the last bytes). */
#define ST_OUTPUT_TAIL_MAX 4096
/* Longest event text kept; longer texts are cut and end in "...". */
#define ST_EVENT_TEXT_MAX 4096
/* Exit code value meaning "no exit code" (stored as NULL). */
#define ST_NO_EXIT (-2147483647 - 1)

enum st_run_status {
    ST_RUN_PLANNED,
    ST_RUN_RUNNING,
    ST_RUN_PAUSED,
    ST_RUN_FAILED,
    ST_RUN_DONE,
    ST_RUN_ABORTED,     /* given up by the operator (runs abort) */
    ST_RUN_INTERRUPTED, /* stopped by a signal; resume picks it up */
};

enum st_node_status {
    ST_NODE_PENDING,
    ST_NODE_RUNNING,
    ST_NODE_REBOOTING,
    ST_NODE_VERIFYING,
    ST_NODE_DONE,
    ST_NODE_FAILED,
    ST_NODE_SKIPPED,
    ST_NODE_BLOCKED,
    ST_NODE_UNREACHABLE
};

enum st_step_status {
    ST_STEP_PENDING,
    ST_STEP_RUNNING,
    ST_STEP_DONE,
    ST_STEP_SKIPPED,
    ST_STEP_FAILED,
    ST_STEP_BLOCKED
};

enum st_hccn_status { ST_HCCN_APPLIED, ST_HCCN_VERIFIED, ST_HCCN_FAILED };

/*
 * The name stored in the database for a status ("running", "rebooting",
 * ...). Returns static text; an out-of-range value gives "?".
 */
const char *st_run_status_name(enum st_run_status s);
const char *st_node_status_name(enum st_node_status s);
const char *st_step_status_name(enum st_step_status s);
const char *st_hccn_status_name(enum st_hccn_status s);

/*
 * Parse a status name (as printed by the *_name functions) into *out.
 * Return 0, or AF_EINPUT (with a message listing the valid names) when the
 * name is unknown; *out is then unchanged.
 */
int st_run_status_parse(const char *name,
                        enum st_run_status *out,
                        struct af_err *e);
int st_node_status_parse(const char *name,
                         enum st_node_status *out,
                         struct af_err *e);
int st_step_status_parse(const char *name,
                         enum st_step_status *out,
                         struct af_err *e);
int st_hccn_status_parse(const char *name,
                         enum st_hccn_status *out,
                         struct af_err *e);

/* One row of "runs". Every string is owned by the struct. */
struct st_run {
    int64_t id;
    int64_t created;    /* unix ms */
    int64_t updated;    /* unix ms of the last change of this row */
    char *cmdline;      /* the command line that created the run */
    char *stages;       /* e.g. "driver,firmware" */
    char *options_json; /* options as a JSON object text */
    enum st_run_status status;
    char *reason;        /* why it failed/paused/aborted, or NULL */
    int64_t pid;         /* last process that owned the run, 0 if none */
    char *host;          /* host name of that process, or NULL */
    int64_t owner_since; /* unix ms that process took the run over */
};

/* One row of "run_nodes". Every string is owned by the struct. */
struct st_node {
    int64_t run;
    char *node;
    char *address; /* or NULL */
    int batch;     /* 0-based batch index, -1 when not assigned */
    enum st_node_status status;
    char *reason;         /* or NULL */
    char *boot_id_before; /* or NULL */
    char *boot_id_after;  /* or NULL */
    int64_t updated;
};

/* One row of "node_steps". Every string is owned by the struct. */
struct st_step {
    int64_t run;
    char *node;
    char *stage;
    char *step;
    enum st_step_status status;
    int attempt;          /* times the step went to running; 0 = never */
    int exit_code;        /* ST_NO_EXIT when none recorded */
    char *action;         /* e.g. "upgrade 23.0.rc2->24.1.0", or NULL */
    int64_t started;      /* unix ms the current attempt started, 0 = never */
    int64_t ended;        /* unix ms it ended, 0 = not ended */
    char *boot_id_before; /* or NULL */
    char *boot_id_after;  /* or NULL */
    char *output;         /* output tail, NUL-terminated, or NULL */
    size_t output_len;    /* bytes in output (may hold NULs) */
    int output_truncated; /* 1 when output is not the whole output */
    int64_t updated;
};

/* One row of "events". Every string is owned by the struct. */
struct st_event {
    int64_t id;
    int64_t run; /* 0 when the event belongs to no run */
    int64_t ts;  /* unix ms */
    char *node;  /* or NULL */
    char *kind;
    char *text;
};

/* One row of "hccn_results". Every string is owned by the struct. */
struct st_hccn {
    char *node;
    int npu;
    char *address; /* or NULL for the fields below */
    char *netmask;
    char *detect;
    char *gateway;
    enum st_hccn_status status;
    char *detail;       /* tool message, or NULL */
    int64_t updated;    /* set by st_hccn_put; ignored on input */
    char *node_address; /* the machine the row came from (struct st_ident): */
    char *host_key;     /* address and host key, or NULL when unknown */
};

/*
 * Which machine answered: the address that was connected to and the
 * SHA-256 fingerprint of the host key it presented ("SHA256:<base64>", as
 * ssh-keygen -l prints it). Either is NULL when unknown (a result recorded
 * before identities were kept).
 */
struct st_ident {
    const char *address;
    const char *host_key;
};

struct st;

/*
 * Open (creating it if needed) the state file at path, or ":memory:" for a
 * private in-memory database, and store a new handle in *out. The file is
 * put in WAL mode with synchronous=FULL, foreign keys on and a 2000 ms busy
 * timeout. A new file gets the current schema; a file with an older
 * schema_version is migrated in one transaction. Returns 0, or AF_EDB when
 * the file is not an SQLite database, not an ascend-fleet state file, has a
 * schema newer than ST_SCHEMA_VERSION (the file is left untouched), or
 * cannot be opened; *out is then NULL. Opening does not take the run lock.
 * The caller frees the handle with st_close.
 */
ST_MUST_CHECK int st_open(const char *path, struct st **out, struct af_err *e);

/*
 * Open an existing state file for reading only (status, runs, ranktable,
 * hccn plan): it never creates, migrates or writes anything, and every
 * write call on the handle fails with AF_EINPUT. Returns 0, AF_ENOTFOUND
 * with "no state file at PATH" when there is none, or AF_EDB as st_open
 * (a file of an older schema is read as it is).
 */
ST_MUST_CHECK int
st_open_ro(const char *path, struct st **out, struct af_err *e);

/*
 * The default state file of an inventory: "<dir>/.ascend-fleet/<name>.db"
 * for the inventory file "<dir>/<name>.yaml" (or .yml, or any other name
 * kept whole), so each inventory has its own state beside it. Returns a
 * new string the caller frees.
 */
char *st_default_path(const char *inventory);

/*
 * Create the directory that holds path (one level, mode 0700) when it is
 * missing. Returns 0 or a negative errno with the reason in e.
 */
int st_make_dir(const char *path, struct af_err *e);

/*
 * Close the handle, rolling back an unfinished st_begin batch and releasing
 * the run lock if held. Accepts NULL. Never fails.
 */
void st_close(struct st *st);

/* The path given to st_open. Borrowed; valid until st_close. */
const char *st_path(const struct st *st);

/*
 * SQLite's message for the handle's last failed call (for callers of
 * st_event, which takes no af_err). Borrowed; valid until the next call.
 */
const char *st_errmsg(const struct st *st);

/*
 * Write locks. Every process that changes nodes (rollout, resume, facts,
 * hccn apply, runs abort) first locks the nodes it works on with
 * st_lock_nodes; st_lock locks the whole file (every node, and it waits
 * for no one: it fails while any other handle holds any lock). Locks are
 * kernel locks on "<path>.lock" (opened with O_NOFOLLOW, mode 0600), one
 * byte per node keyed by a 64-bit hash of its name, held until st_close or
 * process death (the kernel releases them on kill -9, so a killed run can
 * be resumed at once); they conflict between handles even inside one
 * process. The holder's pid, host and start time are written into the
 * lock file. Both return 0 (also when already held by this handle, and
 * always for ":memory:"), AF_ELOCKED when another handle holds a
 * conflicting lock, with "state file X is in use by pid N (run R, started
 * T)" (st_lock) or "state file X: node N is in use by pid ..."
 * (st_lock_nodes) in e, or a negative errno when the lock file cannot be
 * used (a symbolic link is refused). A failed st_lock_nodes holds none of
 * the nodes it was given. Commands that only read (status, runs, hccn
 * verify, ranktable) take no lock and work beside a holder.
 */
ST_MUST_CHECK int st_lock(struct st *st, struct af_err *e);
ST_MUST_CHECK int st_lock_nodes(struct st *st,
                                const char *const *nodes,
                                size_t n,
                                struct af_err *e);

/*
 * Whether another handle holds the lock of some node of run (or the whole
 * file) right now, without taking anything: works on a read-only handle
 * and never creates the lock file. Returns 0 when the run's nodes are free
 * (also when there is no lock file), AF_ELOCKED with the st_lock_nodes
 * message ("state file X: node N is in use by pid ...") when one is held,
 * or AF_EDB when the run's nodes cannot be read. A bare resume uses it to
 * pass by a run that a live rollout is working on.
 */
int st_run_lock_probe(struct st *st, int64_t run, struct af_err *e);

/*
 * Explicit batch: st_begin starts a write transaction (BEGIN IMMEDIATE);
 * every call until st_commit or st_rollback joins it and nothing of it is
 * visible or durable before st_commit returns 0. Batches do not nest:
 * st_begin inside a batch returns AF_EINPUT. st_commit/st_rollback outside a
 * batch return AF_EINPUT. All return 0 or AF_EDB; a failed st_commit has
 * rolled the batch back. st_rollback is the only call not ST_MUST_CHECK:
 * it is the cleanup of a failed batch, and the batch is gone either way.
 */
ST_MUST_CHECK int st_begin(struct st *st, struct af_err *e);
ST_MUST_CHECK int st_commit(struct st *st, struct af_err *e);
int st_rollback(struct st *st, struct af_err *e);

/*
 * Run PRAGMA integrity_check and foreign_key_check. Returns 0 when both are
 * clean, AF_EDB with the first problem in e otherwise.
 */
int st_check(struct st *st, struct af_err *e);

/* ---- runs ---- */

/*
 * Create a run in status "planned", owned by this process (pid, host name
 * and now are recorded), and store its id in *run_id. cmdline and stages
 * must not be NULL; options_json must be a JSON object text or NULL (taken
 * as "{}"). Strings are copied. Returns 0, AF_EINPUT for invalid JSON, or
 * AF_EDB.
 */
ST_MUST_CHECK int st_run_create(struct st *st,
                                const char *cmdline,
                                const char *stages,
                                const char *options_json,
                                int64_t *run_id,
                                struct af_err *e);

/*
 * Set a run's status and reason (NULL clears the reason). Setting
 * ST_RUN_RUNNING also records this process as the run's owner (pid, host,
 * owner_since = now), which is how a resumed run is taken over. Returns 0,
 * AF_ENOTFOUND when the run does not exist, or AF_EDB.
 */
ST_MUST_CHECK int st_run_set_status(struct st *st,
                                    int64_t run,
                                    enum st_run_status status,
                                    const char *reason,
                                    struct af_err *e);

/*
 * Read run into *out, which the caller releases with st_run_clear. Returns
 * 0, AF_ENOTFOUND (out zeroed) or AF_EDB.
 */
int
st_run_get(struct st *st, int64_t run, struct st_run *out, struct af_err *e);

/* Free the strings of *r and zero it. Accepts NULL. */
void st_run_clear(struct st_run *r);

/*
 * Append the top-level keys of run's options object, in stored order, to
 * *out (which the caller has initialised and frees), read with SQLite's
 * json_each: strings as they are, numbers in their text form, true/false
 * as "true"/"false", objects and arrays as JSON text; null values are
 * left out. Returns 0, AF_ENOTFOUND when the run does not exist, or AF_EDB.
 */
int
st_run_options(struct st *st, int64_t run, struct af_kv *out, struct af_err *e);

/*
 * Store in *run the id of the newest run that is not finished, i.e. whose
 * status is planned, running, paused, failed or interrupted (done and
 * aborted runs are finished). Returns 0, AF_ENOTFOUND when there is none, or
 * AF_EDB.
 */
int st_run_last_unfinished(struct st *st, int64_t *run, struct af_err *e);

/*
 * All runs, oldest first, as a new array in *out with *n entries (NULL and
 * 0 when there are none). The caller frees it with st_runs_free. Returns 0
 * or AF_EDB (*out NULL, *n 0).
 */
int
st_run_list(struct st *st, struct st_run **out, size_t *n, struct af_err *e);
void st_runs_free(struct st_run *runs, size_t n);

/* ---- nodes of a run ---- */

/*
 * Insert or update node's row in run. On insert, a NULL address stays NULL
 * and batch < 0 means "not assigned"; on update, a NULL address and a batch
 * < 0 keep the stored values. status and reason always replace the stored
 * ones (NULL clears the reason). Returns 0, AF_ENOTFOUND when the run does
 * not exist, or AF_EDB.
 */
ST_MUST_CHECK int st_node_upsert(struct st *st,
                                 int64_t run,
                                 const char *node,
                                 const char *address,
                                 int batch,
                                 enum st_node_status status,
                                 const char *reason,
                                 struct af_err *e);

/*
 * Record boot ids for node in run: before is the boot_id seen before a
 * reboot, after the one seen when the node came back. A NULL argument keeps
 * the stored value. Returns 0, AF_ENOTFOUND when the node is not in the
 * run, or AF_EDB.
 */
ST_MUST_CHECK int st_node_set_boot(struct st *st,
                                   int64_t run,
                                   const char *node,
                                   const char *before,
                                   const char *after,
                                   struct af_err *e);

/*
 * Read one node of a run into *out (release with st_node_clear). Returns 0,
 * AF_ENOTFOUND or AF_EDB.
 */
int st_node_get(struct st *st,
                int64_t run,
                const char *node,
                struct st_node *out,
                struct af_err *e);
void st_node_clear(struct st_node *n);

/*
 * All nodes of run in the order they were first inserted, as a new array
 * in *out with *n entries (NULL and 0 when none). Free with st_nodes_free.
 * Returns 0 or AF_EDB.
 */
int st_node_list(struct st *st,
                 int64_t run,
                 struct st_node **out,
                 size_t *n,
                 struct af_err *e);
void st_nodes_free(struct st_node *nodes, size_t n);

/* ---- node steps ---- */

/*
 * Insert or update the row (run, node, stage, step); the node must already
 * be in the run (st_node_upsert), else AF_ENOTFOUND. Rules:
 * - going to ST_STEP_RUNNING from any other status (or on insert) starts a
 *   new attempt: attempt + 1, started = now, ended, exit code and output
 *   cleared; setting running while already running changes none of these
 *   (a resumed run that finds a step left running by a dead process should
 *   set it to pending first so the retry counts as a new attempt);
 * - done, skipped, failed and blocked set ended = now when the status
 *   changes (ST_STEP_PENDING clears ended);
 * - exit_code replaces the stored one unless it is ST_NO_EXIT;
 * - action replaces the stored one unless NULL;
 * - output (output_len bytes, may hold NULs) replaces the stored tail
 *   unless NULL: only its last ST_OUTPUT_TAIL_MAX bytes are kept (cut at a
 *   UTF-8 character start), and output_truncated is stored as truncated ||
 *   output_len > ST_OUTPUT_TAIL_MAX.
 * The whole update is one transaction. Strings are copied. Returns 0,
 * AF_ENOTFOUND or AF_EDB.
 */
ST_MUST_CHECK int st_step_set(struct st *st,
                              int64_t run,
                              const char *node,
                              const char *stage,
                              const char *step,
                              enum st_step_status status,
                              int exit_code,
                              const char *action,
                              const char *output,
                              size_t output_len,
                              int truncated,
                              struct af_err *e);

/*
 * Record boot ids for a step that rebooted the node (NULL keeps the stored
 * value). Returns 0, AF_ENOTFOUND when the step row does not exist, or
 * AF_EDB.
 */
ST_MUST_CHECK int st_step_set_boot(struct st *st,
                                   int64_t run,
                                   const char *node,
                                   const char *stage,
                                   const char *step,
                                   const char *before,
                                   const char *after,
                                   struct af_err *e);

/*
 * Read one step row into *out (release with st_step_clear). Returns 0,
 * AF_ENOTFOUND or AF_EDB.
 */
int st_step_get(struct st *st,
                int64_t run,
                const char *node,
                const char *stage,
                const char *step,
                struct st_step *out,
                struct af_err *e);
void st_step_clear(struct st_step *s);

/*
 * The step rows of run (of one node when node is not NULL) in the order
 * they were first inserted, as a new array in *out with *n entries (NULL
 * and 0 when none). Free with st_steps_free. Returns 0 or AF_EDB.
 */
int st_step_list(struct st *st,
                 int64_t run,
                 const char *node,
                 struct st_step **out,
                 size_t *n,
                 struct af_err *e);
void st_steps_free(struct st_step *steps, size_t n);

/* ---- full output of step attempts (st-log.c) ---- */

/* Bytes of one attempt's output kept by default: the head and the tail. */
#define ST_LOG_CAP (64 * 1024 * 1024)
/* Bytes a recorder buffers before it writes them as one chunk. */
#define ST_LOG_CHUNK (128 * 1024)
/* Longest a recorder keeps bytes buffered once more arrive (ms). */
#define ST_LOG_FLUSH_MS 2000

/* One recorded attempt (a row of step_logs). Strings owned by the struct. */
struct st_log_info {
    char *node;
    char *stage;
    char *step;
    int attempt;      /* the step's attempt number (1 = first) */
    uint64_t bytes;   /* bytes the command wrote (kept or not) */
    uint64_t dropped; /* bytes not kept, between the head and the tail */
    int exit_code;    /* ST_NO_EXIT when none was recorded */
    char *result;     /* how it ended ("exit 0", "timed out ..."), or NULL */
    int complete;     /* 0: still recording, or the recorder died */
    int64_t started;  /* unix ms */
    int64_t updated;  /* unix ms of the last chunk */
};

struct st_log;

/*
 * Start recording the output of the current attempt of a step: the
 * attempt number is the one the step row holds (st_step_set counts it when
 * the step goes to running). Output already recorded for that attempt is
 * replaced. At most cap bytes are kept (0 = ST_LOG_CAP): the first cap / 2
 * and the last cap - cap / 2; the bytes between are counted as dropped, so
 * a runaway command can neither fill the disk nor the memory (a recorder
 * holds at most ST_LOG_CHUNK bytes, allocated as they come). Returns 0 with the
 * recorder in *out, AF_ENOTFOUND when the step row does not exist (or its
 * attempt is 0), AF_EINPUT on a read-only handle, or AF_EDB; *out is then NULL.
 */
ST_MUST_CHECK int st_log_open(struct st *st,
                              int64_t run,
                              const char *node,
                              const char *stage,
                              const char *step,
                              size_t cap,
                              struct st_log **out,
                              struct af_err *e);

/*
 * Append n bytes (any bytes, NULs included). They are buffered and written
 * as one transaction per ST_LOG_CHUNK bytes, or sooner when the oldest
 * buffered byte is ST_LOG_FLUSH_MS old. Returns 0 or AF_EDB; after a
 * failed write every later call returns the same error and writes nothing.
 */
ST_MUST_CHECK int
st_log_write(struct st_log *l, const void *p, size_t n, struct af_err *e);

/* Bytes buffered by the recorder and not yet written. */
size_t st_log_buffered(const struct st_log *l);

/*
 * Write the buffered bytes now (one transaction, or part of the caller's
 * st_begin batch), so a reader sees the output of a step that went quiet.
 * Returns 0 (also when nothing is buffered) or the recorder's error.
 */
ST_MUST_CHECK int st_log_sync(struct st_log *l, struct af_err *e);

/*
 * Write what is buffered, record how the attempt ended (exit_code, or
 * ST_NO_EXIT; result, a short text, or NULL) and mark it complete, then
 * free the recorder. Accepts NULL (returns 0). Returns 0, or the first
 * error of the recorder (the recorder is freed either way).
 */
ST_MUST_CHECK int st_log_close(struct st_log *l,
                               int exit_code,
                               const char *result,
                               struct af_err *e);

/*
 * The recorded attempts of node in run, in the order they started; only
 * those of stage/step when step is not NULL (stage NULL: any stage). A new
 * array in *out with *n entries (NULL and 0 when none; also for a state
 * file older than the step_logs table). Free with st_log_infos_free.
 * Returns 0 or AF_EDB.
 */
int st_log_list(struct st *st,
                int64_t run,
                const char *node,
                const char *stage,
                const char *step,
                struct st_log_info **out,
                size_t *n,
                struct af_err *e);
void st_log_infos_free(struct st_log_info *logs, size_t n);

/*
 * Receives the kept bytes of an attempt in order (borrowed for the call);
 * a nonzero return stops st_log_read, which returns that value.
 */
typedef int (*st_log_cb)(void *data, const char *p, size_t n);

/*
 * Pass the kept output of one attempt to cb, chunk by chunk (memory stays
 * bounded by ST_LOG_CHUNK): the head, then, when bytes were dropped, the
 * line "\n[... N bytes dropped ...]\n", then the tail. Returns 0,
 * AF_ENOTFOUND when there is no such attempt, AF_EDB, or cb's value.
 */
int st_log_read(struct st *st,
                int64_t run,
                const char *node,
                const char *stage,
                const char *step,
                int attempt,
                st_log_cb cb,
                void *data,
                struct af_err *e);

/* ---- events ---- */

/*
 * Append an event: run (0 = none), node (NULL = the run as a whole), kind
 * (a short word such as "node", "step", "batch", "run"; NULL is taken as
 * "note") and a printf-formatted text, cut to ST_EVENT_TEXT_MAX bytes.
 * The timestamp is now. It never prints. Returns 0 or AF_EDB (the SQLite
 * message is then st_errmsg(st)); the caller decides whether a lost event
 * stops its work, but must look at the code.
 */
ST_MUST_CHECK int st_event(struct st *st,
                           int64_t run,
                           const char *node,
                           const char *kind,
                           const char *fmt,
                           ...) __attribute__((format(printf, 5, 6)));

/*
 * Events with id > after_id (0 = from the start) of run (0 = of every run
 * and of none), in the order they were appended, as a new array in *out
 * with *n entries (NULL and 0 when none). Free with st_events_free. Returns
 * 0 or AF_EDB.
 */
int st_event_list(struct st *st,
                  int64_t run,
                  int64_t after_id,
                  struct st_event **out,
                  size_t *n,
                  struct af_err *e);
void st_events_free(struct st_event *events, size_t n);

/* ---- facts ---- */

/*
 * Replace node's whole fact set with the pairs of kv (order kept, repeated
 * keys allowed), stamped gathered_at = now, in one transaction: a reader
 * sees the old set or the new one, never a mix. An empty kv leaves the node
 * with no facts. kv is only read. Returns 0 or AF_EDB.
 */
ST_MUST_CHECK int st_facts_put(struct st *st,
                               const char *node,
                               const struct af_kv *kv,
                               struct af_err *e);

/*
 * Append node's facts, in stored order, to *out, which the caller has
 * initialised (af_kv_init) and frees (af_kv_free). When gathered_at is not
 * NULL it receives the time the set was stored. Returns 0, AF_ENOTFOUND
 * when the node has no facts, or AF_EDB.
 */
int st_facts_get(struct st *st,
                 const char *node,
                 struct af_kv *out,
                 int64_t *gathered_at,
                 struct af_err *e);

/* ---- hccn results ---- */

/*
 * Insert or replace the row (r->node, r->npu) with r's fields (NULL strings
 * are stored as NULL) and updated = now. r is only read. Returns 0 or
 * AF_EDB.
 */
ST_MUST_CHECK int
st_hccn_put(struct st *st, const struct st_hccn *r, struct af_err *e);

/*
 * The hccn rows of node (of every node when NULL), ordered by node and npu,
 * as a new array in *out with *n entries (NULL and 0 when none). Free with
 * st_hccn_free. Returns 0 or AF_EDB.
 */
int st_hccn_get(struct st *st,
                const char *node,
                struct st_hccn **out,
                size_t *n,
                struct af_err *e);
void st_hccn_free(struct st_hccn *rows, size_t n);

/* ---- node identity (st-ident.c) ---- */

/*
 * Record the identity of node in run (its row must exist): a NULL field
 * keeps the stored value. Returns 0, AF_ENOTFOUND when the node is not in
 * the run, or AF_EDB.
 */
ST_MUST_CHECK int st_node_set_ident(struct st *st,
                                    int64_t run,
                                    const char *node,
                                    const struct st_ident *id,
                                    struct af_err *e);

/*
 * Read the identity recorded for node in run into *address and *host_key
 * (new strings the caller frees, NULL when not recorded). Returns 0,
 * AF_ENOTFOUND when the node is not in the run, or AF_EDB.
 */
int st_node_ident(struct st *st,
                  int64_t run,
                  const char *node,
                  char **address,
                  char **host_key,
                  struct af_err *e);

/*
 * Stamp node's current fact set with the identity of the machine it was
 * gathered from (call after st_facts_put, in the same batch). Returns 0 or
 * AF_EDB.
 */
ST_MUST_CHECK int st_facts_set_ident(struct st *st,
                                     const char *node,
                                     const struct st_ident *id,
                                     struct af_err *e);

/*
 * The identity node's facts were gathered from (new strings, NULL when
 * unknown). Returns 0, AF_ENOTFOUND when the node has no facts, or AF_EDB.
 */
int st_facts_ident(struct st *st,
                   const char *node,
                   char **address,
                   char **host_key,
                   struct af_err *e);

/*
 * "" when a and b name the same machine, else what differs, e.g.
 * "address 127.0.0.5 -> 127.0.0.9" or "host key SHA256:a -> SHA256:b"
 * (both when both differ), written to out. A field unknown on either side
 * is not compared. Returns 1 when something differs, else 0.
 */
int st_ident_diff(const struct st_ident *recorded,
                  const struct st_ident *now,
                  char *out,
                  size_t len);

#endif /* AF_ST_H */
