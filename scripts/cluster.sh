#!/usr/bin/env bash
# Runs the original dkv README's 3-node cluster in the foreground (used by
# `make cluster`): nodes a, b, c on 127.0.0.1 ports 7070/8080/9090 (gRPC) and
# 7071/8081/9091 (REST), data under $2/{a,b,c}.db, logs interleaved on the
# terminal. Ctrl-C (or SIGTERM) stops all three cleanly.
set -euo pipefail
bin=${1:-build/dkv}
dir=${2:-data}
mkdir -p "$dir"
cluster="a@127.0.0.1:7070,b@127.0.0.1:8080,c@127.0.0.1:9090"

pids=()
stop() {
  trap - INT TERM
  echo "dkv: stopping the cluster"
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  exit 0
}
trap stop INT TERM

for node in a:7070:7071 b:8080:8081 c:9090:9091; do
  IFS=: read -r id rpc rest <<<"$node"
  DKV_LOG_LEVEL="${DKV_LOG_LEVEL:-info}" DKV_RPC_PORT=$rpc DKV_REST_PORT=$rest \
    DKV_DB_PATH="$dir/$id.db" DKV_NODE_ID=$id DKV_CLUSTER="$cluster" "$bin" &
  pids+=($!)
done

cat <<TXT
dkv: 3 nodes running (data in $dir/):
  a  gRPC 127.0.0.1:7070  REST 127.0.0.1:7071
  b  gRPC 127.0.0.1:8080  REST 127.0.0.1:8081
  c  gRPC 127.0.0.1:9090  REST 127.0.0.1:9091
Try, in another terminal:
  curl -X POST localhost:7071/v0/kv -d '{"key":"aGVsbG8=","value":"d29ybGQ="}'
  curl -X GET localhost:9091/v0/kv/key/aGVsbG8=
  curl -X DELETE localhost:8081/v0/kv/key/aGVsbG8=
  curl localhost:8081/v0/status
Ctrl-C stops all three.
TXT

# If any node exits on its own, stop the others too.
wait -n "${pids[@]}" || true
stop
