// Where the MVCC engine keeps values: in both kv and hist (the layout
// chosen, kv/mvcc_format.h) or only in hist (kv holding the header and the
// revision of the latest version). Both are written here on raw LMDB with
// the same code shape as kv/mvcc_write.cc: batches of 64 puts of 256-byte
// values over 100,000 keys per write transaction (an applied batch), and
// point reads in their own read transaction (Store::get). Not a test: run
// `build/tests/kv/mvcc_layout_bench` (numbers in docs/performance.md).
#include <benchmark/benchmark.h>
#include <lmdb.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>

#include "kv/mvcc_format.h"

namespace dkv::kv::mvcc {
namespace {

constexpr int kKeys = 100000;
constexpr int kBatch = 64;
constexpr std::size_t kValueBytes = 256;

struct Env {
  MDB_env* env = nullptr;
  Tables t;
  std::string dir;
  std::int64_t rev = 1;

  Env() {
    dir = (std::filesystem::temp_directory_path() /
           ("mvcc_layout_bench_" + std::to_string(::getpid())))
              .string();
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    mdb_env_create(&env);
    mdb_env_set_mapsize(env, 4ull << 30);
    mdb_env_set_maxdbs(env, 4);
    mdb_env_open(env, dir.c_str(), MDB_NOTLS | MDB_NORDAHEAD | MDB_WRITEMAP | MDB_NOSYNC, 0644);
    MDB_txn* txn = nullptr;
    mdb_txn_begin(env, nullptr, 0, &txn);
    mdb_dbi_open(txn, "kv", MDB_CREATE, &t.kv);
    mdb_dbi_open(txn, "hist", MDB_CREATE, &t.hist);
    mdb_txn_commit(txn);
  }
  ~Env() {
    mdb_env_close(env);
    std::filesystem::remove_all(dir);
  }
};

std::string key_of(int i) { return "key/" + std::to_string(i); }

void put(MDB_txn* txn, MDB_dbi dbi, std::string_view k, std::string_view v, unsigned flags = 0) {
  MDB_val key = as_val(k);
  MDB_val val = as_val(v);
  mdb_put(txn, dbi, &key, &val, flags);
}

// The store before the MVCC engine: a bare value per key, nothing else.
void apply_batch_format1(Env& e, std::mt19937& rng, const std::string& value) {
  MDB_txn* txn = nullptr;
  mdb_txn_begin(e.env, nullptr, 0, &txn);
  for (int i = 0; i < kBatch; ++i) put(txn, e.t.kv, key_of(static_cast<int>(rng() % kKeys)), value);
  mdb_txn_commit(txn);
}

// One applied batch of puts; `values_in_kv` picks the layout.
void apply_batch(Env& e, std::mt19937& rng, bool values_in_kv, const std::string& value) {
  MDB_txn* txn = nullptr;
  mdb_txn_begin(e.env, nullptr, 0, &txn);
  for (int i = 0; i < kBatch; ++i) {
    const std::string k = key_of(static_cast<int>(rng() % kKeys));
    const Revision rev{++e.rev, 0};
    KeyHeader h{rev.main, rev.main, 1, 0};
    MDB_val key = as_val(k);
    MDB_val old;
    std::int64_t prev = 0;  // The hist record's link (format 3).
    if (mdb_get(txn, e.t.kv, &key, &old) == 0) {
      std::string_view v;
      decode_kv_value(as_view(old), &h, &v);
      prev = h.mod_revision;
      h.mod_revision = rev.main;
      h.version += 1;
    }
    put(txn, e.t.kv, k, encode_kv_value(h, values_in_kv ? value : encode_rev_key(rev)));
    put(txn, e.t.hist, encode_rev_key(rev), encode_hist_record(EventType::kPut, k, h, value, prev),
        MDB_APPEND);
  }
  mdb_txn_commit(txn);
}

// A point read of the latest value, in its own read transaction.
std::size_t get(Env& e, const std::string& k, bool values_in_kv) {
  MDB_txn* txn = nullptr;
  mdb_txn_begin(e.env, nullptr, MDB_RDONLY, &txn);
  MDB_val key = as_val(k);
  MDB_val val;
  std::size_t n = 0;
  if (mdb_get(txn, e.t.kv, &key, &val) == 0) {
    KeyHeader h;
    std::string_view v;
    decode_kv_value(as_view(val), &h, &v);
    if (values_in_kv) {
      n = v.size();
    } else {
      MDB_val hk = as_val(v);  // The revision of the latest version.
      MDB_val hv;
      HistRecord rec;
      if (mdb_get(txn, e.t.hist, &hk, &hv) == 0 && decode_hist_record(as_view(hv), &rec)) {
        n = rec.value.size();
      }
    }
  }
  mdb_txn_abort(txn);
  return n;
}

// Arg 1: values in kv and hist; 0: only in hist; 2: format 1 (no MVCC).
void BM_PutBatch(benchmark::State& state) {
  const bool values_in_kv = state.range(0) == 1;
  Env e;
  std::mt19937 rng(1);
  const std::string value(kValueBytes, 'v');
  for (auto _ : state) {
    if (state.range(0) == 2) {
      apply_batch_format1(e, rng, value);
    } else {
      apply_batch(e, rng, values_in_kv, value);
    }
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.SetLabel(state.range(0) == 2 ? "format 1 (no MVCC)"
                 : values_in_kv      ? "values in kv and hist"
                                     : "values only in hist");
}

void BM_Get(benchmark::State& state) {
  const bool values_in_kv = state.range(0) == 1;
  Env e;
  std::mt19937 rng(1);
  const std::string value(kValueBytes, 'v');
  for (int i = 0; i < 2 * kKeys / kBatch; ++i) apply_batch(e, rng, values_in_kv, value);
  std::size_t bytes = 0;
  for (auto _ : state) bytes += get(e, key_of(static_cast<int>(rng() % kKeys)), values_in_kv);
  benchmark::DoNotOptimize(bytes);
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(values_in_kv ? "values in kv and hist" : "values only in hist");
}

BENCHMARK(BM_PutBatch)->Arg(1)->Arg(0)->Arg(2);
BENCHMARK(BM_Get)->Arg(1)->Arg(0);

}  // namespace
}  // namespace dkv::kv::mvcc

BENCHMARK_MAIN();
