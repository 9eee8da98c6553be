#!/bin/bash
# SPDX-License-Identifier: MIT
#
# bench-exec.sh: `ascend-fleet exec -f 64 -- true` against pdsh, pssh and
# clush on the same simulated rack of 500 nodes (real sshd nodes on
# loopback, tests/rack/rack.sh), once with each tool's default key exchange
# and once with every tool forced to curve25519-sha256.
#
#   bench/bench-exec.sh [--bin PATH] [--nodes N] [--reps N] [--keep] ...
#   (bench/bench-exec.sh --help for every option)
#
# Every tool uses the rack's operator key and known_hosts, strict host key
# checking, no prompts and the same connection + handshake timeout
# (--connect-timeout, default 10 s). Each cell is measured --reps times (default 3;
# the runs of the tools are interleaved) and the table shows medians:
#
#   wall s     elapsed time of the whole run
#   cpu s      user+sys of the tool and every process it started (for pdsh,
#              pssh and clush that is mostly their ssh children: one ssh
#              client process per node)
#   ms/node    cpu s * 1000 / nodes
#   rss MiB    peak RSS of the tool's own process
#   child MiB  peak RSS of the largest single process of the tree when that
#              is not the tool itself, i.e. the largest ssh child of
#              pdsh/pssh/clush; "-" when no process beat the tool's own
#              (ascend-fleet starts no child: it drives every session
#              itself, so its rss is its whole memory)
#   ok         nodes where `true` ran and exited 0
#   x fastest  ascend-fleet's wall (and cpu) divided by the fastest peer's
#              at the same kex
#
# Targets (from the product's requirements, 2-core machine): wall <= 0.8x
# the fastest peer at the same kex, cpu <= 3 ms per node, peak RSS <= 48 MiB.
# A peer that is not installed is reported and skipped. The rack is taken
# down on exit, whatever happens.
set -euo pipefail
PROG=bench-exec.sh
# shellcheck source=bench-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"

bench_args "$@"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

TOOLS=(ascend-fleet)
for t in pdsh parallel-ssh clush; do
    if command -v "$t" >/dev/null; then
        TOOLS+=("$t")
    else
        echo "$PROG: $t is not installed; skipping it" >&2
    fi
done

rack_up
KEY=$RACK/id_ed25519
KH=$RACK/known_hosts
FORCED=curve25519-sha256

# ssh_opts KEX: the ssh client options every ssh-based tool gets.
ssh_opts() {
    local o="-F /dev/null -i $KEY -o IdentitiesOnly=yes -o UserKnownHostsFile=$KH"
    o+=" -o GlobalKnownHostsFile=/dev/null -o BatchMode=yes"
    o+=" -o StrictHostKeyChecking=yes -o ConnectTimeout=$CONNECT_TIMEOUT"
    [[ $1 == default ]] || o+=" -o KexAlgorithms=$1"
    printf '%s' "$o"
}

# run_tool TOOL KEX NAME: one measured run; sets M_* and OK.
run_tool() {
    local tool=$1 kex=$2 name=$3 o
    o=$(ssh_opts "$kex")
    case $tool in
    ascend-fleet)
        if [[ $kex == default ]]; then
            measure "$name" "$BIN" exec -i "$INV" -f "$FANOUT" -- true
        else
            measure "$name" "$BIN" exec -i "$INV" -f "$FANOUT" --kex "$kex" -- true
        fi
        OK=$(sed -n 's/^\([0-9]*\) ok, .*/\1/p' "$LOGS/$name.out" | tail -n 1)
        ;;
    pdsh)
        # pdsh runs the system ssh with PDSH_SSH_ARGS (%u user, %h host).
        measure "$name" env PDSH_SSH_ARGS="$o -l%u %h" \
            pdsh -R ssh -f "$FANOUT" -l root -w "^$HOSTFILE" true
        # One "pdsh@HOST: NODE: ..." line per failed node (pdsh exits 0
        # even then).
        OK=$((NODES - $(sed -n 's/^pdsh@[^:]*: \([^:]*\): .*/\1/p' \
            "$LOGS/$name.err" | sort -u | wc -l)))
        ;;
    parallel-ssh)
        measure "$name" parallel-ssh -p "$FANOUT" -h "$HOSTFILE" -l root \
            -t 300 -x "$o" true
        OK=$(grep -c '\[SUCCESS\]' "$LOGS/$name.out" || true)
        ;;
    clush)
        # "clush: NODE: exited with exit code N" (or "NODESET (k): ...")
        # per failure; clush exits 0 even then (maxrc: no).
        measure "$name" clush -f "$FANOUT" --hostfile="$HOSTFILE" -l root \
            -o "$o" -t "$CONNECT_TIMEOUT" true
        OK=$((NODES - $(awk '/^clush: / {
                if (match($0, /\(([0-9]+)\):/)) { s = substr($0, RSTART + 1);
                    n += s + 0 } else n++ } END { print n + 0 }' \
            "$LOGS/$name.err")))
        ;;
    esac
    [[ -n $OK ]] || OK=0
}

declare -A WALL CPU PRSS TRSS OKS
for kex in default "$FORCED"; do
    for ((rep = 1; rep <= REPS; rep++)); do
        for tool in "${TOOLS[@]}"; do
            name="$tool-$kex-$rep"
            run_tool "$tool" "$kex" "$name"
            k="$tool|$kex"
            WALL[$k]+="$M_WALL "
            CPU[$k]+="$M_CPU "
            PRSS[$k]+="$M_PRSS "
            TRSS[$k]+="$M_TRSS "
            OKS[$k]+="$OK "
            printf '  %-13s kex=%-18s run %d: wall %6.2f s  cpu %6.2f s  ok %d/%d\n' \
                "$tool" "$kex" "$rep" "$M_WALL" "$M_CPU" "$OK" "$NODES" >&2
        done
    done
done

# ------------------------------------------------------------- the table
echo
echo "ascend-fleet exec vs pdsh/pssh/clush: $NODES nodes, fanout $FANOUT," \
    "median of $REPS, $(nproc) cores"
echo "(cpu = the tool + all its children; rss = the tool's own process;"
echo " child = the largest single child process, e.g. one ssh client)"
printf '%-13s %-18s %8s %8s %8s %8s %9s %5s\n' tool kex "wall s" "cpu s" \
    "ms/node" "rss MiB" "child MiB" ok
declare -A MW MC MR
for kex in default "$FORCED"; do
    best_wall="" best_cpu="" best_tool=""
    for tool in "${TOOLS[@]}"; do
        k="$tool|$kex"
        # shellcheck disable=SC2086
        {
            w=$(median ${WALL[$k]})
            c=$(median ${CPU[$k]})
            p=$(median ${PRSS[$k]})
            t=$(median ${TRSS[$k]})
            okm=$(median ${OKS[$k]})
        }
        # Without children the tree's peak is the tool's own, and exact.
        if [[ $tool == ascend-fleet ]] || ((t <= p)); then
            p=$((p > t ? p : t))
            child=-
        else
            child=$(awk "BEGIN { printf \"%.1f\", $t / 1024 }")
        fi
        printf '%-13s %-18s %8.2f %8.2f %8.2f %8.1f %9s %5s\n' "$tool" "$kex" \
            "$w" "$c" "$(fcalc "$c * 1000 / $NODES")" "$(fcalc "$p / 1024")" \
            "$child" "$okm/$NODES"
        MW[$k]=$w
        MC[$k]=$c
        MR[$k]=$p
        if [[ $tool != ascend-fleet ]] &&
            { [[ -z $best_wall ]] || awk "BEGIN{exit !($w < $best_wall)}"; }; then
            best_wall=$w
            best_cpu=$c
            best_tool=$tool
        fi
    done
    k="ascend-fleet|$kex"
    if [[ -n $best_tool ]]; then
        rw=$(fcalc "${MW[$k]} / $best_wall")
        rc=$(fcalc "${MC[$k]} / $best_cpu")
        printf '  -> ascend-fleet / fastest peer (%s) at kex %s: wall %.2fx (target <= 0.80: %s), cpu %.2fx\n' \
            "$best_tool" "$kex" "$rw" \
            "$(awk "BEGIN{print ($rw <= 0.8) ? \"met\" : \"MISSED\"}")" "$rc"
    else
        echo "  -> no peer tool installed: no ratio at kex $kex"
    fi
    msn=$(fcalc "${MC[$k]} * 1000 / $NODES")
    mib=$(fcalc "${MR[$k]} / 1024")
    printf '  -> ascend-fleet cpu %.2f ms/node (target <= 3: %s), peak RSS %.1f MiB (target <= 48: %s)\n' \
        "$msn" "$(awk "BEGIN{print ($msn <= 3) ? \"met\" : \"MISSED\"}")" \
        "$mib" "$(awk "BEGIN{print ($mib <= 48) ? \"met\" : \"MISSED\"}")"
done
