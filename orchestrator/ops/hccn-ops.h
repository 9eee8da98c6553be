/* SPDX-License-Identifier: MIT */
/*
 * NPU device-network operations on one node, through the node's agent:
 * apply the planned addresses (read, compare, set only what differs, read
 * back) and verify them (read back, link up, RoCE ping to same-plane NPUs of
 * other nodes). Every hccn_tool call is one agent `run` request with an
 * exact argv; the agent answers in order, so the calls of one node run one
 * after the other as the real tool requires, while different nodes run in
 * parallel. Used by `ascend-fleet hccn apply|verify` and by the rollout's
 * `hccn` stage: nothing here prints, parses options or owns the session.
 */
#ifndef AF_HCCN_OPS_H
#define AF_HCCN_OPS_H

#include <stddef.h>
#include <stdint.h>

struct af_err;
struct af_kv;
struct hccn_addr;
struct hccn_plan;
struct inv;
struct sess;
struct st;

/* What happened to one NPU. */
enum hop_status {
    HOP_PENDING,  /* not reached (the agent session failed first) */
    HOP_SAME,     /* apply: already as planned, nothing was set */
    HOP_SET,      /* apply: something was set and read back as planned */
    HOP_REFUSED,  /* apply: configured with another address, not forced */
    HOP_FAILED,   /* a hccn_tool call failed or a check did not hold */
    HOP_VERIFIED, /* verify: address as planned, link up, peers answer */
};

/* Short lower-case word for a status ("same", "set", "refused", ...). */
const char *hop_status_str(enum hop_status s);

/*
 * One NPU's outcome. address, netmask, detect and gateway hold what the
 * NPU reported last ("" when unknown or not read). detail says what was
 * set ("address 192.168.100.101/255.255.255.0, gateway 192.168.100.1"),
 * or why it failed or was refused, without the "NPU i: " prefix.
 */
struct hop_npu {
    int npu;
    enum hop_status status;
    char address[16];
    char netmask[16];
    char detect[16];
    char gateway[16];
    char detail[320];
};

/*
 * One node's outcome. status is 0 when every NPU ended HOP_SAME, HOP_SET or
 * HOP_VERIFIED; AF_EREMOTE when some NPU was refused or failed (error then
 * holds "NPU i: <detail>" of the first such NPU, plus "; N more NPUs
 * failed" when there are others); or another negative code when the agent
 * session failed (AF_ETIMEOUT when a request timed out), with the session's
 * message in error and the NPUs not reached left HOP_PENDING. node is
 * borrowed from the session's inventory node.
 */
struct hop_result {
    const char *node;
    const char *address; /* the machine: address connected to, and */
    char host_key[128];  /* its host key fingerprint ("" when unknown) */
    int status;
    size_t nchanged; /* NPUs on which apply set something */
    size_t nnpu;
    struct hop_npu *npus; /* nnpu entries, NPU 0 first */
    char error[512];
};

/* Free what a result owns (not the struct itself). Accepts NULL. */
void hop_result_free(struct hop_result *r);

/*
 * Called once when an operation on a node has finished. The caller owns r
 * (free it with hop_result_free then free()). The callback runs from an
 * agent response callback: the session may take more requests (hop_verify
 * right after hop_apply, for instance); to end the node's job, call
 * sched_job_done (the async rule of af-sched.h), never sess_close here.
 */
typedef void (*hop_done_cb)(struct sess *s, struct hop_result *r, void *data);

/* Options shared by apply and verify. */
/*
 * Receives every hccn_tool call's answer as it comes (for a transcript):
 * cmd the command line ("hccn_tool -i 0 -ip -g"), status and body as the
 * agent client gave them (rc, stdout, stderr, timed_out; body empty when
 * status < 0). Borrowed for the call.
 */
typedef void (*hop_tool_cb)(void *data,
                            const char *cmd,
                            int status,
                            const struct af_kv *body);

struct hop_opts {
    int force;           /* apply: change configured addresses too */
    int tool_timeout_s;  /* bound of one hccn_tool call; 0 = 60 s */
    struct st *st;       /* where results are recorded; NULL = nowhere */
    hop_tool_cb tool_cb; /* NULL, or told of every hccn_tool answer */
    void *tool_data;
};

/*
 * Apply plan (npus entries: plan[i] is NPU i's setting, as hccn_plan_get
 * gives it) to the node of session s, which must be ready (its ready
 * callback reported 0). For each NPU, in order: read the address
 * (`hccn_tool -i N -ip -g`) and, when the plan has them, the detect IP
 * (`-netdetect -g`) and gateway (`-gateway -g`); classify with
 * hccn_plan_diff; an address or netmask that is configured and different
 * is refused unless o->force ("configured 192.168.103.7 differs from plan
 * 192.168.103.101; rerun with --force to change it") and that NPU is left
 * untouched; otherwise set only what differs (`-ip -s address A netmask M`,
 * then `-netdetect -s address D`, then `-gateway -s gateway G`), then read
 * back what was set and compare. A failing hccn_tool call (rc != 0 or
 * timeout) fails that NPU with the tool's message ("Cmd execute failed!
 * ..."); the other NPUs are still applied. Applying twice sets nothing the
 * second time.
 *
 * When o->st is not NULL each NPU that was reached gets its row in the
 * state file (st_hccn_put) before cb runs: HOP_SAME and HOP_SET NPUs are
 * stored "applied" with the values read back (an unchanged NPU whose row
 * is already "verified" with the same values keeps that row), refused and
 * failed ones "failed" with the detail; one "hccn" event per node is
 * appended when something was set or failed. A state file error is noted
 * in the result's error but does not change the NPU outcomes. plan is
 * copied; o is only read during the call. cb runs exactly once: from a
 * later agent response, or from within this call when the session has
 * already failed.
 */
void hop_apply(struct sess *s,
               const struct hccn_addr *plan,
               size_t npus,
               const struct hop_opts *o,
               hop_done_cb cb,
               void *data);

/*
 * One reachability check: from local NPU npu, ping address, the NPU
 * peer_npu of node peer_node (borrowed strings for the report).
 */
struct hop_peer {
    int npu;
    char address[16];
    const char *peer_node;
    int peer_npu;
};

/*
 * Choose the peers node k of nodes (inventory indexes of the nodes taking
 * part, inventory order) pings: for each NPU i, the same NPU index on the
 * next per_npu nodes of the list after k, wrapping around (NPU i of every
 * node is on plane i % planes, so these share its subnet). Deterministic,
 * and every node is pinged by per_npu others. Fewer when the list is
 * short; none for a single node. Stores a new array (free()) in *out with
 * *n entries; never fails (*out NULL when *n is 0). plan must be valid.
 */
void hop_pick_peers(const struct hccn_plan *plan,
                    const struct inv *inv,
                    const size_t *nodes,
                    size_t nnodes,
                    size_t k,
                    size_t per_npu,
                    struct hop_peer **out,
                    size_t *n);

/*
 * Verify the node of ready session s against plan (npus entries): for each
 * NPU read back address and netmask (and detect IP and gateway when the
 * plan has them) and compare with the plan; `hccn_tool -i N -link -g` must
 * say UP; then every peer of that NPU in peers (npeers entries, any order)
 * must answer `hccn_tool -i N -ping -g address PEER` (rc 0, packets
 * received). An NPU whose settings or link are wrong is not pinged from.
 * Each NPU ends HOP_VERIFIED or HOP_FAILED with a detail such as "link
 * DOWN", "address 192.168.102.77/255.255.255.0, plan
 * 192.168.102.101/255.255.255.0" or "no reply from 192.168.101.103 (npu002
 * NPU 1)". When o->st is not NULL every NPU reached is stored "verified"
 * or "failed" with the values read back and the detail (o->force is
 * ignored). plan and peers are copied. cb as for hop_apply.
 */
void hop_verify(struct sess *s,
                const struct hccn_addr *plan,
                size_t npus,
                const struct hop_peer *peers,
                size_t npeers,
                const struct hop_opts *o,
                hop_done_cb cb,
                void *data);

/*
 * Record r (of hop_apply when verify is 0, of hop_verify when 1) for the
 * node r->node in st as described above, in one transaction (or inside
 * the caller's st_begin batch when one is open). Called by
 * hop_apply and hop_verify themselves when o->st is set; public for callers
 * that record later. Returns 0 or AF_EDB.
 */
int hop_record(struct st *st,
               const struct hop_result *r,
               int verify,
               struct af_err *e);

#endif /* AF_HCCN_OPS_H */
