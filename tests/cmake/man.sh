#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The man page (dist/ascend-fleet.1): `man --warnings` finds nothing to
# say, and every subcommand and every option that the binary's --help texts
# list is described in it.
#
#   tests/cmake/man.sh SOURCE_DIR BINARY
set -euo pipefail
PAGE=$1/dist/ascend-fleet.1
BIN=$2
fail() { echo "man.sh: $*" >&2; exit 1; }

warn=$(MANWIDTH=80 man --warnings -l "$PAGE" 2>&1 >/dev/null) || fail "man failed"
[ -z "$warn" ] || fail "man --warnings: $warn"
text=$(MANWIDTH=250 man -l "$PAGE" 2>/dev/null)

cmds=$("$BIN" --help | awk '/^Commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 } /^$/ { if (on) exit }')
[ -n "$cmds" ] || fail "no commands in '$BIN --help'"
n=0
for c in $cmds; do
    grep -q "^COMMAND: $c\$" <<<"$text" || fail "no section 'COMMAND: $c'"
    for o in $("$BIN" "$c" --help 2>&1 | grep -o -- '--[a-z][a-z-]*' | sort -u); do
        grep -q -- "$o" <<<"$text" ||
            fail "option $o of '$c' (its --help) is not in the man page"
        n=$((n + 1))
    done
done
echo "man.sh: no warnings; $(wc -w <<<"$cmds") commands and $n options described"
