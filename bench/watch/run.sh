#!/usr/bin/env bash
# Watch benchmark: a 3-node etcd 3.4, then a 3-node dkv, on loopback (free
# ports); watch-bench puts at a steady RATE on member 0 and W watchers of
# one prefix read on member 1, for W in WATCHERS; then one stalled watcher
# on dkv while STALL_WRITES puts of 1 KiB go by, with member 1's RSS.
# Usage: bench/watch/run.sh [build dir]. Not part of make test.
set -euo pipefail
build=${1:-build}
bench=$build/watch-bench
dkv=$build/dkv
etcd=${ETCD:-/usr/bin/etcd}
RATE=${RATE:-1000}
WRITES=${WRITES:-3000}
WATCHERS=${WATCHERS:-"1 100 1000"}
STALL_WRITES=${STALL_WRITES:-10000}
dir=$(mktemp -d /tmp/watch-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

free_ports() {
  python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

wait_ready() {
  for _ in $(seq 300); do
    local ok=0
    for url in "$@"; do curl -sf -o /dev/null "$url" && ok=$((ok + 1)); done
    ((ok == $#)) && return 0
    sleep 0.1
  done
  echo "not ready: $*" >&2
  exit 1
}

stop_all() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
}

bench_rates() {
  local name=$1 writer=$2 watcher=$3 w
  for w in $WATCHERS; do
    echo -n "$name: "
    "$bench" --endpoint "$watcher" --watchers "$w" --writes "$WRITES" --rate "$RATE" \
      --write-endpoint "$writer"
  done
}

# etcd
read -r -a p < <(free_ports 6)
initial=""
for i in 0 1 2; do initial+="${initial:+,}e$i=http://127.0.0.1:${p[$((i + 3))]}"; done
for i in 0 1 2; do
  "$etcd" --name "e$i" --data-dir "$dir/etcd-$i" \
    --listen-client-urls "http://127.0.0.1:${p[$i]}" --advertise-client-urls "http://127.0.0.1:${p[$i]}" \
    --listen-peer-urls "http://127.0.0.1:${p[$((i + 3))]}" \
    --initial-advertise-peer-urls "http://127.0.0.1:${p[$((i + 3))]}" \
    --initial-cluster "$initial" --initial-cluster-state new >"$dir/etcd-$i.log" 2>&1 &
  pids+=($!)
done
wait_ready "http://127.0.0.1:${p[0]}/health" "http://127.0.0.1:${p[1]}/health" "http://127.0.0.1:${p[2]}/health"
bench_rates etcd "127.0.0.1:${p[0]}" "127.0.0.1:${p[1]}"
stop_all

# dkv
read -r -a p < <(free_ports 6)
cluster=""
for i in 0 1 2; do cluster+="${cluster:+,}n$i@127.0.0.1:${p[$i]}"; done
for i in 0 1 2; do
  DKV_LOG_LEVEL=warn DKV_LISTEN_HOST=127.0.0.1 DKV_NODE_ID=n$i DKV_CLUSTER="$cluster" \
    DKV_RPC_PORT=${p[$i]} DKV_REST_PORT=${p[$((i + 3))]} DKV_DB_PATH="$dir/dkv-$i.db" \
    "$dkv" >"$dir/dkv-$i.log" 2>&1 &
  pids+=($!)
done
wait_ready "http://127.0.0.1:${p[3]}/readyz" "http://127.0.0.1:${p[4]}/readyz" "http://127.0.0.1:${p[5]}/readyz"
bench_rates dkv "127.0.0.1:${p[0]}" "127.0.0.1:${p[1]}"
echo -n "dkv: "
"$bench" --endpoint "127.0.0.1:${p[1]}" --write-endpoint "127.0.0.1:${p[0]}" --stall 1 \
  --pid "${pids[1]}" --writes "$STALL_WRITES" --value-bytes 1024 --rate "$RATE"
