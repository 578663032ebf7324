#include "node/membership_checks.h"

#include <gtest/gtest.h>

namespace dkv::node {
namespace {

raft::NodeId id(const char* name) { return node_id_of(name); }

// Three voters a, b, c (a leads) and a learner d; everyone up and caught up.
ClusterView healthy() {
  ClusterView v;
  v.membership = Membership({{"a", "h", 1}, {"b", "h", 2}, {"c", "h", 3}});
  v.membership.add_learner({"d", "h", 4});
  v.last_index = 5000;
  for (const char* n : {"a", "b", "c", "d"}) {
    v.active.insert(id(n));
    v.match[id(n)] = 5000;
    v.replicating.insert(id(n));
  }
  return v;
}

ChangeRequest request(ChangeKind kind, const char* name, std::uint16_t port = 9,
                      bool force = false) {
  return ChangeRequest{kind, {name, "h", port}, force};
}

util::Code code(const ClusterView& v, const ChangeRequest& r) { return check_change(v, r).code(); }

TEST(MembershipChecksTest, NamesAndAddressesAreChecked) {
  const ClusterView v = healthy();
  EXPECT_EQ(code(v, request(ChangeKind::kAddLearner, "e")), util::Code::kOk);
  EXPECT_EQ(code(v, request(ChangeKind::kAddLearner, "b")), util::Code::kAlreadyExists);
  EXPECT_EQ(code(v, request(ChangeKind::kAddLearner, "e", 2)), util::Code::kAlreadyExists);
  EXPECT_EQ(code(v, request(ChangeKind::kPromote, "x")), util::Code::kNotFound);
  EXPECT_EQ(code(v, request(ChangeKind::kRemove, "x")), util::Code::kNotFound);
  EXPECT_EQ(code(v, request(ChangeKind::kPromote, "b")), util::Code::kFailedPrecondition);
}

TEST(MembershipChecksTest, ARemovedNameComesBackOnlyWithForce) {
  ClusterView v = healthy();
  v.membership.remove(id("c"));
  EXPECT_EQ(code(v, request(ChangeKind::kAddLearner, "c", 3)), util::Code::kFailedPrecondition);
  EXPECT_EQ(code(v, request(ChangeKind::kAddLearner, "c", 3, true)), util::Code::kOk);
}

TEST(MembershipChecksTest, PromotionWaitsForACaughtUpLearner) {
  ClusterView v = healthy();
  EXPECT_EQ(code(v, request(ChangeKind::kPromote, "d")), util::Code::kOk);
  v.match[id("d")] = v.last_index - kPromoteLagEntriesMax;  // Just within the bound.
  EXPECT_EQ(code(v, request(ChangeKind::kPromote, "d")), util::Code::kOk);
  v.match[id("d")] = v.last_index - kPromoteLagEntriesMax - 1;  // Far behind.
  const util::Status s = check_change(v, request(ChangeKind::kPromote, "d"));
  EXPECT_EQ(s.code(), util::Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("far behind"), std::string::npos) << s.message();
  EXPECT_EQ(code(v, request(ChangeKind::kPromote, "d", 9, true)), util::Code::kOk);
  v = healthy();
  v.active.erase(id("d"));  // Not heard from.
  EXPECT_EQ(code(v, request(ChangeKind::kPromote, "d")), util::Code::kFailedPrecondition);
  v = healthy();
  v.replicating.erase(id("d"));  // Never reached (active only as a new member).
  EXPECT_EQ(code(v, request(ChangeKind::kPromote, "d")), util::Code::kFailedPrecondition);
  v = healthy();
  v.snapshotting.insert(id("d"));
  EXPECT_EQ(code(v, request(ChangeKind::kPromote, "d")), util::Code::kFailedPrecondition);
}

TEST(MembershipChecksTest, ChangesThatLoseTheQuorumOfLiveVotersAreRefused) {
  ClusterView v = healthy();
  v.active.erase(id("c"));  // c is down: a and b are 2 of 3.
  // Removing b leaves {a, c} with only a up: no quorum.
  const util::Status s = check_change(v, request(ChangeKind::kRemove, "b"));
  EXPECT_EQ(s.code(), util::Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("quorum"), std::string::npos) << s.message();
  EXPECT_EQ(code(v, request(ChangeKind::kRemove, "b", 9, true)), util::Code::kOk);
  // Removing the dead c is safe; so is adding a learner.
  EXPECT_EQ(code(v, request(ChangeKind::kRemove, "c")), util::Code::kOk);
  EXPECT_EQ(code(v, request(ChangeKind::kAddLearner, "e")), util::Code::kOk);
  // Adding a voter that is not up yet makes 2 of 4: no quorum.
  EXPECT_EQ(code(v, request(ChangeKind::kAddVoter, "e")), util::Code::kFailedPrecondition);
  EXPECT_EQ(code(healthy(), request(ChangeKind::kAddVoter, "e")), util::Code::kOk);
}

TEST(MembershipChecksTest, TheLastVoterIsNeverRemoved) {
  ClusterView v;
  v.membership = Membership({{"a", "h", 1}});
  v.active.insert(id("a"));
  EXPECT_EQ(code(v, request(ChangeKind::kRemove, "a", 1, true)), util::Code::kFailedPrecondition);
}

TEST(MembershipChecksTest, QuorumActiveCountsAMajority) {
  EXPECT_TRUE(quorum_active({1, 2, 3}, {1, 2}));
  EXPECT_FALSE(quorum_active({1, 2, 3, 4}, {1, 2}));
  EXPECT_TRUE(quorum_active({1}, {1}));
  EXPECT_FALSE(quorum_active({1}, {}));
}

}  // namespace
}  // namespace dkv::node
