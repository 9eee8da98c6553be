/* SPDX-License-Identifier: MIT */
/*
 * Node selection by recorded results (Ansible's retry files, from the
 * state): `@failed:RUN` and `@ok:RUN` terms in --limit, -w and -x are
 * replaced by the nodes of run RUN (an id, or "last") that ended failed,
 * unreachable or blocked, respectively done or skipped. Runs before the
 * subcommand parses its options, so every subcommand gets it.
 */
#ifndef AF_LIMIT_H
#define AF_LIMIT_H

struct af_err;

/*
 * If any selection option in argv (up to "--") holds such a term, read the
 * state file (--state, else AF_DEFAULT_STATE) and set *out to a new argv
 * (argc entries plus NULL; free with cmd_limit_results_free) where those
 * terms are replaced by hostlists. Otherwise *out is NULL. Returns 0, or
 * AF_EINPUT / AF_EDB / AF_ENOTFOUND with e filled ("--limit: @failed:7:
 * ...").
 */
int cmd_limit_results(int argc, char **argv, char ***out, struct af_err *e);
void cmd_limit_results_free(int argc, char **argv);

#endif /* AF_LIMIT_H */
