// Format 3's history chains (kv/mvcc_format.h): reads at a revision that
// see deleted keys, re-puts after deletes, compaction along a chain, the
// migration of a format-2 store, and a randomized check of every revision
// against what the latest state was at that revision.
#include <gtest/gtest.h>
#include <lmdb.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <vector>

#include "kv/mvcc_format.h"
#include "kv/mvcc_relink.h"
#include "kv/mvcc_request.h"
#include "mvcc_fixture.h"

namespace dkv::kv {
namespace {

using Mvcc = MvccFixture;

void compact_fully(Store& store, std::size_t step = 1000) {
  bool more = true;
  while (more) ASSERT_TRUE(store.compact_step(&more, step).is_ok());
}

// Every key's full state (header and value) as one string, for equality.
std::string state_of(const etcdserverpb::RangeResponse& resp) {
  std::string out;
  for (const auto& kv : resp.kvs()) {
    out += kv.key() + "=" + kv.value() + "@" + std::to_string(kv.create_revision()) + "/" +
           std::to_string(kv.mod_revision()) + "/" + std::to_string(kv.version()) + "/" +
           std::to_string(kv.lease()) + ";";
  }
  return out + "count=" + std::to_string(resp.count());
}

TEST_F(Mvcc, RangeAtAnOldRevisionIncludesDeletedKeys) {
  put("a", "1");  // 2
  put("b", "1");  // 3
  put("c", "1");  // 4
  del("b");       // 5
  put("d", "1");  // 6
  del("a", "c");  // 7: a (b is gone already)
  EXPECT_EQ(keys(range(req(kNul, kNul))), "c,d");
  EXPECT_EQ(keys(range(req(kNul, kNul, 4))), "a,b,c");
  EXPECT_EQ(range(req(kNul, kNul, 4)).count(), 3);
  EXPECT_EQ(keys(range(req(kNul, kNul, 5))), "a,c");
  EXPECT_EQ(keys(range(req(kNul, kNul, 6))), "a,c,d");
  EXPECT_EQ(keys(range(req("b", "", 4))), "b");
  EXPECT_EQ(keys(range(req("b", "", 5))), "");
  EXPECT_EQ(keys(range(req("a", "c", 3))), "a,b");
  EXPECT_EQ(range(req("a", "", 6)).kvs(0).mod_revision(), 2);
  hist_records(*store_);
}

TEST_F(Mvcc, ReputAfterDeleteStartsANewGenerationChainedToTheOld) {
  put("k", "1");  // 2
  put("k", "2");  // 3
  del("k");       // 4
  put("k", "3");  // 5
  del("k");       // 6
  del("k");       // no-op: revision stays 6
  put("k", "4");  // 7
  const auto now = range(req("k"));
  ASSERT_EQ(now.kvs_size(), 1);
  EXPECT_EQ(now.kvs(0).create_revision(), 7);
  EXPECT_EQ(now.kvs(0).version(), 1);
  EXPECT_EQ(values(range(req("k", "", 3))), "2");
  EXPECT_EQ(range(req("k", "", 3)).kvs(0).version(), 2);
  EXPECT_EQ(values(range(req("k", "", 4))), "");
  EXPECT_EQ(values(range(req("k", "", 5))), "3");
  EXPECT_EQ(range(req("k", "", 5)).kvs(0).create_revision(), 5);
  EXPECT_EQ(values(range(req("k", "", 6))), "");
  EXPECT_EQ(values(range(req("k", "", 2))), "1");
  EXPECT_EQ(hist_records(*store_), 6u);
}

TEST_F(Mvcc, CompactionThroughAChainKeepsEveryReadableRevision) {
  put("k", "1");  // 2
  put("x", "1");  // 3
  put("k", "2");  // 4
  del("k");       // 5
  del("x");       // 6
  put("k", "3");  // 7
  put("k", "4");  // 8
  put("y", "1");  // 9
  del("y");       // 10
  put("k", "5");  // 11
  const std::int64_t last = store_->current_revision();
  for (std::int64_t at = 2; at <= last; ++at) {
    std::map<std::int64_t, std::string> before;
    for (std::int64_t r = at; r <= last; ++r) before[r] = state_of(range(req(kNul, kNul, r)));
    ASSERT_TRUE(compact(at).status.is_ok());
    compact_fully(*store_, 1);
    hist_records(*store_);
    for (std::int64_t r = at; r <= last; ++r) {
      EXPECT_EQ(state_of(range(req(kNul, kNul, r))), before[r]) << "compact " << at << " rev " << r;
    }
  }
  // Compacted through every record: k's newest version and nothing else.
  EXPECT_EQ(hist_records(*store_), 1u);
  // x's and y's tombstones went with their dead entries: re-creating them
  // starts fresh chains.
  put("x", "2");
  EXPECT_EQ(range(req("x")).kvs(0).version(), 1);
  EXPECT_EQ(keys(range(req(kNul, kNul, last))), "k");
  EXPECT_EQ(hist_records(*store_), 2u);
}

// A workload of puts, deletes, txns and compactions; after each request,
// the latest state (read from kv) is remembered by revision, and every
// revision not compacted must read the same later, also after a snapshot
// image's round trip (which relinks). Replay with DKV_MVCC_SEED=<seed>.
TEST_F(Mvcc, EveryRevisionReadsAsItsLatestStateDidThroughCompactionAndImages) {
  const char* given = std::getenv("DKV_MVCC_SEED");
  const unsigned seed =
      given != nullptr ? static_cast<unsigned>(std::stoul(given)) : std::random_device{}();
  std::printf("seed=%u\n", seed);
  SCOPED_TRACE("seed=" + std::to_string(seed));
  std::mt19937 rng(seed);
  auto key = [&] { return "k" + std::to_string(rng() % 12); };
  std::map<std::int64_t, std::string> states;
  auto check = [&](const char* when) {
    hist_records(*store_);
    for (const auto& [rev, want] : states) {
      if (rev < store_->compact_revision()) continue;
      ASSERT_EQ(state_of(range(req(kNul, kNul, rev))), want) << when << " rev " << rev;
    }
  };
  for (int i = 0; i < 250; ++i) {
    switch (rng() % 6) {
      case 0:
      case 1:
        put(key(), std::to_string(i));
        break;
      case 2:
        del(key());
        break;
      case 3: {
        std::string a = key(), b = key();
        del(std::min(a, b), std::max(a, b));
        break;
      }
      case 4: {
        etcdserverpb::TxnRequest t;
        auto* p1 = t.add_success()->mutable_request_put();
        p1->set_key("t" + std::to_string(rng() % 3));
        p1->set_value(std::to_string(i));
        t.add_success()->mutable_request_delete_range()->set_key(key());
        apply(etcd_command(t));
        break;
      }
      default:
        if (rng() % 3 == 0) {
          const std::int64_t cur = store_->current_revision();
          compact(std::max<std::int64_t>(1, cur - static_cast<std::int64_t>(rng() % 20)));
        }
        bool more = true;
        const std::size_t step = 1 + rng() % 4;
        while (more && rng() % 4 != 0) ASSERT_TRUE(store_->compact_step(&more, step).is_ok());
    }
    states[store_->current_revision()] = state_of(range(req(kNul, kNul)));
    if (i % 50 == 49) check("applying");
  }
  check("applied");
  std::string image;
  std::uint64_t index = 0;
  std::string membership;
  ASSERT_TRUE(store_->dump(&image, &index, &membership).is_ok());
  ASSERT_TRUE(store_->restore(image).is_ok());
  check("restored");
  compact_fully(*store_);
  check("compacted");
}

// Rewrites a closed format-3 store in `dir` as the format-2 binary wrote
// it: hist records without links, the kidx table, no dead table.
void downgrade_to_format2(const std::string& dir) {
  MDB_env* env = nullptr;
  ASSERT_EQ(mdb_env_create(&env), 0);
  ASSERT_EQ(mdb_env_set_maxdbs(env, 8), 0);
  ASSERT_EQ(mdb_env_set_mapsize(env, 256ull << 20), 0);
  ASSERT_EQ(mdb_env_open(env, dir.c_str(), MDB_NOTLS, 0644), 0);
  MDB_txn* txn = nullptr;
  ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
  MDB_dbi hist = 0, dead = 0, kidx = 0, meta = 0;
  ASSERT_EQ(mdb_dbi_open(txn, "hist", 0, &hist), 0);
  ASSERT_EQ(mdb_dbi_open(txn, "dead", 0, &dead), 0);
  ASSERT_EQ(mdb_dbi_open(txn, "meta", 0, &meta), 0);
  ASSERT_EQ(mdb_dbi_open(txn, "kidx", MDB_CREATE | MDB_DUPSORT | MDB_DUPFIXED, &kidx), 0);
  std::vector<std::pair<std::string, std::string>> records;
  MDB_cursor* c = nullptr;
  ASSERT_EQ(mdb_cursor_open(txn, hist, &c), 0);
  MDB_val k, v;
  for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    records.emplace_back(mvcc::as_view(k), mvcc::unlinked_record(mvcc::as_view(v)));
  }
  mdb_cursor_close(c);
  for (const auto& [rk, rec] : records) {
    mvcc::Revision rev;
    mvcc::HistRecord h;
    ASSERT_TRUE(mvcc::decode_rev_key(rk, &rev));
    ASSERT_TRUE(mvcc::decode_hist_record(rec, &h, /*linked=*/false));
    MDB_val hk = mvcc::as_val(rk), hv = mvcc::as_val(rec);
    ASSERT_EQ(mdb_put(txn, hist, &hk, &hv, 0), 0);
    const std::string entry = mvcc::encode_kidx_entry(rev, h.type);
    MDB_val kk = mvcc::as_val(h.key), kv = mvcc::as_val(entry);
    ASSERT_EQ(mdb_put(txn, kidx, &kk, &kv, 0), 0);
  }
  ASSERT_EQ(mdb_drop(txn, dead, 1), 0);
  MDB_val fk = mvcc::as_val("format"), fv = mvcc::as_val("2");
  ASSERT_EQ(mdb_put(txn, meta, &fk, &fv, 0), 0);
  ASSERT_EQ(mdb_txn_commit(txn), 0);
  mdb_env_close(env);
}

bool has_table(const std::string& dir, const char* name, std::string* format) {
  MDB_env* env = nullptr;
  mdb_env_create(&env);
  mdb_env_set_maxdbs(env, 8);
  mdb_env_open(env, dir.c_str(), MDB_NOTLS | MDB_RDONLY, 0644);
  MDB_txn* txn = nullptr;
  mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn);
  MDB_dbi dbi = 0;
  const bool found = mdb_dbi_open(txn, name, 0, &dbi) == 0;
  MDB_dbi meta = 0;
  MDB_val fk = mvcc::as_val("format"), fv;
  if (mdb_dbi_open(txn, "meta", 0, &meta) == 0 && mdb_get(txn, meta, &fk, &fv) == 0) {
    format->assign(mvcc::as_view(fv));
  }
  mdb_txn_abort(txn);
  mdb_env_close(env);
  return found;
}

TEST_F(Mvcc, AFormat2StoreIsMigratedAtOpenAndReadsEveryRevisionAlike) {
  put("a", "1");  // 2
  put("b", "1");  // 3
  put("a", "2");  // 4
  del("b");       // 5
  put("c", "1");  // 6
  del("a");       // 7
  put("a", "3");  // 8
  put("d", "1");  // 9
  del("d");       // 10
  put("c", "2");  // 11
  ASSERT_TRUE(compact(4).status.is_ok());
  compact_fully(*store_);
  const std::int64_t last = store_->current_revision();
  std::map<std::int64_t, std::string> before;
  for (std::int64_t r = 4; r <= last; ++r) before[r] = state_of(range(req(kNul, kNul, r)));
  std::uint32_t hash_before = 0, hash_after = 0;
  std::int64_t cur = 0, cmp = 0;
  ASSERT_TRUE(store_->hash_kv(0, &hash_before, &cur, &cmp).is_ok());
  std::string image_before;
  std::uint64_t index = 0;
  std::string membership;
  ASSERT_TRUE(store_->dump(&image_before, &index, &membership).is_ok());
  store_.reset();

  downgrade_to_format2(dir_.string());
  std::string format;
  ASSERT_TRUE(has_table(dir_.string(), "kidx", &format));
  ASSERT_EQ(format, "2");
  reopen();
  EXPECT_FALSE(has_table(dir_.string(), "kidx", &format));
  EXPECT_EQ(format, "3");
  EXPECT_EQ(store_->current_revision(), last);
  for (std::int64_t r = 4; r <= last; ++r) {
    EXPECT_EQ(state_of(range(req(kNul, kNul, r))), before[r]) << "rev " << r;
  }
  // a@2 went (a@4 is newer at 4); the rest stays.
  EXPECT_EQ(hist_records(*store_), 9u);
  ASSERT_TRUE(store_->hash_kv(0, &hash_after, &cur, &cmp).is_ok());
  EXPECT_EQ(hash_after, hash_before);
  std::string image_after;
  ASSERT_TRUE(store_->dump(&image_after, &index, &membership).is_ok());
  EXPECT_EQ(image_after, image_before);
  // Writes after the migration chain onto the migrated records.
  put("d", "2");  // 12: d's tombstone at 10 came from kidx into dead.
  EXPECT_EQ(values(range(req("d", "", 9))), "1");
  EXPECT_EQ(values(range(req("d", "", 10))), "");
  reopen();  // Format 3 now: opens without migrating again.
  EXPECT_EQ(state_of(range(req(kNul, kNul, 8))), before[8]);
}

// Thousands of records over many pages: the migration's rewrite grows
// every record (page splits under its cursor) and must keep them all.
TEST_F(Mvcc, AFormat2StoreOfManyPagesMigratesEveryRecord) {
  std::mt19937 rng(7);
  const std::string value(200, 'v');
  for (int batch = 0; batch < 30; ++batch) {  // /v0 commands, 100 per transaction.
    std::vector<Command> commands;
    for (int i = 0; i < 100; ++i) {
      const std::string k = "key/" + std::to_string(rng() % 400);
      commands.push_back(rng() % 10 == 0 ? Command{Op::kDelete, k, ""}
                                         : Command{Op::kPut, k, value + std::to_string(i)});
    }
    apply_batch(commands);
  }
  const std::int64_t last = store_->current_revision();
  std::map<std::int64_t, std::string> before;
  for (std::int64_t r = 1; r <= last; r += 97) before[r] = state_of(range(req(kNul, kNul, r)));
  const std::uint64_t records = hist_records(*store_);
  std::uint32_t hash_before = 0, hash_after = 0;
  std::int64_t cur = 0, cmp = 0;
  ASSERT_TRUE(store_->hash_kv(last / 2, &hash_before, &cur, &cmp).is_ok());
  store_.reset();
  downgrade_to_format2(dir_.string());
  reopen();
  EXPECT_EQ(hist_records(*store_), records);
  for (const auto& [r, want] : before) EXPECT_EQ(state_of(range(req(kNul, kNul, r))), want) << r;
  ASSERT_TRUE(store_->hash_kv(last / 2, &hash_after, &cur, &cmp).is_ok());
  EXPECT_EQ(hash_after, hash_before);
}

TEST_F(Mvcc, AnUnknownStoreFormatIsRefused) {
  store_.reset();
  MDB_env* env = nullptr;
  ASSERT_EQ(mdb_env_create(&env), 0);
  mdb_env_set_maxdbs(env, 8);
  ASSERT_EQ(mdb_env_open(env, dir_.c_str(), MDB_NOTLS, 0644), 0);
  MDB_txn* txn = nullptr;
  ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
  MDB_dbi meta = 0;
  ASSERT_EQ(mdb_dbi_open(txn, "meta", 0, &meta), 0);
  MDB_val fk = mvcc::as_val("format"), fv = mvcc::as_val("4");
  ASSERT_EQ(mdb_put(txn, meta, &fk, &fv, 0), 0);
  ASSERT_EQ(mdb_txn_commit(txn), 0);
  mdb_env_close(env);
  StoreOptions options;
  options.dir = dir_.string();
  std::unique_ptr<Store> store;
  EXPECT_EQ(Store::open(options, &store).code(), util::Code::kDataLoss);
}

}  // namespace
}  // namespace dkv::kv
