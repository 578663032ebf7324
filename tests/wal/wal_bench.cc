// Google Benchmark of the WAL on the real file system (a temporary directory
// under $DKV_BENCH_DIR, default /tmp): save()+sync() per Ready with 1, 16 and
// 256 entries of 256 bytes, against a bare pwrite+fdatasync loop on the same
// disk; recovery time of a larger log; snapshot file write and read
// throughput; CRC32C throughput. Not a test: no
// assertions on speed.
//   ./wal_bench [--benchmark_filter=...]   DKV_BENCH_RECOVER_MIB=1024 for 1 GiB.
// BM_Recover/cold:1 drops the page cache before each open (root only).
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "util/crc32c.h"
#include "wal/log.h"
#include "wal/snapshot_file.h"

namespace dkv::wal {
namespace {

constexpr std::size_t kEntryBytes = 256;

std::string make_temp_dir() {
  const char* base = std::getenv("DKV_BENCH_DIR");
  std::string tmpl = std::string(base != nullptr ? base : "/tmp") + "/dkv-wal-bench-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    std::perror("mkdtemp");
    std::abort();
  }
  return tmpl;
}

std::vector<raft::Entry> batch(raft::Index first, std::size_t count) {
  std::vector<raft::Entry> out(count);
  for (std::size_t i = 0; i < count; ++i) {
    out[i].index = first + i;
    out[i].term = 1;
    out[i].data.assign(kEntryBytes, static_cast<char>('a' + (first + i) % 26));
  }
  return out;
}

void check(const util::Status& s) {
  if (!s.is_ok()) {
    std::fprintf(stderr, "wal_bench: %s\n", s.to_string().c_str());
    std::abort();
  }
}

// One Ready: hard state + N entries, one write, one fdatasync.
void BM_SaveSync(benchmark::State& state) {
  const auto per_batch = static_cast<std::size_t>(state.range(0));
  const std::string dir = make_temp_dir();
  std::unique_ptr<Log> log;
  Recovered rec;
  check(
      Log::open(dir, Options{"bench", "a", format::kSegmentSizeBytesDefault, nullptr}, &log, &rec));
  raft::Index next = 1;
  raft::HardState hs{1, 1, 0};
  std::vector<std::vector<raft::Entry>> batches;
  for (int i = 0; i < 64; ++i) batches.push_back(batch(1, per_batch));
  std::size_t b = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto& es = batches[b++ % batches.size()];
    for (std::size_t i = 0; i < es.size(); ++i) es[i].index = next + i;
    state.ResumeTiming();
    hs.commit = next - 1;
    check(log->save(&hs, es));
    check(log->sync());
    next += per_batch;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * per_batch));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * per_batch * kEntryBytes));
  state.counters["fsyncs_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["segments"] = static_cast<double>(log->segments().size());
  log.reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_SaveSync)->ArgName("entries")->Arg(1)->Arg(16)->Arg(256)->UseRealTime()->MinTime(3.0);

// The floor: append N*256 bytes to a preallocated file and fdatasync().
// range(1) == 1: the file was filled with zeros by write() first instead of
// posix_fallocate(), so no extent changes from unwritten to written on the
// way (what a WAL that zero-fills its segments would see).
void BM_BareFdatasync(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0)) * kEntryBytes;
  const std::string dir = make_temp_dir();
  const std::string path = dir + "/bare";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  const off_t file_bytes = 64 << 20;
  if (fd < 0 || ::posix_fallocate(fd, 0, file_bytes) != 0) std::abort();
  if (state.range(1) == 1) {
    const std::string zeros(1 << 20, '\0');
    for (off_t off = 0; off < file_bytes; off += static_cast<off_t>(zeros.size())) {
      if (::pwrite(fd, zeros.data(), zeros.size(), off) != static_cast<ssize_t>(zeros.size())) {
        std::abort();
      }
    }
    if (::fsync(fd) != 0) std::abort();
  }
  const std::string buf(bytes, 'x');
  off_t off = 0;
  for (auto _ : state) {
    if (off + static_cast<off_t>(bytes) > file_bytes) off = 0;
    if (::pwrite(fd, buf.data(), buf.size(), off) != static_cast<ssize_t>(buf.size())) std::abort();
    if (::fdatasync(fd) != 0) std::abort();
    off += static_cast<off_t>(bytes);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * state.range(0)));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
  state.counters["fsyncs_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  ::close(fd);
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_BareFdatasync)
    ->ArgsProduct({{1, 16, 256}, {0, 1}})
    ->ArgNames({"entries", "zero_filled"})
    ->UseRealTime()
    ->MinTime(3.0);

// A log of DKV_BENCH_RECOVER_MIB MiB (default 256) of 256-byte entries,
// written once and shared by the recovery benchmarks.
struct RecoverFixture {
  std::string dir;
  std::uint64_t mib = 0;
  const Options options{"bench", "a", format::kSegmentSizeBytesDefault, nullptr};

  RecoverFixture() {
    const char* mib_env = std::getenv("DKV_BENCH_RECOVER_MIB");
    mib = mib_env != nullptr ? std::strtoull(mib_env, nullptr, 10) : 256;
    dir = make_temp_dir();
    std::unique_ptr<Log> log;
    Recovered rec;
    check(Log::open(dir, options, &log, &rec));
    const std::uint64_t entries = (mib << 20) / kEntryBytes;
    auto es = batch(1, 1024);
    for (raft::Index next = 1; next <= entries; next += es.size()) {
      for (std::size_t i = 0; i < es.size(); ++i) es[i].index = next + i;
      check(log->save(nullptr, es));
    }
    check(log->sync());
  }
  ~RecoverFixture() { std::filesystem::remove_all(dir); }
};

RecoverFixture& recover_fixture() {
  static RecoverFixture f;
  return f;
}

// open() of that log: read, verify every CRC, rebuild. range(0) == 1: cold,
// the page cache dropped before each iteration (needs root).
void BM_Recover(benchmark::State& state) {
  const bool cold = state.range(0) == 1;
  if (cold && ::geteuid() != 0) {
    state.SkipWithError("cold needs root (echo 3 > /proc/sys/vm/drop_caches)");
    return;
  }
  RecoverFixture& f = recover_fixture();
  std::size_t recovered = 0;
  for (auto _ : state) {
    if (cold) {
      state.PauseTiming();
      ::sync();
      std::FILE* drop = std::fopen("/proc/sys/vm/drop_caches", "w");
      if (drop == nullptr || std::fputs("3\n", drop) < 0 || std::fclose(drop) != 0) {
        state.SkipWithError("cannot write /proc/sys/vm/drop_caches");
        break;
      }
      state.ResumeTiming();
    }
    std::unique_ptr<Log> log;
    Recovered rec;
    check(Log::open(f.dir, f.options, &log, &rec));
    recovered = rec.entries.size();
    benchmark::DoNotOptimize(rec.entries.data());
  }
  state.counters["entries"] = static_cast<double>(recovered);
  state.counters["log_MiB"] = static_cast<double>(f.mib);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * (f.mib << 20)));
}
BENCHMARK(BM_Recover)
    ->ArgName("cold")
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(3);

// Writing (append + finish: fdatasync, rename, fsync dir) and reading back
// (every chunk verified) a snapshot file of range(0) MiB, in 64 KiB pieces.
void BM_SnapshotWriteRead(benchmark::State& state) {
  const std::uint64_t bytes = static_cast<std::uint64_t>(state.range(0)) << 20;
  const std::string dir = make_temp_dir();
  const std::string piece(64 << 10, 's');
  double write_s = 0;
  double read_s = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    std::unique_ptr<SnapshotWriter> w;
    check(SnapshotWriter::create(posix_file_system(), dir, {{1000, 3}, "members"}, &w));
    for (std::uint64_t done = 0; done < bytes; done += piece.size()) check(w->append(piece));
    check(w->finish());
    const auto t1 = std::chrono::steady_clock::now();
    std::unique_ptr<SnapshotReader> r;
    check(SnapshotReader::open(posix_file_system(), w->path(), &r));
    std::string chunk;
    bool done = false;
    std::uint64_t got = 0;
    while (!done) {
      check(r->next(&chunk, &done));
      got += chunk.size();
    }
    if (got != bytes) std::abort();
    const auto t2 = std::chrono::steady_clock::now();
    write_s += std::chrono::duration<double>(t1 - t0).count();
    read_s += std::chrono::duration<double>(t2 - t1).count();
  }
  const double mib = static_cast<double>(bytes >> 20) * static_cast<double>(state.iterations());
  state.counters["write_MiB_per_s"] = mib / write_s;
  state.counters["read_MiB_per_s"] = mib / read_s;
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_SnapshotWriteRead)
    ->Arg(256)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(2);

void BM_Crc32c(benchmark::State& state) {
  const std::string buf(static_cast<std::size_t>(state.range(1)), 'x');
  const bool hw = state.range(0) == 1;
  if (hw && !util::crc32c::hardware_available()) {
    state.SkipWithError("no SSE4.2");
    return;
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(hw ? util::crc32c::extend_hardware(0, buf.data(), buf.size())
                                : util::crc32c::extend_portable(0, buf.data(), buf.size()));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * buf.size()));
  state.SetLabel(hw ? "sse4.2" : "portable");
}
BENCHMARK(BM_Crc32c)->Args({0, 4096})->Args({1, 4096});

}  // namespace
}  // namespace dkv::wal

BENCHMARK_MAIN();
