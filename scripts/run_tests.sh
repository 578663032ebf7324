#!/usr/bin/env bash
# make test's runner (after `make build`): two things at once.
#   - In front: everything but the unit tests on the optimized build
#     (ctest -LE unit -j JOBS): the process, fault and transport tests one
#     at a time (RESOURCE_LOCK loopback), the lint and the simulator beside
#     them at nice 19 (tests/CMakeLists.txt).
#   - Behind, at nice 19: the sanitizer build (make build-asan) and its unit
#     tests (ctest -L unit), output to ASAN_BUILD/make-test-unit.log.
# The tests in front wait on elections, timeouts and disks much of the
# time; the sanitizer build takes the CPU they leave idle instead of adding
# its minutes before them. Prints the unit tests' log when they fail, then
# both summaries, and ends with ctest's summary of the tests in front.
# Usage: scripts/run_tests.sh BUILD_DIR ASAN_BUILD_DIR JOBS [MAKE]
set -uo pipefail
build=${1:?usage: $0 BUILD_DIR ASAN_BUILD_DIR JOBS [MAKE]}
asan=${2:?} jobs=${3:?} make=${4:-make}
mkdir -p "$asan"
unit_log="$asan/make-test-unit.log"
front_log="$build/make-test-front.log"

# In a process group of its own (set -m), so that an interrupted make test
# stops the whole group, compilers included, not only its shell.
set -m
(
  set -e
  nice -n 19 $make --no-print-directory build-asan ASAN_BUILD="$asan" JOBS="$jobs"
  cd "$asan"
  nice -n 19 ctest -L unit --output-on-failure -j "$jobs"
) >"$unit_log" 2>&1 &
unit_pid=$!
set +m
trap 'kill -- -"$unit_pid" 2>/dev/null' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
echo "make test: the sanitizer build and its unit tests run behind these, at nice 19 ($unit_log)"

(cd "$build" && ctest -LE unit --output-on-failure -j "$jobs") 2>&1 | tee "$front_log"
front_rc=${PIPESTATUS[0]}
echo "make test: waiting for the unit tests under the sanitizers"
wait "$unit_pid"
unit_rc=$?
trap - EXIT

# summary LOG: ctest's closing lines (from "N% tests passed" on).
summary() { sed -n '/% tests passed/,$p' "$1"; }
if ((unit_rc != 0)); then
  echo "== the sanitizer build or its unit tests failed (exit $unit_rc); their log:"
  cat "$unit_log"
fi
echo "== unit tests under ASan+UBSan ($asan):"
summary "$unit_log"
echo "== process, fault, transport, simulation and lint tests ($build):"
summary "$front_log"
((front_rc == 0 && unit_rc == 0))
