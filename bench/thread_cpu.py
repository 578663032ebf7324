#!/usr/bin/env python3
"""thread_cpu.py: CPU time and context switches of processes' threads, for
bench/grpc-cpu.

  thread_cpu.py snap PID... > FILE     every thread's name, CPU ticks, switches
  thread_cpu.py diff A B N LABEL       the change from A to B per request (N
                                       requests), by thread name (digits off)
"""
import collections
import json
import os
import re
import sys


def snap(pids):
    out = {}
    for pid in pids:
        # The process's own total also counts threads that ended meanwhile
        # (gRPC's sync server starts and ends its threads as load changes).
        stat = open(f"/proc/{pid}/stat").read()
        fields = stat[stat.rindex(")") + 2:].split()
        out[f"{pid}/process"] = ("(process)", int(fields[11]) + int(fields[12]), 0)
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                stat = open(f"/proc/{pid}/task/{tid}/stat").read()
                status = open(f"/proc/{pid}/task/{tid}/status").read()
            except OSError:
                continue  # The thread ended meanwhile.
            name = stat[stat.index("(") + 1:stat.rindex(")")]
            fields = stat[stat.rindex(")") + 2:].split()
            switches = sum(int(line.split()[1]) for line in status.splitlines()
                           if "ctxt_switches" in line)
            out[f"{pid}/{tid}"] = (name, int(fields[11]) + int(fields[12]), switches)
    return out


def diff(a, b, n, label):
    tick = os.sysconf("SC_CLK_TCK")
    cpu, switches, process = collections.Counter(), 0, 0
    for key, (name, ticks, sw) in b.items():
        _, ticks0, sw0 = a.get(key, (name, 0, 0))
        if name == "(process)":
            process += ticks - ticks0
            continue
        cpu[re.sub(r"[0-9]+$", "", name)] += ticks - ticks0
        switches += sw - sw0
    us = {name: v / tick * 1e6 / n for name, v in cpu.most_common() if v}
    total = process / tick * 1e6 / n
    print(f"  {label}: {total:.1f} us CPU/req ({sum(us.values()):.1f} in live threads), "
          f"{switches / n:.1f} switches/req; "
          + "  ".join(f"{name} {v:.1f}" for name, v in us.items()))


if __name__ == "__main__":
    if sys.argv[1] == "snap":
        json.dump(snap(sys.argv[2:]), sys.stdout)
    else:
        diff(json.load(open(sys.argv[2])), json.load(open(sys.argv[3])), int(sys.argv[4]),
             sys.argv[5])
