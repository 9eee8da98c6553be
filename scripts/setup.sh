#!/bin/bash
# SPDX-License-Identifier: MIT
# Install every Debian package that building, testing, the demo and the
# benchmark need (Debian 12). Safe to run again.
set -euo pipefail
if [ "$(id -u)" != 0 ]; then
    echo "setup.sh: run as root (it installs packages)" >&2
    exit 2
fi
PKGS=(
    build-essential cmake pkg-config git
    libssh-dev libuv1-dev libyaml-dev libsqlite3-dev libcriterion-dev
    musl-tools gcc-aarch64-linux-gnu libc6-dev-arm64-cross binutils-aarch64-linux-gnu
    qemu-user-static
    openssh-server openssh-client
    sqlite3 python3 python3-pip iproute2 util-linux procps psmisc
    pdsh pssh clustershell time sudo
    clang libclang-rt-14-dev clang-format
    man-db groff-base dpkg-dev
)
# The aarch64 agent is linked statically against Debian's arm64 musl.
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    dpkg --add-architecture arm64
fi
PKGS+=(musl-dev:arm64 tmux)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
        missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# The rack's nodes run their own sshd; the machine's own sshd is not needed.
mkdir -p /run/sshd
echo "setup.sh: all packages present"
