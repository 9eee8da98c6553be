/* SPDX-License-Identifier: MIT */
/*
 * ascend-fleet: install and upgrade the Ascend NPU software stack on a
 * whole rack over SSH. main only initialises libssh and dispatches to the
 * subcommand table; each subcommand lives in its own cmd-<name>.c.
 */
#include "cmd.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "af-err.h"

#include <libssh/libssh.h>

static const struct cmd_entry cmd_table[] = {
    {"exec", "run a shell command on every node, output folded", cmd_exec_main},
    {"copy", "put files on every node (content-addressed, atomic)",
     cmd_copy_main},
    {"gather", "fetch a file from every node into DIR/NAME.NODE",
     cmd_gather_main},
    {"facts", "gather node facts (driver, firmware, CANN, NPU health)",
     cmd_facts_main},
    {"rollout", "staged install in batches with rolling reboots",
     cmd_rollout_main},
    {"resume", "continue an unfinished rollout", cmd_resume_main},
    {"stage", "copy packages to the nodes ahead of a rollout", cmd_stage_main},
    {"status", "show a run: stages, nodes folded by state", cmd_status_main},
    {"runs", "list runs; runs abort RUN gives one up", cmd_runs_main},
    {"logs", "full output of a node's steps in a run", cmd_logs_main},
    {"hccn", "NPU device IPs: plan, apply, verify", cmd_hccn_main},
    {"ranktable", "write the HCCL rank table", cmd_ranktable_main},
    {"inventory", "check or show the inventory", cmd_inventory_main},
};

#define CMD_COUNT (sizeof(cmd_table) / sizeof(cmd_table[0]))

static void
usage(FILE *out)
{
    size_t i;

    fprintf(out, "usage: ascend-fleet [--version] [--help] COMMAND "
                 "[options]\n\nCommands:\n");
    for (i = 0; i < CMD_COUNT; i++)
        fprintf(out, "  %-10s %s\n", cmd_table[i].name, cmd_table[i].summary);
    fprintf(out,
            "\nRun 'ascend-fleet COMMAND --help' for a command's options.\n"
            "Exit codes: 0 ok, 1 some nodes failed, 2 usage or input error,\n"
            "3 state file busy, 4 failure budget exceeded, 70 internal "
            "error.\n"
            "Defaults for -i, --state, -f, --host-keys and --ssh-config: "
            "/etc/ascend-fleet/config.yaml,\nthen "
            "~/.config/ascend-fleet/config.yaml (see ascend-fleet(1), "
            "FILES).\n");
}

int
main(int argc, char **argv)
{
    size_t i;
    int rc;

    if (argc < 2) {
        usage(stderr);
        return AF_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return AF_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
        printf("ascend-fleet %s (libssh %s, libuv %s)\n", AF_VERSION,
               ssh_version(0), uv_version_string());
        return AF_EXIT_OK;
    }
    for (i = 0; i < CMD_COUNT; i++) {
        if (strcmp(argv[1], cmd_table[i].name) != 0)
            continue;
        /* A node closing its socket must not kill us mid-write. */
        signal(SIGPIPE, SIG_IGN);
        /* Many nodes at once need many sockets (see cmd_fanout_clamp). */
        cmd_raise_nofile();
        ssh_init();
        rc = cmd_table[i].main(argc - 1, argv + 1);
        ssh_finalize();
        fflush(stdout);
        return rc;
    }
    fprintf(stderr, "ascend-fleet: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return AF_EXIT_USAGE;
}
