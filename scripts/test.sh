#!/bin/bash
# SPDX-License-Identifier: MIT
# Set up and run the whole test suite: install packages; build with gcc,
# ASan/UBSan and warnings as errors; build once more with clang (warnings
# as errors) together with the libFuzzer harnesses, and run each harness
# for a short fixed time from its seed corpus (tests/fuzz/corpus/NAME);
# then run every CTest label (unit tests, build checks and the integration
# tests against a simulated rack of real sshd nodes, which CTest brings up
# and tears down itself). The last line printed is CTest's summary.
#
# AF_BUILD_DIR, AF_CLANG_BUILD_DIR: build trees (default build-test,
# build-clang); AF_FUZZ_SECONDS: time per harness (default 20, 0 skips).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${AF_BUILD_DIR:-$ROOT/build-test}
CLANG_BUILD=${AF_CLANG_BUILD_DIR:-$ROOT/build-clang}
FUZZ_SECONDS=${AF_FUZZ_SECONDS:-20}
"$ROOT/scripts/setup.sh"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Debug -DAF_WERROR=ON \
    -DAF_SANITIZE=address,undefined
cmake --build "$BUILD" -j "$(nproc)"

# clang: the product code with its own warnings as errors (the Criterion
# tests are built by gcc above), and the fuzz harnesses.
cmake -S "$ROOT" -B "$CLANG_BUILD" -DCMAKE_C_COMPILER=clang \
    -DCMAKE_BUILD_TYPE=Debug -DAF_WERROR=ON -DAF_FUZZ=ON -DAF_BUILD_TESTS=OFF
cmake --build "$CLANG_BUILD" -j "$(nproc)"
if [ "$FUZZ_SECONDS" != 0 ]; then
    FUZZ_WORK=$(mktemp -d)
    for seeds in "$ROOT"/tests/fuzz/corpus/*/; do
        name=$(basename "$seeds")
        mkdir -p "$FUZZ_WORK/$name"
        # New inputs go to the work corpus; the seeds are only read.
        if ! "$CLANG_BUILD/tests/fuzz/$name" -max_total_time="$FUZZ_SECONDS" \
            -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
            -artifact_prefix="$FUZZ_WORK/$name-" "$FUZZ_WORK/$name" "$seeds" \
            >"$FUZZ_WORK/$name.log" 2>&1; then
            tail -n 60 "$FUZZ_WORK/$name.log"
            echo "test.sh: fuzz $name failed; input and log in $FUZZ_WORK" >&2
            exit 1
        fi
        echo "fuzz $name: $(grep -o 'stat::number_of_executed_units: [0-9]*' \
            "$FUZZ_WORK/$name.log" | grep -o '[0-9]*$') runs in ${FUZZ_SECONDS} s, no crash"
    done
    rm -rf "$FUZZ_WORK"
fi

cd "$BUILD"
# Leaks in Criterion's own runner bookkeeping are not ours (suppressed by
# name); any other leak fails the test. UB is fatal.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/tests/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
exec ctest --output-on-failure --timeout 900 "$@"
