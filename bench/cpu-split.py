#!/usr/bin/python3
# SPDX-License-Identifier: MIT
#
# cpu-split.py: where a push's CPU goes on the machine that runs the rack.
#
#   RACK=DIR [DISK=vda] cpu-split.py OUTFILE -- COMMAND...
#
# Runs COMMAND (its output to OUTFILE.cmd) and samples every 0.5 s: the
# CPU time of every process on the machine, grouped as node:<comm> (a
# process chrooted under the rack directory RACK: the nodes' sshd and
# agents), client:<comm> (ascend-fleet itself) or other (everything else:
# kernel threads such as writeback, other users); the machine's CPU split
# (user, system, idle, iowait, steal); the peak Dirty and Writeback memory;
# and the bytes written to DISK. OUTFILE gets the totals over the run. A
# process that ends between two samples loses at most 0.5 s of CPU.
import os, sys, time, collections
HZ = os.sysconf("SC_CLK_TCK")
def procs():
    d = {}
    for p in os.listdir("/proc"):
        if not p.isdigit(): continue
        try:
            s = open("/proc/%s/stat" % p).read()
        except OSError: continue
        comm = s[s.index("(")+1:s.rindex(")")]
        try:
            root = os.readlink("/proc/%s/root" % p)
        except OSError:
            root = "?"
        if root.startswith(RACK):
            comm = "node:" + comm
        elif root == "/" and comm.startswith("ascend-fleet"):
            comm = "client:" + comm
        else:
            comm = "other"
        f = s[s.rindex(")")+2:].split()
        d[int(p)] = (comm, int(f[11]) + int(f[12]))
    return d
def cpu():
    f = open("/proc/stat").readline().split()[1:]
    return [int(x) for x in f]
def disk():
    for l in open("/proc/diskstats"):
        f = l.split()
        if f[2] == os.environ.get("DISK", "vda"): return int(f[9]) * 512
    return 0
def mem():
    m = {}
    for l in open("/proc/meminfo"):
        k, v = l.split(":"); m[k] = int(v.split()[0])
    return m["Dirty"], m["Writeback"]
RACK = os.environ["RACK"]
out, argv = sys.argv[1], sys.argv[3:]
base = procs(); c0 = cpu(); d0 = disk(); t0 = time.monotonic()
pid = os.fork()
if pid == 0:
    fd = os.open(out + ".cmd", os.O_WRONLY|os.O_CREAT|os.O_TRUNC); os.dup2(fd,1); os.dup2(fd,2)
    os.execvp(argv[0], argv)
last = {}; dirty = []
while True:
    w, st = os.waitpid(pid, os.WNOHANG)
    for p, (comm, t) in procs().items():
        last[p] = (comm, t)
    dirty.append(mem())
    if w == pid: break
    time.sleep(0.5)
wall = time.monotonic() - t0; c1 = cpu(); d1 = disk()
g = collections.Counter()
for p, (comm, t) in last.items():
    t0p = base.get(p, (comm, 0))[1] if base.get(p, (None,))[0] == comm else 0
    g[comm] += (t - t0p) / HZ
tot = sum(c1) - sum(c0)
names = ["user","nice","system","idle","iowait","irq","softirq","steal"]
with open(out, "w") as f:
    f.write("wall %.1f s, rc %d\n" % (wall, os.WEXITSTATUS(st)))
    f.write("system cpu split: " + ", ".join("%s %.0f%%" % (n, 100.0*(c1[i]-c0[i])/tot) for i, n in enumerate(names)) + "\n")
    f.write("disk written during run: %.0f MiB (%.0f MiB/s)\n" % ((d1-d0)/1048576, (d1-d0)/1048576/wall))
    f.write("dirty max %.0f MiB, writeback max %.0f MiB\n" % (max(x[0] for x in dirty)/1024, max(x[1] for x in dirty)/1024))
    f.write("cpu seconds by command (all processes on the machine):\n")
    for comm, s in g.most_common(12):
        f.write("  %-20s %7.1f s  (%.0f%% of one core)\n" % (comm, s, 100*s/wall))
