#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Build a simulated vendor .run package (driver, firmware or CANN toolkit)
# for the test rack: a POSIX sh header (run-header.sh, with the package
# variables and the payload's SHA-256 in front) followed by a marker line
# and a tar.gz payload. The payload holds what the install copies: the fake
# npu-smi / hccn_tool / upgrade-tool for the driver, a firmware image, and
# the te and hccl wheels for the toolkit. The output is reproducible.
#
# Usage: mkrun.sh --kind driver|firmware|toolkit --version V
#                 [--fw-version FV] [--arch x86_64|aarch64] [--chip 910]
#                 --out FILE|DIR
# --version is the HDK version for driver and firmware (e.g. 24.1.0) and the
# CANN version for the toolkit (e.g. 8.0.RC2). The firmware's own version
# (7.x.y.z.w) is --fw-version, derived from --version when absent. With
# --out DIR the file gets the vendor's name inside DIR. The path of the
# package is printed.

set -e

HERE=$(cd "$(dirname "$0")" && pwd)

# The system interpreter starts much faster than a version-manager shim.
PY=${PYTHON:-/usr/bin/python3}
[ -x "$PY" ] || PY=python3

die() {
    echo "mkrun.sh: $*" >&2
    exit 1
}

kind=
version=
fwv=
arch=x86_64
chip=910
out=
while [ $# -gt 0 ]; do
    case $1 in
        --kind) kind=$2; shift 2 ;;
        --version) version=$2; shift 2 ;;
        --fw-version) fwv=$2; shift 2 ;;
        --arch) arch=$2; shift 2 ;;
        --chip) chip=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --kind=*) kind=${1#*=}; shift ;;
        --version=*) version=${1#*=}; shift ;;
        --fw-version=*) fwv=${1#*=}; shift ;;
        --arch=*) arch=${1#*=}; shift ;;
        --chip=*) chip=${1#*=}; shift ;;
        --out=*) out=${1#*=}; shift ;;
        *) die "unknown argument: $1" ;;
    esac
done

case $kind in
    driver|firmware|toolkit) ;;
    *) die "--kind must be driver, firmware or toolkit" ;;
esac
[ -n "$version" ] || die "--version is required"
[ -n "$out" ] || die "--out is required"
case $arch in
    x86_64|aarch64) ;;
    *) die "--arch must be x86_64 or aarch64" ;;
esac
case $version in
    *[!A-Za-z0-9._-]*) die "bad version: $version" ;;
esac

# fw_for HDK: the firmware version shipped with HDK version HDK.
fw_for() {
    case $1 in
        24.1.0|24.1.RC*|24.1.rc*) echo 7.5.0.2.220 ;;
        25.0.rc1.1|25.0.RC1.1) echo 7.7.0.1.231 ;;
        23.0.7) echo 7.1.0.11.220 ;;
        *)
            major=$(echo "$1" | cut -d. -f1)
            minor=$(echo "$1" | cut -d. -f2)
            case $major in ''|*[!0-9]*) major=24 ;; esac
            case $minor in ''|*[!0-9]*) minor=0 ;; esac
            echo "7.$((major - 20 + minor)).0.$((minor + 1)).220"
            ;;
    esac
}

if [ "$kind" = firmware ]; then
    [ -n "$fwv" ] || fwv=$(fw_for "$version")
    case $fwv in
        *[!A-Za-z0-9._-]*) die "bad firmware version: $fwv" ;;
    esac
fi

case $kind in
    driver) name="Ascend-hdk-$chip-npu-driver_${version}_linux-$arch.run" ;;
    firmware) name="Ascend-hdk-$chip-npu-firmware_$fwv.run" ;;
    toolkit) name="Ascend-cann-toolkit_${version}_linux-$arch.run" ;;
esac
if [ -d "$out" ]; then
    out="$out/$name"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mkrun.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
stage=$tmp/stage
mkdir -p "$stage"

case $kind in
    driver)
        mkdir -p "$stage/tools"
        for t in npu-smi hccn_tool upgrade-tool; do
            cp "$HERE/$t" "$stage/tools/$t"
            chmod 755 "$stage/tools/$t"
        done
        ;;
    firmware)
        mkdir -p "$stage/fw"
        printf 'ASCEND%s FIRMWARE IMAGE %s\n' "$chip" "$fwv" >"$stage/fw/Ascend$chip.hpm"
        ;;
    toolkit)
        mkdir -p "$stage/lib64"
        "$PY" "$HERE/mkwheel.py" --out "$stage/lib64" te:0.4.0 hccl:0.1.0 >/dev/null ||
            die "cannot build the te/hccl wheels"
        ;;
esac

(cd "$stage" && tar --sort=name --mtime=@315532800 --owner=0 --group=0 \
    --numeric-owner -cf - .) | gzip -n -9 >"$tmp/payload.tgz"
sum=$(sha256sum "$tmp/payload.tgz" | cut -d' ' -f1)

# Line 2 refuses a truncated file before anything else runs: it compares the
# file size with the total, a fixed-width number filled in below.
{
    echo '#!/bin/sh'
    # shellcheck disable=SC2016
    echo '[ "$(wc -c <"$0")" -eq @@@@@@@@@@@@ ] 2>/dev/null || { echo "$0: Verification failed: the archive is truncated or corrupted" >&2; exit 1; }'
    echo "# $name: simulated vendor package for the ascend-fleet test rack"
    echo "PKG_KIND='$kind'"
    echo "PKG_VERSION='$version'"
    echo "PKG_FW_VERSION='$fwv'"
    echo "PKG_ARCH='$arch'"
    echo "PKG_CHIP='$chip'"
    echo "PKG_NAME='$name'"
    echo "PKG_SHA256='$sum'"
    echo "PKG_DATE='1980-01-01 00:00:00'"
    cat "$HERE/run-header.sh"
    echo 'exit 1'
    echo '__FLEET_SIM_RUN_PAYLOAD__'
} >"$tmp/head.run"
size=$(wc -c <"$tmp/head.run")
size=$(printf '%012d' "$((size + $(wc -c <"$tmp/payload.tgz")))")
sed "2s/@@@@@@@@@@@@/$size/" "$tmp/head.run" >"$tmp/out.run"
cat "$tmp/payload.tgz" >>"$tmp/out.run"
[ "$(wc -c <"$tmp/out.run")" -eq "$size" ] || die "size mismatch while building $name"
chmod 755 "$tmp/out.run"
mv -f "$tmp/out.run" "$out"
echo "$out"
