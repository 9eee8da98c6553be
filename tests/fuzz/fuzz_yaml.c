/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness: the YAML tree loader (common/af-yaml.c) and the two
 * loaders on top of it, the inventory (inventory/inv.c, with its hccn
 * address plan) and the playbook (playbooks/pb.c). The input is the file.
 * Errors are expected; crashes, leaks and hangs are not.
 */
#define _GNU_SOURCE /* memfd_create */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "af-err.h"
#include "af-yaml.h"
#include "hccn.h"
#include "inv.h"
#include "pb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every scalar is a NUL-free string; every container holds its items. */
static void
walk(const struct af_ynode *n)
{
    size_t i;

    if (n->type == AF_YSCALAR) {
        if (n->scalar == NULL || (n->null && n->quoted))
            abort();
        return;
    }
    for (i = 0; i < n->n; i++) {
        if (n->type == AF_YSEQ) {
            walk(n->items[i]);
        } else {
            if (n->keys[i]->type != AF_YSCALAR)
                abort();
            walk(n->vals[i]);
        }
    }
}

/* inv_load reads a path: give it the input through a memfd. */
static void
load_inventory(const uint8_t *data, size_t size)
{
    struct af_err e;
    struct inv *inv = NULL;
    struct hccn_plan *plan = NULL;
    char path[64];
    int fd = memfd_create("inventory.yaml", 0);

    if (fd < 0)
        abort();
    if (size > 0 && write(fd, data, size) != (ssize_t)size)
        abort();
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    if (inv_load(path, &inv, &e) == 0) {
        hccn_plan_build(inv, &plan, &e);
        hccn_plan_free(plan);
        inv_free(inv);
    }
    close(fd);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct af_err e;
    struct af_ynode *root = NULL;
    struct pb *pb = NULL;

    if (af_yaml_load_string("f.yaml", (const char *)data, size, &root, &e) ==
        0) {
        walk(root);
        af_yaml_free(root);
        load_inventory(data, size);
    }
    if (pb_load_string("f.yaml", (const char *)data, size, &pb, &e) == 0)
        pb_free(pb);
    return 0;
}
