#!/bin/bash
# SPDX-License-Identifier: MIT
#
# bench-inventory.sh: time `ascend-fleet inventory check` on a generated
# inventory with many groups (default 100,000 groups of one host each), the
# shape where a quadratic duplicate-key check used to dominate. Needs no
# rack and no root; a measurement to read, not a timed test. Prints the
# wall and CPU seconds of each run.
#
#   bench/bench-inventory.sh [--bin PATH] [--groups N] [--reps N] [--keep]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${AF_BIN:-$ROOT/build/orchestrator/ascend-fleet}
GROUPS_N=100000
REPS=3
KEEP=0
while [ $# -gt 0 ]; do
    case $1 in
    --bin) BIN=$2; shift 2 ;;
    --groups) GROUPS_N=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n 3,9p "$0"; exit 0 ;;
    *) echo "bench-inventory.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
WORK=$(mktemp -d)
[ "$KEEP" = 1 ] || trap 'rm -rf "$WORK"' EXIT
INV=$WORK/inventory.yaml
# Addresses: 10.A.B.C, one per host, all distinct.
awk -v n="$GROUPS_N" 'BEGIN {
    print "groups:"
    for (i = 0; i < n; i++) {
        printf "  g%06d:\n    hosts:\n      - {name: n%06d, address: 10.%d.%d.%d}\n",
               i, i, int(i / 65536) % 256, int(i / 256) % 256, i % 256
    }
}' >"$INV"
echo "inventory: $GROUPS_N groups, $(wc -c <"$INV") bytes ($INV)"
# wall: elapsed seconds; cpu: user + system seconds of the process (the
# figure to compare on a busy machine).
TIMEFORMAT='%R %U %S'
for r in $(seq "$REPS"); do
    t=$({ time "$BIN" inventory check -i "$INV" >"$WORK/out" 2>&1; } 2>&1) ||
        { cat "$WORK/out"; exit 1; }
    read -r wall usr sys <<<"$t"
    printf 'run %d: wall %.2f s, cpu %.2f s  (%s)\n' "$r" "$wall" \
        "$(echo "$usr + $sys" | bc)" "$(cat "$WORK/out")"
done
