// A member that lost its log and restarted under its id (Config::rejoining):
// it takes no part in elections until the leader says it caught up, and the
// leader stops counting its old match (issue 14, item 1).
#include <gtest/gtest.h>

#include "test_cluster.h"

namespace dkv::raft {
namespace {

using testing::TestCluster;

// Node `id` loses its disk and restarts empty, rejoining, with the
// configuration the others have. `vote_anyway` switches the canary on.
void wipe(TestCluster& c, NodeId id, bool vote_anyway = false) {
  const ConfState cs = c[1].raft().tracker().conf_state();
  c[id].storage = std::make_unique<MemoryStorage>();
  c[id].storage->set_conf_state(cs);
  c[id].applied.clear();
  Config cfg = c.make_config(id);
  cfg.rejoining = true;
  cfg.canaries.vote_while_rejoining = vote_anyway;
  c[id].node = std::make_unique<RawNode>(cfg, *c[id].storage);
}

// Three nodes, 1 leads, two writes committed everywhere.
void settled_cluster(TestCluster& c) {
  c.elect(1);
  ASSERT_EQ(c.leader(), 1u);
  ASSERT_TRUE(c[1].node->propose("a").is_ok());
  ASSERT_TRUE(c[1].node->propose("b").is_ok());
  c.stabilize();
  ASSERT_EQ(c[3].raft().log().committed(), 3u);
}

TEST(ProgressTracker, RejoiningVoterCountsForNeitherCommitNorReadQuorum) {
  ProgressTracker t(4, 0);
  t.set_conf_state(ConfState{.voters = {1, 2, 3}}, 1);
  t.get(1)->match = 10;
  t.get(2)->match = 4;
  t.get(3)->match = 10;
  EXPECT_EQ(t.committed_index(), 10u);
  EXPECT_TRUE(t.has_quorum({1, 3}));
  t.get(3)->rejoin_target = 11;
  EXPECT_EQ(t.committed_index(), 4u);
  EXPECT_FALSE(t.has_quorum({1, 3}));
}

TEST(Rejoin, WipedFollowerIsSentTheLogAgainAndThenVotes) {
  TestCluster c(3);
  settled_cluster(c);
  wipe(c, 3);
  EXPECT_TRUE(c[3].raft().rejoining());
  // Without the rejoin rules the leader kept match 3 and ignored every
  // rejection: node 3 stayed empty.
  ASSERT_TRUE(c[1].node->propose("c").is_ok());
  c.stabilize();
  EXPECT_EQ(c[3].raft().log().committed(), c[1].raft().log().committed());
  EXPECT_EQ(c[3].storage->last_index(), c[1].storage->last_index());
  EXPECT_FALSE(c[3].raft().rejoining());
  EXPECT_EQ(c[1].raft().tracker().get(3)->rejoin_target, 0u);
  // It votes again: with the leader gone, 2 and 3 elect one of them, which
  // needs the other's vote.
  c.isolate(1);
  for (int t = 0; t < 30; ++t) {
    c.tick(2);
    c.tick(3);
    c.stabilize();
  }
  const bool two_leads = c[2].raft().state() == StateType::kLeader;
  const bool three_leads = c[3].raft().state() == StateType::kLeader;
  EXPECT_TRUE(two_leads || three_leads);
}

TEST(Rejoin, RejoiningNodeNeitherCampaignsNorVotes) {
  TestCluster c(3);
  settled_cluster(c);
  wipe(c, 3);
  c.isolate(1);
  c.tick(3, 100);  // Many election timeouts: no campaign.
  c.stabilize();
  EXPECT_EQ(c[3].raft().state(), StateType::kFollower);
  for (const Message& m : c.history) {
    EXPECT_FALSE(m.from == 3 && (m.type == MessageType::kPreVote || m.type == MessageType::kVote));
  }
  c.history.clear();
  c.elect(2);  // Needs 3's vote, which it does not give.
  EXPECT_NE(c[2].raft().state(), StateType::kLeader);
  for (const Message& m : c.history) {
    EXPECT_FALSE(m.from == 3 &&
                 (m.type == MessageType::kPreVoteResp || m.type == MessageType::kVoteResp));
  }
}

TEST(Rejoin, CanarySwitchLetsTheWipedNodeVote) {
  TestCluster c(3);
  settled_cluster(c);
  wipe(c, 3, /*vote_anyway=*/true);
  c.isolate(1);
  c.elect(3);  // Its empty log is behind 2's, so it loses, but it campaigned.
  bool campaigned = false;
  for (const Message& m : c.history) {
    campaigned = campaigned || (m.from == 3 && m.type == MessageType::kPreVote);
  }
  EXPECT_TRUE(campaigned);
}

TEST(Rejoin, WhileItRejoinsTheOthersAloneCommit) {
  TestCluster c(3);
  settled_cluster(c);
  wipe(c, 3);
  c.isolate(2);  // Only the leader and the rejoining node are up.
  ASSERT_TRUE(c[1].node->propose("c").is_ok());
  c.stabilize();
  // Node 3's acks do not count until the others committed the leader's
  // rejoin entry: nothing new commits, and node 3 still cannot vote.
  EXPECT_EQ(c[1].raft().log().committed(), 3u);
  EXPECT_TRUE(c[3].raft().rejoining());
  // A stale ack from before the loss (unflagged) does not count either.
  Message stale{.type = MessageType::kAppResp,
                .to = 1,
                .from = 3,
                .term = c[1].raft().term(),
                .index = c[1].raft().log().last_index()};
  ASSERT_TRUE(c[1].node->step(stale).is_ok());
  c.stabilize();
  EXPECT_EQ(c[1].raft().log().committed(), 3u);
  c.heal();
  c.tick(1, 2);
  c.stabilize();
  EXPECT_EQ(c[1].raft().log().committed(), c[1].raft().log().last_index());
  EXPECT_FALSE(c[3].raft().rejoining());
}

// Messages to node 3 that tell it it caught up (context "rejoined...").
bool is_news_to_3(const Message& m) {
  return m.to == 3 && m.type == MessageType::kApp && m.context.rfind("rejoined", 0) == 0;
}

TEST(Rejoin, LateNewsForAnEarlierIncarnationDoesNotEndALaterOnesRejoin) {
  TestCluster c(3);
  settled_cluster(c);
  wipe(c, 3);  // Incarnation A.
  std::vector<Message> news;
  c.drop_filter = [&](Message& m) {
    if (!is_news_to_3(m)) return false;
    news.push_back(m);
    return true;  // Held back: A never hears that it caught up.
  };
  ASSERT_TRUE(c[1].node->propose("c").is_ok());
  c.stabilize();
  ASSERT_FALSE(news.empty());
  ASSERT_TRUE(c[3].raft().rejoining());
  wipe(c, 3);  // Incarnation B loses A's log before A heard.
  c.drop_filter = nullptr;
  c.isolate(2);  // B gets the log again, but its rejoin entry cannot commit.
  ASSERT_TRUE(c[1].node->propose("d").is_ok());
  c.stabilize();
  ASSERT_GE(c[3].storage->last_index(), news.back().index);
  ASSERT_NE(c[1].raft().tracker().get(3)->rejoin_target, 0u);
  // The news meant for A arrives late, and B's log matches it. B has not
  // caught up (what A's acks helped commit may be on no other disk): it
  // must not take part in elections yet.
  ASSERT_TRUE(c[3].node->step(news.back()).is_ok());
  EXPECT_TRUE(c[3].raft().rejoining());
  c.heal();
  c.tick(1, 2);
  c.stabilize();
  EXPECT_FALSE(c[3].raft().rejoining());
}

TEST(Rejoin, ANewLossRestartsTheRejoinEvenWhenItsFirstAnswerIsAnAck) {
  TestCluster c(3);
  settled_cluster(c);
  wipe(c, 3);                         // Incarnation A.
  std::vector<Message> first_probes;  // The leader's appends from index 1.
  c.drop_filter = [&](Message& m) {
    if (m.to == 3 && m.type == MessageType::kApp && m.index == 0) first_probes.push_back(m);
    return is_news_to_3(m);  // A never hears that it caught up.
  };
  ASSERT_TRUE(c[1].node->propose("c").is_ok());
  c.stabilize();
  ASSERT_FALSE(first_probes.empty());
  ASSERT_EQ(c[1].raft().tracker().get(3)->rejoin_target, 0u);  // A caught up.
  wipe(c, 3);                                                  // Incarnation B.
  c.isolate(2);
  // A duplicate of A's first probe, delayed, reaches B: its log matches
  // (index 0), so B's first answer is a flagged ack, not a rejection.
  ASSERT_TRUE(c[3].node->step(first_probes.front()).is_ok());
  c.process_ready(3);
  c.deliver_if([](const Message& m) { return m.from == 3 && m.type == MessageType::kAppResp; });
  // The leader learns of the loss: B's match counts for nothing until B
  // holds an entry appended now.
  const Progress* pr = c[1].raft().tracker().get(3);
  EXPECT_NE(pr->rejoin_target, 0u);
  EXPECT_LT(pr->match, pr->rejoin_target);
}

TEST(Rejoin, LateFlaggedAnswersOfAnIncarnationThatCaughtUpRestartNothing) {
  TestCluster c(3);
  settled_cluster(c);
  wipe(c, 3);
  std::vector<Message> flagged;
  c.drop_filter = [&](Message& m) {
    if (m.from == 3 && m.type == MessageType::kAppResp && !m.context.empty()) flagged.push_back(m);
    return false;
  };
  ASSERT_TRUE(c[1].node->propose("c").is_ok());
  c.stabilize();
  ASSERT_FALSE(c[3].raft().rejoining());
  ASSERT_FALSE(flagged.empty());
  const Index last = c[1].raft().log().last_index();
  // A duplicate of an answer it sent while rejoining arrives late.
  ASSERT_TRUE(c[1].node->step(flagged.front()).is_ok());
  c.stabilize();
  EXPECT_EQ(c[1].raft().tracker().get(3)->rejoin_target, 0u);
  EXPECT_EQ(c[1].raft().log().last_index(), last);  // No new rejoin entry.
  EXPECT_FALSE(c[3].raft().rejoining());
}

TEST(Rejoin, ARejoiningNodeDoesNotConfirmAStaleLeadersRead) {
  TestCluster c(3);
  settled_cluster(c);
  c.isolate(1);  // 1 still thinks it leads term 1.
  // 2 and 3 move on to a later term and commit in it.
  NodeId newer = kNoNode;
  for (int t = 0; t < 50 && newer == kNoNode; ++t) {
    c.tick(2);
    c.tick(3);
    c.stabilize();
    for (NodeId id : {2, 3}) {
      if (c[id].raft().state() == StateType::kLeader) newer = id;
    }
  }
  ASSERT_NE(newer, kNoNode);
  ASSERT_TRUE(c[newer].node->propose("newer").is_ok());
  c.stabilize();
  ASSERT_GT(c[2].raft().log().committed(), 3u);
  const NodeId other = newer == 2 ? 3 : 2;
  wipe(c, other);  // It forgets that term.
  c.heal();
  c.isolate(newer);  // Only 1 and the wiped node talk: it takes 1 for its leader.
  ASSERT_EQ(c[1].raft().state(), StateType::kLeader);
  c[1].node->read_index("stale");
  c.stabilize();
  // With 3's answer, 1 would serve a read at index 3 that misses "newer".
  EXPECT_TRUE(c[1].read_states.empty());
}

}  // namespace
}  // namespace dkv::raft
