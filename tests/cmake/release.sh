#!/bin/bash
# SPDX-License-Identifier: MIT
#
# A user's build: `cmake -DCMAKE_BUILD_TYPE=Release` with default options
# must not turn warnings into errors and must add the hardening flags; and
# the Release (-O2) build of the state module, where gcc's
# -Wmaybe-uninitialized used to fire, is clean under -Werror.
#
#   tests/cmake/release.sh SOURCE_DIR WORK_DIR
set -euo pipefail
SRC=$1
WORK=$2
rm -rf "$WORK"
mkdir -p "$WORK"
fail() { echo "release.sh: $*" >&2; exit 1; }

cmake -S "$SRC" -B "$WORK" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_EXPORT_COMPILE_COMMANDS=ON -DAF_BUILD_TESTS=OFF \
    -DAF_BUILD_AGENT=OFF >"$WORK/configure.log" 2>&1 ||
    { cat "$WORK/configure.log"; fail "configure failed"; }
CC_JSON=$WORK/compile_commands.json
[ -s "$CC_JSON" ] || fail "no compile_commands.json"
grep -q -- '-Werror' "$CC_JSON" && fail "default Release build uses -Werror"
grep -q -- '-D_FORTIFY_SOURCE=2' "$CC_JSON" ||
    fail "Release build lacks -D_FORTIFY_SOURCE=2"
grep -q -- '-fstack-protector-strong' "$CC_JSON" ||
    fail "Release build lacks -fstack-protector-strong"
grep -q '"file": ".*state/st.c"' "$CC_JSON" || fail "st.c not in the build"

cmake -S "$SRC" -B "$WORK" -DAF_WERROR=ON >>"$WORK/configure.log" 2>&1 ||
    fail "reconfigure with AF_WERROR=ON failed"
grep -q -- '-Werror' "$CC_JSON" || fail "AF_WERROR=ON does not add -Werror"
cmake --build "$WORK" --target af_state -j 2 >"$WORK/build.log" 2>&1 ||
    { cat "$WORK/build.log"; fail "Release build of af_state with -Werror failed"; }
if grep -q 'warning:' "$WORK/build.log"; then
    cat "$WORK/build.log"
    fail "warnings in the Release build"
fi
echo "release.sh: Release defaults OK (no -Werror, hardened); -O2 -Werror build of af_state clean"
