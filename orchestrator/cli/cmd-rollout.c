/* SPDX-License-Identifier: MIT */
/* ascend-fleet rollout and resume: option parsing around ro_run. */
#define _GNU_SOURCE
#include "cmd.h"
#include "limit.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "af-err.h"
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
            "all\n"
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
            "      --state FILE       state file (default %s)\n"
            "Exit: 0 done, 1 some nodes failed or blocked, 2 usage, 3 state "
            "file busy,\n4 failure budget exceeded.\n",
            cmd_common_help, AF_DEFAULT_STATE);
}

/* Shared by rollout and resume. Returns -1 to exit with *rc. */
static int
ro_parse(int argc, char **argv, struct ro_opts *ro, struct cmd_opts *o, int *rc)
{
    int opt, r;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "+i:f:w:x:vh", ro_longopts, NULL)) !=
           -1) {
        r = cmd_opts_handle(o, argv[0], opt, optarg);
        if (r < 0) {
            *rc = AF_EXIT_USAGE;
            return -1;
        }
        if (r > 0)
            continue;
        switch (opt) {
        case 'h':
            rollout_usage(stdout);
            *rc = AF_EXIT_OK;
            return -1;
        case OPT_STAGE:
            ro->stages = optarg;
            break;
        case OPT_BATCH:
            ro->batch = optarg;
            break;
        case OPT_MAXFAIL:
            ro->max_fail = optarg;
            break;
        case OPT_PLAN:
            ro->plan_only = 1;
            break;
        case OPT_YES:
            ro->yes = 1;
            break;
        case OPT_PLAYBOOK:
            ro->playbook = optarg;
            break;
        case OPT_PACKAGES:
            ro->packages = optarg;
            break;
        case OPT_SETTLE:
            ro->settle_s = atoi(optarg);
            if (ro->settle_s < 0) {
                *rc = AF_EXIT_USAGE;
                return -1;
            }
            break;
        default:
            rollout_usage(stderr);
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
    ro->json = o->json;
    ro->hostkeys = o->hostkeys;
    ro->kex = o->kex;
    ro->ssh_config = o->ssh_config;
    return 0;
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
    return ro_run(&ro, 0);
}

int
cmd_resume_main(int argc, char **argv)
{
    struct ro_opts ro;
    struct cmd_opts o;
    struct st *st = NULL;
    struct af_err e;
    int64_t run = 0;
    int rc = 0;

    ro_opts_init(&ro);
    cmd_opts_init(&o);
    if (ro_parse(argc, argv, &ro, &o, &rc) < 0)
        return rc;
    if (optind < argc) {
        char *end;

        run = strtoll(argv[optind], &end, 10);
        if (*end || run <= 0) {
            fprintf(stderr, "ascend-fleet resume: bad run id '%s'\n",
                    argv[optind]);
            return AF_EXIT_USAGE;
        }
    } else {
        if (st_open_ro(ro.state, &st, &e) != 0) {
            fprintf(stderr, "ascend-fleet resume: %s\n", e.msg);
            return AF_EXIT_USAGE;
        }
        if ((rc = st_run_last_unfinished(st, &run, &e)) != 0) {
            /* Only a readable file without such a run has none. */
            if (rc == AF_ENOTFOUND)
                fprintf(stderr,
                        "ascend-fleet resume: no unfinished run in %s\n",
                        ro.state);
            else
                fprintf(stderr, "ascend-fleet resume: %s\n", e.msg);
            st_close(st);
            return rc == AF_ENOTFOUND ? AF_EXIT_USAGE : AF_EXIT_FAILED;
        }
        st_close(st);
    }
    ro.yes = 1; /* the operator confirmed when the run started */
    printf("Resuming run %lld\n", (long long)run);
    return ro_run(&ro, run);
}
