#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Build Ascend-noisy-test_1.0.run, a simulated installer for the tests of
# `ascend-fleet logs`: it prints well over 1 MiB on stdout, always the same
# bytes (a recognizable first line, numbered lines, a NUL byte, bytes that
# are not UTF-8, a recognizable last line), so a test can compare what the
# state file kept with what the package prints when run locally. Flags in
# the node's control directory (FLEET_SIM_CTL, default /var/lib/fleet-sim):
# noisy-fail makes it end with a line on stderr and exit 3 instead of the
# last line; noisy-hang makes it print "NOISY-HANG" and sleep instead.
#
# Usage: mknoisy.sh --out DIR
# The path of the package is printed.

set -e

die() {
    echo "mknoisy.sh: $*" >&2
    exit 1
}

out=
while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || die "missing value for $1"
    case $1 in
        --out) out=$2 ;;
        *) die "unknown argument: $1" ;;
    esac
    shift 2
done
[ -n "$out" ] || die "--out is required"
mkdir -p "$out"
pkg=$out/Ascend-noisy-test_1.0.run

cat >"$pkg.tmp" <<'PKG'
#!/bin/sh
# Ascend-noisy-test_1.0.run: simulated installer with a lot of output
# (ascend-fleet test rack, built by tests/rack/fake/mknoisy.sh).
CTL=${FLEET_SIM_CTL:-/var/lib/fleet-sim}
echo "NOISY-FIRST-LINE: simulated installer starts"
seq -f 'noise line %06g: 0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ' 1 12000
printf 'a NUL byte follows:\000:and the line goes on\n'
printf 'not UTF-8: \377\376 end\n'
seq -f 'more noise %06g: ..................................................' 1 12000
if [ -e "$CTL/noisy-hang" ]; then
    echo "NOISY-HANG: waiting forever"
    exec sleep 600
fi
if [ -e "$CTL/noisy-fail" ]; then
    echo "NOISY-ERROR: failing as asked" >&2
    exit 3
fi
echo "NOISY-LAST-LINE: simulated installer done"
PKG
chmod 755 "$pkg.tmp"
mv -f "$pkg.tmp" "$pkg"
echo "$pkg"
