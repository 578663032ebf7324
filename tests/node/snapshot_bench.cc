// Google Benchmark of the node's snapshot files on the real file system (a
// temporary directory under $DKV_BENCH_DIR, default /tmp), with a store of
// DKV_BENCH_SNAPSHOT_MIB MiB (default 256; 1024 for the 1 GiB numbers) of
// 1 KiB values:
//   BM_SnapshotWrite    a background snapshot: pin an LMDB read view, stream
//                       the image into a snapshot file (temp, fdatasync,
//                       rename, fsync dir), as Node::maybe_snapshot does;
//   BM_SnapshotInstall  install: open the file, verify each chunk and
//                       restore a fresh store from it, streaming, as
//                       Node::install_snapshot does.
// DKV_BENCH_DROP_CACHES=1 (root only) drops the page cache before each
// iteration (cold). Counters: MiB/s, and for install the growth of the
// process's peak RSS, which stays far below the image size (nothing holds
// it whole; LMDB's dirty pages are bounded by Store::kRestoreTxnBytes).
// Not a test: no assertions on speed.
#include <benchmark/benchmark.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "kv/store.h"
#include "node/snapshots.h"

namespace dkv::node {
namespace {

void check(const util::Status& s) {
  if (!s.is_ok()) {
    std::fprintf(stderr, "snapshot_bench: %s\n", s.to_string().c_str());
    std::abort();
  }
}

std::uint64_t env_u64(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::strtoull(v, nullptr, 10) : fallback;
}

std::uint64_t peak_rss_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      std::istringstream fields(line.substr(6));
      std::uint64_t kib = 0;
      fields >> kib;
      return kib << 10;
    }
  }
  return 0;
}

void maybe_drop_caches(benchmark::State& state) {
  if (env_u64("DKV_BENCH_DROP_CACHES", 0) == 0) return;
  state.PauseTiming();
  ::sync();
  std::ofstream("/proc/sys/vm/drop_caches") << "3\n";
  state.ResumeTiming();
}

std::unique_ptr<kv::Store> open_store(const std::string& dir) {
  kv::StoreOptions o;
  o.dir = dir;
  o.quota_bytes = 8ull << 30;
  o.durability = kv::StoreOptions::Durability::kDeferred;  // As the node runs it.
  std::unique_ptr<kv::Store> store;
  check(kv::Store::open(o, &store));
  return store;
}

// One store of DKV_BENCH_SNAPSHOT_MIB MiB and its snapshot file, made once.
struct Fixture {
  std::string root;
  std::string db_path;  // Holds kv/ and snap/.
  std::unique_ptr<kv::Store> store;
  wal::SnapshotMarker marker;
  std::uint64_t image_bytes = 0;

  Fixture() {
    const char* base = std::getenv("DKV_BENCH_DIR");
    std::string tmpl = std::string(base != nullptr ? base : "/tmp") + "/dkv-snap-bench-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    root = tmpl;
    db_path = root + "/a.db";
    store = open_store(db_path + "/kv");
    check(store->set_membership("a@127.0.0.1:1", 0));
    const std::uint64_t mib = env_u64("DKV_BENCH_SNAPSHOT_MIB", 256);
    const std::uint64_t pairs = (mib << 20) / 1024;
    std::vector<kv::Command> batch;
    std::vector<kv::ApplyResult> results;
    std::uint64_t index = 0;
    for (std::uint64_t i = 0; i < pairs; ++i) {
      char key[32];
      std::snprintf(key, sizeof key, "key%012llu", static_cast<unsigned long long>(i));
      batch.push_back({kv::Op::kPut, key, std::string(1024, static_cast<char>('a' + i % 26))});
      if (batch.size() == 8192 || i + 1 == pairs) {
        check(store->apply(batch, ++index, &results));
        batch.clear();
      }
    }
    marker = {index, 1};
  }
  ~Fixture() { std::filesystem::remove_all(root); }

  void write_snapshot() {
    std::unique_ptr<kv::Store::ReadView> view;
    check(store->open_view(&view));
    check(write_snapshot_file(wal::posix_file_system(), db_path, marker, "a@127.0.0.1:1", *store,
                              *view, &image_bytes));
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

void BM_SnapshotWrite(benchmark::State& state) {
  Fixture& f = fixture();
  for (auto _ : state) {
    maybe_drop_caches(state);
    f.write_snapshot();
  }
  state.counters["image_MiB"] = static_cast<double>(f.image_bytes >> 20);
  state.counters["MiB_per_s"] = benchmark::Counter(
      static_cast<double>(f.image_bytes >> 20) * static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate);
  // No RSS counter here: reading LMDB maps its pages (file-backed RSS).
}
BENCHMARK(BM_SnapshotWrite)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(2);

void BM_SnapshotInstall(benchmark::State& state) {
  Fixture& f = fixture();
  if (f.image_bytes == 0) f.write_snapshot();
  const std::string target = f.root + "/installed";
  const std::uint64_t rss_before = peak_rss_bytes();
  for (auto _ : state) {
    state.PauseTiming();
    std::filesystem::remove_all(target);
    auto store = open_store(target);
    state.ResumeTiming();
    maybe_drop_caches(state);
    std::unique_ptr<wal::SnapshotReader> reader;
    check(open_snapshot_file(wal::posix_file_system(), f.db_path, f.marker, &reader));
    check(restore_store(*store, *reader));
  }
  std::filesystem::remove_all(target);
  state.counters["image_MiB"] = static_cast<double>(f.image_bytes >> 20);
  state.counters["MiB_per_s"] = benchmark::Counter(
      static_cast<double>(f.image_bytes >> 20) * static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate);
  state.counters["peak_rss_growth_MiB"] =
      static_cast<double>((peak_rss_bytes() - rss_before) >> 20);
}
BENCHMARK(BM_SnapshotInstall)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(2);

}  // namespace
}  // namespace dkv::node

BENCHMARK_MAIN();
