/* SPDX-License-Identifier: MIT */
/*
 * Staged rollouts: plan from fresh facts, batches like Ansible's serial,
 * a failure budget, packages pushed content-addressed, rolling reboots
 * proven by a new boot_id, verification from facts, and every transition
 * written to the state file before the action it enables. A run that was
 * killed or partly failed is continued by ro_run with its run id (resume):
 * recorded options are reused, nodes already done stay done, a node caught
 * mid-reboot is reconciled by its boot_id and a step caught mid-install is
 * decided again from the node's facts.
 */
#ifndef AF_ROLLOUT_H
#define AF_ROLLOUT_H

#include <stdint.h>

#include "conn.h"

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
    int json;
    enum conn_hostkey_policy hostkeys;
    const char *kex;
    const char *ssh_config; /* NULL, a file or "none" (not recorded) */
    int settle_s;       /* stability window after a node came back */
    int reboot_poll_ms; /* how often to look for a rebooting node */
};

void ro_opts_init(struct ro_opts *o);

/*
 * Run a new rollout (resume_run 0) or continue run resume_run (options then
 * come from the state file, o supplies only state/inventory overrides and
 * output flags). Prints progress; returns the process exit code
 * (AF_EXIT_*).
 */
int ro_run(const struct ro_opts *o, int64_t resume_run);

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
