#!/bin/bash
# SPDX-License-Identifier: MIT
#
# bench-push.sh: distributing one 512 MiB vendor package to 16 nodes with
# `ascend-fleet stage` against pdcp, clush --copy and parallel-scp, on the
# same simulated rack (real sshd nodes on loopback, tests/rack/rack.sh) and
# the same file.
#
#   bench/bench-push.sh [--bin PATH] [--nodes N] [--size MIB] [--reps N]
#                       [--keep] ...   (--help for every option)
#
# The package is random bytes (incompressible, no holes), named like a CANN
# toolkit so that `ascend-fleet stage --stage cann` picks it up. Every tool
# uses the rack's operator key and known_hosts, its default cipher and the
# same fanout (64, so all nodes at once); --tools pdcp,clush limits the
# peers measured; --peer-cipher C gives the ssh
# peers -o Ciphers=C (ascend-fleet itself prefers AES-GCM on CPUs with AES
# instructions). Between runs the copies are
# removed from the nodes, so every run sends the whole package to every
# node. Each cell is measured --reps times (interleaved) and the table shows
# medians:
#
#   wall s     elapsed time of the whole run (connect, copy, verify)
#   MiB/s      nodes * size / wall
#   cpu s      user+sys of the tool and every process it started (for the
#              peers mostly their ssh/scp children, one per node)
#   cpu s/GiB  cpu s per GiB delivered (nodes * size)
#   rss MiB    peak RSS of the tool's own process
#   sent MiB   payload bytes the tool says it sent (ascend-fleet's summary)
#   egress MiB client -> nodes' sshd bytes (TCP payload acknowledged on
#              every socket to port 22 of the rack's addresses, sampled
#              every 100 ms by measure.py: SSH framing and encryption
#              included; node-to-node relay traffic is not on port 22)
#   ok         nodes that hold a copy with the right SHA-256 afterwards
#
# --gateway N adds the row ascend-fleet-gw: the same stage through an
# inventory where every N nodes form a group whose first node is its
# `gateway:` (docs/scale.md), so the package leaves the client once per
# gateway and the other nodes fetch it from their gateway.
#
# Targets: ascend-fleet's wall <= 0.9x the fastest peer; its cpu per GiB no
# worse than pdcp's. The nodes run on the same cores as the tools, so the
# nodes' work (sshd decryption, the writes, and for ascend-fleet the
# agent's SHA-256 check) competes with the client. The rack is taken down
# on exit, whatever happens.
set -euo pipefail
PROG=bench-push.sh
# shellcheck source=bench-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"

SIZE_MIB=512
CIPHER=""
ONLY=""
ARGS=()
NODES_SET=0
GW_EVERY=0
while (($#)); do
    case $1 in
    --gateway) GW_EVERY=$2; shift 2 ;;
    --size) SIZE_MIB=$2; shift 2 ;;
    --peer-cipher) CIPHER=$2; shift 2 ;;
    --tools) ONLY=$2; shift 2 ;;
    --nodes) NODES=$2; NODES_SET=1; shift 2 ;;
    *) ARGS+=("$1"); shift ;;
    esac
done
((NODES_SET)) || NODES=16
bench_args ${ARGS[@]+"${ARGS[@]}"} --nodes "$NODES"
[[ $SIZE_MIB =~ ^[0-9]+$ && $GW_EVERY =~ ^[0-9]+$ ]] || bench_usage
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

TOOLS=(ascend-fleet)
((GW_EVERY == 0)) || TOOLS+=(ascend-fleet-gw)
for t in pdcp clush parallel-scp; do
    if [[ -n $ONLY && ,$ONLY, != *,$t,* ]]; then
        continue
    elif command -v "$t" >/dev/null; then
        TOOLS+=("$t")
    else
        echo "$PROG: $t is not installed; skipping it" >&2
    fi
done

rack_up
# Egress: bytes acknowledged on sockets to the nodes' sshd (measure.py).
export MEASURE_SS="dst ${BASE%.*.*}.0.0/16 and dport = :22"
# The gateway inventory: the rack's settings, groups of GW_EVERY nodes, the
# first of each its gateway.
GW_INV=$RACK/bench-gw-inventory.yaml
if ((GW_EVERY > 0)); then
    {
        sed -n '/^groups:/q;p' "$INV"
        echo "groups:"
        i=0
        for nd in "$RACK"/nodes/*/; do
            name=$(basename "$nd")
            if ((i % GW_EVERY == 0)); then
                printf '  gw%03d:\n    gateway: %s\n    hosts:\n' "$i" "$name"
            fi
            printf '      - {name: %s, address: "%s"}\n' "$name" "$(cat "$nd/addr")"
            i=$((i + 1))
        done
    } >"$GW_INV"
fi
KEY=$RACK/id_ed25519
KH=$RACK/known_hosts
PKGS=$WORK/packages
NAME=Ascend-cann-toolkit_8.0.RC2_linux-x86_64.run
PKG=$PKGS/$NAME
DST=/tmp/bench-push
AF_DST=/var/lib/ascend-fleet/packages
mkdir -p "$PKGS"
echo "generating a $SIZE_MIB MiB package ..." >&2
head -c "$((SIZE_MIB * 1048576))" /dev/urandom >"$PKG"
SHA=$(sha256sum "$PKG" | cut -d' ' -f1)

O="-F /dev/null -i $KEY -o IdentitiesOnly=yes -o UserKnownHostsFile=$KH"
O+=" -o GlobalKnownHostsFile=/dev/null -o BatchMode=yes"
O+=" -o StrictHostKeyChecking=yes -o ConnectTimeout=$CONNECT_TIMEOUT"
# ascend-fleet prefers AES-GCM when the CPU has AES instructions; give the
# peers the same cipher with --peer-cipher aes128-gcm@openssh.com.
[[ -z $CIPHER ]] || O+=" -o Ciphers=$CIPHER"

# clean: remove every copy from every node (through ascend-fleet exec).
clean() {
    "$BIN" exec -i "$INV" -f "$FANOUT" -- \
        "rm -rf $DST $AF_DST/$NAME* && mkdir -p $DST" >/dev/null 2>&1 ||
        { echo "$PROG: cannot clean the nodes" >&2; exit 1; }
}

# count_ok PATH: nodes holding PATH with the package's hash (exec's
# summary line "N ok, ...": the check exits 0 only on a match).
count_ok() {
    "$BIN" exec -i "$INV" -f "$FANOUT" -- \
        "test \"\$(sha256sum $1 | cut -c1-64)\" = $SHA" 2>/dev/null |
        sed -n 's/^\([0-9]*\) ok, .*/\1/p' | tail -n 1
}

# run_tool TOOL NAME: one measured run; sets M_* and OK.
run_tool() {
    local tool=$1 name=$2
    clean
    SENT=""
    case $tool in
    ascend-fleet | ascend-fleet-gw)
        local inv=$INV
        [[ $tool == ascend-fleet ]] || inv=$GW_INV
        measure "$name" "$BIN" stage -i "$inv" -f "$FANOUT" \
            --packages "$PKGS" --stage cann
        OK=$(count_ok "$AF_DST/$NAME")
        SENT=$(sed -n 's/.* \([0-9.]*\) MiB sent in .*/\1/p' "$LOGS/$name.out")
        ;;
    pdcp)
        measure "$name" env PDSH_SSH_ARGS="$O -l%u %h" \
            pdcp -R ssh -f "$FANOUT" -l root -w "^$HOSTFILE" "$PKG" "$DST/"
        OK=$(count_ok "$DST/$NAME")
        ;;
    clush)
        measure "$name" clush -f "$FANOUT" --hostfile="$HOSTFILE" -l root \
            -o "$O" -t "$CONNECT_TIMEOUT" --copy "$PKG" --dest "$DST/"
        OK=$(count_ok "$DST/$NAME")
        ;;
    parallel-scp)
        measure "$name" parallel-scp -p "$FANOUT" -h "$HOSTFILE" -l root \
            -t 0 -x "$O" "$PKG" "$DST/$NAME"
        OK=$(count_ok "$DST/$NAME")
        ;;
    esac
    [[ -n $OK ]] || OK=0
}

declare -A WALL CPU PRSS OKS SENTS EGRESS
for ((rep = 1; rep <= REPS; rep++)); do
    for tool in "${TOOLS[@]}"; do
        name="$tool-$rep"
        run_tool "$tool" "$name"
        WALL[$tool]+="$M_WALL "
        CPU[$tool]+="$M_CPU "
        PRSS[$tool]+="$M_PRSS "
        OKS[$tool]+="$OK "
        SENTS[$tool]+="${SENT:-0} "
        EGRESS[$tool]+="$M_TCP "
        printf '  %-15s run %d: wall %6.2f s  cpu %6.2f s  egress %8.1f MiB  ok %d/%d\n' \
            "$tool" "$rep" "$M_WALL" "$M_CPU" "$(fcalc "$M_TCP / 1048576")" \
            "$OK" "$NODES" >&2
    done
done
clean

GIB=$(fcalc "$NODES * $SIZE_MIB / 1024")
echo
echo "push of one $SIZE_MIB MiB package to $NODES nodes ($GIB GiB delivered)," \
    "fanout $FANOUT, median of $REPS, $(nproc) cores," \
    "peers' cipher: ${CIPHER:-ssh default}"
printf '%-15s %8s %8s %8s %9s %8s %9s %10s %6s\n' tool "wall s" "MiB/s" \
    "cpu s" "cpu s/GiB" "rss MiB" "sent MiB" "egress MiB" ok
declare -A MW MC
best_wall="" best_tool=""
for tool in "${TOOLS[@]}"; do
    # shellcheck disable=SC2086
    {
        w=$(median ${WALL[$tool]})
        c=$(median ${CPU[$tool]})
        p=$(median ${PRSS[$tool]})
        okm=$(median ${OKS[$tool]})
        sm=$(median ${SENTS[$tool]})
        em=$(median ${EGRESS[$tool]})
    }
    sent_col=- egress_col=-
    egress_col=$(fcalc "$em / 1048576")
    [[ $tool != ascend-fleet* ]] || sent_col=$(fcalc "$sm")
    MW[$tool]=$w
    MC[$tool]=$c
    printf '%-15s %8.2f %8.1f %8.2f %9.2f %8.1f %9s %10s %6s\n' "$tool" "$w" \
        "$(fcalc "$NODES * $SIZE_MIB / $w")" "$c" "$(fcalc "$c / $GIB")" \
        "$(fcalc "$p / 1024")" "$sent_col" "$egress_col" "$okm/$NODES"
    if [[ $tool != ascend-fleet* ]] &&
        { [[ -z $best_wall ]] || awk "BEGIN{exit !($w < $best_wall)}"; }; then
        best_wall=$w
        best_tool=$tool
    fi
done
if [[ -n $best_tool ]]; then
    rw=$(fcalc "${MW[ascend-fleet]} / $best_wall")
    printf '  -> ascend-fleet / fastest peer (%s): wall %.2fx (target <= 0.90: %s)\n' \
        "$best_tool" "$rw" "$(awk "BEGIN{print ($rw <= 0.9) ? \"met\" : \"MISSED\"}")"
fi
if [[ -n ${MC[pdcp]:-} ]]; then
    rc=$(fcalc "${MC[ascend-fleet]} / ${MC[pdcp]}")
    printf '  -> ascend-fleet cpu / pdcp cpu: %.2fx (target <= 1.00: %s)\n' \
        "$rc" "$(awk "BEGIN{print ($rc <= 1.0) ? \"met\" : \"MISSED\"}")"
fi
