#!/bin/bash
# SPDX-License-Identifier: MIT
#
# bench-rollout.sh: orchestration overhead of `ascend-fleet rollout` on a
# simulated rack, against the critical path of the real work.
#
#   bench-rollout.sh [--bin ASCEND_FLEET] [--nodes 64] [--base 127.3.0.1]
#                    [--install-seconds 1.0] [--reboot-seconds 2]
#                    [--settle 1] [--batch 1,25%] [--keep]
#
# What it does:
#   1. brings up its own rack of N fresh nodes (tests/rack/rack.sh) at
#      --base, builds the fake vendor packages (tests/rack/fake/mkpackages.sh)
#      and sets install-seconds / reboot-seconds on every node;
#   2. runs `rollout --stage prereq` (not measured: it only creates the
#      driver's run user so that the npu stage can run on fresh nodes);
#   3. runs and times `rollout --stage npu --batch SPEC --settle S` (driver +
#      firmware installed, one reboot per node, verification after it);
#   4. reads the run back from the state file and prints the wall time, the
#      critical path and the overhead.
#
# How the critical path is computed (all times from the state file):
#   For every node of the npu run:
#     start(node) = the earliest node_steps.started of the node in the run
#                   (the moment its first step was recorded as running);
#     end(node)   = the ts of the node's `done` event in the events table;
#     work(node)  = end(node) - start(node): install(s) + reboot + verify,
#                   including the settle window.
#   For every batch b (run_nodes.batch): slowest(b) = max work(node) over its
#   nodes. critical path = sum over batches of slowest(b). Batches run one
#   after the other and the nodes of a batch in parallel, so no scheduler
#   could finish the run sooner than that without overlapping batches.
#   overhead = (wall - critical) / critical, target <= 5 %.
#   The wall time is that of the whole `rollout` command (facts, plan, state
#   file, every batch, the summary).
#
#   The per-node work itself contains orchestration latency too (pushing
#   the package, noticing that a rebooted node is back, gathering facts).
#   So the report also shows the phases of the slowest node of each batch
#   (install: first step start -> last step "ok"; reboot: "rebooting" ->
#   "back with boot_id"; verify: "back" -> "done") and a floor computed from
#   the simulated times only: per batch 2 x install-seconds + reboot-seconds
#   + settle, summed over batches; overhead against the floor is printed as
#   a second, stricter figure.
#
# Uses only its own rack (default 127.3.0.1..) and removes it at the end
# (unless --keep).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
RACK=$SRC/tests/rack/rack.sh
MKPKG=$SRC/tests/rack/fake/mkpackages.sh

BIN=${AF_BIN:-}
NODES=64
BASE=127.3.0.1
INSTALL_S=1.0
REBOOT_S=2
SETTLE=1
BATCH=1,25%
KEEP=0

die() {
    printf 'bench-rollout.sh: %s\n' "$*" >&2
    exit 1
}

while (($#)); do
    case $1 in
    --bin) BIN=$2; shift 2 ;;
    --nodes) NODES=$2; shift 2 ;;
    --base) BASE=$2; shift 2 ;;
    --install-seconds) INSTALL_S=$2; shift 2 ;;
    --reboot-seconds) REBOOT_S=$2; shift 2 ;;
    --settle) SETTLE=$2; shift 2 ;;
    --batch) BATCH=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '3,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1" ;;
    esac
done
if [[ -z $BIN ]]; then
    for c in "$SRC/build/orchestrator/ascend-fleet" /tmp/build-*/orchestrator/ascend-fleet; do
        if [[ -x $c ]]; then BIN=$c; break; fi
    done
fi
[[ -n $BIN && -x $BIN ]] || die "no ascend-fleet binary: pass --bin PATH (or AF_BIN)"
command -v sqlite3 >/dev/null || die "the sqlite3 command-line tool is needed"
((EUID == 0)) || die "must run as root (the simulated rack needs namespaces)"

WORK=$(mktemp -d /tmp/bench-rollout.XXXXXX)
DIR=$WORK/rack
PKGS=$WORK/packages
DB=$WORK/state.db

cleanup() {
    if ((KEEP)); then
        echo "kept: rack $DIR (take it down with: $RACK down --dir $DIR), state $DB"
        return
    fi
    bash "$RACK" down --dir "$DIR" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "== setup: $NODES nodes at $BASE.., install ${INSTALL_S}s per package, reboot ${REBOOT_S}s, settle ${SETTLE}s, batch $BATCH"
bash "$RACK" up --dir "$DIR" --nodes "$NODES" --base "$BASE" >/dev/null
bash "$MKPKG" --out "$PKGS" >/dev/null
# The machine may be busy (64 sshd handshakes at once on a few cores): a
# generous connect timeout, so a slow handshake is not an unreachable node.
sed -i 's/^  connect_timeout: .*/  connect_timeout: 30/' "$DIR/inventory.yaml"
for nd in "$DIR"/nodes/*/; do
    name=$(basename "$nd")
    bash "$RACK" fault --dir "$DIR" "$name" set install-seconds "$INSTALL_S"
    bash "$RACK" fault --dir "$DIR" "$name" set reboot-seconds "$REBOOT_S"
done

echo "== prereq (not measured)"
"$BIN" rollout -i "$DIR/inventory.yaml" --state "$DB" --packages "$PKGS" \
    --stage prereq --batch 100% --yes >"$WORK/prereq.log" 2>&1 ||
    { tail -n 20 "$WORK/prereq.log" >&2; die "prereq rollout failed"; }

echo "== npu rollout (measured)"
t0=$(date +%s%N)
rc=0
"$BIN" rollout -i "$DIR/inventory.yaml" --state "$DB" --packages "$PKGS" \
    --stage npu --batch "$BATCH" --settle "$SETTLE" --yes \
    >"$WORK/npu.log" 2>&1 || rc=$?
t1=$(date +%s%N)
if ((rc != 0)); then
    tail -n 30 "$WORK/npu.log" >&2
    die "npu rollout exited $rc"
fi
wall_ms=$(((t1 - t0) / 1000000))

RUN=$(sqlite3 "$DB" "SELECT max(id) FROM runs")
# Per node: batch, start, install end, reboot sent, back, done (ms).
q() { sqlite3 -separator ' ' "$DB" "$1"; }
NODEQ="
WITH n AS (
  SELECT rn.node, rn.batch,
    (SELECT min(s.started) FROM node_steps s
       WHERE s.run = rn.run AND s.node = rn.node AND s.started IS NOT NULL) AS t0,
    (SELECT max(e.ts) FROM events e WHERE e.run = rn.run AND e.node = rn.node
       AND e.kind = 'step' AND e.text LIKE '% ok (exit %') AS t_inst,
    (SELECT min(e.ts) FROM events e WHERE e.run = rn.run AND e.node = rn.node
       AND e.kind = 'reboot' AND e.text LIKE 'rebooting%') AS t_rb,
    (SELECT min(e.ts) FROM events e WHERE e.run = rn.run AND e.node = rn.node
       AND e.kind = 'reboot' AND e.text LIKE 'back with%') AS t_back,
    (SELECT max(e.ts) FROM events e WHERE e.run = rn.run AND e.node = rn.node
       AND e.kind = 'done') AS t_done
  FROM run_nodes rn WHERE rn.run = $RUN AND rn.status = 'done')"

ndone=$(q "SELECT count(*) FROM run_nodes WHERE run = $RUN AND status = 'done'")
((ndone == NODES)) || die "only $ndone of $NODES nodes done in run $RUN"

echo
echo "per batch (slowest node; ms):"
printf '  %-5s %5s %-8s %8s %8s %8s %8s %8s\n' batch nodes slowest work install reboot verify gap
q "$NODEQ,
b AS (SELECT batch, count(*) AS nodes, max(t_done - t0) AS work,
             min(t0) AS first_start, max(t_done) AS last_done
      FROM n GROUP BY batch),
s AS (SELECT n.batch, n.node, n.t0, n.t_inst, n.t_rb, n.t_back, n.t_done,
             row_number() OVER (PARTITION BY n.batch
                                ORDER BY n.t_done - n.t0 DESC) AS r
      FROM n)
SELECT b.batch + 1, b.nodes, s.node, b.work, s.t_inst - s.t0, s.t_back - s.t_rb,
       s.t_done - s.t_back,
       coalesce(b.first_start - (SELECT max(p.last_done) FROM b p
                                 WHERE p.batch = b.batch - 1), 0)
FROM b JOIN s ON s.batch = b.batch AND s.r = 1 ORDER BY b.batch" |
    while read -r bt nn node work inst rb ver gap; do
        printf '  %-5s %5s %-8s %8s %8s %8s %8s %8s\n' "$bt" "$nn" "$node" "$work" "$inst" "$rb" "$ver" "$gap"
    done

crit_ms=$(q "$NODEQ SELECT sum(w) FROM (SELECT max(t_done - t0) AS w FROM n GROUP BY batch)")
nbatch=$(q "SELECT count(DISTINCT batch) FROM run_nodes WHERE run = $RUN")
floor_ms=$(awk -v b="$nbatch" -v i="$INSTALL_S" -v r="$REBOOT_S" -v s="$SETTLE" \
    'BEGIN { printf "%d", b * (2 * i + r + s) * 1000 }')
first_ms=$(q "$NODEQ SELECT min(t0) - $((t0 / 1000000)) FROM n")
last_ms=$(q "$NODEQ SELECT $((t1 / 1000000)) - max(t_done) FROM n")

awk -v w="$wall_ms" -v c="$crit_ms" -v f="$floor_ms" -v nb="$nbatch" \
    -v n="$NODES" -v fs="$first_ms" -v ls="$last_ms" 'BEGIN {
    printf "\nnodes %d, batches %d\n", n, nb
    printf "wall time                         %8.2f s\n", w / 1000
    printf "critical path (measured)          %8.2f s   sum over batches of the slowest node (first step start -> done)\n", c / 1000
    printf "overhead vs critical path         %8.1f %%   (target <= 5 %%)  %s\n", (w - c) * 100 / c, ((w - c) * 100 / c <= 5 ? "OK" : "OVER TARGET")
    printf "simulated floor                   %8.2f s   batches x (2 x install + reboot + settle)\n", f / 1000
    printf "overhead vs simulated floor       %8.1f %%\n", (w - f) * 100 / f
    printf "command start -> first step       %8.2f s   (facts, plan, state file)\n", fs / 1000
    printf "last node done -> command end     %8.2f s\n", ls / 1000
}'
