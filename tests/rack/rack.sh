#!/bin/bash
# SPDX-License-Identifier: MIT
#
# rack.sh: a simulated rack of Ascend nodes on loopback addresses.
#
# Each node is a real OpenSSH sshd on its own 127.x.y.z:22, in its own mount,
# PID and UTS namespace, chrooted into an overlay of the host's / so whatever
# an install writes stays on that node.  One supervisor process per rack
# (rack-sup.py, which also creates the nodes) boots the nodes and brings them
# back after a reboot.  Usable by hand for demos and by the integration tests:
#
#   rack.sh up     --dir DIR --nodes N [--base 127.0.10.1] [--prefix npu]
#                  [--width 3] [--state fresh|driver|full] [--arch x86_64]
#                  [--timeout S]
#   rack.sh down   --dir DIR
#   rack.sh status --dir DIR
#   rack.sh fault  --dir DIR NODE down|up|mute|unmute
#   rack.sh fault  --dir DIR NODE set FILE [VALUE] | clear FILE
#   rack.sh reset  --dir DIR NODE... [--state S]
#   rack.sh rekey  --dir DIR NODE [--key FILE]   (new host key; known_hosts kept)
#   rack.sh exec   --dir DIR NODE -- CMD...
#
# Node creation and the supervisor live in rack-sup.py.
# Layout of DIR: id_ed25519{,.pub} (the operator key), known_hosts,
# inventory.yaml, rack.conf, sup.pid, sup.log, sup.status and nodes/<name>/ with addr,
# want, state, up, pid, boot_id, ssh_host_ed25519_key{,.pub}, sshd.log,
# upper/ work/ root/ tmp/ and ctl/ (seen as /var/lib/fleet-sim in the node).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SUP=$HERE/rack-sup.py
PROG=rack.sh
SELF=$HERE/${BASH_SOURCE[0]##*/}

die() {
    printf '%s: error: %s\n' "$PROG" "$*" >&2
    exit 1
}

usage() {
    { echo "usage:"; sed -n '/^#   rack.sh up/,/^#$/s/^#//p' "${BASH_SOURCE[0]}"; } >&2
    exit 2
}

# ---------------------------------------------------------------- arguments

DIR=""
NODES=""
BASE=127.0.10.1
PREFIX=npu
WIDTH=3
STATE=""
ARCH=""
KEY=""
TIMEOUT=120
ARGS=()

parse_args() {
    local seen_dashdash=0
    while (($#)); do
        if ((seen_dashdash)); then
            ARGS+=("$1")
            shift
            continue
        fi
        case $1 in
        --dir|--nodes|--base|--prefix|--width|--state|--arch|--timeout|--key)
            (($# >= 2)) || die "option $1 needs a value"
            case $1 in
            --dir) DIR=$2 ;;
            --nodes) NODES=$2 ;;
            --base) BASE=$2 ;;
            --prefix) PREFIX=$2 ;;
            --width) WIDTH=$2 ;;
            --state) STATE=$2 ;;
            --arch) ARCH=$2 ;;
            --timeout) TIMEOUT=$2 ;;
            --key) KEY=$2 ;;
            esac
            shift 2
            ;;
        --) ARGS+=("$1"); seen_dashdash=1; shift ;;
        --*) die "unknown option $1" ;;
        *) ARGS+=("$1"); shift ;;
        esac
    done
    [[ -n $DIR ]] || die "--dir DIR is required"
    DIR=$(realpath -m -- "$DIR")
    DIR=${DIR%/}
}

need_root() {
    ((EUID == 0)) || die "must run as root (namespaces, mounts, sshd)"
}

is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }

# ------------------------------------------------------------- addresses

# ip2int ADDR: sets IPINT, or fails on a malformed IPv4 address.
ip2int() {
    local IFS=. a b c d
    [[ $1 =~ ^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] || return 1
    read -r a b c d <<<"$1"
    ((a < 256 && b < 256 && c < 256 && d < 256)) || return 1
    IPINT=$(((10#$a << 24) | (10#$b << 16) | (10#$c << 8) | 10#$d))
}

# int2ip N: sets IPSTR.
int2ip() {
    IPSTR="$((($1 >> 24) & 255)).$((($1 >> 16) & 255)).$((($1 >> 8) & 255)).$(($1 & 255))"
}

# ------------------------------------------------------------------ helpers

rack_conf_get() {
    local key=$1 k v
    [[ -f $DIR/rack.conf ]] || return 1
    while IFS='=' read -r k v; do
        if [[ $k == "$key" ]]; then
            printf '%s\n' "$v"
            return 0
        fi
    done <"$DIR/rack.conf"
    return 1
}

sup_pid() {
    local pid
    [[ -f $DIR/sup.pid ]] || return 1
    read -r pid <"$DIR/sup.pid" || return 1
    is_uint "$pid" || return 1
    [[ -r /proc/$pid/cmdline ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "rack-sup.py $DIR " || return 1
    printf '%s\n' "$pid"
}

need_rack() {
    [[ -f $DIR/rack.conf && -d $DIR/nodes ]] || die "no rack in $DIR"
    SUPPID=$(sup_pid) || die "rack in $DIR is not running (rack.sh up first)"
}

sup_hup() {
    kill -HUP "$SUPPID" 2>/dev/null || die "supervisor $SUPPID is gone"
}

node_dir() {
    local n=$1
    [[ $n =~ ^[A-Za-z0-9._-]+$ && -f $DIR/nodes/$n/addr ]] ||
        die "no node '$n' in $DIR"
    printf '%s\n' "$DIR/nodes/$n"
}

node_state() {
    local s=""
    [[ -f $1/state ]] && read -r s <"$1/state"
    printf '%s\n' "${s:-down}"
}

# wait_state NODEDIR TIMEOUT STATE...: wait until the node is in one of STATE.
wait_state() {
    local nd=$1 t=$2 s i
    shift 2
    local deadline=$((SECONDS + t))
    while :; do
        s=$(node_state "$nd")
        for i in "$@"; do
            [[ $s == "$i" ]] && return 0
        done
        ((SECONDS < deadline)) || {
            printf '%s: error: node %s is %s, wanted %s after %ss\n' \
                "$PROG" "${nd##*/}" "$s" "$*" "$t" >&2
            return 1
        }
        sleep 0.05
    done
}

set_want() {
    printf '%s\n' "$2" >"$1/want.tmp"
    mv -f "$1/want.tmp" "$1/want"
}

# ------------------------------------------------------------ subcommands

cmd_up() {
    local t0=$EPOCHREALTIME
    need_root
    ((${#ARGS[@]} == 0)) || die "up takes no positional argument: ${ARGS[*]}"
    [[ -n $NODES ]] || die "up needs --nodes N"
    if ! is_uint "$NODES" || ((NODES < 1 || NODES > 4000)); then
        die "--nodes must be 1..4000"
    fi
    if ! is_uint "$WIDTH" || ((WIDTH < 1 || WIDTH > 8)); then
        die "--width must be 1..8"
    fi
    is_uint "$TIMEOUT" || die "--timeout must be seconds"
    [[ $PREFIX =~ ^[A-Za-z][A-Za-z0-9-]*$ ]] || die "bad --prefix '$PREFIX'"
    ((${#NODES} <= WIDTH)) || die "$NODES nodes do not fit in --width $WIDTH"
    STATE=${STATE:-fresh}
    ARCH=${ARCH:-x86_64}
    [[ $STATE =~ ^(fresh|driver|full)$ ]] || die "--state must be fresh, driver or full"
    [[ $ARCH =~ ^[A-Za-z0-9_]+$ ]] || die "bad --arch '$ARCH'"
    ip2int "$BASE" || die "bad --base '$BASE'"
    local base=$IPINT
    (((base >> 24) == 127)) || die "--base must be a loopback address (127.x.y.z)"
    [[ -x /usr/sbin/sshd ]] || die "/usr/sbin/sshd missing (apt-get install openssh-server)"
    command -v unshare >/dev/null || die "unshare missing (util-linux)"
    [[ -x /usr/bin/python3 ]] || die "/usr/bin/python3 missing"
    if grep -qE '^ *[0-9]+: 00000000:0016 [0-9A-F:]+ 0A' /proc/net/tcp; then
        die "something listens on 0.0.0.0:22; stop it (the rack binds 127.x.y.z:22)"
    fi

    if sup_pid >/dev/null; then
        die "a rack is already running in $DIR (rack.sh down --dir $DIR first)"
    fi
    if [[ -d $DIR ]] && [[ -n $(ls -A "$DIR") ]] && [[ ! -f $DIR/rack.conf ]]; then
        die "$DIR exists and is not a rack directory"
    fi
    mkdir -p "$DIR"
    if [[ -f $DIR/rack.conf ]]; then
        # A previous rack: make sure nothing of it runs, then start afresh.
        if [[ -n $(rack_pids) ]]; then
            /bin/bash "$SELF" down --dir "$DIR" >/dev/null
        fi
        rm -rf "$DIR/nodes"
        rm -f "$DIR/id_ed25519" "$DIR/id_ed25519.pub" "$DIR/known_hosts" \
            "$DIR/inventory.yaml" "$DIR/sup.log" "$DIR/sup.status"
    fi

    # Names and addresses.
    local -a names=() addrs=()
    local i=0 cur=$base
    while ((i < NODES)); do
        while (((cur & 255) == 0 || (cur & 255) == 255)); do
            cur=$((cur + 1))
        done
        (((cur >> 24) == 127)) || die "addresses run out of 127.0.0.0/8"
        int2ip "$cur"
        addrs+=("$IPSTR")
        printf -v IPSTR '%s%0*d' "$PREFIX" "$WIDTH" $((i + 1))
        names+=("$IPSTR")
        cur=$((cur + 1))
        i=$((i + 1))
    done
    cat >"$DIR/rack.conf" <<EOF
nodes=$NODES
base=$BASE
prefix=$PREFIX
width=$WIDTH
state=$STATE
arch=$ARCH
EOF
    mkdir -p "$DIR/nodes"
    ssh-keygen -q -t ed25519 -N '' -C "fleet-sim operator" -f "$DIR/id_ed25519"

    # Node directories, host keys and contents (rack-sup.py --create).
    for ((i = 0; i < NODES; i++)); do
        printf '%s %s\n' "${names[i]}" "${addrs[i]}"
    done | /usr/bin/python3 "$SUP" --create "$DIR" "$STATE" "$ARCH" ||
        die "creating the nodes failed"

    # known_hosts: every node's key for its address.
    {
        local key
        for ((i = 0; i < NODES; i++)); do
            read -r key <"$DIR/nodes/${names[i]}/ssh_host_ed25519_key.pub"
            key=${key% *}
            printf '%s %s\n' "${addrs[i]}" "$key"
        done
    } >"$DIR/known_hosts"
    write_inventory names addrs

    # One supervisor for the whole rack, in its own session.
    setsid /usr/bin/python3 "$SUP" "$DIR" </dev/null >>"$DIR/sup.log" 2>&1 &
    local deadline=$((SECONDS + 10))
    until SUPPID=$(sup_pid); do
        ((SECONDS < deadline)) || { cat "$DIR/sup.log" >&2; die "supervisor did not start"; }
        sleep 0.02
    done

    # Wait for every node's sshd to listen on addr:22 (the supervisor
    # counts them in sup.status).
    local up=0 bad=0 total line tick
    # Sleep by timing out a read on a private FIFO: no fork per tick.
    rm -f "$DIR/.tick"
    mkfifo "$DIR/.tick"
    exec {tick}<>"$DIR/.tick"
    rm -f "$DIR/.tick"
    deadline=$((SECONDS + TIMEOUT))
    while :; do
        line=""
        [[ -f $DIR/sup.status ]] && read -r line <"$DIR/sup.status"
        if [[ $line =~ ^up=([0-9]+)\ failed=([0-9]+)\ total=([0-9]+)$ ]]; then
            up=${BASH_REMATCH[1]}
            bad=${BASH_REMATCH[2]}
            total=${BASH_REMATCH[3]}
            ((up == NODES && total == NODES)) && break
        fi
        if ((bad > 0)); then
            printf '%s: error: %d nodes failed to boot, e.g.:\n' "$PROG" "$bad" >&2
            grep -lx failed "$DIR"/nodes/*/state | head -n 3 |
                sed 's|/state$|/sshd.log|' >&2
            /bin/bash "$SELF" down --dir "$DIR" >/dev/null 2>&1 || true
            exit 1
        fi
        if ! kill -0 "$SUPPID" 2>/dev/null; then
            tail -n 20 "$DIR/sup.log" >&2
            /bin/bash "$SELF" down --dir "$DIR" >/dev/null 2>&1 || true
            die "supervisor died"
        fi
        if ((SECONDS >= deadline)); then
            printf '%s: error: only %d of %d nodes up after %ss\n' \
                "$PROG" "$up" "$NODES" "$TIMEOUT" >&2
            /bin/bash "$SELF" down --dir "$DIR" >/dev/null 2>&1 || true
            exit 1
        fi
        read -r -t 0.1 -u "$tick" _ || true
    done
    exec {tick}<&-
    local t1=$EPOCHREALTIME us
    us=$((${t1/./} - ${t0/./}))
    printf 'rack up: %d nodes in %s (%d.%d s)\n' "$NODES" "$DIR" \
        $((us / 1000000)) $((us / 100000 % 10))
}

# write_inventory NAMES ADDRS: DIR/inventory.yaml, one host item per run of
# addresses that share their first three octets.
write_inventory() {
    local -n _names=$1 _addrs=$2
    local n=${#_names[@]} i start=0 first last a b
    {
        echo "# Simulated rack written by tests/rack/rack.sh; paths are relative to this file."
        echo "defaults:"
        echo "  user: root"
        echo "  port: 22"
        echo "  identity: id_ed25519"
        echo "  known_hosts: known_hosts"
        echo "  connect_timeout: 5"
        echo "  handshake_timeout: 10"
        echo "  reboot_command: /usr/local/sbin/fleet-sim-reboot"
        echo "  reboot_timeout: 60"
        echo "groups:"
        echo "  rack01:"
        echo "    hosts:"
        for ((i = 1; i <= n; i++)); do
            if ((i < n)); then
                a=${_addrs[i - 1]%.*}
                b=${_addrs[i]%.*}
                [[ $a == "$b" ]] && continue
            fi
            # One item for the run start..i-1 (same first three octets).
            if ((start == i - 1)); then
                printf '      - {name: "%s", address: "%s"}\n' \
                    "${_names[start]}" "${_addrs[start]}"
            else
                first=${_names[start]#"$PREFIX"}
                last=${_names[i - 1]#"$PREFIX"}
                printf '      - {name: "%s[%s-%s]", address: "%s.[%s-%s]"}\n' \
                    "$PREFIX" "$first" "$last" "${_addrs[start]%.*}" \
                    "${_addrs[start]##*.}" "${_addrs[i - 1]##*.}"
            fi
            start=$i
        done
    } >"$DIR/inventory.yaml"
}

# rack_pids: every process of the rack in DIR (see rack-sup.py --pids).
rack_pids() {
    /usr/bin/python3 "$SUP" --pids "$DIR"
}

cmd_down() {
    need_root
    ((${#ARGS[@]} == 0)) || die "down takes no positional argument"
    [[ -d $DIR ]] || { echo "rack down: nothing in $DIR"; return 0; }
    [[ -f $DIR/rack.conf || -d $DIR/nodes ]] || die "$DIR is not a rack directory"
    local pid deadline
    if pid=$(sup_pid); then
        kill -TERM "$pid" 2>/dev/null || true
        deadline=$((SECONDS + 30))
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
            sleep 0.05
        done
    fi
    # Whatever is left (a supervisor that died, an `up` that died halfway).
    local round left
    for ((round = 0; round < 10; round++)); do
        left=$(rack_pids)
        [[ -z $left ]] && break
        # shellcheck disable=SC2086
        kill -KILL $left 2>/dev/null || true
        sleep 0.1
    done
    # Mounts live in the nodes' private namespaces; none should be on the
    # host, but an older or interrupted run may have left some.
    local m
    while read -r m; do
        if [[ -n $m ]]; then umount -l "$m" 2>/dev/null || true; fi
    done < <(findmnt -rn -o TARGET | grep -F "$DIR/" | sort -r || true)
    /usr/bin/python3 "$SUP" --clean "$DIR"
    left=$(rack_pids)
    [[ -z $left ]] || die "processes left behind: $left"
    if findmnt -rn -o TARGET | grep -qF "$DIR/"; then
        die "mounts left behind under $DIR"
    fi
    echo "rack down: $DIR"
}

cmd_status() {
    ((${#ARGS[@]} == 0)) || die "status takes no positional argument"
    [[ -d $DIR/nodes ]] || die "no rack in $DIR"
    shopt -s nullglob
    local nd name addr up boot drv st
    for nd in "$DIR"/nodes/*/; do
        nd=${nd%/}
        [[ -f $nd/addr ]] || continue
        name=${nd##*/}
        read -r addr <"$nd/addr"
        up=down
        [[ -e $nd/up ]] && up=up
        boot=-
        [[ -s $nd/boot_id ]] && read -r boot <"$nd/boot_id"
        drv=-
        [[ -s $nd/ctl/loaded-driver ]] && read -r drv <"$nd/ctl/loaded-driver"
        st=$(node_state "$nd")
        printf '%s %s %s %s %s %s\n' "$name" "$addr" "$up" "$boot" "${drv:--}" "$st"
    done
}

# stop_node NODEDIR: power the node off and wait (used by reset/rekey).
stop_node() {
    set_want "$1" down
    sup_hup
    wait_state "$1" 30 down failed
}

start_nodes() {
    local nd rc=0
    for nd in "$@"; do
        set_want "$nd" up
    done
    sup_hup
    for nd in "$@"; do
        wait_state "$nd" 60 up || rc=1
    done
    return $rc
}

cmd_fault() {
    need_root
    need_rack
    ((${#ARGS[@]} >= 2)) || usage
    local nd name=${ARGS[0]} what=${ARGS[1]} file
    nd=$(node_dir "$name")
    case $what in
    down|up|mute|unmute)
        ((${#ARGS[@]} == 2)) || die "fault $what takes no further argument"
        case $what in
        down)
            set_want "$nd" down
            sup_hup
            wait_state "$nd" 30 down failed
            ;;
        up|unmute)
            [[ $what == unmute && $(node_state "$nd") != mute ]] &&
                die "$name is not muted"
            start_nodes "$nd"
            ;;
        mute)
            set_want "$nd" mute
            sup_hup
            wait_state "$nd" 30 mute
            ;;
        esac
        ;;
    set|clear)
        ((${#ARGS[@]} >= 3)) || die "fault $what needs FILE"
        file=${ARGS[2]}
        [[ $file =~ ^[A-Za-z0-9._-]+$ && $file != . && $file != .. &&
            $file != rack ]] || die "bad ctl file name '$file'"
        if [[ $what == clear ]]; then
            ((${#ARGS[@]} == 3)) || die "fault clear takes FILE only"
            rm -f "$nd/ctl/$file"
        else
            ((${#ARGS[@]} <= 4)) || die "fault set takes FILE [VALUE] (quote the value)"
            if ((${#ARGS[@]} == 4)); then
                printf '%s\n' "${ARGS[3]}" >"$nd/ctl/$file"
            else
                : >"$nd/ctl/$file"
            fi
        fi
        ;;
    *) die "unknown fault '$what' (down, up, mute, unmute, set, clear)" ;;
    esac
}

cmd_reset() {
    need_root
    need_rack
    ((${#ARGS[@]} >= 1)) || die "reset needs NODE..."
    local state=${STATE:-$(rack_conf_get state || echo fresh)}
    local arch=${ARCH:-$(rack_conf_get arch || echo x86_64)}
    [[ $state =~ ^(fresh|driver|full)$ ]] || die "--state must be fresh, driver or full"
    local -a nds=()
    local name nd
    for name in "${ARGS[@]}"; do
        nds+=("$(node_dir "$name")")
    done
    for nd in "${nds[@]}"; do
        stop_node "$nd"
    done
    /usr/bin/python3 "$SUP" --reset "$DIR" "$state" "$arch" "${nds[@]##*/}" ||
        die "resetting ${ARGS[*]} failed"
    start_nodes "${nds[@]}"
}

cmd_rekey() {
    need_root
    need_rack
    ((${#ARGS[@]} == 1)) || die "rekey needs exactly one NODE"
    local nd name=${ARGS[0]}
    nd=$(node_dir "$name")
    local pub=""
    if [[ -n $KEY ]]; then
        # Install a given key (e.g. one saved before a rekey, to undo it).
        pub=$(ssh-keygen -y -f "$KEY") || die "cannot read private key $KEY"
    fi
    stop_node "$nd"
    rm -f "$nd/ssh_host_ed25519_key" "$nd/ssh_host_ed25519_key.pub"
    if [[ -n $KEY ]]; then
        install -m 600 "$KEY" "$nd/ssh_host_ed25519_key"
        printf '%s root@%s\n' "$pub" "$name" >"$nd/ssh_host_ed25519_key.pub"
    else
        ssh-keygen -q -t ed25519 -N '' -C "root@$name" -f "$nd/ssh_host_ed25519_key"
    fi
    cp "$nd/ssh_host_ed25519_key" "$nd/ssh_host_ed25519_key.pub" "$nd/upper/etc/ssh/"
    start_nodes "$nd"
}

cmd_exec() {
    need_root
    need_rack
    if ((${#ARGS[@]} < 3)) || [[ ${ARGS[1]} != -- ]]; then
        die "usage: exec --dir DIR NODE -- CMD..."
    fi
    local nd name=${ARGS[0]} pid1 comm
    nd=$(node_dir "$name")
    [[ $(node_state "$nd") == up ]] || die "$name is not up"
    read -r pid1 <"$nd/pid" || die "$name has no PID 1"
    read -r comm <"/proc/$pid1/comm" || die "$name has no PID 1"
    [[ $comm == sshd ]] || die "$name is still booting"
    exec nsenter -t "$pid1" -m -u -p -r -w -- /usr/bin/env -i \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" "${ARGS[@]:2}"
}

main() {
    (($# >= 1)) || usage
    local cmd=$1
    shift
    case $cmd in
    -h|--help|help) usage ;;
    esac
    parse_args "$@"
    case $cmd in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    fault) cmd_fault ;;
    reset) cmd_reset ;;
    rekey) cmd_rekey ;;
    exec) cmd_exec ;;
    *) die "unknown command '$cmd' (up, down, status, fault, reset, rekey, exec)" ;;
    esac
}

main "$@"
