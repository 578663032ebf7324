// Applier (node/applier.h) over a real LMDB store in a temp dir: waiters
// complete exactly once and never before their entry is applied; the
// pending-write count follows every path and never goes negative.
#include "node/applier.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "node/entry_codec.h"

namespace dkv::node {
namespace {

using Clock = std::chrono::steady_clock;

class ApplierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("applier_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    kv::StoreOptions options;
    options.dir = dir_.string();
    ASSERT_TRUE(kv::Store::open(options, &store_).is_ok());
    applier_ = std::make_unique<Applier>(*store_, pending_);
  }
  void TearDown() override {
    applier_->fail_all(util::unavailable("test over"));
    applier_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Admits a put of key=value with request id `id`; its outcome lands in
  // outcomes_[id] (with the store's applied index at completion).
  void admit(std::uint64_t id, const std::string& key, Clock::time_point deadline) {
    ASSERT_TRUE(pending_.try_add());
    PendingWrite w;
    w.request_id = id;
    w.data = encode_entry(id, kv::Command{kv::Op::kPut, key, "v"});
    w.deadline = deadline;
    w.done = [this, id](util::Status s, kv::ApplyResult) {
      Outcome& o = outcomes_[id];
      ++o.calls;
      o.status = s;
      o.applied_at_completion = store_->applied_index();
    };
    applier_->park(std::move(w));
  }
  // Proposes what is parked; the proposed payloads become entries from
  // next_index_ on.
  void propose_all(util::Status answer = util::Status::ok()) {
    applier_->propose_parked([&](const std::string& data) {
      if (answer.is_ok()) proposed_.push_back(data);
      return answer;
    });
  }
  std::vector<raft::Entry> take_entries() {
    std::vector<raft::Entry> out;
    for (auto& d : proposed_) out.push_back({1, next_index_++, raft::EntryType::kNormal, d});
    proposed_.clear();
    return out;
  }
  static util::Status no_conf_change(const raft::Entry&) {
    ADD_FAILURE() << "unexpected conf change";
    return util::Status::ok();
  }

  struct Outcome {
    int calls = 0;
    util::Status status;
    raft::Index applied_at_completion = 0;
  };
  std::filesystem::path dir_;
  std::unique_ptr<kv::Store> store_;
  PendingWriteCount pending_{8};
  std::unique_ptr<Applier> applier_;
  std::vector<std::string> proposed_;
  raft::Index next_index_ = 1;
  std::map<std::uint64_t, Outcome> outcomes_;
  const Clock::time_point far_ = Clock::now() + std::chrono::hours(1);
};

TEST_F(ApplierTest, CompletesAWaiterOnlyOnceItsEntryIsApplied) {
  admit(7, "a", far_);
  admit(8, "b", far_);
  propose_all();
  std::vector<raft::Entry> entries = take_entries();
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(pending_.count(), 2u);
  ASSERT_TRUE(applier_->apply({entries[0]}, no_conf_change).is_ok());
  EXPECT_EQ(outcomes_[7].calls, 1);
  EXPECT_TRUE(outcomes_[7].status.is_ok());
  EXPECT_GE(outcomes_[7].applied_at_completion, entries[0].index);
  EXPECT_EQ(outcomes_.count(8), 0u);  // Not applied yet: not answered.
  EXPECT_EQ(pending_.count(), 1u);
  ASSERT_TRUE(applier_->apply({entries[1]}, no_conf_change).is_ok());
  EXPECT_EQ(outcomes_[8].calls, 1);
  EXPECT_GE(outcomes_[8].applied_at_completion, entries[1].index);
  EXPECT_EQ(pending_.count(), 0u);
  // The same entries again (a snapshot covered them): nothing happens twice.
  ASSERT_TRUE(applier_->apply(entries, no_conf_change).is_ok());
  EXPECT_EQ(outcomes_[7].calls, 1);
  EXPECT_EQ(outcomes_[8].calls, 1);
  std::string value;
  EXPECT_TRUE(store_->get("b", &value).is_ok());
}

TEST_F(ApplierTest, AnotherNodesWriteAndNoOpsApplyWithoutAnswering) {
  admit(1, "mine", far_);
  propose_all();
  const std::vector<raft::Entry> entries = {
      {1, 1, raft::EntryType::kNormal, ""},  // A leader's no-op.
      {1, 2, raft::EntryType::kNormal, encode_entry(99, {kv::Op::kPut, "theirs", "v"})},
  };
  ASSERT_TRUE(applier_->apply(entries, no_conf_change).is_ok());
  EXPECT_EQ(store_->applied_index(), 2u);
  EXPECT_TRUE(outcomes_.empty());
  EXPECT_EQ(pending_.count(), 1u);
  EXPECT_EQ(applier_->proposed_count(), 1u);
}

TEST_F(ApplierTest, AConfChangeSeesTheCommandsBeforeItApplied) {
  admit(1, "a", far_);
  propose_all();
  std::vector<raft::Entry> entries = take_entries();  // Index 1.
  entries.push_back({1, 2, raft::EntryType::kConfChange, "cc"});
  entries.push_back({1, 3, raft::EntryType::kNormal, encode_entry(5, {kv::Op::kPut, "c", "v"})});
  raft::Index applied_at_change = 0;
  ASSERT_TRUE(applier_
                  ->apply(entries,
                          [&](const raft::Entry& e) {
                            applied_at_change = store_->applied_index();
                            EXPECT_EQ(e.index, 2u);
                            // As Node does: the change records its index.
                            return store_->set_membership("m", e.index);
                          })
                  .is_ok());
  EXPECT_EQ(applied_at_change, 1u);
  EXPECT_EQ(outcomes_[1].calls, 1);
  EXPECT_EQ(store_->applied_index(), 3u);
}

TEST_F(ApplierTest, ParkedWritesWaitForALeaderAndOtherRefusalsFail) {
  admit(1, "a", far_);
  propose_all(util::unavailable("no leader"));
  EXPECT_TRUE(applier_->has_parked());
  EXPECT_TRUE(outcomes_.empty());
  propose_all({util::Code::kInvalidArgument, "too big"});
  EXPECT_FALSE(applier_->has_parked());
  EXPECT_EQ(outcomes_[1].calls, 1);
  EXPECT_EQ(outcomes_[1].status.code(), util::Code::kInvalidArgument);
  EXPECT_EQ(pending_.count(), 0u);
}

TEST_F(ApplierTest, ExpiresParkedAndProposedWritesOnce) {
  const auto now = Clock::now();
  admit(1, "proposed", now);
  propose_all();
  admit(2, "parked", now);
  admit(3, "later", far_);
  applier_->expire(now + std::chrono::seconds(1));
  EXPECT_EQ(outcomes_[1].status.code(), util::Code::kUnavailable);
  EXPECT_EQ(outcomes_[2].status.code(), util::Code::kUnavailable);
  EXPECT_EQ(outcomes_.count(3), 0u);
  EXPECT_EQ(pending_.count(), 1u);
  // The expired write's entry commits after all: nobody is answered twice.
  ASSERT_TRUE(applier_->apply(take_entries(), no_conf_change).is_ok());
  EXPECT_EQ(outcomes_[1].calls, 1);
  EXPECT_EQ(pending_.count(), 1u);
}

TEST_F(ApplierTest, ALeaderChangeFailsProposedWritesAtOnce) {
  admit(1, "a", far_);
  propose_all();
  admit(2, "b", far_);  // Parked: not proposed to the old leader.
  applier_->fail_proposed();
  EXPECT_EQ(outcomes_[1].status.code(), util::Code::kUnavailable);
  EXPECT_EQ(outcomes_.count(2), 0u);
  EXPECT_EQ(pending_.count(), 1u);
  applier_->fail_all(util::unavailable("stopping"));
  EXPECT_EQ(outcomes_[2].calls, 1);
  EXPECT_EQ(pending_.count(), 0u);
}

TEST_F(ApplierTest, RefusesAnUndecodableEntry) {
  const std::vector<raft::Entry> entries = {{1, 1, raft::EntryType::kNormal, "x"}};
  EXPECT_FALSE(applier_->apply(entries, no_conf_change).is_ok());
  EXPECT_EQ(store_->applied_index(), 0u);
}

TEST(PendingWriteCountTest, BoundedAndNeverNegative) {
  PendingWriteCount count(2);
  EXPECT_TRUE(count.try_add());
  EXPECT_TRUE(count.try_add());
  EXPECT_FALSE(count.try_add());
  count.release(2);
  EXPECT_EQ(count.count(), 0u);
  EXPECT_DEATH(count.release(1), "n <= count_");
}

TEST(OnceTest, CompletesExactlyOnce) {
  int calls = 0;
  {
    Once<int> done = [&](int) { ++calls; };
    Once<int> moved = std::move(done);
    EXPECT_FALSE(done.armed());
    moved(1);
    EXPECT_EQ(calls, 1);
    EXPECT_DEATH(moved(2), "fn_ != nullptr");
  }
  EXPECT_DEATH({ Once<int> dropped = [](int) {}; }, "fn_ == nullptr");
}

}  // namespace
}  // namespace dkv::node
