# dkv: the two commands are `make cluster` and `make test` (see README.md).
# CMake + Ninja do the work; this file is a thin facade.
SHELL := /bin/bash
BUILD ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
RELEASE_BUILD ?= build-release
PREFIX ?= /usr/local
JOBS ?= 2
CLUSTER_DIR ?= data
# `make cluster TLS=1`: client TLS and peer mutual TLS with throwaway CAs
# (scripts/cluster.sh).
TLS ?= 0

# Debian packages the build and the tests need (etcd-server, etcdctl and
# python3-etcd3: the etcd compatibility tests run real etcd clients against
# dkv and against etcd); `make deps` installs them.
DEPS := build-essential cmake ninja-build ccache pkg-config \
	libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler \
	liblmdb-dev libboost1.81-dev libspdlog-dev libfmt-dev libcli11-dev \
	libgtest-dev libgmock-dev libbenchmark-dev golang-github-gogo-googleapis-dev \
	golang-etcd-server-dev golang-github-gogo-protobuf-dev \
	curl iproute2 libssl-dev openssl chromium clang \
	etcd-server etcd-client python3-etcd3
# npm fetches the dashboard's uPlot at build time (src/api/dashboard); any
# npm on the PATH will do (Debian's package only if there is none).
NPM_INSTALL := command -v npm >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends npm

CMAKE_FLAGS := -G Ninja
ifeq ($(CI),true)
CMAKE_FLAGS += -DDKV_WERROR=ON -DDKV_LINE_TABLES_ONLY=ON
endif

.PHONY: all deps check-deps build build-asan tsan test unit-asan cluster install proto-gen proto-clean clean format sim sim-node chaos bench compare-etcd compare-deps bench-storage

all: build

# Cheap check: dpkg-query only; apt-get runs only when something is missing.
check-deps:
	@missing=$$(for p in $(DEPS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then echo "missing packages:" $$missing; $(MAKE) --no-print-directory deps; fi
	@command -v npm >/dev/null || $(MAKE) --no-print-directory deps

deps:
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(DEPS)
	$(NPM_INSTALL)

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: check-deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

$(ASAN_BUILD)/build.ninja:
	cmake -S . -B $(ASAN_BUILD) $(CMAKE_FLAGS) -DCMAKE_BUILD_TYPE=Debug -DDKV_SANITIZE=ON -DDKV_UNIT_ONLY=ON

# Unit tests under AddressSanitizer + UndefinedBehaviorSanitizer.
build-asan: check-deps $(ASAN_BUILD)/build.ninja
	cmake --build $(ASAN_BUILD) -j $(JOBS) --target unit-tests

$(TSAN_BUILD)/build.ninja:
	cmake -S . -B $(TSAN_BUILD) $(CMAKE_FLAGS) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDKV_TSAN=ON -DDKV_LINE_TABLES_ONLY=ON

# ThreadSanitizer over the unit tests and the transport tests (real gRPC on
# loopback), in its own tree. Not part of `make test` (slow: gRPC under TSan).
# tests/tsan.supp names the uninstrumented libraries; a report in src/ fails.
tsan: check-deps $(TSAN_BUILD)/build.ninja
	cmake --build $(TSAN_BUILD) -j $(JOBS) --target unit-tests transport_test
	cd $(TSAN_BUILD) && TSAN_OPTIONS="suppressions=$(CURDIR)/tests/tsan.supp halt_on_error=1 second_deadlock_stack=1" \
		ctest -L 'unit|transport' --output-on-failure -j $(JOBS)

# Everything but the unit tests on the optimized build (process, fault and
# transport tests one at a time, RESOURCE_LOCK loopback; the lint and the
# simulator beside them at nice 19), while the sanitizer build and its unit
# tests run behind them at nice 19 (scripts/run_tests.sh). Ends with ctest's
# summary.
test: build
	scripts/run_tests.sh $(BUILD) $(ASAN_BUILD) $(JOBS) "$(MAKE)"

# The unit tests under the sanitizers alone.
unit-asan: build-asan
	cd $(ASAN_BUILD) && ctest -L unit --output-on-failure -j $(JOBS)

# Run a local dkv (3 nodes once replication exists) in the foreground.
cluster: build
	./scripts/cluster.sh $(BUILD)/dkv $(CLUSTER_DIR) $(TLS)

# The installed dkv comes from its own tree, built without the test-only
# hooks (DKV_TEST_HOOKS=OFF: no WAL failpoints, no canary switches); ./build
# keeps them for `make test`.
$(RELEASE_BUILD)/build.ninja:
	cmake -S . -B $(RELEASE_BUILD) $(CMAKE_FLAGS) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDKV_TEST_HOOKS=OFF

install: check-deps $(RELEASE_BUILD)/build.ninja
	cmake --build $(RELEASE_BUILD) -j $(JOBS) --target dkv dkvctl
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(RELEASE_BUILD)/dkv $(RELEASE_BUILD)/dkvctl $(DESTDIR)$(PREFIX)/bin/

proto-gen: $(BUILD)/build.ninja
	cmake --build $(BUILD) --target proto-gen

proto-clean:
	rm -rf $(BUILD)/gen $(ASAN_BUILD)/gen

# Deterministic simulation of the raft core over many seeds, with a progress
# line: `make sim SEEDS=10000 [SIM_START=N] [SIM_CANARY=name]`. A failure prints
# its seed and the one-line command that replays it with a trace.
SEEDS ?= 1000
SIM_START ?= 0
SIM_CANARY ?=
sim: check-deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS) --target raft_sim
	$(BUILD)/tests/sim/raft_sim --start=$(SIM_START) --seeds=$(SEEDS) $(if $(SIM_CANARY),--canary=$(SIM_CANARY))

# Deterministic simulation of whole nodes (tests/sim/node_sim.h): real node
# stacks in one thread, simulated time and network, crashes, snapshots;
# histories checked for linearizability. `make sim-node SEEDS=N
# [SIM_START=N] [CANARY=name]`: with a canary, it stops at the first seed that
# catches it, prints that seed and exits non-zero.
CANARY ?=
sim-node: check-deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS) --target node_sim
	$(BUILD)/tests/sim/node_sim --start=$(SIM_START) --seeds=$(SEEDS) $(if $(CANARY),--canary=$(CANARY))

# A short benchmark of a fresh local 3-node cluster (loopback, temp dir,
# ports from BENCH_PORT_BASE=27070): dkv-bench puts at 1/16/64/256 clients
# over REST and gRPC, linearizable gets at 16/64 clients; prints a table and
# stops the cluster. BENCH_DURATION per run; about 15 runs in all.
BENCH_DURATION ?= 5s
bench: build
	./tests/bench/run_bench.sh $(BUILD) $(BENCH_DURATION)

# dkv against etcd on this machine (bench/compare-etcd): a 3-node etcd and a
# 3-node dkv at once, on loopback, loaded in turn with one dkv-bench workload
# (puts and linearizable gets, 256-byte values, 1/16/64/256 clients, REST and
# gRPC), each point the median of REPEATS runs of DURATION, each repeat's two
# runs back to back. Table on the terminal and in
# bench/results/compare-etcd-<date>.md, plot in the .png beside it. About 10
# minutes with the defaults. COMPARE_DEPS are installed only for this target.
# TLS=1: both clusters with peer mutual TLS between members (clients plain).
COMPARE_DEPS := etcd-server gnuplot-nox python3 curl nghttp2-client
DURATION ?= 2s
REPEATS ?= 3
compare-deps:
	@missing=$$(for p in $(COMPARE_DEPS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then echo "installing:" $$missing; apt-get update && \
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; fi

compare-etcd: build compare-deps
	DURATION=$(DURATION) REPEATS=$(REPEATS) PEER_TLS=$(filter 1,$(TLS)) ./bench/compare-etcd $(BUILD)

# Google Benchmarks of the storage path on this machine's disk (under /tmp,
# cleaned up): WAL recovery of a BENCH_MIB log, warm and cold page cache (cold
# needs root), then a background snapshot and an install of a BENCH_MIB store.
BENCH_MIB ?= 1024
bench-storage: check-deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS) --target wal_bench snapshot_bench
	DKV_BENCH_RECOVER_MIB=$(BENCH_MIB) $(BUILD)/tests/wal/wal_bench --benchmark_filter=BM_Recover
	DKV_BENCH_SNAPSHOT_MIB=$(BENCH_MIB) $(BUILD)/tests/node/snapshot_bench

# Fault runs of real dkv clusters (kill -9, pause, full restarts; network
# partitions with FAULTS=partition-halves,partition-leader,... as root;
# membership changes with FAULTS=member-replace,member-move-leader)
# checked for linearizability, longer than the ones in `make test`:
# `make chaos [SECONDS=60] [RUNS=3] [SEED=N] [NODES=3] [FAULTS=kill-leader,...] [AT_ONCE=1] [TLS=1]
#   [WORKLOAD=cas-counter|watch|lease]` (FAULTS=membership or partitions: the mixes of
# tests/fault/README.md; TLS=1: members talk peer mutual TLS; WORKLOAD=cas-counter:
# clients increment one counter with etcd Txns; watch: etcd watchers resuming across members;
# lease: etcd leases kept alive and expiring; tests/fault/README.md)
# (run i uses SEED+i; no SEED: a random one, printed first). Progress lines,
# then a summary table; a failed run names its report folder (offending ops,
# timeline.html, node logs). See tests/fault/README.md.
SECONDS ?= 60
RUNS ?= 3
SEED ?=
NODES ?= 3
FAULTS ?=
AT_ONCE ?= 1
WORKLOAD ?=
chaos: check-deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS) --target dkv fault_runner
	$(BUILD)/tests/fault/fault_runner --seconds=$(SECONDS) --runs=$(RUNS) --nodes=$(NODES) --at-once=$(AT_ONCE) \
		$(if $(SEED),--seed=$(SEED)) $(if $(FAULTS),--faults=$(FAULTS)) $(if $(filter 1,$(TLS)),--peer-tls) \
		$(if $(WORKLOAD),--workload=$(WORKLOAD))

format:
	git ls-files '*.cc' '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(RELEASE_BUILD)
