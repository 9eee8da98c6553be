#!/bin/bash
# SPDX-License-Identifier: MIT
#
# bench-facts.sh: `ascend-fleet facts` on a simulated rack of 500 fresh
# nodes (tests/rack/rack.sh), cold and warm.
#
#   bench/bench-facts.sh [--bin PATH] [--nodes N] [--reps N] [--keep] ...
#   (bench/bench-facts.sh --help for every option)
#
#   cold  no node has the agent yet: every node gets it pushed (75 KiB
#         streamed over its SSH session, checked, renamed) before it
#         answers. Between two cold runs the agent directory is removed on
#         every node with `ascend-fleet exec -- rm -rf /var/lib/ascend-fleet`.
#   warm  the agent is already on every node: nothing is pushed.
#
# Each is measured --reps times (default 3), the median is shown: wall
# seconds, client CPU seconds (user+sys of ascend-fleet; it starts no child
# process), CPU ms per node, peak RSS, and the "agent pushed to N" count the
# run reported. The state file lives in the work directory. The rack is
# taken down on exit, whatever happens.
set -euo pipefail
PROG=bench-facts.sh
# shellcheck source=bench-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"

bench_args "$@"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

rack_up --state fresh
STATE=$WORK/state.db

# run_facts NAME: one measured facts run; sets M_* ANSWERED PUSHED.
run_facts() {
    measure "$1" "$BIN" facts -i "$INV" -f "$FANOUT" --state "$STATE"
    local line
    line=$(grep -E '^[0-9]+ nodes answered' "$LOGS/$1.out" || true)
    [[ $line =~ ^([0-9]+)\ nodes\ answered\ \(agent\ pushed\ to\ ([0-9]+)\) ]] || {
        echo "$PROG: no summary in facts output (rc $M_RC):" >&2
        tail -n 5 "$LOGS/$1.err" >&2
        ANSWERED=0
        PUSHED=0
        return 0
    }
    ANSWERED=${BASH_REMATCH[1]}
    PUSHED=${BASH_REMATCH[2]}
}

# wipe_agents: remove the agent from every node (three tries: on a loaded
# machine a few handshakes may time out). Nodes it missed stay warm; the
# next cold run's "pushed" count shows how many were really cold.
wipe_agents() {
    local try
    for try in 1 2 3; do
        if "$BIN" exec -i "$INV" -f "$FANOUT" -- rm -rf /var/lib/ascend-fleet \
            >"$LOGS/wipe.out" 2>&1; then
            return 0
        fi
    done
    echo "$PROG: removing the agents failed on some nodes:" >&2
    tail -n 1 "$LOGS/wipe.out" >&2
}

declare -A WALL CPU RSS ANS PUSH
for ((rep = 1; rep <= REPS; rep++)); do
    ((rep == 1)) || wipe_agents
    for mode in cold warm; do
        run_facts "$mode-$rep"
        WALL[$mode]+="$M_WALL "
        CPU[$mode]+="$M_CPU "
        RSS[$mode]+="$M_TRSS "
        ANS[$mode]+="$ANSWERED "
        PUSH[$mode]+="$PUSHED "
        printf '  facts %-4s run %d: wall %6.2f s  cpu %6.2f s  answered %d/%d, agent pushed to %d\n' \
            "$mode" "$rep" "$M_WALL" "$M_CPU" "$ANSWERED" "$NODES" "$PUSHED" >&2
    done
done

echo
echo "ascend-fleet facts: $NODES nodes, fanout $FANOUT, median of $REPS," \
    "$(nproc) cores"
printf '%-6s %8s %8s %8s %8s %9s %7s\n' run "wall s" "cpu s" "ms/node" \
    "rss MiB" answered pushed
for mode in cold warm; do
    # shellcheck disable=SC2086
    {
        w=$(median ${WALL[$mode]})
        c=$(median ${CPU[$mode]})
        r=$(median ${RSS[$mode]})
        a=$(median ${ANS[$mode]})
        p=$(median ${PUSH[$mode]})
    }
    printf '%-6s %8.2f %8.2f %8.2f %8.1f %9s %7s\n' "$mode" "$w" "$c" \
        "$(fcalc "$c * 1000 / $NODES")" "$(fcalc "$r / 1024")" "$a/$NODES" "$p"
done
