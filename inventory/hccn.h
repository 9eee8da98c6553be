/* SPDX-License-Identifier: MIT */
/*
 * NPU device-network address plan (hccn). Reads the inventory's top-level
 * `hccn:` section and the per-host `hccn:` overrides, gives every NPU of
 * every node its address, netmask, detect IP and gateway, and checks the
 * whole cluster before anything is touched. Also classifies what a node
 * reports against the plan, and writes the HCCL rank table. IPv4 only.
 * Pure computation: no I/O besides what inv_load already did. The YAML
 * shape and the allocation formula are documented in HCCN.md.
 */
#ifndef AF_HCCN_H
#define AF_HCCN_H

#include <stddef.h>

struct af_err;
struct inv;

/* Upper bound on the NPUs per node the plan accepts (`npus:`). */
#define HCCN_MAX_NPUS 64

/* At most this many messages are kept in a plan's error list; the last
 * one then says how many more were found. */
#define HCCN_MAX_ERRORS 200

/*
 * One NPU's planned setting, as dotted-quad strings ready for hccn_tool.
 * detect and gateway are "" when the plan sets none for this NPU. plane is
 * the index of the plane (entry of `planes:`) the NPU belongs to, or -1 when
 * the plan has no planes (explicit layout without subnets). pinned is 1 when
 * the address came from the host's own `device_ips` list, 0 when generated.
 * In a plan that failed validation, address is "" for NPUs whose address
 * could not be worked out.
 */
struct hccn_addr {
    char address[16];
    char netmask[16];
    char detect[16];
    char gateway[16];
    int plane;
    int pinned;
};

/* Opaque: the assignments of every node x NPU, and the error list. */
struct hccn_plan;

/*
 * Build the address plan of every node of inv (all of them, whatever
 * subset a command later selects: allocation depends only on a node's
 * inventory index, or its `slot:`), then validate the whole cluster.
 *
 * Returns 0 and sets *out to a valid plan. Returns AF_ENOTFOUND with *out
 * NULL when the inventory has no top-level `hccn:` section. Returns
 * AF_EINPUT when the section or a host's override is malformed or any check
 * fails; then *out is still set to a plan that holds every error found
 * (hccn_plan_errors, in a stable order: section shape, planes, nodes in
 * inventory order, collisions) and whatever assignments could be made, so a
 * command can show both; e->msg holds the first error. Messages about a YAML
 * item read "FILE:LINE:COL: message"; messages about an NPU name the node
 * and the NPU ("npu017 NPU 3: ..."). The caller frees *out with
 * hccn_plan_free in both cases. inv is only read and may be freed after
 * the call: the plan keeps copies of what it needs.
 */
int hccn_plan_build(const struct inv *inv,
                    struct hccn_plan **out,
                    struct af_err *e);

/* Free a plan. Accepts NULL. */
void hccn_plan_free(struct hccn_plan *plan);

/* 1 when the plan passed every check, 0 when it holds errors. */
int hccn_plan_valid(const struct hccn_plan *plan);

/*
 * The plan's error messages (count in *n, 0 for a valid plan). The array
 * and strings belong to the plan and live until hccn_plan_free.
 */
const char *const *hccn_plan_errors(const struct hccn_plan *plan, size_t *n);

/* NPUs per node (`npus:`, default 8). */
size_t hccn_plan_npus(const struct hccn_plan *plan);

/* Number of nodes in the plan (all nodes of the inventory). */
size_t hccn_plan_nodes(const struct hccn_plan *plan);

/*
 * Planned setting of NPU npu of the node with inventory index node_index,
 * or NULL when either is out of range. The pointer belongs to the plan.
 * A node's NPUs are contiguous: hccn_plan_get(p, n, 0) points at an array
 * of hccn_plan_npus(p) entries, NPU 0 first.
 */
const struct hccn_addr *
hccn_plan_get(const struct hccn_plan *plan, size_t node_index, int npu);

/*
 * What applying want to an NPU means, given the address and netmask it
 * reports now (`hccn_tool -i N -ip -g`). HCCN_SET: the NPU has no address
 * (cur_address NULL, "" or 0.0.0.0): setting it renumbers nothing.
 * HCCN_SAME: address and netmask already match (a NULL or "" cur_netmask
 * compares equal to any netmask). HCCN_CHANGE: the NPU has another
 * address or netmask; apply refuses this unless the operator forces it.
 * Detect IP and gateway are not part of the verdict: setting them never
 * renumbers an NPU. Never fails.
 */
enum hccn_diff {
    HCCN_SAME,
    HCCN_SET,
    HCCN_CHANGE,
};
enum hccn_diff hccn_plan_diff(const struct hccn_addr *want,
                              const char *cur_address,
                              const char *cur_netmask);

/* Short lower-case word for a verdict: "same", "set", "change". */
const char *hccn_diff_str(enum hccn_diff d);

/*
 * HCCL rank table, format "1.0" (all values strings): version,
 * server_count, server_list[{server_id, device[{device_id, device_ip,
 * rank_id}]}], status "completed". The servers are the n nodes whose
 * inventory indexes node_idx lists, in that order; rank ids run node by
 * node (the k-th listed node holds ranks k*npus ... k*npus + npus - 1) and
 * device_id is the NPU index. server_ids[k], when server_ids is not NULL,
 * names the k-th server; otherwise its inventory address, or its name when
 * it has none. The device IPs are the plan's: the caller checks first that
 * the nodes report them (verified).
 *
 * Returns 0 and sets *json to a new NUL-terminated, newline-terminated
 * document the caller frees. Returns AF_EINPUT with *json NULL when the
 * plan is not valid, n is 0, an index is out of range or listed twice, or a
 * server id is empty, longer than 64 bytes or used twice.
 */
int hccn_ranktable_json(const struct hccn_plan *plan,
                        const struct inv *inv,
                        const size_t *node_idx,
                        size_t n,
                        const char *const *server_ids,
                        char **json,
                        struct af_err *e);

#endif /* AF_HCCN_H */
