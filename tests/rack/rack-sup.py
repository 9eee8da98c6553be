#!/usr/bin/python3
# SPDX-License-Identifier: MIT
#
# rack-sup.py: the Python half of rack.sh (simulated rack of Ascend nodes).
#
#   rack-sup.py DIR                     supervise the rack in DIR
#   rack-sup.py --create DIR STATE ARCH  create the nodes listed on stdin
#                                       ("name addr" lines) in DIR/nodes/
#   rack-sup.py --reset DIR STATE ARCH NODE...   wipe and recreate nodes
#   rack-sup.py --pids DIR              print the pids of every rack process
#   rack-sup.py --clean DIR             drop runtime files after a stop
#
# The supervisor is the one process that owns the nodes of a rack.  Booting a
# node clones a child into new mount, PID and UTS namespaces: it is PID 1 of
# its PID namespace, mounts the node's root (an overlay of the host's / with the node's own upper dir, a fresh
# /proc with the node's boot_id bound over /proc/sys/kernel/random/boot_id,
# the host's /dev and /sys, an empty /run and /tmp, the node's ctl/ at
# /var/lib/fleet-sim and the rack's nodes dir read-only at
# /var/lib/fleet-sim/rack), chroots into it and becomes the node's sshd.
# When sshd ends, every process and mount of the node ends with it.
#
# The operator side (rack.sh) never talks to a node directly: it writes the
# wanted state of a node into DIR/nodes/<n>/want ("up", "down" or "mute") and
# sends SIGHUP; the supervisor reconciles and reports the node's state in
# DIR/nodes/<n>/state (starting, up, rebooting, down, mute, failed) and keeps
# DIR/nodes/<n>/up present exactly while the node's sshd listens.
# A node that goes down on its own (fleet-sim-reboot, a crash) is booted again
# after ctl/reboot-seconds with a new boot_id, unless ctl/fault-no-return.
# A muted node is served by a listener inside this process that accepts TCP
# connections on addr:22 and never sends a byte.
# SIGTERM/SIGINT stop every node and end the supervisor.

import ctypes
import errno
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time
import traceback
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = os.path.join(HERE, "fake", "seed-node.sh")
CLEAN_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
             "LANG": "C.UTF-8", "HOME": "/root"}


def log(msg):
    sys.stderr.write("%s rack-sup: %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def read_text(path, default=None):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return default


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def rm_f(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def version_of(info_path):
    """package_version= else Version= of a vendor version.info, or None."""
    text = read_text(info_path)
    if text is None:
        return None
    found = {}
    for line in text.splitlines():
        key, sep, val = line.partition("=")
        if sep:
            found.setdefault(key.strip(), val.strip().strip('"'))
    return found.get("package_version") or found.get("Version")


CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWPID = 0x20000000
MS_RDONLY = 1
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
PR_SET_PDEATHSIG = 1

_libc = ctypes.CDLL(None, use_errno=True)     # the C library in this process


def _check(rc, what):
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, "%s: %s" % (what, os.strerror(err)))


def mount(src, target, fstype, flags=0, data=None):
    enc = lambda v: v.encode() if v is not None else None
    _check(_libc.mount(enc(src), enc(target), enc(fstype),
                       ctypes.c_ulong(flags), enc(data)),
           "mount %s on %s" % (src or fstype, target))


def node_pid1(node_dir, name, log_fd):
    """Body of a node's PID 1: build its root and exec sshd (never returns)."""
    nodes = os.path.dirname(node_dir)
    r = os.path.join(node_dir, "root")
    try:
        _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl")
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        devnull = os.open("/dev/null", os.O_RDONLY)
        os.dup2(devnull, 0)
        os.closerange(3, 65536)
        hn = name.encode()
        _check(_libc.sethostname(hn, len(hn)), "sethostname")
        mount(None, "/", None, MS_REC | MS_PRIVATE)
        mount("overlay", r, "overlay", 0,
              "lowerdir=/,upperdir=%s/upper,workdir=%s/work"
              % (node_dir, node_dir))
        mount("proc", r + "/proc", "proc")
        mount(node_dir + "/boot_id", r + "/proc/sys/kernel/random/boot_id",
              None, MS_BIND)
        mount("/dev", r + "/dev", None, MS_BIND | MS_REC)
        mount("/sys", r + "/sys", None, MS_BIND | MS_REC)
        mount("tmpfs", r + "/run", "tmpfs", 0, "mode=755,size=64m")
        os.mkdir(r + "/run/sshd", 0o755)
        tmp = node_dir + "/tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        os.mkdir(tmp)
        os.chmod(tmp, 0o1777)
        mount(tmp, r + "/tmp", None, MS_BIND)
        os.makedirs(r + "/var/lib/fleet-sim", exist_ok=True)
        mount(node_dir + "/ctl", r + "/var/lib/fleet-sim", None, MS_BIND)
        rack = r + "/var/lib/fleet-sim/rack"
        os.makedirs(rack, exist_ok=True)
        mount(nodes, rack, None, MS_BIND)
        mount(None, rack, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
        os.chroot(r)
        os.chdir("/")
        os.execve("/usr/sbin/sshd",
                  ["/usr/sbin/sshd", "-D", "-e", "-f", "/etc/ssh/sshd_config"],
                  CLEAN_ENV)
    except BaseException:
        sys.stderr.write("%s: boot failed:\n%s" % (name, traceback.format_exc()))
        sys.stderr.flush()
    os._exit(1)


SYS_CLONE = {"x86_64": 56, "aarch64": 220}.get(os.uname().machine)
_libc.syscall.restype = ctypes.c_long


def spawn_node(node_dir, name):
    """Start the node: clone a child that is PID 1 of a new PID namespace
    and has its own mount and UTS namespaces (this process keeps its own),
    and make it the node's sshd.  Returns the child's pid."""
    if SYS_CLONE is None:
        raise OSError(errno.ENOSYS, "clone number unknown on this machine")
    log_fd = os.open(node_dir + "/sshd.log",
                     os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | signal.SIGCHLD
        pid = _libc.syscall(ctypes.c_long(SYS_CLONE), ctypes.c_ulong(flags),
                            None, None, None, None)
        if pid == 0:
            try:
                signal.set_wakeup_fd(-1)
                for signo in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT,
                              signal.SIGCHLD):
                    signal.signal(signo, signal.SIG_DFL)
            except BaseException:
                os._exit(1)
            node_pid1(node_dir, name, log_fd)
        if pid < 0:
            err = ctypes.get_errno()
            raise OSError(err, "clone: %s" % os.strerror(err))
        return pid
    finally:
        os.close(log_fd)


LISTEN_22 = re.compile(r": ([0-9A-F]{8}:0016) 00000000:0000 0A ")


def listening_on_22():
    """Keys ("0A1E007F:0016", as in /proc/net/tcp) of IPv4 listeners on 22."""
    return set(LISTEN_22.findall(read_text("/proc/net/tcp", "")))


def tcp_key(addr):
    packed = socket.inet_aton(addr)
    return "%08X:0016" % int.from_bytes(packed, sys.byteorder)


class Node:
    def __init__(self, rack, name):
        self.rack = rack
        self.name = name
        self.dir = os.path.join(rack.nodes_dir, name)
        self.addr = read_text(os.path.join(self.dir, "addr"), "").strip()
        self.tcp_key = tcp_key(self.addr)
        self.proc = None          # host pid of the node's PID 1 while it runs
        self.rc = None
        self.listening = False
        self.stopping = False     # we killed it on purpose
        self.restart_at = None    # time of the next boot after a reboot
        self.mute_sock = None
        self.mute_conns = []
        self.state = None

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def ctl(self, name):
        return os.path.join(self.dir, "ctl", name)

    def want(self):
        w = (read_text(self.path("want"), "up") or "up").strip()
        return w if w in ("up", "down", "mute") else "up"

    def set_state(self, state):
        if state == self.state:
            return
        self.state = state
        self.rack.dirty = True
        write_atomic(self.path("state"), state + "\n")
        if state == "up":
            with open(self.path("up"), "w"):
                pass
        else:
            rm_f(self.path("up"))

    def boot(self):
        """New boot_id, refresh loaded versions, log the boot, start."""
        self.restart_at = None
        boot_id = str(uuid.uuid4())
        write_atomic(self.path("boot_id"), boot_id + "\n")
        upper = self.path("upper", "usr", "local", "Ascend")
        for ctl, info in (("loaded-driver", "driver/version.info"),
                          ("running-firmware", "firmware/version.info")):
            ver = version_of(os.path.join(upper, info))
            if ver:
                write_atomic(self.ctl(ctl), ver + "\n")
            else:
                rm_f(self.ctl(ctl))
        with open(self.ctl("events.log"), "a") as f:
            f.write("%d boot %s\n" % (int(time.time()), boot_id))
        self.proc = spawn_node(self.dir, self.name)
        self.rack.by_pid[self.proc] = self
        self.rc = None
        write_atomic(self.path("pid"), "%d\n" % self.proc)
        self.listening = False
        self.stopping = False
        self.set_state("starting")

    def kill(self):
        """Power the node off: SIGKILL its PID 1 (and the unshare parent)."""
        if self.proc is None or self.stopping:
            return
        self.stopping = True
        # Killing PID 1 ends the namespace; it is reaped only once every
        # process of the node is gone (and addr:22 is free again).
        try:
            os.kill(self.proc, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def exited(self):
        """The node's unshare ended: every process of the node is gone."""
        rc = self.rc
        was_listening = self.listening
        self.proc = None
        self.listening = False
        rm_f(self.path("pid"))
        rm_f(self.path("up"))
        if self.stopping:
            self.stopping = False
            self.set_state("down")
            return
        requested = os.path.exists(self.ctl("reboot-requested"))
        rm_f(self.ctl("reboot-requested"))
        if not requested and not was_listening:
            log("%s: failed to start (rc %s), see %s" %
                (self.name, rc, self.path("sshd.log")))
            write_atomic(self.path("want"), "down\n")
            self.set_state("failed")
            return
        if os.path.exists(self.ctl("fault-no-return")):
            log("%s: down for good (fault-no-return)" % self.name)
            write_atomic(self.path("want"), "down\n")
            self.set_state("down")
            return
        try:
            delay = float((read_text(self.ctl("reboot-seconds"), "1")
                           or "1").strip())
        except ValueError:
            delay = 1.0
        self.restart_at = time.monotonic() + max(delay, 0.0)
        self.set_state("rebooting")

    def mute(self, sel):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((self.addr, 22))
        except OSError as ex:
            s.close()
            log("%s: cannot mute %s:22: %s" % (self.name, self.addr, ex))
            return False
        s.listen(128)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, ("accept", self))
        self.mute_sock = s
        self.set_state("mute")
        return True

    def unmute(self, sel):
        for c in self.mute_conns:
            sel.unregister(c)
            c.close()
        self.mute_conns = []
        if self.mute_sock is not None:
            sel.unregister(self.mute_sock)
            self.mute_sock.close()
            self.mute_sock = None

    def reconcile(self, sel):
        want = self.want()
        if want != "mute":
            self.unmute(sel)
        if want == "up":
            if self.proc is None and self.restart_at is None and \
                    self.mute_sock is None:
                self.boot()
        elif want == "down":
            self.restart_at = None
            if self.proc is not None:
                self.kill()
            elif self.state != "failed":
                self.set_state("down")
        elif want == "mute":
            self.restart_at = None
            if self.proc is not None:
                self.kill()      # mute once it is gone
            elif self.mute_sock is None:
                self.mute(sel)


class Rack:
    def __init__(self, rack_dir):
        self.dir = os.path.abspath(rack_dir)
        self.nodes_dir = os.path.join(self.dir, "nodes")
        names = sorted(n for n in os.listdir(self.nodes_dir)
                       if os.path.exists(os.path.join(self.nodes_dir, n, "addr")))
        self.nodes = [Node(self, n) for n in names]
        self.by_pid = {}
        self.sel = selectors.DefaultSelector()
        self.hup = True
        self.term = False
        self.dirty = True

    def write_summary(self):
        """DIR/sup.status: "up=N failed=M total=T", for rack.sh up to wait."""
        if not self.dirty:
            return
        self.dirty = False
        up = sum(1 for n in self.nodes if n.state == "up")
        failed = sum(1 for n in self.nodes if n.state == "failed")
        write_atomic(os.path.join(self.dir, "sup.status"),
                     "up=%d failed=%d total=%d\n" % (up, failed, len(self.nodes)))

    def listening_keys(self):
        return listening_on_22()

    def reap(self):
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            node = self.by_pid.pop(pid, None)
            if node is not None and node.proc == pid:
                node.rc = os.waitstatus_to_exitcode(status)
                node.exited()

    def run(self):
        rfd, wfd = os.pipe()
        os.set_blocking(rfd, False)
        os.set_blocking(wfd, False)
        signal.set_wakeup_fd(wfd, warn_on_full_buffer=False)

        def on_hup(signo, frame):
            self.hup = True

        def on_term(signo, frame):
            self.term = True

        signal.signal(signal.SIGHUP, on_hup)
        signal.signal(signal.SIGTERM, on_term)
        signal.signal(signal.SIGINT, on_term)
        signal.signal(signal.SIGCHLD, lambda s, f: None)
        self.sel.register(rfd, selectors.EVENT_READ, ("wake", None))
        write_atomic(os.path.join(self.dir, "sup.pid"), "%d\n" % os.getpid())
        log("supervising %d nodes" % len(self.nodes))

        while not self.term:
            self.reap()
            # A node whose stop just ended may have a wish left to fulfil.
            for node in self.nodes:
                if node.proc is None and node.restart_at is None:
                    w = node.want()
                    if (w == "mute" and node.mute_sock is None) or \
                            (w == "up" and node.state in ("down", "mute")):
                        node.reconcile(self.sel)
            now = time.monotonic()
            for node in self.nodes:
                if node.restart_at is not None and node.restart_at <= now \
                        and node.want() == "up":
                    node.boot()
            if self.hup:
                self.hup = False
                for node in self.nodes:
                    node.reconcile(self.sel)
            pending = [n for n in self.nodes
                       if n.proc is not None and not n.listening
                       and not n.stopping]
            if pending:
                keys = self.listening_keys()
                for node in pending:
                    if node.tcp_key in keys:
                        node.listening = True
                        node.set_state("up")
                pending = [n for n in pending if not n.listening]
            self.write_summary()
            timeout = None
            times = [n.restart_at for n in self.nodes if n.restart_at]
            if times:
                timeout = max(0.0, min(times) - time.monotonic())
            if pending:
                timeout = 0.1 if timeout is None else min(timeout, 0.1)
            for key, _ in self.sel.select(timeout):
                kind, node = key.data
                if kind == "wake":
                    try:
                        while os.read(rfd, 512):
                            pass
                    except BlockingIOError:
                        pass
                elif kind == "accept":
                    try:
                        conn, _ = key.fileobj.accept()
                    except OSError:
                        continue
                    conn.setblocking(False)
                    node.mute_conns.append(conn)
                    self.sel.register(conn, selectors.EVENT_READ,
                                      ("conn", node))
                elif kind == "conn":
                    try:
                        data = key.fileobj.recv(4096)
                    except BlockingIOError:
                        continue
                    except OSError:
                        data = b""
                    if not data:
                        self.sel.unregister(key.fileobj)
                        node.mute_conns.remove(key.fileobj)
                        key.fileobj.close()
        self.shutdown()

    def shutdown(self):
        log("stopping %d nodes" % len(self.nodes))
        for node in self.nodes:
            node.unmute(self.sel)
            node.kill()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            self.reap()
            if all(n.proc is None for n in self.nodes):
                break
            time.sleep(0.02)
        for node in self.nodes:
            node.set_state("down")
            rm_f(node.path("pid"))
        rm_f(os.path.join(self.dir, "sup.pid"))
        log("stopped")


# ------------------------------------------------------------ node creation

CTL_DEFAULTS = (("health", "OK OK OK OK OK OK OK OK\n"), ("npu-count", "8\n"),
                ("chip", "910B\n"), ("install-seconds", "0\n"),
                ("reboot-seconds", "1\n"), ("events.log", ""))

SSHD_CONFIG = """\
# Simulated node {name}, written by rack.sh.
ListenAddress {addr}:22
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
PidFile none
LogLevel INFO
MaxStartups 200
MaxSessions 50
AuthorizedKeysFile /etc/ssh/fleet-sim_authorized_keys
PrintMotd no
X11Forwarding no
AcceptEnv LANG LC_*
Subsystem sftp /usr/lib/openssh/sftp-server
"""

REBOOT_SCRIPT = """\
#!/bin/sh
# fleet-sim-reboot: reboot this simulated node (written by rack.sh).
# Like `systemctl reboot` it returns at once; the node goes down a moment
# later and the rack supervisor boots it again with a new boot_id.
d=/var/lib/fleet-sim
: >"$d/reboot-requested" || exit 1
echo "$(date +%s) reboot" >>"$d/events.log"
nohup /bin/sh -c 'sleep 0.2; kill -TERM 1' </dev/null >/dev/null 2>&1 &
exit 0
"""


# Package managers inside a node: the simulated nodes have no network, and
# what a stage installs must stay on the node. These record what was asked
# and provide just enough (a dkms command, kernel headers) for the facts.
APT_SCRIPT = """\
#!/bin/sh
# fake apt-get/dnf of a simulated node (written by rack.sh)
d=/var/lib/fleet-sim
case "$1" in
-*|install) ;;
*) echo "E: only 'install' is simulated" >&2; exit 100 ;;
esac
pkgs=
for a in "$@"; do
    case "$a" in -*|install) ;; *) pkgs="$pkgs $a" ;; esac
done
for p in $pkgs; do
    case "$p" in
    dkms)
        printf '#!/bin/sh\\necho "dkms (simulated) 3.0.10"\\n' >/usr/local/sbin/dkms
        chmod 755 /usr/local/sbin/dkms ;;
    linux-headers-*|kernel-headers-*|kernel-devel-*)
        mkdir -p "/lib/modules/$(uname -r)/build" ;;
    esac
done
echo "$(date +%s) os-install$pkgs" >>"$d/events.log"
echo "Setting up$pkgs (simulated)"
exit 0
"""


def write_file(path, text, mode=0o644):
    data = text.encode() if isinstance(text, str) else text
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
    finally:
        os.close(fd)


def copy_file(src, dst, mode):
    with open(src, "rb") as f:
        write_file(dst, f.read(), mode)


def write_ctl_defaults(nd):
    os.makedirs(os.path.join(nd, "ctl", "rack"), exist_ok=True)
    for name, text in CTL_DEFAULTS:
        write_file(os.path.join(nd, "ctl", name), text)


def write_upper(rack_dir, nd, name, addr):
    """The rack's own files inside a node: sshd config and keys, the
    operator's key, /etc/hostname and /etc/hosts, a clean /root (the host's
    is hidden) and /usr/local/sbin/fleet-sim-reboot."""
    u = os.path.join(nd, "upper")
    for d in ("etc/ssh", "usr/local/sbin"):
        os.makedirs(os.path.join(u, d), exist_ok=True)
    home = os.path.join(u, "root")
    os.makedirs(home, exist_ok=True)
    os.chmod(home, 0o700)
    os.setxattr(home, "trusted.overlay.opaque", b"y")
    for f in (".bashrc", ".profile"):
        if os.path.exists("/etc/skel/" + f):
            copy_file("/etc/skel/" + f, os.path.join(home, f), 0o644)
    key = os.path.join(nd, "ssh_host_ed25519_key")
    copy_file(key, os.path.join(u, "etc/ssh/ssh_host_ed25519_key"), 0o600)
    copy_file(key + ".pub", os.path.join(u, "etc/ssh/ssh_host_ed25519_key.pub"),
              0o644)
    copy_file(os.path.join(rack_dir, "id_ed25519.pub"),
              os.path.join(u, "etc/ssh/fleet-sim_authorized_keys"), 0o644)
    write_file(os.path.join(u, "etc/ssh/sshd_config"),
               SSHD_CONFIG.format(name=name, addr=addr))
    write_file(os.path.join(u, "etc/hostname"), name + "\n")
    hosts = read_text("/etc/hosts", "127.0.0.1\tlocalhost\n")
    write_file(os.path.join(u, "etc/hosts"),
               hosts + ("" if hosts.endswith("\n") else "\n")
               + "%s\t%s\n" % (addr, name))
    write_file(os.path.join(u, "usr/local/sbin/fleet-sim-reboot"),
               REBOOT_SCRIPT, 0o755)
    for pm in ("apt-get", "dnf"):
        write_file(os.path.join(u, "usr/local/sbin", pm), APT_SCRIPT, 0o755)
    write_users(u)


# Non-root login users every node has: "fleet" may sudo without a
# password, "fleetpw" only with one (which it does not have).
RACK_USERS = (("fleet", 1500, "NOPASSWD: ALL"), ("fleetpw", 1501, "ALL"))


def write_users(u):
    """The host's passwd, group and shadow plus RACK_USERS, their homes and
    a sudoers drop-in, in the node's upper dir."""
    files = {"passwd": "", "group": "", "shadow": ""}
    for f in files:
        files[f] = read_text("/etc/" + f, "")
        if files[f] and not files[f].endswith("\n"):
            files[f] += "\n"
    sudoers = "# Written by rack.sh.\n"
    for name, uid, rule in RACK_USERS:
        files["passwd"] += "%s:x:%d:%d:rack operator:/home/%s:/bin/sh\n" % (
            name, uid, uid, name)
        files["group"] += "%s:x:%d:\n" % (name, uid)
        files["shadow"] += "%s:*:19000:0:99999:7:::\n" % name
        sudoers += "%s ALL=(ALL:ALL) %s\n" % (name, rule)
        home = os.path.join(u, "home", name)
        os.makedirs(home, exist_ok=True)
        os.chown(home, uid, uid)
        os.chmod(home, 0o700)
    write_file(os.path.join(u, "etc/passwd"), files["passwd"], 0o644)
    write_file(os.path.join(u, "etc/group"), files["group"], 0o644)
    write_file(os.path.join(u, "etc/shadow"), files["shadow"], 0o640)
    os.makedirs(os.path.join(u, "etc/sudoers.d"), exist_ok=True)
    write_file(os.path.join(u, "etc/sudoers.d/fleet-sim"), sudoers, 0o440)


def run_all(cmds, jobs):
    """Run the argv lists in cmds, jobs at a time; returns the failed ones."""
    failed, running, todo = [], [], list(cmds)
    while todo or running:
        while todo and len(running) < jobs:
            argv = todo.pop(0)
            running.append((argv, subprocess.Popen(argv, stdin=subprocess.DEVNULL)))
        argv, p = running.pop(0)
        if p.wait() != 0:
            failed.append(argv)
    return failed


def seed_cmds(nds, state, arch):
    if state == "fresh":
        return []
    if not os.path.exists(SEED):
        sys.stderr.write("rack.sh: warning: %s missing, nodes left fresh\n"
                         % SEED)
        return []
    return [["/bin/bash", SEED, "--root", os.path.join(nd, "upper"),
             "--state", state, "--arch", arch] for nd in nds]


def fill_nodes(rack_dir, entries, state, arch):
    """Write ctl defaults and upper files of (nd, name, addr), then seed."""
    for nd, name, addr in entries:
        write_ctl_defaults(nd)
        write_upper(rack_dir, nd, name, addr)
    failed = run_all(seed_cmds([e[0] for e in entries], state, arch),
                     os.cpu_count() or 2)
    for argv in failed:
        sys.stderr.write("rack.sh: error: seeding failed: %s\n" % " ".join(argv))
    return 1 if failed else 0


def make_host_keys(nodes):
    """An ed25519 host key per (nd, name), in process when python3 has
    cryptography (500 ssh-keygen runs cost seconds), else by ssh-keygen."""
    try:
        from cryptography.hazmat.primitives import serialization as ser
        from cryptography.hazmat.primitives.asymmetric.ed25519 import \
            Ed25519PrivateKey
    except ImportError:
        cmds = [["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C",
                 "root@" + name, "-f", os.path.join(nd, "ssh_host_ed25519_key")]
                for nd, name in nodes]
        return not run_all(cmds, 2 * (os.cpu_count() or 2))
    for nd, name in nodes:
        key = Ed25519PrivateKey.generate()
        priv = key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.OpenSSH,
                                 ser.NoEncryption())
        pub = key.public_key().public_bytes(ser.Encoding.OpenSSH,
                                            ser.PublicFormat.OpenSSH)
        path = os.path.join(nd, "ssh_host_ed25519_key")
        write_file(path, priv, 0o600)
        write_file(path + ".pub", pub + b" root@" + name.encode() + b"\n")
    return True


def clean_runtime(rack_dir):
    """After a stop: drop the runtime files of the rack, mark nodes down."""
    rack_dir = os.path.abspath(rack_dir)
    nodes = os.path.join(rack_dir, "nodes")
    names = os.listdir(nodes) if os.path.isdir(nodes) else []
    for name in names:
        nd = os.path.join(nodes, name)
        if not os.path.exists(os.path.join(nd, "addr")):
            continue
        for f in ("up", "pid", "want", "want.tmp", "state.tmp",
                  "ctl/reboot-requested"):
            rm_f(os.path.join(nd, f))
        write_file(os.path.join(nd, "state"), "down\n")
    for f in ("sup.pid", "sup.pid.tmp", "sup.status", "sup.status.tmp"):
        rm_f(os.path.join(rack_dir, f))


def create_nodes(rack_dir, state, arch, lines):
    rack_dir = os.path.abspath(rack_dir)
    busy = listening_on_22()
    pairs = [line.split() for line in lines if line.strip()]
    for name, addr in pairs:
        if tcp_key(addr) in busy or tcp_key("0.0.0.0") in busy:
            sys.stderr.write("rack.sh: error: %s:22 is already in use\n" % addr)
            return 1
    entries = []
    for name, addr in pairs:
        nd = os.path.join(rack_dir, "nodes", name)
        for d in ("upper", "work", "root", "tmp"):
            os.makedirs(os.path.join(nd, d), exist_ok=True)
        write_file(os.path.join(nd, "addr"), addr + "\n")
        write_file(os.path.join(nd, "want"), "up\n")
        write_file(os.path.join(nd, "state"), "down\n")
        write_file(os.path.join(nd, "boot_id"), "")
        entries.append((nd, name, addr))
    if not make_host_keys([(nd, name) for nd, name, _ in entries]):
        sys.stderr.write("rack.sh: error: ssh-keygen failed\n")
        return 1
    return fill_nodes(rack_dir, entries, state, arch)


def reset_nodes(rack_dir, state, arch, names):
    """Wipe the nodes (they must be down) but keep their host keys."""
    rack_dir = os.path.abspath(rack_dir)
    entries = []
    for name in names:
        nd = os.path.join(rack_dir, "nodes", name)
        addr = read_text(os.path.join(nd, "addr"), "").strip()
        for d in ("upper", "work", "tmp", "ctl"):
            shutil.rmtree(os.path.join(nd, d), ignore_errors=True)
        for d in ("upper", "work", "tmp"):
            os.makedirs(os.path.join(nd, d))
        entries.append((nd, name, addr))
    return fill_nodes(rack_dir, entries, state, arch)


def rack_pids(rack_dir):
    """Every process of the rack in rack_dir: its supervisor, each node's
    unshare and init, and every process chrooted into one of its nodes."""
    rack_dir = os.path.abspath(rack_dir)
    nodes = os.path.join(rack_dir, "nodes") + "/"
    marks = ("rack-sup.py\0%s\0" % rack_dir, "node-init.sh\0%s" % nodes)
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            root = os.readlink("/proc/%s/root" % entry)
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                cmd = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        if root.startswith(nodes) or any(m in cmd for m in marks):
            found.append(int(entry))
    return found


def main():
    a = sys.argv[1:]
    if len(a) == 2 and a[0] == "--pids":
        print(" ".join(str(p) for p in rack_pids(a[1])))
        return 0
    if len(a) == 2 and a[0] == "--clean":
        clean_runtime(a[1])
        return 0
    if len(a) == 4 and a[0] == "--create":
        return create_nodes(a[1], a[2], a[3], sys.stdin.read().splitlines())
    if len(a) >= 5 and a[0] == "--reset":
        return reset_nodes(a[1], a[2], a[3], a[4:])
    if len(a) != 1 or a[0].startswith("-"):
        sys.stderr.write("usage: rack-sup.py DIR | --pids DIR | "
                         "--create DIR STATE ARCH | --reset DIR STATE ARCH NODE...\n")
        return 2
    Rack(sys.argv[1]).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
