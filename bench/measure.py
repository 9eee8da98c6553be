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
#   tcp_bytes       with MEASURE_SS set to an ss(8) filter (for example
#                   "dst 127.4.0.0/24 and dport = :22"): the TCP payload
#                   bytes acknowledged on the sockets that match it, summed
#                   over sockets (each socket's largest bytes_acked, sampled
#                   every 100 ms while COMMAND runs; the last <100 ms of a
#                   socket can be missed). Whatever process owns them, so
#                   the peers' ssh children count too: with the filter
#                   above, the client's egress to the nodes' sshd, SSH
#                   framing and encryption included. 0 without MEASURE_SS.
#
# The sampling costs this wrapper a little CPU; that is not counted, since
# only COMMAND's own rusage is reported.
import os
import re
import subprocess
import sys
import threading
import time

SS_ACKED = re.compile(r"bytes_acked:(\d+)")


def ss_sampler(flt, acked, stop):
    """Keep each matching socket's largest bytes_acked until stop is set."""
    while not stop.is_set():
        try:
            out = subprocess.run(["ss", "-tniH"] + flt.split(),
                                 capture_output=True, text=True).stdout
        except OSError:
            return
        key = None
        for line in out.splitlines():
            if not line.startswith((" ", "\t")):
                f = line.split()
                key = " ".join(f[-2:]) if len(f) >= 2 else None
                continue
            m = SS_ACKED.search(line)
            if key and m:
                acked[key] = max(acked.get(key, 0), int(m.group(1)))
        stop.wait(0.1)


def vmhwm(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def main():
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        sys.stderr.write("usage: measure.py OUTFILE -- COMMAND...\n")
        return 2
    outfile, argv = sys.argv[1], sys.argv[3:]
    acked, stop = {}, threading.Event()
    flt = os.environ.get("MEASURE_SS", "")
    sampler = None
    if flt:
        sampler = threading.Thread(target=ss_sampler, args=(flt, acked, stop))
        sampler.start()
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
    while True:
        wpid, status, ru = os.wait4(pid, os.WNOHANG)
        if wpid == pid:
            break
        h = vmhwm(pid)
        if h is not None and h > peak:
            peak = h
        time.sleep(0.005)
    wall = time.monotonic() - t0
    if sampler is not None:
        stop.set()
        sampler.join()
    if os.WIFEXITED(status):
        rc = os.WEXITSTATUS(status)
    else:
        rc = 128 + os.WTERMSIG(status)
    with open(outfile, "w") as f:
        f.write("wall=%.3f cpu=%.3f parent_rss_kib=%d tree_rss_kib=%d rc=%d"
                " tcp_bytes=%d\n"
                % (wall, ru.ru_utime + ru.ru_stime, peak, ru.ru_maxrss, rc,
                   sum(acked.values())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
