// Elections (Raft §5.2, §5.4.1), PreVote (thesis §9.6), CheckQuorum (§6.2),
// and the first-node-leads-first rule of DKV_CLUSTER.
#include <gtest/gtest.h>

#include "test_cluster.h"

namespace dkv::raft {
namespace {

using testing::TestCluster;

Message vote_req(NodeId from, NodeId to, Term term, Index last, Term last_term) {
  return Message{.type = MessageType::kVote,
                 .to = to,
                 .from = from,
                 .term = term,
                 .log_term = last_term,
                 .index = last};
}

// Returns the vote responses of node `id` after one Ready.
std::vector<Message> vote_resps(TestCluster& c, NodeId id) {
  Ready rd = c[id].node->ready();
  c[id].node->advance();
  std::vector<Message> out;
  for (const Message& m : rd.messages_after_persist) {
    if (m.type == MessageType::kVoteResp) out.push_back(m);
  }
  // A granted vote is never sent before it is persisted.
  for (const Message& m : rd.messages) EXPECT_NE(m.type, MessageType::kVoteResp);
  return out;
}

TEST(Election, SingleNodeElectsItselfAfterTimeout) {
  TestCluster c(1);
  c.tick(1, 2 * 10);
  c.stabilize();
  EXPECT_EQ(c[1].raft().state(), StateType::kLeader);
  ASSERT_TRUE(c[1].node->propose("a").is_ok());
  c.stabilize();
  ASSERT_EQ(c[1].applied.size(), 2u);  // The no-op and "a".
  EXPECT_EQ(c[1].applied[1].data, "a");
}

TEST(Election, ThreeNodesElectOneLeaderAndReplicate) {
  TestCluster c(3);
  c.elect(1);
  EXPECT_EQ(c.leader(), 1u);
  EXPECT_EQ(c[2].raft().lead(), 1u);
  ASSERT_TRUE(c[2].node->propose("via-follower").is_ok());  // Forwarded.
  c.stabilize();
  for (NodeId id : c.ids()) {
    ASSERT_EQ(c[id].applied.size(), 2u) << id;
    EXPECT_EQ(c[id].applied[1].data, "via-follower");
  }
}

TEST(Election, GrantsAtMostOneVotePerTermAndPersistsItFirst) {
  TestCluster c(3);
  (void)c[1].node->step(vote_req(2, 1, 5, 0, 0));
  auto resps = vote_resps(c, 1);
  ASSERT_EQ(resps.size(), 1u);
  EXPECT_FALSE(resps[0].reject);
  EXPECT_EQ(c[1].storage->hard_state().vote, 0u);  // vote_resps did not persist...
  EXPECT_EQ(c[1].raft().vote(), 2u);               // ...but the Ready carried it.
  (void)c[1].node->step(vote_req(3, 1, 5, 0, 0));
  resps = vote_resps(c, 1);
  ASSERT_EQ(resps.size(), 1u);
  EXPECT_TRUE(resps[0].reject);
  // The same candidate asking again (a duplicate) is granted again.
  (void)c[1].node->step(vote_req(2, 1, 5, 0, 0));
  resps = vote_resps(c, 1);
  ASSERT_EQ(resps.size(), 1u);
  EXPECT_FALSE(resps[0].reject);
}

TEST(Election, VoteCarriesHardStateInTheSameReady) {
  TestCluster c(3);
  (void)c[1].node->step(vote_req(2, 1, 5, 0, 0));
  Ready rd = c[1].node->ready();
  ASSERT_TRUE(rd.hard_state.has_value());
  EXPECT_EQ(rd.hard_state->term, 5u);
  EXPECT_EQ(rd.hard_state->vote, 2u);
  EXPECT_FALSE(rd.messages_after_persist.empty());
  c[1].node->advance();
}

struct UpToDateCase {
  Index cand_last;
  Term cand_term;
  bool granted;
};

TEST(Election, RejectsCandidateWithStaleLog) {
  // Voter's log: terms 1, 2, 2 (last 3/2). §5.4.1.
  const UpToDateCase cases[] = {
      {3, 2, true}, {4, 2, true}, {2, 2, false}, {1, 3, true}, {9, 1, false},
  };
  for (const auto& tc : cases) {
    TestCluster c(3);
    // Restart node 1 on that log.
    ASSERT_TRUE(c[1].storage->append({{1, 1}, {2, 2}, {2, 3}}).is_ok());
    c[1].storage->set_hard_state({2, 0, 0});
    c[1].node = std::make_unique<RawNode>(c.make_config(1), *c[1].storage);
    (void)c[1].node->step(vote_req(2, 1, 3, tc.cand_last, tc.cand_term));
    auto resps = vote_resps(c, 1);
    ASSERT_EQ(resps.size(), 1u);
    EXPECT_EQ(!resps[0].reject, tc.granted) << tc.cand_last << "/" << tc.cand_term;
  }
}

TEST(Election, FirstNodeOfClusterLeadsFirst) {
  // The node gives the first member of DKV_CLUSTER the normal first timeout
  // and the others three times as long; whatever the seed, 1 leads first.
  for (std::uint64_t seed = 0; seed < 50; ++seed) {
    TestCluster c(3, [seed](Config& cfg) {
      cfg.initial_election_ticks = cfg.id == 1 ? 10 : 30;
      auto inner = cfg.rng;
      cfg.rng = [inner, seed]() { return inner() ^ (seed * 0x2545f4914f6cdd1dULL); };
    });
    NodeId first = kNoNode;
    for (int t = 0; t < 100 && first == kNoNode; ++t) {
      for (NodeId id : c.ids()) c.tick(id);
      c.stabilize();
      first = c.leader();
    }
    EXPECT_EQ(first, 1u) << "seed " << seed;
  }
}

TEST(PreVote, PartitionedNodeDoesNotDisruptLeaderWhenItRejoins) {
  TestCluster c(3, [](Config& cfg) { cfg.pre_vote = true; });
  c.elect(1);
  const Term term = c[1].raft().term();
  c.isolate(3);
  for (int i = 0; i < 100; ++i) {
    c.tick(3);
    c.stabilize();
  }
  EXPECT_EQ(c[3].raft().term(), term);  // Pre-votes never bump the term.
  c.heal();
  for (int i = 0; i < 5; ++i) {
    c.tick(1);
    c.stabilize();
  }
  EXPECT_EQ(c.leader(), 1u);
  EXPECT_EQ(c[1].raft().term(), term);
  EXPECT_EQ(c[3].raft().lead(), 1u);
}

TEST(PreVote, WithoutItARejoiningNodeDisruptsTheLeader) {
  // The control for the test above: it shows the test can fail.
  TestCluster c(3, [](Config& cfg) {
    cfg.pre_vote = false;
    cfg.check_quorum = false;
  });
  c.elect(1);
  const Term term = c[1].raft().term();
  c.isolate(3);
  for (int i = 0; i < 100; ++i) c.tick(3);
  c.stabilize();
  EXPECT_GT(c[3].raft().term(), term);
  c.heal();
  c.tick(3, 30);  // 3 keeps campaigning at ever higher terms.
  c.stabilize();
  EXPECT_GT(c[1].raft().term(), term);
}

TEST(CheckQuorum, IsolatedLeaderStepsDown) {
  TestCluster c(3, [](Config& cfg) { cfg.check_quorum = true; });
  c.elect(1);
  c.isolate(1);
  for (int i = 0; i < 2 * 10 + 1; ++i) {
    c.tick(1);
    c.stabilize();
  }
  EXPECT_EQ(c[1].raft().state(), StateType::kFollower);
}

TEST(CheckQuorum, LeaderWithQuorumStaysAndIgnoresVotesInLease) {
  TestCluster c(3, [](Config& cfg) { cfg.check_quorum = true; });
  c.isolate(3);  // Down from the start: the leader and 2 are the quorum.
  c.elect(1);
  const Term term = c[1].raft().term();
  for (int i = 0; i < 3 * 10; ++i) {
    c.tick(1);
    c.tick(2);
    c.stabilize();
  }
  EXPECT_EQ(c.leader(), 1u);
  EXPECT_EQ(c[1].raft().term(), term);  // Never stepped down and re-elected.
  // A disruptive vote request at a higher term is ignored while 2 hears
  // from its leader (thesis §4.2.3).
  (void)c[2].node->step(vote_req(3, 2, term + 5, 100, term + 4));
  c.stabilize();
  EXPECT_EQ(c[2].raft().term(), term);
}

TEST(Election, CandidateWithShorterLogCannotWin) {
  TestCluster c(3);
  c.elect(1);
  c.isolate(3);
  ASSERT_TRUE(c[1].node->propose("x").is_ok());
  c.stabilize();
  c.heal();
  c.isolate(1);
  // 3 misses "x"; 2 has it and must refuse 3.
  c[3].node->campaign();
  c.stabilize();
  EXPECT_NE(c[3].raft().state(), StateType::kLeader);
  c[2].node->campaign();
  c.stabilize();
  EXPECT_EQ(c[2].raft().state(), StateType::kLeader);
}

}  // namespace
}  // namespace dkv::raft

namespace dkv::raft {
namespace {

TEST(Config, ValidateNamesTheBadField) {
  Config c;
  c.id = 1;
  c.rng = [] { return std::uint64_t{0}; };
  EXPECT_TRUE(validate_config(c).is_ok());
  Config bad = c;
  bad.election_ticks = bad.heartbeat_ticks;
  EXPECT_NE(validate_config(bad).message().find("election_ticks"), std::string::npos);
  bad = c;
  bad.id = kNoNode;
  EXPECT_EQ(validate_config(bad).code(), util::Code::kInvalidArgument);
  bad = c;
  bad.rng = nullptr;
  EXPECT_NE(validate_config(bad).message().find("rng"), std::string::npos);
  bad = c;
  bad.max_inflight_msgs = 0;
  EXPECT_FALSE(validate_config(bad).is_ok());
}

}  // namespace
}  // namespace dkv::raft

namespace dkv::raft {
namespace {

// Ready::must_sync: an fsync is owed for entries and for a new term or vote,
// not for a hard state that only moved the commit index (etcd's MustSync).
TEST(Election, OnlyEntriesOrANewTermOrVoteMustBeSynced) {
  TestCluster c(3);
  (void)c[1].node->step(vote_req(2, 1, 5, 0, 0));
  Ready vote = c[1].node->ready();
  EXPECT_TRUE(vote.must_sync);  // A granted vote.
  c[1].node->advance();

  TestCluster d(3);
  d.elect(1);
  const Term t = d[1].raft().term();
  const Index last = d[2].raft().log().last_index();
  (void)d[2].node->step(Message{.type = MessageType::kApp,
                                .to = 2,
                                .from = 1,
                                .term = t,
                                .log_term = t,
                                .index = last,
                                .entries = {Entry{.term = t, .index = last + 1, .data = "x"}},
                                .commit = last});
  Ready append = d[2].node->ready();
  EXPECT_FALSE(append.entries.empty());
  EXPECT_TRUE(append.must_sync);
  ASSERT_TRUE(d[2].storage->append(append.entries).is_ok());
  d[2].node->advance();

  (void)d[2].node->step(
      Message{.type = MessageType::kHeartbeat, .to = 2, .from = 1, .term = t, .commit = last + 1});
  Ready commit = d[2].node->ready();
  ASSERT_TRUE(commit.hard_state.has_value());
  EXPECT_EQ(commit.hard_state->commit, last + 1);
  EXPECT_FALSE(commit.must_sync);
  d[2].node->advance();
}

}  // namespace
}  // namespace dkv::raft
