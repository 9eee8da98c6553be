# SPDX-License-Identifier: MIT
#
# Body of the self-extracting header of the simulated vendor .run packages
# built by mkrun.sh (which puts "#!/bin/sh" and the PKG_* variables in
# front of it and the payload, a tar.gz, after the marker line). It behaves
# like the real driver / firmware / CANN toolkit packages (docs: ascend.md
# section 2): same options, same rules, same log lines and success strings,
# and it writes the real version files into the node.
# Variables set by mkrun.sh: PKG_KIND (driver|firmware|toolkit), PKG_VERSION
# (HDK or CANN version), PKG_FW_VERSION (firmware only), PKG_ARCH, PKG_CHIP,
# PKG_NAME (file name), PKG_SHA256 (of the payload), PKG_DATE.
# Environment: FLEET_SIM_ROOT prefixes every absolute path (default empty),
# FLEET_SIM_CTL is the control directory (default /var/lib/fleet-sim) with
# the flags fault-install-hang, fault-install-fail, install-seconds, arch,
# npu-count and the append-only events.log.

# shellcheck disable=SC2015,SC2317
ROOT=${FLEET_SIM_ROOT:-}
CTL=${FLEET_SIM_CTL:-/var/lib/fleet-sim}
SELF=$0
LOGDIR=/var/log/ascend_seclog
TMPD=
DEFAULT_PATH=/usr/local/Ascend

case $PKG_KIND in
    driver) TAG=Driver; TITLE="ASCEND DRIVER RUN PACKAGE" ;;
    firmware) TAG=Firmware; TITLE="ASCEND FIRMWARE RUN PACKAGE" ;;
    *) TAG=Toolkit; TITLE="ASCEND CANN TOOLKIT RUN PACKAGE" ;;
esac

# Forks are slow on a loaded machine: the time stamp is taken once per
# phase (STAMP) and the log directory is created once (LOGOK).
STAMP=
LOGOK=0

now() {
    STAMP=$(date '+%Y-%m-%d %H:%M:%S')
}

log() {
    # log LEVEL MESSAGE...: print a vendor-style line and keep it in the log.
    lvl=$1
    shift
    [ -n "$STAMP" ] || now
    line="[$TAG] [$STAMP] [$lvl]$*"
    if [ "$lvl" = ERROR ]; then
        echo "$line" >&2
    else
        echo "$line"
    fi
    if [ $LOGOK -eq 0 ] && mkdir -p "$ROOT$LOGDIR" 2>/dev/null; then
        LOGOK=1
    fi
    if [ $LOGOK -eq 1 ]; then
        echo "$line" >>"$ROOT$LOGDIR/ascend_install.log"
    fi
}

oplog() {
    if [ $LOGOK -eq 1 ]; then
        echo "$STAMP $PKG_NAME $*" >>"$ROOT$LOGDIR/operation.log"
    fi
}

fail() {
    log ERROR "$*"
    oplog "failed: $*"
    exit 1
}

cleanup() {
    if [ -n "$TMPD" ]; then
        rm -rf "$TMPD"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

ctl_read() {
    v=
    if [ -r "$CTL/$1" ]; then
        IFS= read -r v <"$CTL/$1" || true
    fi
    [ -n "$v" ] || v=$2
    printf '%s' "$v"
}

event() {
    echo "$(date +%s) $*" >>"$CTL/events.log" 2>/dev/null
}

kv_get() {
    # kv_get FILE KEY: last value of KEY= in FILE, empty if absent.
    [ -r "$1" ] || return 0
    sed -n "s/^$2=//p" "$1" | tail -n 1
}

kv_set() {
    # kv_set FILE KEY VALUE [KEY VALUE...]: replace or append each KEY=VALUE
    # (first occurrence replaced, later ones dropped), atomically.
    f=$1
    shift
    upd=
    while [ $# -ge 2 ]; do
        upd="$upd$1=$2
"
        shift 2
    done
    mkdir -p "${f%/*}" || return 1
    [ -f "$f" ] || : >"$f" || return 1
    awk -v upd="$upd" '
        BEGIN {
            n = split(upd, l, "\n")
            for (i = 1; i <= n; i++) {
                if (l[i] == "") continue
                k = substr(l[i], 1, index(l[i], "=") - 1)
                val[k] = l[i]; order[++m] = k
            }
        }
        { k = substr($0, 1, index($0, "=") - 1) }
        index($0, "=") > 1 && (k in val) { if (!(k in done)) print val[k]; done[k] = 1; next }
        { print }
        END { for (i = 1; i <= m; i++) if (!(order[i] in done)) print val[order[i]] }
    ' "$f" >"$f.tmp.$$" && mv -f "$f.tmp.$$" "$f"
}

kv_del() {
    # kv_del FILE PREFIX: drop every line starting with PREFIX.
    [ -f "$1" ] || return 0
    tmp="$1.tmp.$$"
    awk -v p="$2" 'index($0, p) != 1' "$1" >"$tmp" && mv -f "$tmp" "$1"
}

usage() {
    cat <<EOF
Usage: $PKG_NAME [options]
Options:
  --help | -h                 print this message
  --info                      print embedded info
  --list                      print the list of files in the package
  --check                     check the integrity of the package
  --version                   print the version of the package
  --quiet                     quiet mode, no interactive questions
  --nox11                     do not spawn an xterm (reserved)
  --noexec --extract=<path>   only extract the package to <path>
EOF
    case $PKG_KIND in
        driver)
            cat <<'EOF'
  --full | --run | --devel    install all files | runtime files | development files
  --upgrade                   upgrade the installed driver
  --uninstall                 uninstall the driver
  --install-path=<path>       install path (default /usr/local/Ascend)
  --install-username=<user>   run user (first installation only, default HwHiAiUser)
  --install-usergroup=<group> run group (given together with --install-username)
  --install-for-all           let every user use the driver
EOF
            ;;
        firmware)
            cat <<'EOF'
  --full | --run              install the firmware
  --upgrade                   upgrade the installed firmware
  --uninstall                 uninstall the firmware
  --install-for-all           let every user use the firmware
EOF
            ;;
        *)
            cat <<'EOF'
  --install                   install the toolkit
  --upgrade                   upgrade the installed toolkit
  --uninstall                 uninstall the toolkit
  --full | --devel            full installation | development files only
  --install-path=<path>       install path (default /usr/local/Ascend)
  --install-for-all           let every user use the toolkit
EOF
            ;;
    esac
}

unrecognized() {
    echo "Unrecognized parameters: $1" >&2
    echo "Try '$PKG_NAME --help' for more information." >&2
    exit 1
}

# ---- options --------------------------------------------------------------

query=
action=
itype=
quiet=0
for_all=0
user=
group=
ipath=
noexec=0
extract=

set_action() {
    if [ -n "$action" ] && [ "$action" != "$1" ]; then
        echo "[ERROR]Parameters --$action and --$1 cannot be used together" >&2
        exit 1
    fi
    action=$1
}

for arg in "$@"; do
    case $PKG_KIND:$arg in
        *:--help|*:-h) usage; exit 0 ;;
        *:--info) query=info ;;
        *:--list) query=list ;;
        *:--check) query=check ;;
        *:--version) query=version ;;
        *:--quiet) quiet=1 ;;
        *:--nox11) ;;
        *:--noexec) noexec=1 ;;
        *:--extract=*) extract=${arg#--extract=} ;;
        *:--upgrade) set_action upgrade ;;
        *:--uninstall) set_action uninstall ;;
        *:--install-for-all) for_all=1 ;;
        *:--full) itype=full ;;
        driver:--run|firmware:--run) itype=run ;;
        driver:--devel|toolkit:--devel) itype=devel ;;
        toolkit:--install) set_action install ;;
        driver:--install-path=*|toolkit:--install-path=*)
            ipath=${arg#--install-path=} ;;
        driver:--install-username=*) user=${arg#--install-username=} ;;
        driver:--install-usergroup=*) group=${arg#--install-usergroup=} ;;
        *) unrecognized "$arg" ;;
    esac
done

if [ $noexec -eq 1 ] || [ -n "$extract" ]; then
    [ $noexec -eq 1 ] && [ -n "$extract" ] ||
        { echo "[ERROR]--noexec and --extract=<path> must be used together" >&2; exit 1; }
    query=extract
fi

if [ -z "$query" ]; then
    if [ -z "$action" ] && [ -n "$itype" ]; then
        action=install
    fi
    if [ -z "$action" ]; then
        echo "[ERROR]No operation given (try --help)" >&2
        exit 1
    fi
    [ -n "$itype" ] || itype=full
fi

if [ "$action" = upgrade ] && [ "$PKG_KIND" != toolkit ] &&
   { [ $for_all -eq 1 ] || [ -n "$user" ] || [ -n "$group" ]; }; then
    echo "[ERROR]--upgrade cannot be used together with --install-username, --install-usergroup or --install-for-all" >&2
    exit 1
fi
if [ "$action" = uninstall ] && [ $quiet -eq 1 ] && [ "$PKG_KIND" != toolkit ]; then
    echo "[ERROR]--quiet cannot be used together with --uninstall" >&2
    exit 1
fi
if [ -n "$user$group" ] && { [ -z "$user" ] || [ -z "$group" ]; }; then
    echo "[ERROR]--install-username and --install-usergroup must be used together" >&2
    exit 1
fi
if [ -n "$ipath" ]; then
    case $ipath in
        /*) ;;
        *) echo "[ERROR]The install path $ipath is not an absolute path" >&2; exit 1 ;;
    esac
    ipath=$(printf '%s' "$ipath" | sed 's://*:/:g; s:/$::')
    [ -n "$ipath" ] || ipath=/
fi

# ---- payload --------------------------------------------------------------

payload_line() {
    awk '/^__FLEET_SIM_RUN_PAYLOAD__$/ { print NR + 1; exit }' "$SELF"
}

payload() {
    tail -n +"$PLINE" "$SELF"
}

verify() {
    PLINE=$(payload_line)
    if [ -z "$PLINE" ]; then
        echo "Verifying archive integrity...  Error in SHA256 checksums: the archive is truncated" >&2
        echo "$PKG_NAME: Verification failed" >&2
        exit 1
    fi
    sum=$(payload | sha256sum | cut -d' ' -f1)
    if [ "$sum" != "$PKG_SHA256" ]; then
        echo "Verifying archive integrity...  Error in SHA256 checksums: $sum is different from $PKG_SHA256" >&2
        echo "$PKG_NAME: Verification failed" >&2
        exit 1
    fi
    echo "Verifying archive integrity...  100%   SHA256 checksums are OK. All good."
}

case $query in
    version)
        if [ "$PKG_KIND" = firmware ]; then
            echo "$PKG_FW_VERSION"
        else
            echo "$PKG_VERSION"
        fi
        exit 0
        ;;
    info)
        PLINE=$(payload_line)
        echo "Identification: $TITLE"
        echo "Target directory: $PKG_KIND"
        echo "Uncompressed size: $(payload | gzip -dc 2>/dev/null | wc -c) B"
        echo "Compression: gzip"
        echo "Date of packaging: $PKG_DATE"
        echo "Built with Makeself version 2.4.0"
        echo "Script run after extraction:"
        echo "     ./install.sh"
        echo "directory $PKG_KIND is temporary and will be removed after script run"
        exit 0
        ;;
    check)
        echo "Makeself logfile: $ROOT/root/log/makeself/makeself.log"
        verify
        echo "$PKG_NAME: Verification successful"
        exit 0
        ;;
    list)
        verify
        payload | tar tzvf - || exit 1
        exit 0
        ;;
    extract)
        verify
        mkdir -p "$extract" && payload | tar xzf - -C "$extract" || exit 1
        echo "Extracted to $extract"
        exit 0
        ;;
esac

verify
echo "Uncompressing $TITLE  100%"

# ---- preconditions --------------------------------------------------------

sys_arch() {
    a=$(ctl_read arch "")
    [ -n "$a" ] || a=$(uname -m)
    printf '%s' "$a"
}

INFO=$ROOT/etc/ascend_install.info
drv_path=$(kv_get "$INFO" Driver_Install_Path_Param)
[ -n "$drv_path" ] || drv_path=$DEFAULT_PATH

user_exists() {
    [ "$1" = root ] && return 0
    grep -q "^$1:" "$ROOT/etc/passwd" 2>/dev/null
}

group_exists() {
    [ "$1" = root ] && return 0
    grep -q "^$1:" "$ROOT/etc/group" 2>/dev/null
}

now
log INFO "Start time: $STAMP"
log INFO "LogFile: $LOGDIR/ascend_install.log"
log INFO "OperationLogFile: $LOGDIR/operation.log"

if [ "$action" != uninstall ] && [ "$PKG_KIND" != firmware ]; then
    arch=$(sys_arch)
    if [ "$arch" != "$PKG_ARCH" ]; then
        fail "The architecture of the package ($PKG_ARCH) does not match the system ($arch)"
    fi
fi

case $PKG_KIND in
    driver)
        P=${ipath:-$drv_path}
        [ "$action" = install ] || P=$drv_path
        installed=0
        [ -f "$ROOT$P/driver/version.info" ] && installed=1
        if [ "$action" = upgrade ] && [ $installed -eq 0 ]; then
            fail "The driver is not installed, --upgrade is not supported. Please install it first with --full"
        fi
        if [ "$action" = uninstall ] && [ $installed -eq 0 ]; then
            fail "The driver is not installed, nothing to uninstall"
        fi
        old_user=$(kv_get "$INFO" UserName)
        old_group=$(kv_get "$INFO" UserGroup)
        if [ "$action" != uninstall ]; then
            if [ $installed -eq 1 ] && [ -n "$old_user" ]; then
                if [ -n "$user" ] && [ "$user:$group" != "$old_user:$old_group" ]; then
                    log WARNING "Overwrite installation keeps the run user $old_user:$old_group"
                fi
                user=$old_user
                group=${old_group:-$old_user}
            else
                [ -n "$user" ] || { user=HwHiAiUser; group=HwHiAiUser; }
                if [ "$user" = root ] && [ $for_all -eq 0 ]; then
                    fail "The run user root must be used together with --install-for-all"
                fi
                user_exists "$user" ||
                    fail "The user $user does not exist, please create it first (groupadd HwHiAiUser; useradd -g HwHiAiUser -d /home/HwHiAiUser -m HwHiAiUser -s /bin/bash)"
                group_exists "$group" || fail "The group $group does not exist, please create it first"
            fi
        fi
        ;;
    firmware)
        P=$drv_path
        if [ "$action" != uninstall ] && [ ! -f "$ROOT$P/driver/version.info" ]; then
            fail "The driver not installed. On a new machine install the driver first, then the firmware"
        fi
        installed=0
        [ -f "$ROOT$P/firmware/version.info" ] && installed=1
        if [ "$action" = upgrade ] && [ $installed -eq 0 ]; then
            fail "The firmware is not installed, --upgrade is not supported. Please install it first with --full"
        fi
        if [ "$action" = uninstall ] && [ $installed -eq 0 ]; then
            fail "The firmware is not installed, nothing to uninstall"
        fi
        ;;
    toolkit)
        cann_info=$ROOT/etc/Ascend/ascend_cann_install.info
        P=$ipath
        if [ -z "$P" ]; then
            P=$(kv_get "$cann_info" Install_Path)
            [ -n "$P" ] || P=$DEFAULT_PATH
        fi
        TK=$P/ascend-toolkit
        if [ "$action" = upgrade ] && [ ! -e "$ROOT$TK/latest" ]; then
            fail "The toolkit is not installed in $TK, --upgrade is not supported. Please install it first with --install"
        fi
        if [ "$action" = uninstall ] && [ ! -d "$ROOT$TK/$PKG_VERSION" ]; then
            fail "The toolkit $PKG_VERSION is not installed in $TK, nothing to uninstall"
        fi
        ;;
esac

# ---- uninstall ------------------------------------------------------------

if [ "$action" = uninstall ]; then
    case $PKG_KIND in
        driver)
            rm -rf "$ROOT$P/driver"
            if [ -L "$ROOT/usr/local/sbin/npu-smi" ]; then
                rm -f "$ROOT/usr/local/sbin/npu-smi"
            fi
            kv_del "$INFO" Driver_
            log INFO "Driver package uninstalled successfully! Reboot needed for uninstallation to take effect!"
            ;;
        firmware)
            rm -rf "$ROOT$P/firmware"
            kv_del "$INFO" Firmware_
            log INFO "Firmware package uninstalled successfully! Uninstallation takes effect immediately."
            ;;
        toolkit)
            rm -rf "${ROOT:?}$TK/$PKG_VERSION"
            if [ -L "$ROOT$TK/latest" ] && [ ! -e "$ROOT$TK/latest" ]; then
                rm -f "$ROOT$TK/latest"
                rest=$(find "$ROOT$TK" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null | sort -V | tail -n 1)
                if [ -n "$rest" ]; then
                    ln -s "$rest" "$ROOT$TK/latest"
                else
                    rm -f "$ROOT$TK/set_env.sh"
                fi
            fi
            log INFO "Ascend-cann-toolkit uninstalled successfully"
            ;;
    esac
    event "uninstall $PKG_KIND $([ "$PKG_KIND" = firmware ] && echo "$PKG_FW_VERSION" || echo "$PKG_VERSION")"
    oplog "uninstall success"
    exit 0
fi

# ---- install / upgrade ----------------------------------------------------

if [ -e "$CTL/fault-install-hang" ]; then
    exec sleep infinity
fi
if [ -e "$CTL/fault-install-fail" ]; then
    fail "Install failed: device error during $action (simulated fault), details in : $LOGDIR/ascend_install.log"
fi

log WARNING "Do not power off or restart the system during the installation/upgrade"
[ "$PKG_KIND" = driver ] && log INFO "set username and usergroup, $user:$group"
[ "$PKG_KIND" = driver ] && log INFO "driver install type: DKMS"
log INFO "upgradePercentage:10%"

secs=$(ctl_read install-seconds 0)
case $secs in
    ''|*[!0-9.]*) secs=0 ;;
esac
if [ "$secs" != 0 ]; then
    sleep "$secs"
fi

TMPD=$(mktemp -d "${TMPDIR:-/tmp}/fleet-sim-run.XXXXXX") || fail "cannot create a temporary directory"
payload | tar xzf - -C "$TMPD" || fail "cannot extract the package"
log INFO "upgradePercentage:50%"

case $PKG_KIND in
    driver)
        D=$ROOT$P/driver
        mkdir -p "$D/tools" "$D/lib64" "$D/script" || fail "cannot create $P/driver"
        rm -f "$D/tools/npu-smi" "$D/tools/hccn_tool" "$D/tools/upgrade-tool"
        cp "$TMPD/tools/npu-smi" "$TMPD/tools/hccn_tool" "$TMPD/tools/upgrade-tool" "$D/tools/" &&
            chmod 555 "$D/tools/npu-smi" "$D/tools/hccn_tool" "$D/tools/upgrade-tool" ||
            fail "cannot install the tools in $P/driver/tools"
        cat >"$D/version.info" <<EOF || fail "cannot write $P/driver/version.info"
Version=$PKG_VERSION
ascendhal_version=7.35.19
aicpu_version=1.0
tdt_version=1.0
log_version=1.0
prof_version=2.0
dvppkernels_version=1.1
tsfw_version=1.0
Innerversion=V100R001C19SPC001B220
compatible_version=[V100R001C15],[V100R001C17],[V100R001C18],[V100R001C19]
compatible_version_fw=[7.0.0,7.7.99]
package_version=$PKG_VERSION
EOF
        mkdir -p "$ROOT/usr/local/sbin"
        rm -f "$ROOT/usr/local/sbin/npu-smi"
        if [ "$P" = /usr/local/Ascend ]; then
            ln -s ../Ascend/driver/tools/npu-smi "$ROOT/usr/local/sbin/npu-smi"
        else
            ln -s "$P/driver/tools/npu-smi" "$ROOT/usr/local/sbin/npu-smi"
        fi || fail "cannot create /usr/local/sbin/npu-smi"
        fa=no
        [ $for_all -eq 0 ] || fa=yes
        kv_set "$INFO" UserName "$user" UserGroup "$group" \
            Driver_Install_Type "$itype" Driver_Install_Path_Param "$P" \
            Driver_Install_For_All "$fa" Driver_Install_Mode normal ||
            fail "cannot write /etc/ascend_install.info"
        log INFO "upgradePercentage:100%"
        log INFO "Driver package installed successfully! Reboot needed for installation/upgrade to take effect!"
        event "install driver $PKG_VERSION"
        ;;
    firmware)
        F=$ROOT$P/firmware
        mkdir -p "$F" && cp -f "$TMPD"/fw/* "$F/" || fail "cannot install $P/firmware"
        cat >"$F/version.info" <<EOF || fail "cannot write $P/firmware/version.info"
Version=$PKG_FW_VERSION
firmware_version=1.0
package_version=$PKG_VERSION
compatible_version_drv=[23.0,23.0.],[24.0,24.0.],[24.1,24.1.],[25.0,25.0.]
EOF
        kv_set "$INFO" Firmware_Install_Type "$itype" \
            Firmware_Install_Path_Param "$P" || fail "cannot write /etc/ascend_install.info"
        log INFO "upgradePercentage:100%"
        chips=$(ctl_read npu-count 8)
        log INFO "The firmware of [$chips] chips are successfully upgraded."
        log INFO "Firmware package installed successfully! Reboot now or after driver installation for the installation/upgrade to take effect."
        event "install firmware $PKG_FW_VERSION"
        ;;
    toolkit)
        V=$ROOT$TK/$PKG_VERSION
        rm -rf "$V"
        mkdir -p "$V/$PKG_ARCH-linux" "$V/toolkit" "$V/bin" &&
            cp -R "$TMPD/lib64" "$V/lib64" || fail "cannot install $TK/$PKG_VERSION"
        cat >"$V/$PKG_ARCH-linux/ascend_toolkit_install.info" <<EOF || fail "cannot write ascend_toolkit_install.info"
package_name=Ascend-cann-toolkit
version=$PKG_VERSION
innerversion=V100R001C19SPC001B220
compatible_version=[V100R001C15],[V100R001C17],[V100R001C18],[V100R001C19]
arch=$PKG_ARCH
os=linux
path=$TK/$PKG_VERSION/$PKG_ARCH-linux
EOF
        printf 'Version=%s\nversion_dir=%s\n' "$PKG_VERSION" "$PKG_VERSION" >"$V/toolkit/version.info"
        printf 'runtime_running_version=[%s:%s]\n' "$PKG_VERSION" "$PKG_VERSION" >"$V/version.cfg"
        rm -f "$ROOT$TK/latest"
        ln -s "$PKG_VERSION" "$ROOT$TK/latest" || fail "cannot create $TK/latest"
        cat >"$ROOT$TK/set_env.sh" <<EOF || fail "cannot write $TK/set_env.sh"
export ASCEND_TOOLKIT_HOME=$TK/latest
export LD_LIBRARY_PATH=\${ASCEND_TOOLKIT_HOME}/lib64:\${ASCEND_TOOLKIT_HOME}/lib64/plugin/opskernel:\${ASCEND_TOOLKIT_HOME}/lib64/plugin/nnengine:\${LD_LIBRARY_PATH}
export PYTHONPATH=\${ASCEND_TOOLKIT_HOME}/python/site-packages:\${ASCEND_TOOLKIT_HOME}/opp/built-in/op_impl/ai_core/tbe:\${PYTHONPATH}
export PATH=\${ASCEND_TOOLKIT_HOME}/bin:\${ASCEND_TOOLKIT_HOME}/compiler/ccec_compiler/bin:\${PATH}
export ASCEND_AICPU_PATH=\${ASCEND_TOOLKIT_HOME}
export ASCEND_OPP_PATH=\${ASCEND_TOOLKIT_HOME}/opp
export TOOLCHAIN_HOME=\${ASCEND_TOOLKIT_HOME}/toolkit
export ASCEND_HOME_PATH=\${ASCEND_TOOLKIT_HOME}
EOF
        kv_set "$ROOT/etc/Ascend/ascend_cann_install.info" Install_Path "$P" ||
            fail "cannot write /etc/Ascend/ascend_cann_install.info"
        log INFO "upgradePercentage:100%"
        log INFO "Ascend-cann-toolkit_${PKG_VERSION}_linux-$PKG_ARCH install success, the install path is $TK/$PKG_VERSION"
        event "install toolkit $PKG_VERSION"
        ;;
esac
oplog "$action success"
now
log INFO "End time: $STAMP"
exit 0
