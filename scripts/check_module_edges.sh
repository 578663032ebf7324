#!/usr/bin/env bash
# Checks the module edges of docs/architecture.md's module table on the
# #include lines of src/: each module may include only its own headers and
# those of the modules listed for it below (generated protobuf headers,
# dkv/ and etcd/, count as modules too). CMake cannot enforce this: every
# target sees all of src/ (dkv_util's include directory), and a PUBLIC link
# such as api -> node -> kv hands api the kv library. Run by ctest (test
# module_edges, label lint) and by hand:
#   scripts/check_module_edges.sh [SRC_DIR]     (default: src)
# Prints each include that crosses a forbidden edge; exits 1 if any does.
set -euo pipefail
cd "$(dirname "$0")/.."
src=${1:-src}

# module -> the other modules it may include. cmd/ is the composition root.
declare -A may=(
  [util]=""
  [raft]="util"
  [wal]="util raft"
  [kv]="util etcd"
  [node]="util raft wal kv etcd"
  [tls]="util"
  [transport]="util raft wal tls dkv"
  [api]="util node dkv etcd"
  [cmd]="util raft wal kv node transport tls api dkv etcd"
)
# api/ reaches storage only through node (DESIGN.md). It may name kv's value
# types and limits, and the read-only kv::Store view that Node::read_store
# and Node's image readers lend to a callback on the node's own threads;
# nothing else of kv/.
api_kv_headers="kv/mvcc_request.h kv/limits.h kv/lease.h kv/store.h"

bad=0
for module in "${!may[@]}"; do
  [[ -d "$src/$module" ]] || continue
  while IFS=: read -r file line include; do
    target=${include%%/*}
    [[ "$include" == */* ]] || continue             # A sibling header ("cli.h").
    [[ -d "$src/$target" || "$target" == dkv || "$target" == etcd ]] || continue
    [[ "$target" == "$module" ]] && continue
    [[ " ${may[$module]} " == *" $target "* ]] && continue
    if [[ "$module" == api && "$target" == kv && " $api_kv_headers " == *" $include "* ]]; then
      continue
    fi
    echo "$file:$line: $module/ must not include \"$include\"" >&2
    bad=1
  done < <(grep -rnoE '^#include "[^"]+"' "$src/$module" --include='*.h' --include='*.cc' |
    sed -E 's/#include "([^"]+)"/\1/')
done
if ((bad)); then
  echo "module edges: see docs/architecture.md's module table" >&2
  exit 1
fi
echo "module edges hold (${!may[*]})"
