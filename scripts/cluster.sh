#!/usr/bin/env bash
# Runs the original dkv README's 3-node cluster in the foreground (used by
# `make cluster`): nodes a, b, c on 127.0.0.1 ports 7070/8080/9090 (gRPC) and
# 7071/8081/9091 (REST), data under $2/{a,b,c}.db, logs interleaved on the
# terminal. Ctrl-C (or SIGTERM) stops all three cleanly.
# With a third argument 1 (`make cluster TLS=1`): a throwaway CA, a server
# certificate for 127.0.0.1/localhost and a client certificate are made with
# openssl under $2/tls (once), and the nodes serve client TLS with client
# certificate authentication; a second throwaway CA, the peer CA, signs one
# member certificate per node (CN dkv-member), and the members talk mutual
# TLS with each other (DKV_PEER_*, DKV_PEER_CERT_ALLOWED_CN=dkv-member).
set -euo pipefail
bin=${1:-build/dkv}
dir=${2:-data}
tls=${3:-0}
mkdir -p "$dir"
cluster="a@127.0.0.1:7070,b@127.0.0.1:8080,c@127.0.0.1:9090"

tls_env=()
scheme=http
curl_tls=""
if [ "$tls" = 1 ]; then
  t="$dir/tls"
  if [ ! -f "$t/peer-c.crt" ]; then
    mkdir -p "$t"
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$t/san.cnf"
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=dkv-throwaway-ca \
      -keyout "$t/ca.key" -out "$t/ca.crt" 2>/dev/null
    for name in server client; do
      openssl req -newkey rsa:2048 -nodes -subj "/CN=dkv-$name" -keyout "$t/$name.key" \
        -out "$t/$name.csr" 2>/dev/null
      ext=()
      [ $name = server ] && ext=(-extfile "$t/san.cnf")
      openssl x509 -req -days 30 -in "$t/$name.csr" -CA "$t/ca.crt" -CAkey "$t/ca.key" \
        -CAcreateserial -out "$t/$name.crt" "${ext[@]}" 2>/dev/null
    done
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=dkv-throwaway-peer-ca \
      -keyout "$t/peer-ca.key" -out "$t/peer-ca.crt" 2>/dev/null
    for id in a b c; do
      openssl req -newkey rsa:2048 -nodes -subj /CN=dkv-member -keyout "$t/peer-$id.key" \
        -out "$t/peer-$id.csr" 2>/dev/null
      openssl x509 -req -days 30 -in "$t/peer-$id.csr" -CA "$t/peer-ca.crt" \
        -CAkey "$t/peer-ca.key" -CAcreateserial -out "$t/peer-$id.crt" -extfile "$t/san.cnf" \
        2>/dev/null
    done
  fi
  tls_env=(DKV_CERT_FILE="$t/server.crt" DKV_KEY_FILE="$t/server.key"
    DKV_TRUSTED_CA_FILE="$t/ca.crt" DKV_CLIENT_CERT_AUTH=true)
  scheme=https
  curl_tls=" --cacert $t/ca.crt --cert $t/client.crt --key $t/client.key"
fi

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
  peer_env=()
  if [ "$tls" = 1 ]; then
    peer_env=(DKV_PEER_CERT_FILE="$t/peer-$id.crt" DKV_PEER_KEY_FILE="$t/peer-$id.key"
      DKV_PEER_TRUSTED_CA_FILE="$t/peer-ca.crt" DKV_PEER_CERT_ALLOWED_CN=dkv-member)
  fi
  DKV_LOG_LEVEL="${DKV_LOG_LEVEL:-info}" DKV_RPC_PORT=$rpc DKV_REST_PORT=$rest \
    DKV_DB_PATH="$dir/$id.db" DKV_NODE_ID=$id DKV_CLUSTER="$cluster" \
    env ${tls_env[@]+"${tls_env[@]}"} ${peer_env[@]+"${peer_env[@]}"} "$bin" &
  pids+=($!)
done

cat <<TXT
dkv: 3 nodes running (data in $dir/):
  a  gRPC 127.0.0.1:7070  REST 127.0.0.1:7071
  b  gRPC 127.0.0.1:8080  REST 127.0.0.1:8081
  c  gRPC 127.0.0.1:9090  REST 127.0.0.1:9091
Try, in another terminal:
  curl$curl_tls -X POST $scheme://localhost:7071/v0/kv -d '{"key":"aGVsbG8=","value":"d29ybGQ="}'
  curl$curl_tls -X GET $scheme://localhost:9091/v0/kv/key/aGVsbG8=
  curl$curl_tls -X DELETE $scheme://localhost:8081/v0/kv/key/aGVsbG8=
  curl$curl_tls $scheme://localhost:8081/v0/status
Ctrl-C stops all three.
TXT

# If any node exits on its own, stop the others too.
wait -n "${pids[@]}" || true
stop
