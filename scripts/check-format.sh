#!/bin/bash
# SPDX-License-Identifier: MIT
# Fail when any tracked C file differs from the repository's .clang-format
# (clang-format 14, as Debian 12 ships it). Prints the files that differ.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
command -v clang-format >/dev/null || {
    echo "check-format.sh: clang-format is not installed" >&2
    exit 2
}
bad=0
while IFS= read -r f; do
    if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
        echo "check-format.sh: $f differs from .clang-format" >&2
        bad=1
    fi
done < <(git ls-files '*.c' '*.h')
if [ "$bad" = 0 ]; then
    echo "check-format.sh: every C file matches .clang-format"
fi
exit "$bad"
