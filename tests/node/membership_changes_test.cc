// MembershipChanges (node/membership_changes.h) over a real one-voter
// RawNode whose Readies the test handles: changes are checked, proposed one
// at a time, answered once applied (exactly once), and moves are refused or
// answered; everything pending is failed at stop.
#include "node/membership_changes.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "raft/raw_node.h"
#include "raft/storage.h"

namespace dkv::node {
namespace {

using Clock = std::chrono::steady_clock;

class MembershipChangesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    membership_ = Membership({{"a", "127.0.0.1", 7070}});
    storage_.set_conf_state(membership_.conf_state());
    raft::Config config;
    config.id = node_id_of("a");
    config.election_ticks = 10;
    config.heartbeat_ticks = 1;
    config.rng = [] { return 4u; };
    ASSERT_TRUE(raft::validate_config(config).is_ok());
    raw_ = std::make_unique<raft::RawNode>(config, storage_);
    changes_ = std::make_unique<MembershipChanges>(*raw_, "a", 10, [this] { return membership_; });
  }
  void TearDown() override { changes_->fail_all(util::unavailable("test over")); }

  // Handles every Ready as the Node would: persist, apply (conf changes
  // through the core, the membership, then on_applied), advance.
  void drain() {
    while (raw_->has_ready()) {
      raft::Ready rd = raw_->ready();
      ASSERT_TRUE(storage_.append(rd.entries).is_ok());
      if (rd.hard_state) storage_.set_hard_state(*rd.hard_state);
      for (const auto& e : rd.committed_entries) {
        if (e.type != raft::EntryType::kConfChange) continue;
        const auto cc = raft::ConfChange::decode(e.data);
        ASSERT_TRUE(cc.has_value());
        storage_.set_conf_state(raw_->apply_conf_change(*cc));
        ASSERT_TRUE(membership_.apply(*cc).is_ok());
        changes_->on_applied(e.index, e.term, membership_);
      }
      raw_->advance();
    }
  }
  void lead() {
    raw_->campaign();
    drain();
    changes_->on_tick(1, Clock::now());
  }
  PendingChange add_learner(const std::string& id, std::uint16_t port, Clock::time_point deadline) {
    PendingChange c;
    c.request.kind = ChangeKind::kAddLearner;
    c.request.member = {id, "127.0.0.1", port};
    c.deadline = deadline;
    c.done = [this, id](util::Status s, Membership m) {
      Outcome& o = outcomes_[id];
      ++o.calls;
      o.status = s;
      o.membership = m;
    };
    return c;
  }
  PendingMove move(const std::string& id) {
    PendingMove m;
    m.id = id;
    m.deadline = far_;
    m.done = [this, id](util::Status s, std::string leader) {
      Outcome& o = outcomes_["move " + id];
      ++o.calls;
      o.status = s;
      o.leader = leader;
    };
    return m;
  }

  struct Outcome {
    int calls = 0;
    util::Status status;
    Membership membership;
    std::string leader;
  };
  Membership membership_;
  raft::MemoryStorage storage_;
  std::unique_ptr<raft::RawNode> raw_;
  std::unique_ptr<MembershipChanges> changes_;
  std::map<std::string, Outcome> outcomes_;
  const Clock::time_point far_ = Clock::now() + std::chrono::hours(1);
};

TEST_F(MembershipChangesTest, RefusedWhenNotLeading) {
  changes_->start_change(add_learner("b", 8080, far_));
  EXPECT_EQ(outcomes_["b"].status.code(), util::Code::kUnavailable);
  changes_->start_move(move("a"));
  EXPECT_EQ(outcomes_["move a"].status.code(), util::Code::kUnavailable);
}

TEST_F(MembershipChangesTest, AnswersAChangeOnceItIsApplied) {
  lead();
  changes_->start_change(add_learner("b", 8080, far_));
  EXPECT_TRUE(changes_->change_in_flight());
  EXPECT_EQ(outcomes_.count("b"), 0u);  // Proposed, not applied.
  drain();
  EXPECT_FALSE(changes_->change_in_flight());
  EXPECT_EQ(outcomes_["b"].calls, 1);
  ASSERT_TRUE(outcomes_["b"].status.is_ok()) << outcomes_["b"].status.to_string();
  EXPECT_TRUE(outcomes_["b"].membership.is_learner(node_id_of("b")));
}

TEST_F(MembershipChangesTest, OneChangeAtATime) {
  lead();
  changes_->start_change(add_learner("b", 8080, far_));
  changes_->start_change(add_learner("c", 9090, far_));
  EXPECT_EQ(outcomes_["c"].status.code(), util::Code::kFailedPrecondition);
  drain();
  EXPECT_TRUE(outcomes_["b"].status.is_ok());
  EXPECT_EQ(outcomes_["c"].calls, 1);
}

TEST_F(MembershipChangesTest, AChangeWaitsForANewLeadersFirstEntry) {
  raw_->campaign();  // Leads, with its no-op not yet applied.
  changes_->start_change(add_learner("b", 8080, far_));
  EXPECT_FALSE(changes_->change_in_flight());
  EXPECT_EQ(changes_->waiting_count(), 1u);
  drain();
  changes_->on_tick(1, Clock::now());  // Retried: now proposed.
  EXPECT_TRUE(changes_->change_in_flight());
  drain();
  EXPECT_TRUE(outcomes_["b"].status.is_ok());
}

TEST_F(MembershipChangesTest, ExpiresAChangeNotAppliedInTime) {
  lead();
  const auto now = Clock::now();
  changes_->start_change(add_learner("b", 8080, now));
  ASSERT_TRUE(changes_->change_in_flight());
  changes_->on_tick(2, now + std::chrono::seconds(1));
  EXPECT_EQ(outcomes_["b"].status.code(), util::Code::kUnavailable);
  drain();  // Applied after all: not answered twice.
  EXPECT_EQ(outcomes_["b"].calls, 1);
}

TEST_F(MembershipChangesTest, MovesRefuseUnknownMembersAndLearners) {
  lead();
  changes_->start_change(add_learner("b", 8080, far_));
  drain();
  changes_->start_move(move("zz"));
  EXPECT_EQ(outcomes_["move zz"].status.code(), util::Code::kNotFound);
  changes_->start_move(move("b"));
  EXPECT_EQ(outcomes_["move b"].status.code(), util::Code::kFailedPrecondition);
  changes_->start_move(move("a"));  // Already leads.
  EXPECT_TRUE(outcomes_["move a"].status.is_ok());
  EXPECT_EQ(outcomes_["move a"].leader, "a");
  raft::Index match = 0;
  EXPECT_EQ(changes_->most_caught_up_voter(&match), raft::kNoNode);  // Alone.
}

}  // namespace
}  // namespace dkv::node
