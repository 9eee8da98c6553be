#!/bin/bash
# SPDX-License-Identifier: MIT
# Set up and run the whole test suite: install packages, build with
# ASan/UBSan and warnings as errors, then run every CTest label (unit tests
# and the integration tests against a simulated rack of real sshd nodes,
# which CTest brings up and tears down itself). The last line printed is
# CTest's summary.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${AF_BUILD_DIR:-$ROOT/build-test}
"$ROOT/scripts/setup.sh"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Debug -DAF_WERROR=ON \
    -DAF_SANITIZE=address,undefined
cmake --build "$BUILD" -j "$(nproc)"
cd "$BUILD"
# Leaks in Criterion's own runner bookkeeping are not ours (suppressed by
# name); any other leak fails the test. UB is fatal.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/tests/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
exec ctest --output-on-failure --timeout 900 "$@"
