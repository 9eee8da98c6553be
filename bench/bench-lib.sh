# SPDX-License-Identifier: MIT
#
# bench-lib.sh: shared parts of bench-exec.sh and bench-facts.sh (sourced,
# not run): options, finding the binary, bringing a simulated rack up and
# down, running one measurement through measure.py and taking medians.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC_DIR=$(cd "$BENCH_DIR/.." && pwd)
RACK_SH=$SRC_DIR/tests/rack/rack.sh
MEASURE=$BENCH_DIR/measure.py

NODES=500
BASE=127.2.0.1
FANOUT=64
REPS=3
CONNECT_TIMEOUT=10
BIN=${AF_BIN:-}
WORK=""
KEEP=0

bench_usage() {
    cat >&2 <<EOF
usage: $PROG [--bin PATH] [--nodes N] [--base ADDR] [--fanout N] [--reps N]
             [--dir DIR] [--keep]
  --bin PATH    the ascend-fleet binary (default: \$AF_BIN, else
                build/orchestrator/ascend-fleet under the source tree)
  --nodes N     simulated nodes (default 500)
  --base ADDR   first node address (default 127.2.0.1)
  --fanout N    nodes in flight for every tool (default 64)
  --connect-timeout S
                connection + SSH handshake timeout for every tool
                (default 10: ssh's ConnectTimeout; ascend-fleet gets it
                as connect_timeout in a copy of the rack's inventory)
  --reps N      measurements per cell; the median is reported (default 3)
  --dir DIR     work directory (default: a new /tmp/af-bench.XXXXXX)
  --keep        keep the work directory (measure logs) afterwards
EOF
    exit 2
}

bench_args() {
    while (($#)); do
        case $1 in
        --bin) BIN=$2; shift 2 ;;
        --nodes) NODES=$2; shift 2 ;;
        --base) BASE=$2; shift 2 ;;
        --fanout) FANOUT=$2; shift 2 ;;
        --connect-timeout) CONNECT_TIMEOUT=$2; shift 2 ;;
        --reps) REPS=$2; shift 2 ;;
        --dir) WORK=$2; shift 2 ;;
        --keep) KEEP=1; shift ;;
        -h|--help) bench_usage ;;
        *) echo "$PROG: unknown argument '$1'" >&2; bench_usage ;;
        esac
    done
    if [[ -z $BIN ]]; then
        local c
        for c in "$SRC_DIR/build/orchestrator/ascend-fleet" \
                 "$SRC_DIR/build/ascend-fleet"; do
            [[ -x $c ]] && { BIN=$c; break; }
        done
    fi
    [[ -n $BIN && -x $BIN ]] || {
        echo "$PROG: no ascend-fleet binary (build it, or pass --bin PATH)" >&2
        exit 2
    }
    ((EUID == 0)) || { echo "$PROG: must run as root (the rack needs it)" >&2; exit 2; }
    [[ $NODES =~ ^[0-9]+$ && $REPS =~ ^[0-9]+$ && $FANOUT =~ ^[0-9]+$ &&
        $CONNECT_TIMEOUT =~ ^[0-9]+$ ]] ||
        bench_usage
    if [[ -z $WORK ]]; then
        WORK=$(mktemp -d /tmp/af-bench.XXXXXX)
    else
        mkdir -p "$WORK"
    fi
    RACK=$WORK/rack
    LOGS=$WORK/logs
    mkdir -p "$LOGS"
}

RACK_UP=0
bench_cleanup() {
    if ((RACK_UP)); then
        /bin/bash "$RACK_SH" down --dir "$RACK" >/dev/null 2>&1 ||
            echo "$PROG: rack.sh down --dir $RACK failed; take it down by hand" >&2
        RACK_UP=0
    fi
    if ((KEEP)); then
        echo "work directory kept: $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}

# rack_up [--state S]: the simulated rack in $RACK; writes HOSTFILE (one
# address a line) and INV (the inventory to use).
rack_up() {
    RACK_UP=1
    echo "bringing up $NODES simulated nodes at $BASE ..." >&2
    /bin/bash "$RACK_SH" up --dir "$RACK" --nodes "$NODES" --base "$BASE" \
        --timeout 900 "$@" >&2 || { echo "$PROG: rack.sh up failed" >&2; exit 1; }
    HOSTFILE=$WORK/hostfile
    local nd
    : >"$HOSTFILE"
    for nd in "$RACK"/nodes/*/; do
        cat "$nd/addr" >>"$HOSTFILE"
    done
    # The rack's inventory with the same connection timeout as the ssh
    # tools get (next to it, so its relative key paths still hold).
    INV=$RACK/bench-inventory.yaml
    sed "s/^  connect_timeout: .*/  connect_timeout: $CONNECT_TIMEOUT/" \
        "$RACK/inventory.yaml" >"$INV"
    grep -q "^  connect_timeout: $CONNECT_TIMEOUT\$" "$INV" ||
        { echo "$PROG: cannot set connect_timeout in $INV" >&2; exit 1; }
}

# measure NAME COMMAND...: one run through measure.py; sets M_WALL M_CPU
# M_PRSS M_TRSS M_RC M_TCP (see MEASURE_SS in measure.py) and leaves the output in $LOGS/NAME.{out,err}.
measure() {
    local name=$1
    shift
    /usr/bin/python3 "$MEASURE" "$LOGS/$name" -- "$@" ||
        { echo "$PROG: measure.py failed for $name" >&2; exit 1; }
    local line
    read -r line <"$LOGS/$name"
    [[ $line =~ wall=([0-9.]+)\ cpu=([0-9.]+)\ parent_rss_kib=([0-9]+)\ tree_rss_kib=([0-9]+)\ rc=([0-9]+) ]] ||
        { echo "$PROG: bad measure line '$line'" >&2; exit 1; }
    M_WALL=${BASH_REMATCH[1]}
    M_CPU=${BASH_REMATCH[2]}
    M_PRSS=${BASH_REMATCH[3]}
    M_TRSS=${BASH_REMATCH[4]}
    M_RC=${BASH_REMATCH[5]}
    M_TCP=0
    [[ $line =~ tcp_bytes=([0-9]+) ]] && M_TCP=${BASH_REMATCH[1]}
    return 0
}

# median V...: the median of the numbers (the lower middle one for an even
# count).
median() {
    printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'
}

# fcalc EXPR: floating point arithmetic with awk.
fcalc() {
    awk "BEGIN { printf \"%.3f\", $1 }"
}
