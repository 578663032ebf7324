#!/usr/bin/env bash
# `make bench`: starts a fresh 3-node dkv cluster on loopback in a temp dir,
# runs a fixed set of short dkv-bench runs against it (puts at 1/16/64/256
# clients over REST and gRPC, linearizable gets at 16/64 after a prefill),
# prints a table, and stops the cluster. Bounded: each run is --duration
# (default 5s) plus a hard cap; the whole script a few minutes.
# Usage: run_bench.sh BUILD_DIR [DURATION]
# cpu_us/op: the 3 nodes' CPU (user + system) during a run per operation,
# for comparisons on a machine shared with other work.
# Env: BENCH_PORT_BASE (default 27070: node a gRPC 27070 REST 27071, b +10, c +20),
#      BENCH_KEEP=1 keeps the temp dir (logs, JSON per run), BENCH_DKV overrides $BUILD/dkv,
#      BENCH_RESULTS=FILE saves every run's JSON summary (one per line).
set -euo pipefail
build=${1:-build}
duration=${2:-5s}
dkv="${BENCH_DKV:-$build/dkv}"
bench="$build/dkv-bench"
base=${BENCH_PORT_BASE:-27070}
for bin in "$dkv" "$bench"; do
  [[ -x $bin ]] || { echo "bench: $bin missing (make build)" >&2; exit 1; }
done

dir=$(mktemp -d "${TMPDIR:-/tmp}/dkv-bench.XXXXXX")
pids=()
cleanup() {
  trap - EXIT INT TERM
  if ((${#pids[@]})); then
    kill -TERM "${pids[@]}" 2>/dev/null || true
    # Give the nodes 5 s to stop cleanly, then SIGKILL.
    for _ in $(seq 50); do kill -0 "${pids[@]}" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
  if [[ ${BENCH_KEEP:-0} == 1 ]]; then echo "bench: kept $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ids=(a b c)
rpc=() rest=()
for i in 0 1 2; do
  rpc+=($((base + 10 * i))) rest+=($((base + 10 * i + 1)))
done
for p in "${rpc[@]}" "${rest[@]}"; do
  if (echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    echo "bench: port $p is in use; set BENCH_PORT_BASE" >&2
    exit 1
  fi
done
cluster="a@127.0.0.1:${rpc[0]},b@127.0.0.1:${rpc[1]},c@127.0.0.1:${rpc[2]}"
for i in 0 1 2; do
  DKV_LOG_LEVEL=warn DKV_LISTEN_HOST=127.0.0.1 DKV_NODE_ID=${ids[$i]} DKV_CLUSTER="$cluster" \
    DKV_RPC_PORT=${rpc[$i]} DKV_REST_PORT=${rest[$i]} DKV_DB_PATH="$dir/${ids[$i]}.db" \
    "$dkv" >"$dir/${ids[$i]}.log" 2>&1 &
  pids+=($!)
done

# Ready: every node answers /readyz 200 (at most 30 s).
for _ in $(seq 300); do
  ready=0
  for p in "${rest[@]}"; do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$p/readyz" || true)
    [[ $code == 200 ]] && ready=$((ready + 1))
  done
  ((ready == 3)) && break
  sleep 0.1
done
if ((ready != 3)); then
  echo "bench: cluster not ready after 30 s; logs in $dir" >&2
  BENCH_KEEP=1
  exit 1
fi
grpc_eps="127.0.0.1:${rpc[0]},127.0.0.1:${rpc[1]},127.0.0.1:${rpc[2]}"
rest_eps="127.0.0.1:${rest[0]},127.0.0.1:${rest[1]},127.0.0.1:${rest[2]}"
echo "bench: 3 nodes ready (gRPC $grpc_eps, REST $rest_eps); $duration per run"

results="$dir/results.jsonl"
: >"$results"
# The CPU time (user + system, clock ticks) the 3 nodes have used so far:
# divided by a run's operations, the CPU per operation, which means
# something even on a machine busy with other work.
cpu_ticks() {
  local total=0 p
  for p in "${pids[@]}"; do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  echo "$total"
}
# run NAME PROTOCOL ARGS...: one dkv-bench run, its JSON summary appended
# (with the nodes' CPU seconds during the run as "node_cpu_s").
run() {
  local name=$1 protocol=$2
  shift 2
  local eps=$grpc_eps
  [[ $protocol == rest ]] && eps=$rest_eps
  echo "bench: $name $protocol $*" >&2
  local before after
  before=$(cpu_ticks)
  "$bench" "$@" --protocol "$protocol" --endpoints "$eps" --duration "$duration" --json \
    2>"$dir/run.log" >"$dir/run.json" ||
    { echo "bench: run failed:"; cat "$dir/run.log"; } >&2
  after=$(cpu_ticks)
  local cpu_s
  cpu_s=$(awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.2f", t / hz}')
  sed "s/^{/{\"name\":\"$name\",\"node_cpu_s\":$cpu_s,/" "$dir/run.json" >>"$results"
}
for protocol in rest grpc; do
  for clients in 1 16 64 256; do
    # gRPC: at most 16 clients per channel.
    conns=$(((clients + 15) / 16))
    run put "$protocol" put --clients "$clients" --conns "$conns" --val-size 256 --key-space 100000
  done
done
for protocol in rest grpc; do
  # Every key written once (1000 keys) before the first linearizable get.
  run get-prefill "$protocol" get --clients 16 --conns 1 --key-space 1000 --prefill --total 1 \
    --val-size 256
  for clients in 16 64; do
    run get "$protocol" get --clients "$clients" --conns $(((clients + 15) / 16)) \
      --key-space 1000 --val-size 256
  done
done

echo
echo "dkv $(git -C "$(dirname "$0")" rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores," \
  "load average $(cut -d' ' -f1-3 /proc/loadavg), $duration per run, 256-byte values"
printf '%-6s %-5s %7s %10s %7s %10s %10s %10s %10s %10s\n' op proto clients ops/s errors p50_ms p90_ms \
  p99_ms max_ms cpu_us/op
python3 - "$results" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["name"] == "get-prefill":
        continue
    l = r["latency_us"]
    print(f'{r["name"]:<6} {r["protocol"]:<5} {r["clients"]:>7} {r["throughput_ops_per_s"]:>10.0f} '
          f'{r["error_ops"]:>7} {l["p50"]/1e3:>10.2f} {l["p90"]/1e3:>10.2f} {l["p99"]/1e3:>10.2f} '
          f'{l["max"]/1e3:>10.2f} {r["node_cpu_s"] * 1e6 / max(1, r["ok_ops"]):>10.0f}')
PY
if [[ -n ${BENCH_RESULTS:-} ]]; then cp "$results" "$BENCH_RESULTS"; fi
