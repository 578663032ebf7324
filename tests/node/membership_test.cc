#include "node/membership.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "node/entry_codec.h"

namespace dkv::node {
namespace {

TEST(MembershipTest, RaftIdsAreStableHashesOfNames) {
  // Every node derives the same id for a name, without coordination; these
  // values are persisted in logs and snapshots, so they must never change.
  EXPECT_EQ(node_id_of("a"), 12638187200555641996ull);
  EXPECT_EQ(node_id_of("b"), node_id_of(std::string("b")));
  EXPECT_NE(node_id_of("a"), node_id_of("b"));
  EXPECT_NE(node_id_of(""), raft::kNoNode);
}

TEST(MembershipTest, EncodesAsDkvClusterSyntaxAndRoundTrips) {
  const Membership m({{"a", "127.0.0.1", 7070}, {"b", "127.0.0.1", 8080}});
  EXPECT_EQ(m.encode(), "a@127.0.0.1:7070,b@127.0.0.1:8080");
  Membership back;
  ASSERT_TRUE(Membership::decode(m.encode(), &back).is_ok());
  EXPECT_EQ(back, m);
  EXPECT_FALSE(Membership::decode("a@nowhere", &back).is_ok());
}

TEST(MembershipTest, ConfStateIsSortedIdsAndNamesResolve) {
  Membership m({{"c", "h", 3}, {"a", "h", 1}, {"b", "h", 2}});
  const raft::ConfState cs = m.conf_state();
  ASSERT_EQ(cs.voters.size(), 3u);
  EXPECT_TRUE(std::is_sorted(cs.voters.begin(), cs.voters.end()));
  EXPECT_EQ(m.name_of(node_id_of("b")), "b");
  EXPECT_EQ(m.name_of(12345), "");
  m.remove(node_id_of("b"));
  EXPECT_EQ(m.find(node_id_of("b")), nullptr);
  m.add_voter({"d", "h", 4});
  EXPECT_EQ(m.encode(), "c@h:3,a@h:1,d@h:4;;b");
}

TEST(MembershipTest, LearnersAndRemovedNamesRoundTrip) {
  Membership m({{"a", "h", 1}, {"b", "h", 2}});
  m.add_learner({"d", "h", 4});
  EXPECT_EQ(m.encode(), "a@h:1,b@h:2;d@h:4");
  EXPECT_TRUE(m.is_learner(node_id_of("d")));
  EXPECT_FALSE(m.is_voter(node_id_of("d")));
  raft::ConfState cs = m.conf_state();
  EXPECT_EQ(cs.learners, std::vector<raft::NodeId>{node_id_of("d")});
  EXPECT_EQ(cs.voters.size(), 2u);
  m.remove(node_id_of("a"));
  EXPECT_TRUE(m.was_removed(node_id_of("a")));
  EXPECT_EQ(m.encode(), "b@h:2;d@h:4;a");
  Membership back;
  ASSERT_TRUE(Membership::decode(m.encode(), &back).is_ok());
  EXPECT_EQ(back, m);
  EXPECT_EQ(back.all().size(), 2u);
  // A voters-only membership keeps the bootstrap (DKV_CLUSTER) form.
  ASSERT_TRUE(Membership::decode("a@h:1", &back).is_ok());
  EXPECT_TRUE(back.learners().empty());
  // Bad forms are errors, not crashes.
  EXPECT_FALSE(Membership::decode("a@h:1;a@h:2", &back).is_ok());  // Voter and learner.
  EXPECT_FALSE(Membership::decode("a@h:1;;x,,y", &back).is_ok());  // An empty removed name.
}

TEST(MembershipTest, OperationsMirrorTheRaftCore) {
  Membership m({{"a", "h", 1}});
  m.add_learner({"d", "h", 4});
  m.add_voter({"d", "h", 4});  // Promotion.
  EXPECT_TRUE(m.is_voter(node_id_of("d")));
  EXPECT_TRUE(m.learners().empty());
  m.add_learner({"d", "h", 4});  // No demotion.
  EXPECT_TRUE(m.is_voter(node_id_of("d")));
  m.remove(node_id_of("d"));
  EXPECT_TRUE(m.was_removed(node_id_of("d")));
  m.add_learner({"d", "h", 5});  // A forced re-add forgets the tombstone.
  EXPECT_FALSE(m.was_removed(node_id_of("d")));
  m.remove(node_id_of("nobody"));  // Unknown: nothing happens.
  EXPECT_EQ(m.removed().size(), 0u);
}

TEST(MembershipTest, ForceSingleKeepsOnlySelfAndRemembersTheRest) {
  Membership m({{"a", "h", 1}, {"b", "h", 2}, {"c", "h", 3}});
  m.add_learner({"d", "h", 4});
  m.force_single({"b", "h", 2});
  EXPECT_EQ(m.encode(), "b@h:2;;a,c,d");
  EXPECT_EQ(m.conf_state().voters, std::vector<raft::NodeId>{node_id_of("b")});
}

TEST(MembershipTest, DecodeErrorsNameTheMembershipNotDkvCluster) {
  Membership back;
  const util::Status s = Membership::decode("b@h:2,d@h:4,e@h:4;;a", &back);
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.message(), "membership \"b@h:2,d@h:4,e@h:4;;a\": address h:4 appears twice");
  EXPECT_EQ(Membership::decode("a@h:1;;x,,y", &back).message(),
            "membership \"a@h:1;;x,,y\": empty removed member name");
}

TEST(MembershipTest, AppliesConfChangesAsTheNodeWritesThem) {
  Membership m({{"a", "h", 1}});
  raft::ConfChange cc{raft::ConfChangeType::kAddLearner, node_id_of("d"), "d@h:4"};
  ASSERT_TRUE(m.apply(cc).is_ok());
  EXPECT_TRUE(m.is_learner(node_id_of("d")));
  cc.type = raft::ConfChangeType::kAddNode;
  ASSERT_TRUE(m.apply(cc).is_ok());
  EXPECT_TRUE(m.is_voter(node_id_of("d")));
  cc.type = raft::ConfChangeType::kRemoveNode;
  ASSERT_TRUE(m.apply(cc).is_ok());
  EXPECT_EQ(m.encode(), "a@h:1;;d");
  // An addition must name the member of its id.
  const Membership before = m;
  EXPECT_FALSE(m.apply({raft::ConfChangeType::kAddNode, node_id_of("e"), "x@h:5"}).is_ok());
  EXPECT_FALSE(m.apply({raft::ConfChangeType::kAddLearner, node_id_of("e"), ""}).is_ok());
  EXPECT_EQ(m, before);
}

TEST(MembershipTest, ClusterIdDependsOnTheWholeMembership) {
  const std::vector<MemberAddress> one = {{"a", "127.0.0.1", 7070}};
  const std::vector<MemberAddress> two = {{"a", "127.0.0.1", 7070}, {"b", "127.0.0.1", 8080}};
  EXPECT_EQ(cluster_id_of(one), cluster_id_of(one));
  EXPECT_NE(cluster_id_of(one), cluster_id_of(two));
  EXPECT_EQ(cluster_id_of(one).size(), 16u);
}

TEST(EntryCodecTest, RoundTripsRequestIdAndCommand) {
  const kv::Command c{kv::Op::kPut, "key", std::string("v\0al", 4)};
  const std::string data = encode_entry(0x0102030405060708ull, c);
  std::uint64_t id = 0;
  kv::Command out;
  ASSERT_TRUE(decode_entry(data, &id, &out).is_ok());
  EXPECT_EQ(id, 0x0102030405060708ull);
  EXPECT_EQ(out, c);
}

TEST(EntryCodecTest, ShortOrMalformedEntriesAreErrors) {
  std::uint64_t id = 0;
  kv::Command out;
  EXPECT_FALSE(decode_entry("", &id, &out).is_ok());
  EXPECT_FALSE(decode_entry("1234567", &id, &out).is_ok());
  EXPECT_FALSE(decode_entry(std::string(8, '\0') + "\x09", &id, &out).is_ok());
}

}  // namespace
}  // namespace dkv::node
