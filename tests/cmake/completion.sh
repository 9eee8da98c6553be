#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The bash completion (dist/ascend-fleet.bash), driven as bash drives it:
# COMP_WORDS/COMP_CWORD set, the function called, COMPREPLY checked.
#
#   tests/cmake/completion.sh SOURCE_DIR BINARY
set -euo pipefail
SRC=$1
BIN=$2
INV=$SRC/tests/unit/data/inventory/valid.yaml
# shellcheck source=/dev/null
source "$SRC/dist/ascend-fleet.bash"
complete -p ascend-fleet >/dev/null
fail=0

# expect "WANT" WORD...: complete the last word of the line WORD...
expect() {
    local want=$1
    shift
    COMP_WORDS=("$BIN" "$@")
    COMP_CWORD=$#
    COMPREPLY=()
    _ascend_fleet
    local got="${COMPREPLY[*]}"
    if [ "$got" != "$want" ]; then
        echo "completion.sh: '$*': got '$got', want '$want'" >&2
        fail=1
    fi
}

expect "rollout resume runs ranktable" r
expect "hccn" h
expect "plan" hccn p
expect "check" inventory c
expect "--settle --ssh-config --stage --state" rollout --s
expect "--max-output" exec --max
expect "driver" rollout --stage dri
expect "driver,cann" rollout --stage driver,ca
expect "torch torch_npu" rollout --stage tor
expect "accept-new" facts --host-keys acc
expect "npu001 npu002 npu003 npu004 npu005 npu006" exec -i "$INV" --limit npu
expect "rack01 rack02" exec -i "$INV" --limit ra
expect "npu001,!rack01 npu001,!rack02" exec -i "$INV" --limit 'npu001,!ra'
expect "@rack01 @rack02" facts --inventory "$INV" --limit @rack
[ "$fail" = 0 ] || exit 1
echo "completion.sh: subcommands, options, stages, nodes and groups complete"
