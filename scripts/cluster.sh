#!/usr/bin/env bash
# Runs a local dkv in the foreground (used by `make cluster`): the original
# dkv README's node a, with data under $2. Ctrl-C stops it cleanly.
# Until replication lands (issue 6) this is one node; then it starts a, b, c.
set -euo pipefail
bin=${1:-build/dkv}
dir=${2:-data}
mkdir -p "$dir"

cat <<TXT
dkv: starting node a (gRPC 127.0.0.1:7070, REST 127.0.0.1:7071), data in $dir/a.db
Try, in another terminal:
  curl -X POST localhost:7071/v0/kv -d '{"key":"aGVsbG8=","value":"d29ybGQ="}'
  curl -X GET localhost:7071/v0/kv/key/aGVsbG8=
  curl -X DELETE localhost:7071/v0/kv/key/aGVsbG8=
  curl localhost:7071/v0/status
Ctrl-C stops the node.
TXT

exec env DKV_LOG_LEVEL="${DKV_LOG_LEVEL:-info}" \
  DKV_RPC_PORT=7070 DKV_REST_PORT=7071 DKV_DB_PATH="$dir/a.db" DKV_NODE_ID=a \
  DKV_CLUSTER="a@127.0.0.1:7070" "$bin"
