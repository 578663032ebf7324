// ReadIndex (thesis §6.4), leadership transfer (§3.10), snapshots (§5), and
// membership changes (§4: single-server, learners, the 2015 fix, removing
// the leader).
#include <gtest/gtest.h>

#include "test_cluster.h"

namespace dkv::raft {
namespace {

using testing::TestCluster;

TEST(ReadIndex, LeaderAnswersAfterAHeartbeatQuorum) {
  TestCluster c(3);
  c.elect(1);
  const Index commit = c[1].raft().log().committed();
  c.isolate(1);
  c[1].node->read_index("r1");
  c.stabilize();
  EXPECT_TRUE(c[1].read_states.empty());  // No quorum, no answer.
  c.heal();
  c[1].node->read_index("r2");
  c.stabilize();
  // r2's round answers both, in order (batched).
  ASSERT_EQ(c[1].read_states.size(), 2u);
  EXPECT_EQ(c[1].read_states[0], (ReadState{commit, "r1"}));
  EXPECT_EQ(c[1].read_states[1], (ReadState{commit, "r2"}));
}

TEST(ReadIndex, ManyReadsShareOneHeartbeatRound) {
  TestCluster c(3);
  c.elect(1);
  c.history.clear();
  for (int i = 0; i < 50; ++i) c[1].node->read_index("r" + std::to_string(i));
  c.stabilize();
  int heartbeats = 0;
  for (const Message& m : c.history) heartbeats += m.type == MessageType::kHeartbeat ? 1 : 0;
  EXPECT_EQ(heartbeats, 1);  // One round, to a quorum (read_rounds_to_quorum).
  ASSERT_EQ(c[1].read_states.size(), 50u);
  EXPECT_EQ(c[1].read_states[49].context, "r49");
}

bool is_heartbeat(const Message& m) { return m.type == MessageType::kHeartbeat; }
bool is_heartbeat_resp(const Message& m) { return m.type == MessageType::kHeartbeatResp; }
int heartbeats_in(const std::vector<Message>& history) {
  int n = 0;
  for (const Message& m : history) n += is_heartbeat(m) ? 1 : 0;
  return n;
}

// By default a request arriving while a round is in flight gets its own
// round at once, and is never answered from the earlier one.
TEST(ReadIndex, RequestDuringAnInFlightRoundIsNotAnsweredFromIt) {
  TestCluster c(3);
  c.elect(1);
  const Index commit = c[1].raft().log().committed();
  c.history.clear();
  c[1].node->read_index("a");
  ASSERT_TRUE(c.process_ready(1));  // Round 1's heartbeats.
  c.deliver_if(is_heartbeat);
  c.process_ready(2);
  c.process_ready(3);  // Their acks are queued, not delivered.
  c[1].node->read_index("b");
  c.process_ready(1);
  EXPECT_EQ(heartbeats_in(c.history), 2);  // b's own round.
  c.deliver_if(is_heartbeat_resp);         // Round 1 reaches its quorum.
  c.process_ready(1);
  ASSERT_EQ(c[1].read_states.size(), 1u);  // b needs a round sent after it arrived.
  EXPECT_EQ(c[1].read_states[0], (ReadState{commit, "a"}));
  c.stabilize();
  ASSERT_EQ(c[1].read_states.size(), 2u);
  EXPECT_EQ(c[1].read_states[1], (ReadState{commit, "b"}));
}

// Forwarded requests wait for rounds too (count_read_requester off).
void coalesce(Config& cfg) {
  cfg.max_read_rounds_in_flight = 1;
  cfg.count_read_requester = false;
}

// Coalescing (etcd's server; Config::max_read_rounds_in_flight = 1): one
// round in flight; a request arriving meanwhile is not answered from it
// and starts no round of its own.
TEST(ReadIndex, CoalescingRequestDuringAnInFlightRoundWaitsForTheNextRound) {
  TestCluster c(3, coalesce);
  c.elect(1);
  const Index commit = c[1].raft().log().committed();
  c.history.clear();
  c[1].node->read_index("a");
  ASSERT_TRUE(c.process_ready(1));  // Round 1's heartbeats.
  c.deliver_if(is_heartbeat);
  c.process_ready(2);
  c.process_ready(3);  // Their acks are queued, not delivered.
  c[1].node->read_index("b");
  c.process_ready(1);
  EXPECT_EQ(heartbeats_in(c.history), 1);  // No second round while one is in flight.
  c.deliver_if(is_heartbeat_resp);         // Round 1 reaches its quorum.
  c.process_ready(1);
  ASSERT_EQ(c[1].read_states.size(), 1u);  // b's confirmation must come from a later round.
  EXPECT_EQ(c[1].read_states[0], (ReadState{commit, "a"}));
  EXPECT_EQ(heartbeats_in(c.history), 2);  // b's round starts now.
  c.stabilize();
  ASSERT_EQ(c[1].read_states.size(), 2u);
  EXPECT_EQ(c[1].read_states[1], (ReadState{commit, "b"}));
}

TEST(ReadIndex, CoalescingQueuedLocalAndForwardedRequestsShareTheNextRound) {
  TestCluster c(3, coalesce);
  c.elect(1);
  c.history.clear();
  c[1].node->read_index("a");
  ASSERT_TRUE(c.process_ready(1));  // Round 1 in flight.
  for (int i = 0; i < 10; ++i) {
    c[1].node->read_index("l" + std::to_string(i));
    c.process_ready(1);  // Each in its own Ready: still no new round.
  }
  c[2].node->read_index("f2");
  c[3].node->read_index("f3");
  c.process_ready(2);
  c.process_ready(3);
  c.deliver_if([](const Message& m) { return m.type == MessageType::kReadIndex; });
  c.process_ready(1);
  EXPECT_EQ(heartbeats_in(c.history), 1);
  c.stabilize();
  EXPECT_EQ(heartbeats_in(c.history), 2);  // Two rounds, each to one follower (a quorum).
  ASSERT_EQ(c[1].read_states.size(), 11u);
  EXPECT_EQ(c[1].read_states[10].context, "l9");
  ASSERT_EQ(c[2].read_states.size(), 1u);
  EXPECT_EQ(c[2].read_states[0].context, "f2");
  ASSERT_EQ(c[3].read_states.size(), 1u);
  EXPECT_EQ(c[3].read_states[0].context, "f3");
}

TEST(ReadIndex, CoalescingLostRoundIsRetriedByTheNextHeartbeat) {
  TestCluster c(3, coalesce);
  c.elect(1);
  c[1].node->read_index("a");
  ASSERT_TRUE(c.process_ready(1));
  c.drop_if(is_heartbeat);  // Round 1 is lost.
  c[1].node->read_index("b");
  c.stabilize();
  EXPECT_TRUE(c[1].read_states.empty());
  c.tick(1, c[1].raft().config().heartbeat_ticks);
  c.stabilize();
  ASSERT_EQ(c[1].read_states.size(), 2u);
  EXPECT_EQ(c[1].read_states[1].context, "b");
}

// Members choose their contexts independently, so they collide; a late ack
// of an answered round must not confirm a newer request with the same one.
TEST(ReadIndex, LateAckOfAnAnsweredRoundConfirmsNoNewerRequest) {
  TestCluster c(3, [](Config& cfg) { cfg.count_read_requester = false; });
  c.elect(1);
  c[1].node->read_index("x");
  ASSERT_TRUE(c.process_ready(1));
  c.deliver_if(is_heartbeat);
  c.process_ready(2);
  c.process_ready(3);
  c.deliver_if([](const Message& m) { return is_heartbeat_resp(m) && m.from == 2; });
  c.process_ready(1);
  ASSERT_EQ(c[1].read_states.size(), 1u);  // 3's ack is still on its way.
  c[3].node->read_index("x");              // Another request, same context.
  c.process_ready(3);
  c.deliver_if([](const Message& m) { return m.type == MessageType::kReadIndex; });
  c.drop_filter = [](Message& m) { return is_heartbeat(m); };  // Its round is lost.
  c.process_ready(1);
  c.deliver_if(is_heartbeat_resp);  // The late ack, sent before 3's request.
  c.stabilize();
  EXPECT_TRUE(c[3].read_states.empty());
  c.drop_filter = nullptr;
  c.tick(1, c[1].raft().config().heartbeat_ticks);
  c.stabilize();
  ASSERT_EQ(c[3].read_states.size(), 1u);
  EXPECT_EQ(c[3].read_states[0].context, "x");
}

// Config::read_rounds_to_quorum: a round on a Ready goes to the fewest
// voters that make a quorum with the leader; the heartbeat tick resends it
// to every member.
TEST(ReadIndex, RoundGoesToAQuorumAndTheTickToAll) {
  TestCluster c(5);
  c.elect(1);
  c.history.clear();
  c[1].node->read_index("a");
  ASSERT_TRUE(c.process_ready(1));
  EXPECT_EQ(heartbeats_in(c.history), 2);  // 2 followers + the leader = 3 of 5.
  c.drop_if(is_heartbeat);                 // Lost.
  c.tick(1, c[1].raft().config().heartbeat_ticks);
  c.stabilize();
  EXPECT_EQ(heartbeats_in(c.history), 6);  // The tick's resend went to all four.
  ASSERT_EQ(c[1].read_states.size(), 1u);
  EXPECT_EQ(c[1].read_states[0].context, "a");
}

// The chosen follower goes quiet: its round is answered after the tick's
// resend, and the next round goes to a follower that answered.
TEST(ReadIndex, QuietChosenFollowerCostsOneHeartbeatInterval) {
  TestCluster c(3);
  c.elect(1);
  c[1].node->read_index("a");
  c.stabilize();
  ASSERT_EQ(c[1].read_states.size(), 1u);
  c.history.clear();
  c[1].node->read_index("b");
  ASSERT_TRUE(c.process_ready(1));
  ASSERT_EQ(heartbeats_in(c.history), 1);
  const NodeId chosen = c.history.back().to;
  const NodeId other = chosen == 2 ? 3 : 2;
  c.isolate(chosen);
  c.stabilize();
  EXPECT_EQ(c[1].read_states.size(), 1u);  // b waits: its round's heartbeat is lost.
  c.tick(1, c[1].raft().config().heartbeat_ticks);
  c.stabilize();
  ASSERT_EQ(c[1].read_states.size(), 2u);  // Confirmed by the other follower's ack.
  EXPECT_EQ(c[1].read_states[1].context, "b");
  c.history.clear();
  c[1].node->read_index("c");
  ASSERT_TRUE(c.process_ready(1));
  ASSERT_EQ(heartbeats_in(c.history), 1);
  EXPECT_EQ(c.history.back().to, other);  // The freshest responder.
  c.stabilize();
  ASSERT_EQ(c[1].read_states.size(), 3u);
}

// Elects 1, has `reader` read once, and returns the heartbeats sent until
// the read was answered.
int heartbeats_for_a_read(TestCluster& c, NodeId reader) {
  c.elect(1);
  c.history.clear();
  c[reader].node->read_index("r");
  c.stabilize();
  EXPECT_EQ(c[reader].read_states.size(), 1u);
  return heartbeats_in(c.history);
}

TEST(ReadIndex, RoundsGoToAllWithoutReadRoundsToQuorum) {
  TestCluster c(3, [](Config& cfg) { cfg.read_rounds_to_quorum = false; });
  EXPECT_EQ(heartbeats_for_a_read(c, 1), 2);
}

// Config::count_read_requester: with 3 voters a follower's forwarded
// request and the leader are a quorum: answered with no heartbeat round.
TEST(ReadIndex, FollowerRequestIsAnsweredWithoutARoundWithThreeVoters) {
  TestCluster c(3);
  EXPECT_EQ(heartbeats_for_a_read(c, 3), 0);
  ASSERT_EQ(c[3].read_states.size(), 1u);
  EXPECT_EQ(c[3].read_states[0].index, c[1].raft().log().committed());
}

// With 5 voters the requester and the leader are not a quorum: a round.
TEST(ReadIndex, FollowerRequestNeedsARoundWithFiveVoters) {
  TestCluster c(5);
  EXPECT_EQ(heartbeats_for_a_read(c, 3), 2);
}

TEST(ReadIndex, RequestFromAnOlderTermNeedsARound) {
  TestCluster c(3, [](Config& cfg) { cfg.check_quorum = false; });  // No vote lease.
  c.elect(1);
  c[3].node->read_index("old");
  ASSERT_TRUE(c.process_ready(3));
  ASSERT_EQ(c.queue().size(), 1u);
  Message stale = c.queue().front();  // Sent in 1's term; held back.
  c.queue().clear();
  ASSERT_EQ(stale.type, MessageType::kReadIndex);
  c.elect(2);  // A new term, with its first entry committed.
  ASSERT_EQ(c.leader(), 2u);
  ASSERT_LT(stale.log_term, c[2].raft().term());
  stale.to = 2;
  c.history.clear();
  c.queue().push_back(stale);
  c.deliver_if([](const Message& m) { return m.type == MessageType::kReadIndex; });
  c.process_ready(2);
  EXPECT_EQ(heartbeats_in(c.history), 1);  // A round, not an answer at once.
  c.stabilize();
  ASSERT_EQ(c[3].read_states.size(), 1u);
  EXPECT_EQ(c[3].read_states[0].context, "old");
}

TEST(ReadIndex, FollowerRequestGetsARoundWithoutCountReadRequester) {
  TestCluster c(3, [](Config& cfg) { cfg.count_read_requester = false; });
  EXPECT_EQ(heartbeats_for_a_read(c, 3), 1);
}

TEST(ReadIndex, CanaryAnswersWithoutHeartbeatRound) {
  TestCluster c(3, [](Config& cfg) { cfg.canaries.read_index_without_heartbeat = true; });
  c.elect(1);
  c.isolate(1);
  c[1].node->read_index("r1");
  c.stabilize();
  EXPECT_EQ(c[1].read_states.size(), 1u);  // Unsafe: 1 may be deposed.
}

TEST(ReadIndex, FollowerForwardsToLeader) {
  TestCluster c(3);
  c.elect(1);
  ASSERT_TRUE(c[1].node->propose("x").is_ok());
  c.stabilize();
  c[3].node->read_index("f1");
  c.stabilize();
  ASSERT_EQ(c[3].read_states.size(), 1u);
  EXPECT_EQ(c[3].read_states[0].context, "f1");
  EXPECT_EQ(c[3].read_states[0].index, c[1].raft().log().committed());
}

TEST(ReadIndex, NewLeaderWaitsForAnEntryOfItsTerm) {
  TestCluster c(3, [](Config& cfg) { cfg.check_quorum = false; });  // No vote lease.
  c.elect(1);
  c.drop_filter = [](const Message& m) { return m.type == MessageType::kAppResp; };
  c[2].node->campaign();
  c.stabilize();
  ASSERT_EQ(c.leader(), 2u);
  c[2].node->read_index("early");
  c.stabilize();
  EXPECT_TRUE(c[2].read_states.empty());  // Its no-op is not committed yet.
  c.drop_filter = nullptr;
  c.tick(2);
  c.stabilize();
  ASSERT_EQ(c[2].read_states.size(), 1u);
  EXPECT_EQ(c[2].read_states[0].index, c[2].raft().log().committed());
}

TEST(Transfer, HandsLeadershipToAnUpToDateFollower) {
  TestCluster c(3);
  c.elect(1);
  c[1].node->transfer_leader(2);
  c.stabilize();
  EXPECT_EQ(c.leader(), 2u);
  EXPECT_EQ(c[1].raft().state(), StateType::kFollower);
}

TEST(Transfer, CatchesTheTargetUpFirstAndRefusesProposalsMeanwhile) {
  TestCluster c(3);
  c.elect(1);
  c.isolate(3);
  ASSERT_TRUE(c[1].node->propose("x").is_ok());
  c.stabilize();
  c[1].node->transfer_leader(3);
  EXPECT_EQ(c[1].raft().lead_transferee(), 3u);
  EXPECT_EQ(c[1].node->propose("y").code(), util::Code::kUnavailable);
  c.heal();
  c.tick(1);
  c.stabilize();
  EXPECT_EQ(c.leader(), 3u);
}

TEST(Transfer, AbandonedAfterAnElectionTimeout) {
  TestCluster c(3);
  c.elect(1);
  c.isolate(3);
  c[1].node->transfer_leader(3);
  for (int i = 0; i < 10; ++i) {
    c.tick(1);
    c.tick(2);
    c.stabilize();
  }
  EXPECT_EQ(c[1].raft().lead_transferee(), kNoNode);
  EXPECT_TRUE(c[1].node->propose("z").is_ok());
}

TEST(Snapshot, LaggingFollowerCatchesUpFromSnapshot) {
  TestCluster c(3);
  c.elect(1);
  c.isolate(3);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(c[1].node->propose("v" + std::to_string(i)).is_ok());
  c.stabilize();
  const Index applied = c[1].raft().log().applied();
  MemoryStorage& s1 = *c[1].storage;
  ASSERT_TRUE(s1.create_snapshot(applied, s1.initial_state().second, "image").is_ok());
  ASSERT_TRUE(s1.compact(applied).is_ok());
  c.heal();
  c.tick(1);
  c.stabilize();
  EXPECT_EQ(c[3].storage->snapshot().metadata.index, applied);
  EXPECT_EQ(c[3].storage->snapshot().data, "image");
  EXPECT_EQ(c[3].raft().log().applied(), applied);
  ASSERT_TRUE(c[1].node->propose("after").is_ok());
  c.stabilize();
  ASSERT_FALSE(c[3].applied.empty());
  EXPECT_EQ(c[3].applied.back().data, "after");
  EXPECT_EQ(c[1].raft().tracker().get(3)->state, ProgressState::kReplicate);
}

ConfChange cc(ConfChangeType t, NodeId id) { return ConfChange{.type = t, .node_id = id}; }

TEST(Membership, AddVoterThenItCanLead) {
  TestCluster c(3);
  c.elect(1);
  c.add_node(4, ConfState{{1, 2, 3}, {}});  // Joins with the current config.
  ASSERT_TRUE(c[1].node->propose_conf_change(cc(ConfChangeType::kAddNode, 4)).is_ok());
  c.stabilize();
  for (NodeId id : c.ids()) {
    EXPECT_EQ(c[id].raft().tracker().conf_state().voters, (std::vector<NodeId>{1, 2, 3, 4})) << id;
  }
  c[4].node->transfer_leader(4);
  c.stabilize();
  EXPECT_EQ(c.leader(), 4u);
}

TEST(Membership, OneChangeAtATime) {
  TestCluster c(3);
  c.elect(1);
  c.add_node(4, ConfState{{1, 2, 3}, {}});  // Joins with the current config.
  c.add_node(5, ConfState{{1, 2, 3}, {}});
  ASSERT_TRUE(c[1].node->propose_conf_change(cc(ConfChangeType::kAddNode, 4)).is_ok());
  EXPECT_EQ(c[1].node->propose_conf_change(cc(ConfChangeType::kAddNode, 5)).code(),
            util::Code::kFailedPrecondition);
  c.stabilize();
  EXPECT_TRUE(c[1].node->propose_conf_change(cc(ConfChangeType::kAddNode, 5)).is_ok());
}

class ConfChangeFix : public ::testing::TestWithParam<bool> {};

// Ongaro's 2015 note: a new leader may not propose a configuration change
// before an entry of its own term is committed.
TEST_P(ConfChangeFix, NewLeaderWaitsForItsFirstEntry) {
  const bool canary = GetParam();
  TestCluster c(3, [canary](Config& cfg) { cfg.canaries.skip_conf_change_fix = canary; });
  c.isolate(2);
  c.isolate(3);
  c[1].node->campaign();
  c.heal();
  // Deliver only the election; the no-op stays unreplicated.
  c.drop_filter = [](const Message& m) { return m.type == MessageType::kApp; };
  c.stabilize();
  ASSERT_EQ(c.leader(), 1u);
  const auto st = c[1].node->propose_conf_change(cc(ConfChangeType::kRemoveNode, 3));
  if (canary) {
    EXPECT_TRUE(st.is_ok());
  } else {
    EXPECT_EQ(st.code(), util::Code::kFailedPrecondition);
    c.drop_filter = nullptr;
    c.tick(1);
    c.stabilize();
    EXPECT_TRUE(c[1].node->propose_conf_change(cc(ConfChangeType::kRemoveNode, 3)).is_ok());
  }
}

INSTANTIATE_TEST_SUITE_P(Canary, ConfChangeFix, ::testing::Values(false, true));

TEST(Membership, LearnerReceivesLogNeverCampaignsAndCanBePromoted) {
  TestCluster c(3, {}, 1);
  c.elect(1);
  ASSERT_TRUE(c[1].node->propose("x").is_ok());
  c.stabilize();
  EXPECT_EQ(c[4].applied.back().data, "x");
  const Term term = c[4].raft().term();
  c.isolate(4);
  c.tick(4, 100);
  c.stabilize();
  EXPECT_EQ(c[4].raft().term(), term);
  EXPECT_EQ(c[4].raft().state(), StateType::kFollower);
  c.heal();
  ASSERT_TRUE(c[1].node->propose_conf_change(cc(ConfChangeType::kAddNode, 4)).is_ok());
  c.stabilize();
  EXPECT_TRUE(c[1].raft().tracker().is_voter(4));
  EXPECT_TRUE(c[4].raft().tracker().is_voter(4));
}

TEST(Membership, RemovedLeaderStepsDownAndOthersContinue) {
  TestCluster c(3);
  c.elect(1);
  c.isolate(3);
  ASSERT_TRUE(c[1].node->propose_conf_change(cc(ConfChangeType::kRemoveNode, 1)).is_ok());
  const Index removal = c[1].raft().log().last_index();
  c.stabilize();
  // Thesis §4.2.2: the leader does not count itself for the change that
  // removes it; 1 and 2 hold it, but only 2 of the new {2, 3} does.
  EXPECT_EQ(c[1].raft().state(), StateType::kLeader);
  EXPECT_LT(c[1].raft().log().committed(), removal);
  c.heal();
  c.tick(1);
  c.stabilize();
  EXPECT_GE(c[3].raft().log().committed(), removal);
  EXPECT_NE(c[1].raft().state(), StateType::kLeader);
  EXPECT_EQ(c[2].raft().tracker().conf_state().voters, (std::vector<NodeId>{2, 3}));
  c.isolate(1);
  for (int i = 0; i < 30 && c.leader() == kNoNode; ++i) {
    c.tick(2);
    c.tick(3);
    c.stabilize();
  }
  const NodeId lead = c.leader();
  ASSERT_TRUE(lead == 2 || lead == 3);
  ASSERT_TRUE(c[lead].node->propose("after").is_ok());
  c.stabilize();
  EXPECT_EQ(c[2].applied.back().data, "after");
  EXPECT_EQ(c[3].applied.back().data, "after");
}

TEST(Membership, RemovedLeaderHandsOffWithoutAnElectionTimeout) {
  TestCluster c(3);
  c.elect(1);
  ASSERT_TRUE(c[1].node->propose_conf_change(cc(ConfChangeType::kRemoveNode, 1)).is_ok());
  c.stabilize();  // No ticks: only TimeoutNow can start the next election.
  const NodeId lead = c.leader();
  EXPECT_TRUE(lead == 2 || lead == 3);
}

TEST(Membership, TheLastVoterCannotBeRemoved) {
  TestCluster c(1);
  c.elect(1);
  c.stabilize();
  EXPECT_EQ(c[1].node->propose_conf_change(cc(ConfChangeType::kRemoveNode, 1)).code(),
            util::Code::kFailedPrecondition);
}

TEST(Membership, RemoveFollowerShrinksQuorum) {
  TestCluster c(3);
  c.elect(1);
  ASSERT_TRUE(c[1].node->propose_conf_change(cc(ConfChangeType::kRemoveNode, 3)).is_ok());
  c.stabilize();
  EXPECT_EQ(c[1].raft().tracker().conf_state().voters, (std::vector<NodeId>{1, 2}));
  // 3 is gone: {1, 2} commit on their own, and 2 is needed.
  c.isolate(3);
  ASSERT_TRUE(c[1].node->propose("y").is_ok());
  c.stabilize();
  EXPECT_EQ(c[2].applied.back().data, "y");
  c.isolate(2);
  ASSERT_TRUE(c[1].node->propose("z").is_ok());
  c.stabilize();
  EXPECT_EQ(c[1].applied.back().data, "y");  // "z" waits for 2.
}

}  // namespace
}  // namespace dkv::raft
