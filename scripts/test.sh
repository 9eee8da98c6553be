#!/bin/bash
# SPDX-License-Identifier: MIT
# Set up and run the whole test suite: install packages; build with gcc,
# ASan/UBSan and warnings as errors; build once more with clang (warnings
# as errors); then run every CTest label (unit tests, build checks and the
# integration tests against a simulated rack of real sshd nodes, which
# CTest brings up and tears down itself). The last line printed is CTest's
# summary.
#
# AF_BUILD_DIR, AF_CLANG_BUILD_DIR: build trees (default build-test,
# build-clang).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${AF_BUILD_DIR:-$ROOT/build-test}
CLANG_BUILD=${AF_CLANG_BUILD_DIR:-$ROOT/build-clang}
"$ROOT/scripts/setup.sh"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Debug -DAF_WERROR=ON \
    -DAF_SANITIZE=address,undefined
cmake --build "$BUILD" -j "$(nproc)"

# clang: the product code with its own warnings as errors (the Criterion
# tests are built by gcc above).
cmake -S "$ROOT" -B "$CLANG_BUILD" -DCMAKE_C_COMPILER=clang \
    -DCMAKE_BUILD_TYPE=Debug -DAF_WERROR=ON -DAF_BUILD_TESTS=OFF
cmake --build "$CLANG_BUILD" -j "$(nproc)"

cd "$BUILD"
# Leaks in Criterion's own runner bookkeeping are not ours (suppressed by
# name); any other leak fails the test. UB is fatal.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/tests/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
exec ctest --output-on-failure --timeout 900 "$@"
