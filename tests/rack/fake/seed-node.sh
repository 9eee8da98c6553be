#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Preset a simulated node by writing into its overlay upper directory before
# the node starts; nothing runs inside the node. The packages are built on
# the fly and installed with FLEET_SIM_ROOT=UPPERDIR and a throw-away
# control directory, so the node's events.log stays untouched.
#   fresh   nothing installed
#   driver  driver + firmware installed (tools, version files,
#           /etc/ascend_install.info, HwHiAiUser added to copies of the
#           host's passwd/group/shadow/gshadow)
#   full    driver + firmware + CANN toolkit (set_env.sh), empty /etc/hccn.conf
#
# Usage: seed-node.sh --root UPPERDIR --state fresh|driver|full
#                     [--arch x86_64] [--driver 24.1.0] [--firmware 7.5.0.2.220]
#                     [--cann 8.0.RC2] [--chip 910] [--pkgdir DIR]
# --pkgdir DIR reuses the packages already in DIR (vendor file names) and
# builds the missing ones there; it also keeps a seeded template tree per
# state/arch/versions in DIR and copies it, so seeding a whole rack installs
# each combination once. (The template is not used when UPPERDIR already
# has an etc/passwd, whose accounts must be kept.)

set -e

HERE=$(cd "$(dirname "$0")" && pwd)
HOST_ETC=${FLEET_SIM_HOST_ETC:-/etc}

die() {
    echo "seed-node.sh: $*" >&2
    exit 1
}

root=
state=
arch=$(uname -m)
driver=24.1.0
firmware=
cann=8.0.RC2
chip=910
pkgdir=
while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || die "missing value for $1"
    case $1 in
        --root) root=$2 ;;
        --state) state=$2 ;;
        --arch) arch=$2 ;;
        --driver) driver=$2 ;;
        --firmware) firmware=$2 ;;
        --cann) cann=$2 ;;
        --chip) chip=$2 ;;
        --pkgdir) pkgdir=$2 ;;
        *) die "unknown argument: $1" ;;
    esac
    shift 2
done
[ -n "$root" ] || die "--root is required"
case $state in
    fresh|driver|full) ;;
    *) die "--state must be fresh, driver or full" ;;
esac
mkdir -p "$root"
root=$(cd "$root" && pwd)
[ "$root" != / ] || die "refusing to seed the host's /"
[ "$state" != fresh ] || exit 0

# add_account: copy the host's account files into the upper dir (once) and
# append HwHiAiUser with a free uid/gid.
add_account() {
    mkdir -p "$root/etc"
    for f in passwd group shadow gshadow; do
        if [ ! -e "$root/etc/$f" ] && [ -e "$HOST_ETC/$f" ]; then
            cp -p "$HOST_ETC/$f" "$root/etc/$f"
        fi
    done
    [ -e "$root/etc/passwd" ] || echo 'root:x:0:0:root:/root:/bin/bash' >"$root/etc/passwd"
    [ -e "$root/etc/group" ] || echo 'root:x:0:' >"$root/etc/group"
    if ! grep -q '^HwHiAiUser:' "$root/etc/group"; then
        gid=$(awk -F: 'BEGIN { g = 1000 } { used[$3] = 1 } END { while (g in used) g++; print g }' "$root/etc/group")
        echo "HwHiAiUser:x:$gid:" >>"$root/etc/group"
        [ ! -e "$root/etc/gshadow" ] || echo 'HwHiAiUser:!::' >>"$root/etc/gshadow"
    fi
    gid=$(awk -F: '$1 == "HwHiAiUser" { print $3 }' "$root/etc/group")
    if ! grep -q '^HwHiAiUser:' "$root/etc/passwd"; then
        uid=$(awk -F: 'BEGIN { u = 1000 } { used[$3] = 1 } END { while (u in used) u++; print u }' "$root/etc/passwd")
        echo "HwHiAiUser:x:$uid:$gid::/home/HwHiAiUser:/bin/bash" >>"$root/etc/passwd"
        [ ! -e "$root/etc/shadow" ] || echo 'HwHiAiUser:!:20000:0:99999:7:::' >>"$root/etc/shadow"
    fi
    mkdir -p "$root/home/HwHiAiUser"
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/seed-node.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/pkg" "$tmp/ctl"
echo "$arch" >"$tmp/ctl/arch"

fwopt=
[ -z "$firmware" ] || fwopt="--fw-version $firmware"
[ -n "$pkgdir" ] || pkgdir=$tmp/pkg
mkdir -p "$pkgdir"

pkg_path() {
    # pkg_path KIND: the package of KIND in pkgdir, built first if missing.
    case $1 in
        driver) f="$pkgdir/Ascend-hdk-$chip-npu-driver_${driver}_linux-$arch.run" ;;
        toolkit) f="$pkgdir/Ascend-cann-toolkit_${cann}_linux-$arch.run" ;;
        *) f= ;;
    esac
    if [ -n "$f" ] && [ -s "$f" ]; then
        echo "$f"
        return 0
    fi
    case $1 in
        driver) "$HERE/mkrun.sh" --kind driver --version "$driver" --arch "$arch" --chip "$chip" --out "$pkgdir" ;;
        toolkit) "$HERE/mkrun.sh" --kind toolkit --version "$cann" --arch "$arch" --out "$pkgdir" ;;
        firmware)
            if [ -n "$firmware" ] && [ -s "$pkgdir/Ascend-hdk-$chip-npu-firmware_$firmware.run" ]; then
                echo "$pkgdir/Ascend-hdk-$chip-npu-firmware_$firmware.run"
                return 0
            fi
            # shellcheck disable=SC2086
            "$HERE/mkrun.sh" --kind firmware --version "$driver" $fwopt --chip "$chip" --out "$pkgdir"
            ;;
    esac
}

run_pkg() {
    # run_pkg FILE OPTIONS...: install a package into the upper dir.
    pkg=$1
    shift
    if ! FLEET_SIM_ROOT=$root FLEET_SIM_CTL=$tmp/ctl sh "$pkg" "$@" >"$tmp/log" 2>&1; then
        cat "$tmp/log" >&2
        die "installing $(basename "$pkg") into $root failed"
    fi
}

if [ "$pkgdir" != "$tmp/pkg" ] && [ -z "$FLEET_SIM_SEED_NESTED" ] &&
   [ ! -e "$root/etc/passwd" ]; then
    tree="$pkgdir/tree-$state-$arch-$chip-$driver-${firmware:-auto}-$cann"
    if [ ! -d "$tree" ]; then
        FLEET_SIM_SEED_NESTED=1 "$0" --root "$tmp/tree" --state "$state" --arch "$arch" --driver "$driver" \
            ${firmware:+--firmware "$firmware"} --cann "$cann" --chip "$chip" \
            --pkgdir "$pkgdir" >/dev/null || die "cannot seed the template"
        mv "$tmp/tree" "$tree" 2>/dev/null || [ -d "$tree" ] || die "cannot keep the template in $tree"
    fi
    cp -a "$tree/." "$root/" || die "cannot copy the template into $root"
    exit 0
fi

add_account
drv=$(pkg_path driver)
fw=$(pkg_path firmware)
run_pkg "$drv" --nox11 --full --quiet --install-for-all
run_pkg "$fw" --nox11 --full --quiet

if [ "$state" = full ]; then
    tk=$(pkg_path toolkit)
    run_pkg "$tk" --install --quiet --nox11
    mkdir -p "$root/etc"
    : >"$root/etc/hccn.conf"
fi
exit 0
