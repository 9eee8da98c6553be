/* SPDX-License-Identifier: MIT */
/* Temporary: subcommands not built yet say so. */
#include "cmd.h"

#include <stdio.h>

static int
not_yet(const char *name)
{
    fprintf(stderr, "ascend-fleet %s: not available in this build\n", name);
    return AF_EXIT_USAGE;
}

int
cmd_rollout_main(int argc, char **argv)
{
    (void)argc;
    return not_yet(argv[0]);
}

int
cmd_resume_main(int argc, char **argv)
{
    (void)argc;
    return not_yet(argv[0]);
}

int
cmd_status_main(int argc, char **argv)
{
    (void)argc;
    return not_yet(argv[0]);
}

int
cmd_runs_main(int argc, char **argv)
{
    (void)argc;
    return not_yet(argv[0]);
}

int
cmd_hccn_main(int argc, char **argv)
{
    (void)argc;
    return not_yet(argv[0]);
}

int
cmd_ranktable_main(int argc, char **argv)
{
    (void)argc;
    return not_yet(argv[0]);
}
