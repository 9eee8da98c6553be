#!/bin/bash
# SPDX-License-Identifier: MIT
# The demo: set up, build, bring up a simulated 8-node rack (real sshd
# nodes in their own namespaces, fake Ascend tools and vendor packages),
# then do what an operator does on a real rack: facts, a plan, a staged
# rollout of the whole stack with rolling reboots, the NPU device IPs,
# status, and the HCCL rank table. Run as root on Debian 12.
#   scripts/demo.sh [--keep]    (--keep leaves the rack running)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${AF_BUILD_DIR:-$ROOT/build}
DEMO=${AF_DEMO_DIR:-$ROOT/.rack-demo}
NODES=${AF_DEMO_NODES:-8}
KEEP=0
[ "${1:-}" = "--keep" ] && KEEP=1

"$ROOT/scripts/setup.sh"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DAF_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD" -j "$(nproc)" >/dev/null
AF="$BUILD/orchestrator/ascend-fleet"
RACK="$ROOT/tests/rack/rack.sh"

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
cleanup() {
    if [ "$KEEP" = 0 ]; then
        say "Taking the simulated rack down"
        "$RACK" down --dir "$DEMO" || true
    else
        say "Rack left running: $RACK down --dir $DEMO"
    fi
}

"$RACK" down --dir "$DEMO" >/dev/null 2>&1 || true
say "Bringing up a simulated rack of $NODES nodes (one sshd each, 127.0.100.x)"
"$RACK" up --dir "$DEMO" --nodes "$NODES" --base 127.0.100.1
trap cleanup EXIT
for i in $(seq 1 "$NODES"); do
    n=$(printf 'npu%03d' "$i")
    "$RACK" fault --dir "$DEMO" "$n" set install-seconds 1 >/dev/null
    "$RACK" fault --dir "$DEMO" "$n" set reboot-seconds 3 >/dev/null
done
say "Vendor packages (driver, firmware, CANN toolkit, torch, torch_npu)"
rm -rf "$DEMO/packages"
bash "$ROOT/tests/rack/fake/mkpackages.sh" --out "$DEMO/packages" >/dev/null
ls "$DEMO/packages"

# The NPU device address plan: the manual recipe's four planes.
cat >>"$DEMO/inventory.yaml" <<'YAML'
hccn:
  netmask: 255.255.255.0
  planes:
    - {subnet: 192.168.100.0/24, gateway: 192.168.100.1, detect: 192.168.100.1}
    - {subnet: 192.168.101.0/24, gateway: 192.168.101.1, detect: 192.168.101.1}
    - {subnet: 192.168.102.0/24, gateway: 192.168.102.1, detect: 192.168.102.1}
    - {subnet: 192.168.103.0/24, gateway: 192.168.103.1, detect: 192.168.103.1}
YAML
cd "$DEMO"
rm -rf .ascend-fleet
say "The inventory"
run "$AF" inventory check -i inventory.yaml
say "Run a command on every node (output folded)"
run "$AF" exec -i inventory.yaml -- 'cat /etc/os-release | head -1'
say "Facts: what each node runs today (the agent is pushed once)"
run "$AF" facts -i inventory.yaml
say "The NPU address plan"
run "$AF" hccn plan -i inventory.yaml | head -20
say "The plan for the whole stack"
run "$AF" rollout -i inventory.yaml --packages packages --stage all,hccn --plan
say "Rollout: batches of 1, then 25%, rolling reboots, verified"
run "$AF" rollout -i inventory.yaml --packages packages --stage all,hccn \
    --batch 1,25% --yes
say "Status of the run"
run "$AF" status
say "Facts after the rollout"
run "$AF" facts -i inventory.yaml
say "HCCL rank table from the verified addresses"
run "$AF" ranktable -i inventory.yaml | head -20
say "Running the rollout again changes nothing"
run "$AF" rollout -i inventory.yaml --packages packages --stage all,hccn --yes | tail -3
