// force_new_cluster() on a real WAL and store in a temporary directory: the
// survivor's whole log (its uncommitted tail too) ends up applied, and its
// forced membership in a snapshot at the last index under which the log,
// with its old configuration changes, is gone.
#include "node/force_new_cluster.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "node/entry_codec.h"
#include "node/snapshots.h"

namespace dkv::node {
namespace {

namespace fs = std::filesystem;

const std::vector<MemberAddress> kCluster = {{"a", "h", 1}, {"b", "h", 2}, {"c", "h", 3}};

raft::Entry put_entry(raft::Term term, raft::Index index, const std::string& key) {
  return {term, index, raft::EntryType::kNormal,
          encode_entry(index, kv::Command{kv::Op::kPut, key, "v-" + key})};
}

raft::Entry conf_entry(raft::Term term, raft::Index index, raft::ConfChangeType type,
                       const std::string& member) {
  const raft::ConfChange cc{type, node_id_of(member.substr(0, member.find('@'))), member};
  return {term, index, raft::EntryType::kConfChange, cc.encode()};
}

class ForceNewClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::path(::testing::TempDir()) /
            ("force_new_cluster_test_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  util::Status open_log(wal::Recovered* recovered) {
    wal::Options options;
    options.cluster_id = cluster_id_of(kCluster);
    options.node_id = "b";
    return wal::Log::open(dir_, options, &log_, recovered);
  }
  util::Status open_store() {
    kv::StoreOptions options;
    options.dir = dir_ + "/kv";
    options.quota_bytes = 64ull << 20;
    return kv::Store::open(options, &store_);
  }

  // b of a, b, c: d was added and promoted (indexes 3, 4); b committed and
  // applied through 2, committed through 5, and logged 6 (term 2) too.
  void make_survivor() {
    wal::Recovered recovered;
    ASSERT_TRUE(open_log(&recovered).is_ok());
    const std::vector<raft::Entry> entries = {
        {1, 1, raft::EntryType::kNormal, ""},
        put_entry(1, 2, "k2"),
        conf_entry(1, 3, raft::ConfChangeType::kAddLearner, "d@h:4"),
        conf_entry(1, 4, raft::ConfChangeType::kAddNode, "d@h:4"),
        put_entry(1, 5, "k5"),
        put_entry(2, 6, "k6"),
    };
    const raft::HardState hs{2, node_id_of("a"), 5};
    ASSERT_TRUE(log_->save(&hs, entries).is_ok());
    ASSERT_TRUE(log_->sync().is_ok());
    ASSERT_TRUE(open_store().is_ok());
    ASSERT_TRUE(store_->set_membership(Membership(kCluster).encode(), 0).is_ok());
    std::vector<kv::ApplyResult> results;
    ASSERT_TRUE(
        store_->apply(std::vector<kv::Command>{{kv::Op::kPut, "k2", "v-k2"}}, 2, &results).is_ok());
    log_.reset();
    store_.reset();
  }

  // Opens the directory as Node::open does and forces it.
  util::Status force(wal::Recovered* recovered, Membership* membership) {
    if (auto s = open_log(recovered); !s.is_ok()) return s;
    if (auto s = open_store(); !s.is_ok()) return s;
    std::string encoded;
    if (auto s = store_->membership(&encoded); !s.is_ok()) return s;
    if (auto s = Membership::decode(encoded, membership); !s.is_ok()) return s;
    return force_new_cluster({"b", dir_, kCluster}, *store_, *log_, recovered, membership);
  }

  void expect_forced_state(const wal::Recovered& recovered, const Membership& membership) {
    EXPECT_EQ(membership.encode(), "b@h:2;;a,c,d");  // d, added by the log, is removed too.
    EXPECT_EQ(recovered.snapshot, (wal::SnapshotMarker{6, 2}));
    EXPECT_TRUE(recovered.entries.empty());
    EXPECT_EQ(recovered.hard_state.commit, 6u);
    EXPECT_EQ(recovered.hard_state.term, 2u);
    EXPECT_EQ(store_->applied_index(), 6u);
    std::string stored;
    ASSERT_TRUE(store_->membership(&stored).is_ok());
    EXPECT_EQ(stored, membership.encode());
    for (const char* key : {"k2", "k5", "k6"}) {  // k6 was beyond the commit index.
      std::string value;
      EXPECT_TRUE(store_->get(key, &value).is_ok()) << key;
    }
  }

  std::string dir_;
  std::unique_ptr<wal::Log> log_;
  std::unique_ptr<kv::Store> store_;
};

TEST_F(ForceNewClusterTest, AppliesTheWholeLogAndCompactsItUnderTheForcedMembership) {
  ASSERT_NO_FATAL_FAILURE(make_survivor());
  wal::Recovered recovered;
  Membership membership;
  ASSERT_TRUE(force(&recovered, &membership).is_ok());
  expect_forced_state(recovered, membership);

  // The snapshot file carries the forced membership: a new member installs
  // it and never sees the entries at or below 6.
  std::unique_ptr<wal::SnapshotReader> reader;
  ASSERT_TRUE(open_snapshot_file(wal::posix_file_system(), dir_, {6, 2}, &reader).is_ok());
  EXPECT_EQ(reader->meta().membership, "b@h:2;;a,c,d");
  kv::StoreOptions fresh_options;
  fresh_options.dir = dir_ + "/fresh";
  std::unique_ptr<kv::Store> fresh;
  ASSERT_TRUE(kv::Store::open(fresh_options, &fresh).is_ok());
  ASSERT_TRUE(restore_store(*fresh, *reader).is_ok());
  std::string value;
  EXPECT_TRUE(fresh->get("k6", &value).is_ok());
  std::string fresh_membership;
  ASSERT_TRUE(fresh->membership(&fresh_membership).is_ok());
  EXPECT_EQ(fresh_membership, "b@h:2;;a,c,d");

  // The WAL as the next start reads it: the marker, no old entries.
  log_.reset();
  wal::Recovered again;
  ASSERT_TRUE(open_log(&again).is_ok());
  EXPECT_EQ(again.snapshot, (wal::SnapshotMarker{6, 2}));
  EXPECT_TRUE(again.entries.empty());
  EXPECT_EQ(again.hard_state.commit, 6u);
  EXPECT_EQ(again.hard_state.vote, node_id_of("a"));  // A vote is never forgotten in its term.
}

// A crash during the forced start, or the variable left set: forcing again
// finds the store at the last index and rewrites the same snapshot.
TEST_F(ForceNewClusterTest, ForcingAgainIsHarmless) {
  ASSERT_NO_FATAL_FAILURE(make_survivor());
  {
    wal::Recovered recovered;
    Membership membership;
    ASSERT_TRUE(force(&recovered, &membership).is_ok());
    log_.reset();
    store_.reset();
  }
  wal::Recovered recovered;
  Membership membership;
  ASSERT_TRUE(force(&recovered, &membership).is_ok());
  expect_forced_state(recovered, membership);
  std::unique_ptr<wal::SnapshotReader> reader;
  ASSERT_TRUE(open_snapshot_file(wal::posix_file_system(), dir_, {6, 2}, &reader).is_ok());
  EXPECT_EQ(reader->meta().membership, "b@h:2;;a,c,d");
}

TEST_F(ForceNewClusterTest, AnEmptyLogOnlyRewritesTheMembership) {
  wal::Recovered recovered;
  ASSERT_TRUE(open_log(&recovered).is_ok());
  ASSERT_TRUE(open_store().is_ok());
  Membership membership(kCluster);
  ASSERT_TRUE(store_->set_membership(membership.encode(), 0).is_ok());
  ASSERT_TRUE(
      force_new_cluster({"b", dir_, kCluster}, *store_, *log_, &recovered, &membership).is_ok());
  EXPECT_EQ(membership.encode(), "b@h:2;;a,c");
  EXPECT_EQ(recovered.snapshot.index, 0u);
  std::string stored;
  ASSERT_TRUE(store_->membership(&stored).is_ok());
  EXPECT_EQ(stored, "b@h:2;;a,c");
}

}  // namespace
}  // namespace dkv::node
