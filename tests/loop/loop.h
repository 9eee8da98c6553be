/* SPDX-License-Identifier: MIT */
/*
 * Shared helpers of the loop tests: connection options for the simulated
 * rack's nodes (AF_RACK_DIR, AF_RACK_BASE from tests/CMakeLists.txt) without
 * the inventory loader, so these tests link only af_net and af_common.
 */
#ifndef LOOP_H
#define LOOP_H

#include <stddef.h>

#include "conn.h"

struct lt_node {
    char name[32];
    char host[32];
    struct conn_opts o;
};

/* The operator key of the rack (loaded once per test; free with lt_fini). */
void lt_init(void);
void lt_fini(void);
/*
 * Options for rack node k (0-based: address AF_RACK_BASE + k). With
 * unreachable set, the address is one no rack node listens on.
 */
void lt_node(struct lt_node *n, size_t k, int unreachable);

#endif /* LOOP_H */
