// The MVCC engine's write cost through kv::Store, in CPU time rather than
// throughput, so that it means something on a machine shared with other
// work: batches of /v0 puts of 256-byte values over a keyspace are applied
// as the node applies them (one Store::apply per batch, then the physical
// compaction steps the node runs between Readies, with a compaction to
// current - 1000 every 16 batches), and the process's user
// and system CPU (getrusage; the benchmark is single-threaded) is divided
// by the puts. A second pass with an fsync per commit counts the bytes the
// kernel wrote for the data file (/proc/self/io write_bytes), i.e. the LMDB
// pages each batch dirtied. Not a test: run
//   build/tests/kv/mvcc_apply_bench [keys] [batch] [batches]
// (numbers in docs/performance.md).
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "kv/mvcc_request.h"
#include "kv/store.h"

namespace dkv::kv {
namespace {

double cpu_seconds(double* user, double* sys) {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  *user = static_cast<double>(ru.ru_utime.tv_sec) + ru.ru_utime.tv_usec / 1e6;
  *sys = static_cast<double>(ru.ru_stime.tv_sec) + ru.ru_stime.tv_usec / 1e6;
  return *user + *sys;
}

std::uint64_t write_bytes() {
  std::ifstream io("/proc/self/io");
  std::string name;
  std::uint64_t v = 0;
  while (io >> name >> v) {
    if (name == "write_bytes:") return v;
  }
  return 0;
}

struct Params {
  int keys = 100000;
  int batch = 64;
  int batches = 2000;
  std::size_t value_bytes = 256;
  std::int64_t retention = 1000;
  int compact_every = 16;
};

struct Result {
  double user_us_per_put = 0;
  double sys_us_per_put = 0;
  double wall_us_per_put = 0;
  double pages_per_batch = 0;
  std::uint64_t hist_records = 0;
};

// Fills every key once, then applies `batches` batches of random puts and
// measures them.
bool run(const Params& p, StoreOptions::Durability durability, Result* out) {
  const std::string dir =
      (std::filesystem::temp_directory_path() / ("mvcc_apply_bench_" + std::to_string(::getpid())))
          .string();
  std::filesystem::remove_all(dir);
  StoreOptions options;
  options.dir = dir;
  options.durability = durability;
  options.boot_id = "bench";
  std::unique_ptr<Store> store;
  if (auto s = Store::open(options, &store); !s.is_ok()) {
    std::fprintf(stderr, "open: %s\n", s.to_string().c_str());
    return false;
  }
  const std::string value(p.value_bytes, 'v');
  std::vector<Command> batch(static_cast<std::size_t>(p.batch));
  std::vector<ApplyResult> results;
  std::uint64_t index = 0;
  int batches_applied = 0;
  auto apply = [&](const auto& key_of) {
    batch.resize(static_cast<std::size_t>(p.batch));
    for (int i = 0; i < p.batch; ++i) batch[i] = Command{Op::kPut, key_of(i), value};
    // Auto-compaction by revision, retention p.retention: the node proposes
    // it once a second, here once per compact_every batches (1,024 puts).
    if (++batches_applied % p.compact_every == 0 &&
        store->current_revision() - p.retention > store->compact_revision()) {
      etcdserverpb::CompactionRequest c;
      c.set_revision(store->current_revision() - p.retention);
      batch.push_back(etcd_command(c));
    }
    if (auto s = store->apply(batch, ++index, &results); !s.is_ok()) {
      std::fprintf(stderr, "apply: %s\n", s.to_string().c_str());
      return false;
    }
    for (bool more = true; more;) {
      if (auto s = store->compact_step(&more); !s.is_ok()) return false;
    }
    return true;
  };
  int next = 0;
  while (next < p.keys) {
    if (!apply([&](int) { return "key/" + std::to_string(next++ % p.keys); })) return false;
  }
  std::mt19937 rng(1);
  double user0 = 0, sys0 = 0, user1 = 0, sys1 = 0;
  cpu_seconds(&user0, &sys0);
  const std::uint64_t written0 = write_bytes();
  const auto wall0 = std::chrono::steady_clock::now();
  for (int b = 0; b < p.batches; ++b) {
    if (!apply([&](int) { return "key/" + std::to_string(rng() % p.keys); })) return false;
  }
  const auto wall1 = std::chrono::steady_clock::now();
  cpu_seconds(&user1, &sys1);
  const double puts = static_cast<double>(p.batches) * p.batch;
  out->user_us_per_put = (user1 - user0) * 1e6 / puts;
  out->sys_us_per_put = (sys1 - sys0) * 1e6 / puts;
  out->wall_us_per_put = std::chrono::duration<double, std::micro>(wall1 - wall0).count() / puts;
  out->pages_per_batch = static_cast<double>(write_bytes() - written0) / 4096.0 / p.batches;
  std::uint64_t chained = 0;
  (void)store->history_size(&out->hist_records, &chained);
  store.reset();
  std::filesystem::remove_all(dir);
  return true;
}

}  // namespace
}  // namespace dkv::kv

int main(int argc, char** argv) {
  dkv::kv::Params p;
  if (argc > 1) p.keys = std::stoi(argv[1]);
  if (argc > 2) p.batch = std::stoi(argv[2]);
  if (argc > 3) p.batches = std::stoi(argv[3]);
  using D = dkv::kv::StoreOptions::Durability;
  dkv::kv::Result deferred;
  dkv::kv::Result synced;
  if (!dkv::kv::run(p, D::kDeferred, &deferred)) return 1;
  dkv::kv::Params ps = p;
  ps.batches = std::max(1, p.batches / 4);
  if (!dkv::kv::run(ps, D::kSyncEachCommit, &synced)) return 1;
  std::printf(
      "keys %d, batch %d, batches %d, value %zu B: CPU per put %.2f us (user %.2f, sys %.2f), "
      "wall per put %.2f us, hist records at the end %llu; fsync per commit: %.1f pages "
      "written per batch\n",
      p.keys, p.batch, p.batches, p.value_bytes, deferred.user_us_per_put + deferred.sys_us_per_put,
      deferred.user_us_per_put, deferred.sys_us_per_put, deferred.wall_us_per_put,
      static_cast<unsigned long long>(deferred.hist_records), synced.pages_per_batch);
  return 0;
}
