// The MVCC engine's compaction, its images and its determinism.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <random>

#include "kv/mvcc_request.h"
#include "mvcc_fixture.h"
#include "util/varint.h"

namespace dkv::kv {
namespace {

using Mvcc = MvccFixture;

TEST_F(Mvcc, CompactionIsLogicalAtOnceAndRefusesOldReads) {
  put("a", "1");  // 2
  put("a", "2");  // 3
  put("a", "3");  // 4
  EtcdResult r = compact(3);
  ASSERT_TRUE(r.status.is_ok());
  EXPECT_EQ(r.revision, 4);  // A compaction creates no revision.
  EXPECT_EQ(store_->compact_revision(), 3);
  util::Status s = range_status(req("a", "", 2));
  EXPECT_EQ(s.code(), util::Code::kOutOfRange);
  EXPECT_EQ(s.message(), "etcdserver: mvcc: required revision has been compacted");
  EXPECT_EQ(values(range(req("a", "", 3))), "2");  // At the compact revision: readable.
  EXPECT_EQ(compact(3).status.message(), "etcdserver: mvcc: required revision has been compacted");
  EXPECT_EQ(compact(9).status.message(),
            "etcdserver: mvcc: required revision is a future revision");
  // Physical compaction is not the apply batch's work: the node runs
  // compact_step() between Readies. It removes a@2, which a@3 supersedes.
  EXPECT_EQ(hist_records(*store_), 3u);
  EXPECT_TRUE(store_->compaction_pending());
  bool more = true;
  ASSERT_TRUE(store_->compact_step(&more).is_ok());
  EXPECT_FALSE(more);
  EXPECT_FALSE(store_->compaction_pending());
  EXPECT_EQ(hist_records(*store_), 2u);
  put("a", "4");  // Writes alone leave nothing to compact.
  EXPECT_FALSE(store_->compaction_pending());
  reopen();
  EXPECT_EQ(store_->compact_revision(), 3);
}

// After a restart the store does not know how far the last step got:
// pending until a step finds nothing more.
TEST_F(Mvcc, CompactionIsPendingAfterReopenUntilAStepFindsNothing) {
  put("a", "1");
  put("a", "2");
  ASSERT_TRUE(compact(3).status.is_ok());
  reopen();
  EXPECT_TRUE(store_->compaction_pending());
  EXPECT_EQ(hist_records(*store_), 2u);
  bool more = true;
  ASSERT_TRUE(store_->compact_step(&more).is_ok());
  EXPECT_FALSE(store_->compaction_pending());
  EXPECT_EQ(hist_records(*store_), 1u);
}

TEST_F(Mvcc, PhysicalCompactionKeepsTheNewestVersionAtOrBelowTheRevision) {
  put("a", "a1");  // 2
  put("a", "a2");  // 3
  put("b", "b1");  // 4
  del("b");        // 5
  put("c", "c1");  // 6
  del("c");        // 7
  put("c", "c2");  // 8
  put("a", "a3");  // 9
  put("d", "d1");  // 10
  del("d");        // 11
  ASSERT_EQ(hist_records(*store_), 10u);
  std::vector<std::string> before;
  for (std::int64_t rev = 8; rev <= 11; ++rev) {
    before.push_back(values(range(req(kNul, kNul, rev))));
  }
  ASSERT_TRUE(compact(8).status.is_ok());
  bool more = true;
  ASSERT_TRUE(store_->compact_step(&more).is_ok());
  EXPECT_FALSE(more);
  // Left: a2 (newest <= 8 of a), c2 (8), a3 (9), d1 (10), d's tombstone (11).
  EXPECT_EQ(hist_records(*store_), 5u);
  for (std::int64_t rev = 8; rev <= 11; ++rev) {
    EXPECT_EQ(values(range(req(kNul, kNul, rev))), before[rev - 8]) << rev;
  }
  // A later compaction removes what the newer versions superseded.
  ASSERT_TRUE(compact(11).status.is_ok());
  ASSERT_TRUE(store_->compact_step(&more).is_ok());
  EXPECT_EQ(hist_records(*store_), 2u);  // a3, c2.
  EXPECT_EQ(values(range(req(kNul, kNul, 11))), "a3,c2");
  EXPECT_EQ(values(range(req(kNul, kNul))), "a3,c2");
}

TEST_F(Mvcc, PhysicalCompactionRunsInBoundedBatchesAndResumesAfterReopen) {
  for (int i = 0; i < 50; ++i) put("k" + std::to_string(i % 5), std::to_string(i));
  const std::int64_t rev = store_->current_revision();  // 51
  ASSERT_TRUE(compact(rev - 5).status.is_ok());
  bool more = false;
  ASSERT_TRUE(store_->compact_step(&more, 10).is_ok());
  EXPECT_TRUE(more);
  const std::uint64_t after_one = hist_records(*store_);
  // The step visited 10 records; each drops at most one (apply itself
  // drops none).
  EXPECT_LT(after_one, 50u);
  EXPECT_GE(after_one, 50u - 10u);
  reopen();
  int steps = 0;
  do {
    ASSERT_TRUE(store_->compact_step(&more, 10).is_ok());
    ++steps;
  } while (more);
  EXPECT_LE(steps, 5);
  // Each key: its newest version <= rev - 5, plus the 5 newer ones.
  EXPECT_EQ(hist_records(*store_), 10u);
  EXPECT_EQ(values(range(req("k", "l", rev - 5))), "40,41,42,43,44");
  EXPECT_EQ(values(range(req("k", "l"))), "45,46,47,48,49");
}

TEST_F(Mvcc, ImagesCarryHistoryAndRevisions) {
  put("a", "1");
  put("a", "2");
  del("a");
  put("b", "1");
  ASSERT_TRUE(compact(3).status.is_ok());
  bool more = false;
  ASSERT_TRUE(store_->compact_step(&more).is_ok());
  std::string image;
  std::uint64_t index = 0;
  std::string membership;
  ASSERT_TRUE(store_->dump(&image, &index, &membership).is_ok());

  const std::filesystem::path other = dir_.string() + "_other";
  std::filesystem::remove_all(other);
  StoreOptions options;
  options.dir = other.string();
  std::unique_ptr<Store> restored;
  ASSERT_TRUE(Store::open(options, &restored).is_ok());
  std::vector<ApplyResult> results;  // Something the restore replaces.
  ASSERT_TRUE(restored->apply(std::vector<Command>{{Op::kPut, "junk", "x"}}, 1, &results).is_ok());
  ASSERT_TRUE(restored->restore(image).is_ok());
  EXPECT_EQ(restored->current_revision(), 5);
  EXPECT_EQ(restored->compact_revision(), 3);
  etcdserverpb::RangeResponse resp;
  ASSERT_TRUE(restored->range(req(kNul, kNul, 3), &resp).is_ok());
  EXPECT_EQ(values(resp), "2");
  resp.Clear();
  ASSERT_TRUE(restored->range(req(kNul, kNul), &resp).is_ok());
  EXPECT_EQ(keys(resp), "b");
  EXPECT_EQ(resp.kvs(0).mod_revision(), 5);
  std::string again;
  ASSERT_TRUE(restored->dump(&again, &index, &membership).is_ok());
  EXPECT_EQ(again, image);
  restored.reset();
  std::filesystem::remove_all(other);
}

TEST_F(Mvcc, AFormat1ImageIsImportedAtRevisionOne) {
  std::string image = "DKVSNAP1";
  util::put_varint(&image, 7);  // Applied index.
  util::put_varint(&image, 2);
  image += "m1";
  for (const char* k : {"a", "b"}) {
    util::put_varint(&image, 1);
    image += k;
    util::put_varint(&image, 2);
    image += std::string("v") + k;
  }
  util::put_varint(&image, 0);
  ASSERT_TRUE(store_->restore(image).is_ok());
  EXPECT_EQ(store_->applied_index(), 7u);
  EXPECT_EQ(store_->current_revision(), 1);
  auto got = range(req(kNul, kNul));
  EXPECT_EQ(values(got), "va,vb");
  EXPECT_EQ(got.kvs(1).create_revision(), 1);
  EXPECT_EQ(got.kvs(1).version(), 1);
  EXPECT_EQ(put("a", "x").revision, 2);
  EXPECT_EQ(range(req("a")).kvs(0).version(), 2);
  EXPECT_EQ(values(range(req(kNul, kNul, 1))), "va,vb");
}

// Replicas applying the same entries end with the same bytes. Replay a
// failure with DKV_MVCC_SEED=<the printed seed>.
TEST_F(Mvcc, RandomWorkloadsAreDeterministicAcrossReplicas) {
  const char* given = std::getenv("DKV_MVCC_SEED");
  const unsigned seed =
      given != nullptr ? static_cast<unsigned>(std::stoul(given)) : std::random_device{}();
  std::printf("seed=%u\n", seed);
  SCOPED_TRACE("seed=" + std::to_string(seed));
  std::mt19937 rng(seed);
  std::vector<Command> log;
  auto key = [&] { return "k" + std::to_string(rng() % 20); };
  for (int i = 0; i < 300; ++i) {
    switch (rng() % 5) {
      case 0:
        log.push_back({Op::kPut, key(), std::to_string(i)});
        break;
      case 1:
        log.push_back({Op::kDelete, key(), ""});
        break;
      case 2: {
        etcdserverpb::DeleteRangeRequest d;
        d.set_key(key());
        d.set_range_end(key());
        log.push_back(etcd_command(d));
        break;
      }
      case 3: {
        etcdserverpb::TxnRequest t;
        auto* c = t.add_compare();
        c->set_key(key());
        c->set_target(etcdserverpb::Compare::VERSION);
        c->set_result(etcdserverpb::Compare::GREATER);
        c->set_version(rng() % 3);
        auto* p = t.add_success()->mutable_request_put();
        p->set_key(key());
        p->set_value("t" + std::to_string(i));
        t.add_failure()->mutable_request_delete_range()->set_key(key());
        log.push_back(etcd_command(t));
        break;
      }
      default: {
        etcdserverpb::CompactionRequest c;
        c.set_revision(1 + static_cast<std::int64_t>(rng() % (i + 2)));
        log.push_back(etcd_command(c));
      }
    }
  }
  std::string images[2];
  for (int replica = 0; replica < 2; ++replica) {
    const std::filesystem::path dir = dir_.string() + "_r" + std::to_string(replica);
    std::filesystem::remove_all(dir);
    StoreOptions options;
    options.dir = dir.string();
    std::unique_ptr<Store> store;
    ASSERT_TRUE(Store::open(options, &store).is_ok());
    std::vector<ApplyResult> results;
    // Replica 0 applies one entry per batch, replica 1 batches of 7, and
    // compacts physically at other moments: the bytes must not care.
    const std::size_t batch = replica == 0 ? 1 : 7;
    for (std::size_t i = 0; i < log.size(); i += batch) {
      const std::size_t n = std::min(batch, log.size() - i);
      ASSERT_TRUE(store->apply(std::span(log).subspan(i, n), i + n, &results).is_ok());
      bool more = true;
      while (replica == 1 && more) ASSERT_TRUE(store->compact_step(&more, 3).is_ok());
    }
    bool more = true;
    while (more) ASSERT_TRUE(store->compact_step(&more).is_ok());
    std::uint64_t index = 0;
    std::string membership;
    ASSERT_TRUE(store->dump(&images[replica], &index, &membership).is_ok());
    store.reset();
    std::filesystem::remove_all(dir);
  }
  EXPECT_EQ(images[0], images[1]);
}

}  // namespace
}  // namespace dkv::kv
