/* SPDX-License-Identifier: MIT */
/*
 * Printing what the state file knows of staged packages (status): per
 * package (its stage and version, or its file name) the nodes that hold it
 * whole, folded ("staged cann 8.0.RC2: npu[001-016]"), those with a
 * partial and how far it got ("partial cann 8.0.RC2: npu017 (37%)"), and
 * those where it failed; or the rows as a JSON array.
 */
#ifndef AF_REPORT_STAGE_H
#define AF_REPORT_STAGE_H

#include <stddef.h>

struct report;
struct st_stage;

/* The text block ("Staged packages:" and one line per package and state);
 * prints nothing when n is 0. */
void report_stage_text(const struct st_stage *rows, size_t n);
/* One JSON Lines object per row: {"v", "type": "staged", node, package,
 * stage, version, sha256, size, verified, percent, state, reason,
 * updated_ms}. */
void
report_stage_json(struct report *rep, const struct st_stage *rows, size_t n);

#endif /* AF_REPORT_STAGE_H */
