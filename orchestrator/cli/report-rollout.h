/* SPDX-License-Identifier: MIT */
/*
 * The rollout's reporter: the sink for the engine's events. On a terminal
 * it keeps a live status line and prints node events above it; piped, it
 * prints one timestamped line per event; with --json it writes JSON Lines
 * (one typed object per event, schema version 1) and nothing else to
 * stdout. Errors go to stderr. It also asks for the confirmation.
 */
#ifndef AF_REPORT_ROLLOUT_H
#define AF_REPORT_ROLLOUT_H

#include "rollout.h"

struct rr;

/* cmd names the subcommand in messages ("rollout", "resume"). */
struct rr *rr_new(const char *cmd, int json, int yes);
void rr_free(struct rr *r);
/* A sink whose data is r; valid while r lives. */
void rr_sink(struct rr *r, struct ro_sink *sink);
/* 1 when the live line is used (stdout is a terminal, not --json). */
int rr_live(const struct rr *r);

#endif /* AF_REPORT_ROLLOUT_H */
