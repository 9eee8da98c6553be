/* SPDX-License-Identifier: MIT */
/*
 * Subcommands: one cmd-<name>.c per subcommand (tmux style), dispatched from
 * the table in main.c. Each entry point gets argv with argv[0] = its name,
 * prints to the operator, and returns the process exit code.
 */
#ifndef AF_CMD_H
#define AF_CMD_H

#include <getopt.h>
#include <stdio.h>

#include "config.h"
#include "conn.h"

/* Exit codes, documented in README.md. */
#define AF_EXIT_OK       0 /* every node succeeded */
#define AF_EXIT_FAILED   1 /* some node failed, was unreachable or timed out */
#define AF_EXIT_USAGE    2 /* usage or input error (bad inventory, options) */
#define AF_EXIT_LOCKED   3 /* the state file is held by another process */
#define AF_EXIT_BUDGET   4 /* rollout stopped: failure budget exceeded */
#define AF_EXIT_INTERNAL 70

struct cmd_entry {
    const char *name;
    const char *summary;
    int (*main)(int argc, char **argv);
};

/*
 * Options most subcommands share. cmd_opts_init sets the built-in defaults,
 * then those of the defaults files (config.h); a bad defaults file is an
 * input error: its FILE:LINE:COL message is printed and the process exits
 * with AF_EXIT_USAGE, whatever the command. Options parsed after it win.
 */
struct cmd_opts {
    struct cfg cfg; /* the defaults files, read by cmd_opts_init */
    const char *inventory;
    const char *limit;
    const char *state;    /* NULL until --state or cmd_state_path */
    char state_def[4096]; /* the derived default, when used */
    int state_derived;    /* state is the default beside the inventory */
    int fanout;
    int json;
    int timeout_s;
    enum conn_hostkey_policy hostkeys;
    const char *kex;
    const char *ssh_config; /* --ssh-config FILE|none, or NULL */
    int verbose;            /* -v count: libssh log level on stderr */
    char limit_buf[4096];   /* --limit, -w and -x merged */
    char cfg_err[512];      /* a bad defaults file, told after --help */
};

/*
 * Add terms (a --limit expression) to the selection in buf: as they are, or
 * with exclude each comma-separated term negated ("-x a,b" = "!a,!b").
 * Returns 0, or -1 when buf (cap bytes) is too small.
 */
int cmd_limit_add(char *buf, size_t cap, const char *terms, int exclude);

void cmd_opts_init(struct cmd_opts *o);
/*
 * Handle one of the shared options (the long-option values below); returns
 * 1 if handled, 0 if not one of them, -1 on a bad value (message printed).
 */
int
cmd_opts_handle(struct cmd_opts *o, const char *cmd, int opt, const char *arg);

enum {
    CMD_OPT_LIMIT = 1000,
    CMD_OPT_STATE,
    CMD_OPT_JSON,
    CMD_OPT_HOSTKEYS,
    CMD_OPT_KEX,
    CMD_OPT_TIMEOUT,
    CMD_OPT_SSH_CONFIG,
    CMD_OPT_FIRST_PRIVATE, /* subcommands number their own from here */
};

/* clang-format off */
#define CMD_LONGOPTS_COMMON                                                   \
    {"inventory", required_argument, NULL, 'i'},                              \
        {"limit", required_argument, NULL, CMD_OPT_LIMIT},                    \
        {"state", required_argument, NULL, CMD_OPT_STATE},                    \
        {"fanout", required_argument, NULL, 'f'},                             \
        {"json", no_argument, NULL, CMD_OPT_JSON},                            \
        {"host-keys", required_argument, NULL, CMD_OPT_HOSTKEYS},             \
        {"kex", required_argument, NULL, CMD_OPT_KEX},                        \
        {"timeout", required_argument, NULL, CMD_OPT_TIMEOUT},                \
        {"ssh-config", required_argument, NULL, CMD_OPT_SSH_CONFIG},          \
        {"verbose", no_argument, NULL, 'v'},                                  \
        {"help", no_argument, NULL, 'h'}
/* clang-format on */

/*
 * One option table per command: the shared options (CMD_LONGOPTS_COMMON)
 * plus the command's own. cmd_getopt parses with getopt_long in permuting
 * mode, so options may follow positionals ("--" ends the options). Shared
 * options land in o; the command's own go to spec->handle.
 */
typedef int (*cmd_opt_fn)(void *ctx, int opt, const char *arg);

struct cmd_spec {
    const char *name;         /* for messages: "facts", "hccn apply" */
    const char *shortopts;    /* the command's own short options ("o:") */
    const struct option *own; /* its own long options, {0}-ended, or NULL */
    cmd_opt_fn handle;        /* own option: 0, or an exit code */
    void (*usage)(FILE *out);
    int max_args; /* positionals allowed; -1 = any number */
};

/*
 * Parse argv (argv[0] is the command's name). Returns 0 with the
 * positionals in argv[optind..argc), -1 when --help was printed (exit 0),
 * or an exit code after printing why (usage errors: AF_EXIT_USAGE).
 */
int cmd_getopt(int argc,
               char **argv,
               const struct cmd_spec *spec,
               struct cmd_opts *o,
               void *ctx);

struct report;
/*
 * The window to use for nodes nodes: fanout, lowered (with a one-line
 * notice through rep) when the process has fewer free file descriptors
 * than sessions would need.
 */
int cmd_fanout_clamp(struct report *rep, int fanout, size_t nodes);
/* Raise the soft open-files limit to the hard one (at start). */
void cmd_raise_nofile(void);

/*
 * The state file is "<inventory dir>/.ascend-fleet/<inventory name>.db"
 * unless --state is given (st_default_path). AF_DEFAULT_STATE is what
 * help texts show.
 */
#define AF_DEFAULT_STATE "<inventory dir>/.ascend-fleet/<inventory name>.db"

struct st;

/* The state file path: --state, or the default derived from -i. */
const char *cmd_state_path(struct cmd_opts *o);

/*
 * Open the state file for cmd: read-only (write 0: never creating one; "no
 * state file at PATH" when missing), for writing (CMD_STATE_CREATE:
 * creating it and the default's directory, mode 0700, when needed) or for
 * writing an existing one (CMD_STATE_EXISTING). Prints the error itself.
 * Returns 0, or the exit code to leave with.
 */
#define CMD_STATE_CREATE   1
#define CMD_STATE_EXISTING 2
int
cmd_state_open(struct cmd_opts *o, const char *cmd, int write, struct st **st);

/*
 * Lock the n nodes of names in st for cmd (st_lock_nodes). Prints the
 * error itself. Returns 0, or the exit code (AF_EXIT_LOCKED when another
 * process holds one of them).
 */
int cmd_lock_nodes(struct st *st,
                   const char *cmd,
                   const char *const *names,
                   size_t n);

/* Text for the shared options, for each subcommand's --help. */
extern const char cmd_common_help[];

int cmd_exec_main(int argc, char **argv);
int cmd_inventory_main(int argc, char **argv);
int cmd_facts_main(int argc, char **argv);
int cmd_rollout_main(int argc, char **argv);
int cmd_resume_main(int argc, char **argv);
int cmd_status_main(int argc, char **argv);
int cmd_stage_main(int argc, char **argv);
int cmd_runs_main(int argc, char **argv);
int cmd_logs_main(int argc, char **argv);
int cmd_hccn_main(int argc, char **argv);
int cmd_ranktable_main(int argc, char **argv);
int cmd_copy_main(int argc, char **argv);
int cmd_gather_main(int argc, char **argv);

#endif /* AF_CMD_H */
