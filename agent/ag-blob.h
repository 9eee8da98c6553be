/* SPDX-License-Identifier: MIT */
/*
 * The static agent binaries embedded into the host program, one per node
 * architecture, so the orchestrator can push the right one to each node.
 */
#ifndef AG_BLOB_H
#define AG_BLOB_H

#include <stddef.h>

struct ag_blob {
    const char *arch;          /* "x86_64" or "aarch64" */
    const unsigned char *data; /* the stripped static binary */
    size_t size;
};

/*
 * The agent for a node architecture as printed by `uname -m`: "x86_64" or
 * "aarch64" ("arm64" is accepted for the latter). NULL if unknown.
 */
const struct ag_blob *ag_blob_find(const char *arch);

#endif /* AG_BLOB_H */
