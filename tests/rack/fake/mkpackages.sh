#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Build a complete simulated vendor files directory for the test rack, like
# the resources/ folder of the vendor's batch installer: for both x86_64 and
# aarch64 a driver .run, a CANN toolkit .run, a torch and a torch_npu wheel;
# one firmware .run and one apex wheel.
#
# Usage: mkpackages.sh --out DIR [--driver 24.1.0] [--firmware 7.5.0.2.220]
#                      [--cann 8.0.RC2] [--torch 2.1.0]
#                      [--torch-npu 2.1.0.post6] [--chip 910]
# The names of the files built are printed, one per line.

set -e

HERE=$(cd "$(dirname "$0")" && pwd)
PY=${PYTHON:-/usr/bin/python3}
[ -x "$PY" ] || PY=python3

die() {
    echo "mkpackages.sh: $*" >&2
    exit 1
}

out=
driver=24.1.0
firmware=
cann=8.0.RC2
torch=2.1.0
torch_npu=2.1.0.post6
chip=910
while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || die "missing value for $1"
    case $1 in
        --out) out=$2 ;;
        --driver) driver=$2 ;;
        --firmware) firmware=$2 ;;
        --cann) cann=$2 ;;
        --torch) torch=$2 ;;
        --torch-npu) torch_npu=$2 ;;
        --chip) chip=$2 ;;
        *) die "unknown argument: $1" ;;
    esac
    shift 2
done
[ -n "$out" ] || die "--out is required"
mkdir -p "$out"

fwopt=
[ -z "$firmware" ] || fwopt="--fw-version $firmware"

logs=$(mktemp -d "${TMPDIR:-/tmp}/mkpackages.XXXXXX")
trap 'rm -rf "$logs"' EXIT

# The packages are independent: build them in parallel.
n=0
pids=
for job in "driver x86_64" "driver aarch64" "toolkit x86_64" "toolkit aarch64"; do
    # shellcheck disable=SC2086
    set -- $job
    v=$driver
    [ "$1" = toolkit ] && v=$cann
    n=$((n + 1))
    "$HERE/mkrun.sh" --kind "$1" --version "$v" --arch "$2" --chip "$chip" \
        --out "$out" >"$logs/$n.out" 2>&1 &
    pids="$pids $!"
done
# shellcheck disable=SC2086
"$HERE/mkrun.sh" --kind firmware --version "$driver" $fwopt --chip "$chip" \
    --out "$out" >"$logs/fw.out" 2>&1 &
pids="$pids $!"
"$PY" "$HERE/mkwheel.py" --out "$out" \
    "torch:$torch:x86_64" "torch:$torch:aarch64" \
    "torch_npu:$torch_npu:x86_64" "torch_npu:$torch_npu:aarch64" \
    "apex:0.1+ascend" >"$logs/wheels.out" 2>&1 &
pids="$pids $!"

rc=0
for pid in $pids; do
    wait "$pid" || rc=1
done
if [ $rc -ne 0 ]; then
    cat "$logs"/*.out >&2
    die "building the packages failed"
fi
for f in "$logs"/*.out; do
    while IFS= read -r line; do
        basename "$line"
    done <"$f"
done
