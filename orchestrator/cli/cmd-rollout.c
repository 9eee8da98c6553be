/* SPDX-License-Identifier: MIT */
/*
 * ascend-fleet rollout and resume: option tables and checks, the reporter
 * as the engine's sink, and the exit code from the run's outcome.
 */
#define _GNU_SOURCE
#include "cmd.h"
#include "limit.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "af-err.h"
#include "rate.h"
#include "report-rollout.h"
#include "rollout.h"
#include "st.h"

enum {
    OPT_STAGE = CMD_OPT_FIRST_PRIVATE,
    OPT_BATCH,
    OPT_MAXFAIL,
    OPT_PLAN,
    OPT_YES,
    OPT_PLAYBOOK,
    OPT_PACKAGES,
    OPT_SETTLE,
    OPT_FORCE,
    OPT_RATE,
};

static const struct option ro_longopts[] = {
    CMD_LONGOPTS_COMMON,
    {"stage", required_argument, NULL, OPT_STAGE},
    {"batch", required_argument, NULL, OPT_BATCH},
    {"max-fail", required_argument, NULL, OPT_MAXFAIL},
    {"plan", no_argument, NULL, OPT_PLAN},
    {"yes", no_argument, NULL, OPT_YES},
    {"playbook", required_argument, NULL, OPT_PLAYBOOK},
    {"packages", required_argument, NULL, OPT_PACKAGES},
    {"settle", required_argument, NULL, OPT_SETTLE},
    {"force", no_argument, NULL, OPT_FORCE},
    {"rate", required_argument, NULL, OPT_RATE},
    {NULL, 0, NULL, 0},
};

static void
rollout_usage(FILE *out)
{
    fprintf(out,
            "usage: ascend-fleet rollout --stage S[,S...] [options]\n"
            "Plan from fresh facts, then install stage by stage in batches "
            "with rolling\nreboots; every step is recorded in the state "
            "file so 'resume' can finish\nan interrupted run.\n\n%s"
            "      --stage LIST       stages from the playbook: prereq, "
            "driver, firmware,\n"
            "                         npu, cann, torch, torch_npu, apex, "
            "hccn,\n"
            "                         all (= prereq,npu,cann,torch,torch_npu)\n"
            "      --batch SPEC       batch sizes like Ansible serial: "
            "1,10%%,25%% (the last\n"
            "                         repeats; default 1,10%%)\n"
            "      --max-fail N|P%%    failure budget: no new batch once "
            "more nodes failed\n"
            "                         (default 0)\n"
            "      --plan             print the plan and stop\n"
            "      --yes              do not ask for confirmation\n"
            "      --packages DIR     vendor packages (default ./packages)\n"
            "      --playbook FILE    stages file (default: the shipped "
            "ascend.yaml)\n"
            "      --settle S         stability window after a reboot "
            "(default 2)\n"
            "      --rate RATE        cap all package pushes together at "
            "RATE bytes per\n"
            "                         second (K, M, G: KiB, MiB, GiB; e.g. "
            "200M)\n"
            "      --timeout S        cap of every step, installs included "
            "(seconds)\n"
            "      --state FILE       state file (default %s)\n"
            "Exit: 0 done, 1 some nodes failed or blocked (--plan: blocked "
            "or\nunreachable), 2 usage, 3 state file busy, 4 failure budget "
            "exceeded,\n130/143 interrupted by SIGINT/SIGTERM (continue with "
            "'ascend-fleet resume').\n",
            cmd_common_help, AF_DEFAULT_STATE);
}

static void
resume_usage(FILE *out)
{
    fprintf(out,
            "usage: ascend-fleet resume [RUN] [options]\n"
            "Continue an unfinished rollout (the newest one, or run RUN) "
            "with the\noptions it was started with: nodes already done stay "
            "done, a node caught\nmid-reboot is proven back by its boot_id, "
            "a step caught mid-install is\ndecided again from the node's "
            "facts. Options given here replace the recorded\nones and are "
            "recorded with the run. A changed inventory, playbook or\n"
            "package set is refused, with the difference, unless --force.\n\n"
            "      --state FILE       state file (default %s)\n"
            "  -i, --inventory FILE   inventory (its content must match the "
            "run's)\n"
            "      --limit PATTERN    only these nodes of the run (the others "
            "stay\n"
            "                         unfinished)\n"
            "      --batch SPEC       batch sizes for the nodes left\n"
            "      --max-fail N|P%%    failure budget\n"
            "      --timeout S        cap of every step (seconds)\n"
            "      --host-keys MODE   strict or accept-new\n"
            "  -f, --fanout N         nodes in flight at once\n"
            "      --settle S         stability window after a reboot\n"
            "      --rate RATE        cap all package pushes together "
            "(e.g. 200M)\n"
            "      --force            resume with changed inputs, or nodes "
            "whose address\n"
            "                         or host key changed since the run "
            "recorded them\n"
            "      --yes              do not ask for confirmation (needed off "
            "a terminal)\n"
            "      --plan             print the plan of what is left and stop\n"
            "      --json             machine-readable output (JSON Lines)\n"
            "  -h, --help             this help\n"
            "Exit codes as for rollout; 2 also off a terminal without --yes, "
            "3 when\nevery unfinished run is held by a live rollout.\n",
            AF_DEFAULT_STATE);
}

/* A whole number of seconds >= 0, or -1. */
static int
ro_parse_secs(const char *s, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);

    if (*s == '\0' || *end != '\0' || v < 0 || v > 86400)
        return -1;
    *out = (int)v;
    return 0;
}

/* One option of rollout or resume; -1 on a bad value (message printed). */
static int
ro_option(struct ro_opts *ro, const char *cmd, int opt, const char *arg)
{
    switch (opt) {
    case OPT_STAGE:
        ro->stages = arg;
        ro->given |= RO_GIVEN_STAGES;
        return 0;
    case OPT_BATCH:
        ro->batch = arg;
        ro->given |= RO_GIVEN_BATCH;
        return 0;
    case OPT_MAXFAIL:
        ro->max_fail = arg;
        ro->given |= RO_GIVEN_MAXFAIL;
        return 0;
    case OPT_FORCE:
        ro->force = 1;
        return 0;
    case OPT_PLAN:
        ro->plan_only = 1;
        return 0;
    case OPT_YES:
        ro->yes = 1;
        return 0;
    case OPT_PLAYBOOK:
        ro->playbook = arg;
        ro->given |= RO_GIVEN_PLAYBOOK;
        return 0;
    case OPT_PACKAGES:
        ro->packages = arg;
        ro->given |= RO_GIVEN_PACKAGES;
        return 0;
    case OPT_RATE:
        if (rate_parse(arg, &ro->rate) != 0) {
            fprintf(stderr,
                    "ascend-fleet %s: --rate '%s': expected bytes per second, "
                    "a whole number with an optional K, M or G, e.g. 200M\n",
                    cmd, arg);
            return -1;
        }
        return 0;
    case OPT_SETTLE:
        if (ro_parse_secs(arg, &ro->settle_s) != 0) {
            fprintf(stderr,
                    "ascend-fleet %s: --settle wants seconds >= 0, not "
                    "'%s'\n",
                    cmd, arg);
            return -1;
        }
        return 0;
    default:
        return -1;
    }
}

/* The RO_GIVEN_* bit of a shared option, 0 for the others. */
static unsigned
ro_given_common(int opt)
{
    switch (opt) {
    case 'i':
        return RO_GIVEN_INVENTORY;
    case 'f':
        return RO_GIVEN_FANOUT;
    case CMD_OPT_LIMIT:
        return RO_GIVEN_LIMIT;
    case CMD_OPT_TIMEOUT:
        return RO_GIVEN_TIMEOUT;
    case CMD_OPT_HOSTKEYS:
        return RO_GIVEN_HOSTKEYS;
    default:
        return 0;
    }
}

/* Shared by rollout and resume. Returns -1 to exit with *rc. */
static int
ro_parse(int argc, char **argv, struct ro_opts *ro, struct cmd_opts *o, int *rc)
{
    int resume = strcmp(argv[0], "resume") == 0;
    int opt, r;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "i:f:w:x:vh", ro_longopts, NULL)) !=
           -1) {
        ro->given |= ro_given_common(opt);
        r = cmd_opts_handle(o, argv[0], opt, optarg);
        if (r < 0) {
            *rc = AF_EXIT_USAGE;
            return -1;
        }
        if (r > 0)
            continue;
        if (opt == 'h') {
            if (resume)
                resume_usage(stdout);
            else
                rollout_usage(stdout);
            *rc = AF_EXIT_OK;
            return -1;
        }
        if (opt == '?' || ro_option(ro, argv[0], opt, optarg) != 0) {
            if (opt == '?') {
                if (resume)
                    resume_usage(stderr);
                else
                    rollout_usage(stderr);
            }
            *rc = AF_EXIT_USAGE;
            return -1;
        }
    }
    if ((*rc = cmd_limit_resolve(o, argv[0])) != 0)
        return -1;
    ro->inventory = o->inventory;
    ro->limit = o->limit;
    ro->state = cmd_state_path(o);
    if (o->state_derived) {
        struct af_err e = {0};

        if (st_make_dir(ro->state, &e) != 0) {
            fprintf(stderr, "ascend-fleet %s: %s\n", argv[0], e.msg);
            *rc = AF_EXIT_USAGE;
            return -1;
        }
    }
    ro->fanout = o->fanout;
    ro->hostkeys = o->hostkeys;
    ro->kex = o->kex;
    ro->timeout_s = o->timeout_s;
    ro->signals = 1;
    ro->ssh_config = o->ssh_config;
    return 0;
}

/* The exit code for a run's outcome (documented in rollout_usage). */
static int
ro_exit_code(const struct ro_result *res)
{
    switch (res->outcome) {
    case RO_OUT_OK:
        return AF_EXIT_OK;
    case RO_OUT_FAILED:
        return AF_EXIT_FAILED;
    case RO_OUT_USAGE:
    case RO_OUT_DECLINED:
        return AF_EXIT_USAGE;
    case RO_OUT_LOCKED:
        return AF_EXIT_LOCKED;
    case RO_OUT_BUDGET:
        return AF_EXIT_BUDGET;
    case RO_OUT_INTERRUPTED:
        return 128 + res->signo;
    case RO_OUT_STATE:
    default:
        return AF_EXIT_INTERNAL;
    }
}

/* Check, run with the reporter as the sink, map the outcome. */
static int
ro_go(const char *cmd,
      struct ro_opts *ro,
      const struct cmd_opts *o,
      int64_t run)
{
    struct rr *r;
    struct ro_sink sink;
    struct ro_result res;
    char why[512];

    if (run == 0 && ro_opts_check(ro, why, sizeof(why)) != 0) {
        fprintf(stderr, "ascend-fleet %s: %s\n", cmd, why);
        return AF_EXIT_USAGE;
    }
    r = rr_new(cmd, o->json, ro->yes);
    rr_sink(r, &sink);
    ro->progress = rr_live(r);
    memset(&res, 0, sizeof(res));
    ro_run(ro, run, &sink, &res);
    rr_free(r);
    return ro_exit_code(&res);
}

int
cmd_rollout_main(int argc, char **argv)
{
    struct ro_opts ro;
    struct cmd_opts o;
    int rc = 0;

    ro_opts_init(&ro);
    cmd_opts_init(&o);
    if (ro_parse(argc, argv, &ro, &o, &rc) < 0)
        return rc;
    if (optind != argc) {
        fprintf(stderr, "ascend-fleet rollout: unexpected argument '%s'\n",
                argv[optind]);
        return AF_EXIT_USAGE;
    }
    if (ro.stages == NULL) {
        fprintf(stderr, "ascend-fleet rollout: --stage is required\n");
        rollout_usage(stderr);
        return AF_EXIT_USAGE;
    }
    return ro_go("rollout", &ro, &o, 0);
}

/* 1 for a run a bare resume may pick (not done, not aborted). */
static int
resume_unfinished(const struct st_run *r)
{
    return r->status != ST_RUN_DONE && r->status != ST_RUN_ABORTED;
}

/*
 * The newest unfinished run whose nodes no live process holds. Returns 0
 * with *run, or the exit code (message printed): 2 when there is none, 3
 * when every unfinished run is busy (the newest one is named).
 */
static int
resume_newest_free(struct st *st, const char *path, int64_t *run)
{
    struct st_run *runs = NULL;
    size_t n = 0, i;
    struct af_err e, busy;
    int64_t busy_run = 0;
    int rc = AF_EXIT_USAGE, r;

    if (st_run_list(st, &runs, &n, &e) != 0) {
        fprintf(stderr, "ascend-fleet resume: %s\n", e.msg);
        return AF_EXIT_FAILED;
    }
    for (i = n; i-- > 0;) {
        if (!resume_unfinished(&runs[i]))
            continue;
        r = st_run_lock_probe(st, runs[i].id, &e);
        if (r == 0) {
            *run = runs[i].id;
            rc = 0;
            goto out;
        }
        if (r != AF_ELOCKED) {
            fprintf(stderr, "ascend-fleet resume: %s\n", e.msg);
            rc = AF_EXIT_FAILED;
            goto out;
        }
        if (busy_run == 0) {
            busy_run = runs[i].id;
            busy = e;
        }
    }
    if (busy_run > 0) {
        fprintf(stderr,
                "ascend-fleet resume: run %lld is busy, and no other run is "
                "unfinished: %s\n",
                (long long)busy_run, busy.msg);
        rc = AF_EXIT_LOCKED;
    } else {
        fprintf(stderr, "ascend-fleet resume: no unfinished run in %s\n", path);
    }
out:
    st_runs_free(runs, n);
    return rc;
}

/*
 * The run to resume: the one named, or the newest unfinished one that no
 * live rollout holds. Returns 0, or the exit code (message printed).
 */
static int
resume_pick(const struct ro_opts *ro, int argc, char **argv, int64_t *run)
{
    struct st *st = NULL;
    struct af_err e;
    char *end;
    int r;

    /* Resume never creates a state file (a typo'd --state is an error):
     * without RUN the file is opened read-only here, with RUN ro_setup
     * says so. */
    if (optind < argc) {
        *run = strtoll(argv[optind], &end, 10);
        if (*end || *run <= 0 || optind + 1 < argc) {
            fprintf(stderr, "ascend-fleet resume: bad run id '%s'\n",
                    argv[optind + (*end || *run <= 0 ? 0 : 1)]);
            return AF_EXIT_USAGE;
        }
        return 0;
    }
    if (st_open_ro(ro->state, &st, &e) != 0) {
        fprintf(stderr, "ascend-fleet resume: %s\n", e.msg);
        return AF_EXIT_USAGE;
    }
    r = resume_newest_free(st, ro->state, run);
    st_close(st);
    return r;
}

int
cmd_resume_main(int argc, char **argv)
{
    struct ro_opts ro;
    struct cmd_opts o;
    int64_t run = 0;
    int rc = 0;

    ro_opts_init(&ro);
    cmd_opts_init(&o);
    if (ro_parse(argc, argv, &ro, &o, &rc) < 0)
        return rc;
    if ((rc = resume_pick(&ro, argc, argv, &run)) != 0)
        return rc;
    /* Resume installs and reboots like rollout: off a terminal nothing is
     * asked, so nothing starts (and nothing is recorded) without --yes. */
    if (!ro.yes && !ro.plan_only && !isatty(STDIN_FILENO)) {
        fprintf(stderr,
                "ascend-fleet resume: not on a terminal: pass --yes to resume "
                "run %lld (it may install packages and reboot nodes)\n",
                (long long)run);
        return AF_EXIT_USAGE;
    }
    return ro_go("resume", &ro, &o, run);
}
