#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Installation: `cmake --install` puts the binary, the playbook, the man
# page and the bash completion in the usual places under the prefix, and
# `cpack -G DEB` builds a Debian package holding the same files.
#
#   tests/cmake/install.sh BUILD_DIR WORK_DIR
set -euo pipefail
BUILD=$1
WORK=$2
fail() { echo "install.sh: $*" >&2; exit 1; }
rm -rf "$WORK"
mkdir -p "$WORK"

cmake --install "$BUILD" --prefix "$WORK/root" >"$WORK/install.log" 2>&1 ||
    { cat "$WORK/install.log"; fail "cmake --install failed"; }
for f in bin/ascend-fleet share/man/man1/ascend-fleet.1 \
    share/bash-completion/completions/ascend-fleet \
    share/ascend-fleet/playbooks/ascend.yaml; do
    [ -s "$WORK/root/$f" ] || fail "cmake --install did not install $f"
done
"$WORK/root/bin/ascend-fleet" --version | grep -q '^ascend-fleet ' ||
    fail "the installed binary does not run"
bash -n "$WORK/root/share/bash-completion/completions/ascend-fleet" ||
    fail "the installed completion is not valid bash"

(cd "$BUILD" && cpack -G DEB -B "$WORK/deb") >"$WORK/cpack.log" 2>&1 ||
    { cat "$WORK/cpack.log"; fail "cpack -G DEB failed"; }
deb=$(ls "$WORK"/deb/ascend-fleet_*.deb 2>/dev/null | head -n 1)
[ -n "$deb" ] || fail "no .deb built"
[ "$(dpkg-deb -f "$deb" Package)" = ascend-fleet ] || fail "wrong Package"
dpkg-deb -f "$deb" Depends | grep -q libssh || fail "Depends lacks libssh"
list=$(dpkg-deb -c "$deb")
for f in bin/ascend-fleet share/man/man1/ascend-fleet.1 \
    share/bash-completion/completions/ascend-fleet \
    share/ascend-fleet/playbooks/ascend.yaml; do
    grep -q "/$f\$" <<<"$list" || fail "the .deb lacks $f"
done
echo "install.sh: cmake --install and $(basename "$deb") hold binary, playbook, man page, completion"
