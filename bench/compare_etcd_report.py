#!/usr/bin/env python3
"""Turns bench/compare-etcd's raw runs into its table and plot.

Input: one dkv-bench --json summary per line, tagged with "system" (dkv |
etcd), "op" (put | get | fill | range | cas) and "rep". range and cas go
over gRPC through etcd's KV API on both systems and get a table of their
own, with the share of CAS txns that took the else branch. Each point (op, protocol,
clients) is the median of its repeats, taken per metric (throughput, p50,
p99). Writes BASE.md (the table, with the run's conditions) and prints it,
and writes PLOT_SCRIPT, a gnuplot script drawing BASE.png: throughput and
p99 vs clients for puts and gets, one line per system and protocol.
"""
import argparse
import json
import statistics
from collections import defaultdict

SYSTEMS = ("etcd", "dkv")
PROTOCOLS = ("rest", "grpc")
OPS = ("put", "get")
ETCD_API_OPS = ("range", "cas")  # Over gRPC, etcd's KV API on both systems.


def load(path):
    points = defaultdict(list)  # (system, op, protocol, clients) -> [run]
    fill = {}
    for line in open(path):
        r = json.loads(line)
        if r["op"] == "fill":
            fill[r["system"]] = r
            continue
        points[(r["system"], r["op"], r["protocol"], r["clients"])].append(r)
    return points, fill


def median_point(runs):
    return {
        "ops": statistics.median(r["throughput_ops_per_s"] for r in runs),
        "p50": statistics.median(r["latency_us"]["p50"] for r in runs) / 1e3,
        "p99": statistics.median(r["latency_us"]["p99"] for r in runs) / 1e3,
        "errors": sum(r["error_ops"] for r in runs),
        "not_found": sum(r["not_found_ops"] for r in runs),
        "else_pct": 100 * sum(r.get("else_ops", 0) for r in runs)
        / max(1, sum(r["ok_ops"] for r in runs)),
        "runs": len(runs),
    }


def ratio(a, b):
    return f"{a / b:.2f}" if b else "-"


def table(points):
    clients = sorted({k[3] for k in points})
    head = ("| op | protocol | clients | etcd ops/s | dkv ops/s | dkv/etcd ops "
            "| etcd p50 ms | dkv p50 ms | dkv/etcd p50 | etcd p99 ms | dkv p99 ms "
            "| dkv/etcd p99 | errors etcd/dkv |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    medians = {}
    for op in OPS:
        for protocol in PROTOCOLS:
            for c in clients:
                e = points.get(("etcd", op, protocol, c))
                d = points.get(("dkv", op, protocol, c))
                if not e or not d:
                    continue
                e, d = median_point(e), median_point(d)
                medians[("etcd", op, protocol, c)] = e
                medians[("dkv", op, protocol, c)] = d
                lines.append(
                    f"| {op} | {protocol} | {c} | {e['ops']:.0f} | {d['ops']:.0f} "
                    f"| {ratio(d['ops'], e['ops'])} | {e['p50']:.2f} | {d['p50']:.2f} "
                    f"| {ratio(d['p50'], e['p50'])} | {e['p99']:.2f} | {d['p99']:.2f} "
                    f"| {ratio(d['p99'], e['p99'])} | {e['errors']}/{d['errors']} |")
    return lines, medians, clients


def etcd_api_table(points):
    """range and cas: gRPC, etcd's KV API on both systems."""
    head = ("| op | clients | etcd ops/s | dkv ops/s | dkv/etcd ops | etcd p50 ms | dkv p50 ms "
            "| dkv/etcd p50 | etcd p99 ms | dkv p99 ms | dkv/etcd p99 | cas else % etcd/dkv "
            "| errors etcd/dkv |")
    rows, medians = [], {}
    for op in ETCD_API_OPS:
        for c in sorted({k[3] for k in points if k[1] == op}):
            e, d = points.get(("etcd", op, "grpc", c)), points.get(("dkv", op, "grpc", c))
            if not e or not d:
                continue
            e, d = median_point(e), median_point(d)
            medians[("etcd", op, "grpc", c)] = e
            medians[("dkv", op, "grpc", c)] = d
            share = f"{e['else_pct']:.2f}/{d['else_pct']:.2f}" if op == "cas" else "-"
            rows.append(
                f"| {op} | {c} | {e['ops']:.0f} | {d['ops']:.0f} | {ratio(d['ops'], e['ops'])} "
                f"| {e['p50']:.2f} | {d['p50']:.2f} | {ratio(d['p50'], e['p50'])} "
                f"| {e['p99']:.2f} | {d['p99']:.2f} | {ratio(d['p99'], e['p99'])} "
                f"| {share} | {e['errors']}/{d['errors']} |")
    if not rows:
        return [], medians
    lines = ["", "Range and CAS over gRPC, through etcd's KV API on both (dkv serves it; one "
             "client code). range: a linearizable Range of a 100-key prefix (256-byte values, "
             "written before each run). cas: a Txn If(mod_revision(key) == the revision the "
             "client last saw) Then(Put) Else(Range), each client on its own key, fresh in each "
             "run; \"else\" is the share that took the else branch (0 unless a txn's "
             "revision was wrong).", "", head, "|" + "---|" * (head.count("|") - 1)]
    return lines + rows, medians


def h2load_table(path, fdatasync_ms):
    """The h2load points: median req/s and mean latency per (op, clients),
    dkv through dkv.v0.KV and through its etcd KV service, and issue 19's
    targets against them."""
    runs = defaultdict(list)
    for line in open(path):
        r = json.loads(line)
        system = r["system"] + ("-etcd-api" if r.get("api") == "etcd" else "")
        runs[(system, r["op"], r["clients"])].append(r)
    head = ("| op | clients | etcd req/s | dkv req/s | dkv/etcd | dkv etcd-API req/s | its /etcd "
            "| etcd mean ms | dkv mean ms | dkv etcd-API mean ms "
            "| failed etcd/dkv/etcd-API | non-OK gRPC codes etcd/dkv/etcd-API |")
    lines = ["", "gRPC by h2load (nghttp2-client): raw gRPC frames to the leader, one key, "
             "256-byte values; gets are dkv Get / etcd Range, linearizable; \"dkv etcd-API\" "
             "sends etcd's frames (etcdserverpb.KV Put / Range) to dkv. Mean latency is "
             "h2load's \"time for request\"; non-OK codes come from each server's metrics "
             "(etcd's include the calls h2load cancels when its time is up).",
             "", head, "|" + "---|" * (head.count("|") - 1)]
    ratios = {}
    for op in OPS:
        for c in sorted({k[2] for k in runs if k[1] == op}):
            e, d = runs.get(("etcd", op, c)), runs.get(("dkv", op, c))
            if not e or not d:
                continue
            x = runs.get(("dkv-etcd-api", op, c)) or []
            eo, do = (statistics.median(r["ops"] for r in y) for y in (e, d))
            em, dm = (statistics.median(r["mean_ms"] for r in y) for y in (e, d))
            xo = statistics.median(r["ops"] for r in x) if x else None
            xm = statistics.median(r["mean_ms"] for r in x) if x else None
            fails = "/".join(str(sum(r["failed"] for r in y)) for y in (e, d, x))
            codes = "/".join(str(sum(r["grpc_failed"] for r in y)) for y in (e, d, x))
            ratios[(op, c)] = (do / eo if eo else 0, xo / eo if eo and xo else None, em, dm, xm)
            lines.append(f"| {op} | {c} | {eo:.0f} | {do:.0f} | {ratio(do, eo)} "
                         f"| {f'{xo:.0f}' if xo else '-'} | {ratio(xo, eo) if xo else '-'} "
                         f"| {em:.2f} | {dm:.2f} | {f'{xm:.2f}' if xm else '-'} "
                         f"| {fails} | {codes} |")
    return lines + h2load_targets(ratios, fdatasync_ms)


def h2load_targets(ratios, fdatasync_ms):
    """Issue 19's targets, read off the h2load table (dkv.v0 / etcd API)."""
    lines = ["", "Issue 19's targets by h2load (dkv.v0 / dkv's etcd API):", ""]
    def mark(v, goal):
        return "-" if v is None else f"{v:.2f} {'met' if v >= goal else 'NOT met'}"
    for op, goal, clients in (("put", 3.0, (16, 64, 256)), ("get", 5.0, (16, 64))):
        for c in clients:
            if (op, c) in ratios:
                r = ratios[(op, c)]
                lines.append(f"- {op} at {c} clients at least {goal:g}x etcd: "
                             f"{mark(r[0], goal)} / {mark(r[1], goal)}")
    if ("put", 1) in ratios:
        _, _, em, dm, xm = ratios[("put", 1)]
        try:
            floor = 3 * float(fdatasync_ms)
        except ValueError:
            floor = 0.0
        bound = max(em / 2, floor)
        def lat(v):
            return "-" if v is None else f"{v:.2f} ms {'met' if v <= bound else 'NOT met'}"
        lines.append(f"- single-client put mean at most max(half etcd's {em:.2f} ms, 3 "
                     f"fdatasyncs {floor:.2f} ms) = {bound:.2f} ms: {lat(dm)} / {lat(xm)}")
    return lines


def plot_script(medians, clients, png, title):
    out = ["set terminal pngcairo size 1200,900 noenhanced font ',10'",
           f"set output '{png}'", "set grid", "set key top left",
           "set logscale x 2", "set xlabel 'concurrent clients'",
           "set xtics (" + ", ".join(str(c) for c in clients) + ")",
           f"set xrange [{clients[0] / 1.5}:{clients[-1] * 1.5}]"]
    colors = {"dkv": "#1f77b4", "etcd": "#d62728"}
    dashes = {"rest": 1, "grpc": 2}
    for system in SYSTEMS:
        for op in OPS:
            for protocol in PROTOCOLS:
                out.append(f"${system}_{op}_{protocol} << EOD")
                for c in clients:
                    m = medians.get((system, op, protocol, c))
                    if m:
                        out.append(f"{c} {m['ops']:.1f} {m['p99']:.3f}")
                out.append("EOD")
    out.append(f"set multiplot layout 2,2 title '{title}'")
    for op in OPS:
        for column, what, ylabel in ((2, "throughput", "ops/s"), (3, "p99 latency", "ms")):
            out.append(f"set title '{op}: {what}'")
            out.append(f"set ylabel '{ylabel}'")
            out.append("set logscale y" if column == 3 else "unset logscale y")
            series = [f"${s}_{op}_{p} using 1:{column} with linespoints lw 2 pt 7 "
                      f"lc rgb '{colors[s]}' dt {dashes[p]} title '{s} {p}'"
                      for s in SYSTEMS for p in PROTOCOLS]
            out.append("plot " + ", \\\n     ".join(series))
    out.append("unset multiplot")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("base", help="output path without extension")
    ap.add_argument("plot_script")
    for flag in ("etcd-version", "dkv-commit", "duration", "repeats", "cores", "load",
                 "elapsed", "fdatasync-ms"):
        ap.add_argument("--" + flag, default="?")
    ap.add_argument("--h2load", help="h2load points (JSON lines) to tabulate too")
    ap.add_argument("--peer-tls", action="store_true",
                    help="both clusters ran with peer mutual TLS between members")
    a = ap.parse_args()
    points, fill = load(a.results)
    lines, medians, clients = table(points)
    api_lines, api_medians = etcd_api_table(points)
    lines += api_lines
    notes = [
        f"# dkv vs etcd {a.etcd_version}",
        "",
        f"dkv {a.dkv_commit}; {a.cores} cores; load average {a.load}; took {a.elapsed} s.",
        "3-node clusters on 127.0.0.1, both up at once and loaded in turn; dkv-bench for both;",
        f"256-byte values; each point the median of {a.repeats} runs of {a.duration} (per metric),",
        "the two systems' runs paired back to back (etcd first in odd repeats). Puts use random",
        "keys of 100000; gets are linearizable and read keys all written before the first get.",
        "REST: one keep-alive connection per client (dkv's gateway, etcd's grpc-gateway);",
        "gRPC: async calls, 16 clients per channel. Ratios are dkv/etcd (ops: higher is better",
        "for dkv; latency: lower is better for dkv).",
        f"One fdatasync on this disk (p50 of 300 appends of 4 KiB + fdatasync, measured before",
        f"the runs, in the clusters' temp dir): {a.fdatasync_ms} ms.",
        "",
    ]
    if a.peer_tls:
        notes[-1:-1] = ["Peer TLS: both clusters' members talk mutual TLS (RSA 2048) with each",
                        "other (etcd --peer-client-cert-auth, dkv DKV_PEER_*); clients plain."]
    missing = [s for s in SYSTEMS if s in fill and fill[s]["error_ops"]]
    not_found = sum(m["not_found"] for k, m in medians.items() if k[1] == "get")
    short_ranges = sum(m["not_found"] for k, m in api_medians.items() if k[1] == "range")
    if missing:
        notes.append(f"Warning: the key fill had errors on {', '.join(missing)}.")
    if not_found:
        notes.append(f"Warning: {not_found} gets found no key.")
    if short_ranges:
        notes.append(f"Warning: {short_ranges} ranges saw fewer than the 100 keys.")
    if a.h2load:
        lines += h2load_table(a.h2load, a.fdatasync_ms)
    text = "\n".join(notes + lines) + "\n"
    with open(a.base + ".md", "w") as f:
        f.write(text)
    print(text)
    title = (f"dkv {a.dkv_commit} vs etcd {a.etcd_version}: 3 nodes on loopback, 256-byte values, "
             f"median of {a.repeats} x {a.duration}")
    with open(a.plot_script, "w") as f:
        f.write(plot_script(medians, clients, a.base + ".png", title))


if __name__ == "__main__":
    main()
