/* SPDX-License-Identifier: MIT */
/*
 * Node selection by recorded results (Ansible's retry files, from the
 * state): `@failed:RUN` and `@ok:RUN` terms in --limit, -w and -x are
 * replaced by the nodes of run RUN (an id, or "last") that ended failed,
 * unreachable or blocked, respectively done or skipped. cmd_getopt calls it
 * once the options are parsed, so every subcommand gets it.
 */
#ifndef AF_LIMIT_H
#define AF_LIMIT_H

struct cmd_opts;

/*
 * If o->limit (--limit, -w and -x merged) holds such a term, read the state
 * file (cmd_state_open read-only: --state, else the default beside the
 * inventory) and replace those terms in o->limit by hostlists. Prints the
 * error itself ("--limit: @failed:7: ..."). Also tells a bad defaults file
 * (cmd_opts_init keeps it until the options are read, so --help works).
 * Returns 0, or the exit code.
 */
int cmd_limit_resolve(struct cmd_opts *o, const char *cmd);

#endif /* AF_LIMIT_H */
