#!/usr/bin/env bash
# Checks the lock annotations (util/thread_annotations.h, util/mutex.h) with
# clang's -Wthread-safety -Werror, syntax only: every src/ .cc file that
# includes an annotated header, directly or through other headers, in
# parallel. Run by ctest (test thread_safety) and by hand:
#   scripts/check_thread_safety.sh BUILD_DIR [FILE.cc...]
# BUILD_DIR must hold the generated protobuf headers (BUILD_DIR/gen), i.e.
# a configured and built tree. GCC ignores the annotations; this is where
# they bite. With no FILE, it also fails if an annotated file is left out.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:?usage: $0 BUILD_DIR [FILE.cc...]}
shift
[[ -d "$build/gen" ]] || { echo "$build/gen missing: build the tree first" >&2; exit 2; }
clangxx=${CLANGXX:-clang++}
command -v "$clangxx" >/dev/null || { echo "$clangxx not found (make deps installs clang)" >&2; exit 2; }

if (($# == 0)); then
  # The headers that include an annotated one, directly or through others
  # (to a fixed point), then the .cc files that include any of them.
  names=(util/thread_annotations.h util/mutex.h)
  while true; do
    pattern=$(printf '%s|' "${names[@]//./\\.}")
    mapfile -t more < <(grep -rlE "#include \"(${pattern%|})\"" src --include='*.h' |
      sed 's#^src/##' | sort -u)
    mapfile -t grown < <(printf '%s\n' "${names[@]}" "${more[@]}" | sort -u)
    ((${#grown[@]} == ${#names[@]})) && break
    names=("${grown[@]}")
  done
  mapfile -t files < <(grep -rlE "#include \"(${pattern%|})\"" src --include='*.cc' | sort)
  set -- "${files[@]}"
  # Nothing annotated goes unchecked: each file that uses an annotation is
  # a checked .cc or a header that one of them includes.
  # (A set, not `printf | grep -q`: under pipefail, grep -q leaving early
  # makes printf die of SIGPIPE and the pipeline fail, now and then.)
  declare -A checked
  for f in "${files[@]}"; do checked[$f]=1; done
  unchecked=0
  while read -r annotated; do
    case "$annotated" in
      src/util/thread_annotations.h) continue ;;
      *.cc) [[ -n ${checked[$annotated]:-} ]] && continue ;;
      *.h) grep -qF "#include \"${annotated#src/}\"" "${files[@]}" && continue ;;
    esac
    echo "thread-safety: $annotated is annotated but no checked file includes it" >&2
    unchecked=1
  done < <(grep -rlE 'DKV_[A-Z_]*(GUARDED_BY|REQUIRES|ACQUIRE|RELEASE|EXCLUDES|CAPABILITY)' src)
  ((unchecked == 0)) || exit 1
fi

flags=(-fsyntax-only -std=c++20 -Wthread-safety -Wthread-safety-beta -Werror
       -DNDEBUG -DDKV_TEST_HOOKS=1 -DFMT_SHARED -DSPDLOG_COMPILED_LIB -DSPDLOG_FMT_EXTERNAL
       -DSPDLOG_SHARED_LIB -Isrc -isystem "$build/gen")

echo "thread-safety: checking $# files with $clangxx"
printf '%s\n' "$@" | xargs -P "$(nproc)" -I{} "$clangxx" "${flags[@]}" {}
echo "thread-safety: ok"
