#!/usr/bin/python3
# SPDX-License-Identifier: MIT
#
# measure.py: run one command and report what it cost the machine that runs
# it, for the benchmark scripts in this folder.
#
#   measure.py OUTFILE -- COMMAND...
#
# Runs COMMAND (stdout and stderr go to OUTFILE.out and OUTFILE.err) and
# writes one line to OUTFILE:
#
#   wall=S cpu=S parent_rss_kib=K tree_rss_kib=K rc=N
#
#   wall            elapsed seconds (monotonic clock)
#   cpu             user+sys seconds of COMMAND and of every descendant it
#                   waited for (wait4() rusage: the process's own time plus
#                   its reaped children's), i.e. the whole client side.
#   parent_rss_kib  peak RSS (VmHWM) of the COMMAND process itself, sampled
#                   from /proc every 5 ms until it exits (VmHWM only grows,
#                   so the last sample is its peak).
#   tree_rss_kib    ru_maxrss from wait4(): the largest peak RSS of any one
#                   process of the tree (COMMAND or one descendant). When it
#                   exceeds parent_rss_kib it is the largest child's (for
#                   pdsh, pssh and clush: one ssh client process).
#   rc              COMMAND's exit status (128+N if killed by signal N).
#   wchar_bytes     bytes the COMMAND process itself wrote (write/send
#                   system calls, sockets included: /proc/PID/io wchar),
#                   sampled like VmHWM. For ascend-fleet, which drives
#                   every SSH session in its own process, this is its
#                   egress (SSH framing included) plus what it printed;
#                   children (the peers' ssh clients) are not counted.
#
# The sampling costs this wrapper a little CPU; that is not counted, since
# only COMMAND's own rusage is reported.
import os
import sys
import time


def vmhwm(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def wchar(pid):
    try:
        with open("/proc/%d/io" % pid) as f:
            for line in f:
                if line.startswith("wchar:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def main():
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        sys.stderr.write("usage: measure.py OUTFILE -- COMMAND...\n")
        return 2
    outfile, argv = sys.argv[1], sys.argv[3:]
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            out = os.open(outfile + ".out", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            err = os.open(outfile + ".err", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            nul = os.open("/dev/null", os.O_RDONLY)
            os.dup2(nul, 0)
            os.dup2(out, 1)
            os.dup2(err, 2)
            os.execvp(argv[0], argv)
        except OSError as e:
            os.write(2, ("measure.py: %s: %s\n" % (argv[0], e)).encode())
        os._exit(127)
    peak = 0
    wrote = 0
    while True:
        wpid, status, ru = os.wait4(pid, os.WNOHANG)
        if wpid == pid:
            break
        h = vmhwm(pid)
        if h is not None and h > peak:
            peak = h
        w = wchar(pid)
        if w is not None and w > wrote:
            wrote = w
        time.sleep(0.005)
    wall = time.monotonic() - t0
    if os.WIFEXITED(status):
        rc = os.WEXITSTATUS(status)
    else:
        rc = 128 + os.WTERMSIG(status)
    with open(outfile, "w") as f:
        f.write("wall=%.3f cpu=%.3f parent_rss_kib=%d tree_rss_kib=%d rc=%d"
                " wchar_bytes=%d\n"
                % (wall, ru.ru_utime + ru.ru_stime, peak, ru.ru_maxrss, rc,
                   wrote))
    return 0


if __name__ == "__main__":
    sys.exit(main())
