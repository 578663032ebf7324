#!/usr/bin/env python3
"""put_timeline.py: the stages of one client's puts to a 3-node dkv, from the
scheduler's wake-ups and sleeps (perf sched:sched_wakeup / sched_switch), for
bench/put-timeline. No code change and almost no overhead (strace slows every
syscall by tens of us and moves the timeline it measures).

  put_timeline.py PERF_SCRIPT_TXT THREADS_JSON

THREADS_JSON: {"leader": {"grpc": [TID...], "raft": TID, "recv": [TID...]},
               "followers": [{"raft": TID, "recv": TID}...]} where a
follower's recv is its reader of the leader's stream (thread recv-<leader>),
and the leader's grpc its gRPC threads (pollers and executors).
One cycle runs from the client's wake-up (a reply) to the next one. Prints
each stage's median and quartiles in us.
"""
import json
import re
import statistics
import sys

LINE = re.compile(r"^\s*(\S+)\s+(\d+)\s+\[\d+\]\s+([\d.]+):\s+sched:(sched_\w+):\s+(.*)$")


def events(path):
    out = []
    for line in open(path):
        m = LINE.match(line)
        if not m:
            continue
        comm, tid, t, kind, rest = m.groups()
        if kind == "sched_wakeup":
            wakee = re.search(r"pid=(\d+)", rest).group(1)
            wakee_comm = re.search(r"comm=(\S+)", rest).group(1)
            out.append((float(t), "wake", int(tid), comm, int(wakee), wakee_comm))
        elif kind == "sched_switch":
            prev = re.search(r"prev_pid=(\d+)", rest).group(1)
            state = re.search(r"prev_state=(\S+)", rest).group(1)
            out.append((float(t), "sleep", int(prev), comm, state, None))
    out.sort(key=lambda e: e[0])
    return out


def cycle_marks(cycle, t0, th):
    """The marks of one reply-to-reply cycle, in us from t0. The put's own
    append is the leader's last send to a follower before a follower first
    blocks in its WAL fsync (the commit index that follows the previous
    reply also wakes the followers, but syncs nothing); its request, the last
    wake-up of a gRPC thread by the client or a softirq before that."""
    raft, recv = th["leader"]["raft"], set(th["leader"]["recv"])
    grpc = th["grpc"]
    f_raft = {f["raft"] for f in th["followers"]}
    f_recv = {f["recv"] for f in th["followers"]}
    us = lambda t: (t - t0) * 1e6
    f_sync = next((us(t) for t, k, who, _, a, _ in cycle if k == "sleep" and who in f_raft and a == "D"), None)
    if f_sync is None:
        return {}
    d = {"follower_fsync": f_sync}
    before = [(us(t), k, who, comm, a, b) for t, k, who, comm, a, b in cycle if us(t) <= f_sync]
    sends = [t for t, k, who, _, a, _ in before if k == "wake" and who == raft and a in f_recv]
    if not sends:
        return {}
    d["send"] = sends[-1]
    requests = [t for t, k, _, comm, a, _ in before if k == "wake" and a in grpc and t <= d["send"]
                and comm.startswith(("h2load", "swapper", "ksoftirqd"))]
    if requests:
        d["request"] = requests[-1]
        woken = [t for t, k, who, _, a, _ in before
                 if k == "wake" and who in grpc and a == raft and d["request"] <= t <= d["send"]]
        if woken:
            d["raft_woken"] = woken[-1]
    for t, kind, who, comm, a, b in cycle:
        t = us(t)
        if t < d["send"]:
            continue
        if kind == "sleep" and who == raft and a == "D":
            d.setdefault("leader_fsync", t)
        if kind == "wake" and "leader_fsync" in d and who in f_raft and a in recv:
            d.setdefault("ack", t)
        if kind == "wake" and "ack" in d and who in recv and a == raft:
            d.setdefault("ack_raft_woken", t)
        if kind == "wake" and comm != "h2load" and b == "h2load":
            d["reply"] = t
    return d


STAGES = [
    ("reply -> next request at the leader's gRPC threads", None, "request"),
    ("request -> raft thread woken by gRPC", "request", "raft_woken"),
    ("raft woken -> first append sent", "raft_woken", "send"),
    ("request -> first append sent (all)", "request", "send"),
    ("first append -> leader blocks in WAL fsync", "send", "leader_fsync"),
    ("first append -> a follower blocks in WAL fsync", "send", "follower_fsync"),
    ("leader fsync starts -> first follower ack sent", "leader_fsync", "ack"),
    ("ack -> leader raft thread woken", "ack", "ack_raft_woken"),
    ("ack -> reply (apply, gRPC answer)", "ack", "reply"),
    ("request -> reply", "request", "reply"),
]


def main():
    evs = events(sys.argv[1])
    th = json.load(open(sys.argv[2]))
    lead = th["leader"]
    th["grpc"] = set(lead["grpc"])
    # A reply: something wakes the client: the thread that sent the answer
    # (the leader's raft thread, or gRPC's), or a softirq on an idle CPU.
    anchors = [i for i, e in enumerate(evs) if e[1] == "wake" and e[3] != "h2load" and e[5] == "h2load"]
    rows = [cycle_marks(evs[a + 1 : b + 1], evs[a][0], th) for a, b in zip(anchors, anchors[1:])]
    print(f"{len(rows)} reply-to-reply cycles; us: median (p25-p75), n")
    for name, start, end in STAGES:
        v = [r[end] - (r[start] if start else 0) for r in rows if end in r and (start is None or start in r)]
        v = [x for x in v if x >= 0]
        if len(v) < 2:
            continue
        q = statistics.quantiles(v, n=4)
        print(f"  {name:50s} {statistics.median(v):6.0f} ({q[0]:.0f}-{q[2]:.0f}), {len(v)}")
    found = [r for r in rows if "request" in r]
    busy = sum(1 for r in found if "raft_woken" not in r)
    print(f"  requests that found the leader's raft thread already awake: {busy} of {len(found)}")
    print(f"  replies sent by the raft thread itself: {sum(1 for a in anchors if evs[a][2] == lead['raft'])} of {len(anchors)}")
    cyc = [r["reply"] for r in rows if "reply" in r]
    if cyc:
        print(f"  cycle (reply to reply): median {statistics.median(cyc):.0f} us")


if __name__ == "__main__":
    main()
