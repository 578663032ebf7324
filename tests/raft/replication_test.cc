// Log replication (§5.3), commitment (§5.4.2, Figure 8), fast backtracking,
// flow control and asynchronous local persistence (thesis §10.2.1).
#include <gtest/gtest.h>

#include "test_cluster.h"

namespace dkv::raft {
namespace {

using testing::TestCluster;

std::vector<Entry> log_of(std::vector<Term> terms) {
  std::vector<Entry> out;
  Index i = 1;
  for (Term t : terms) {
    out.push_back(
        Entry{.term = t, .index = i, .data = "t" + std::to_string(t) + "i" + std::to_string(i)});
    ++i;
  }
  return out;
}

// Restarts every node of c on the given logs, all at hard-state term `term`.
void load_logs(TestCluster& c, const std::map<NodeId, std::vector<Term>>& logs, Term term) {
  for (const auto& [id, terms] : logs) {
    ASSERT_TRUE(c[id].storage->append(log_of(terms)).is_ok());
    c[id].storage->set_hard_state({term, 0, 0});
    c[id].node = std::make_unique<RawNode>(c.make_config(id), *c[id].storage);
  }
}

std::vector<Entry> stored(TestCluster& c, NodeId id) {
  std::vector<Entry> out;
  MemoryStorage& s = *c[id].storage;
  EXPECT_TRUE(s.entries(s.first_index(), s.last_index() + 1, ~0ULL, &out).is_ok());
  return out;
}

// Raft paper Figure 7: whatever the followers' logs, the leader of term 8
// brings each of them to its own log.
TEST(Replication, Figure7FollowersConvergeOnLeadersLog) {
  TestCluster c(7);
  const std::map<NodeId, std::vector<Term>> logs = {
      {1, {1, 1, 1, 4, 4, 5, 5, 6, 6, 6}},        // Leader.
      {2, {1, 1, 1, 4, 4, 5, 5, 6, 6}},           // (a)
      {3, {1, 1, 1, 4}},                          // (b)
      {4, {1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6}},     // (c)
      {5, {1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7}},  // (d)
      {6, {1, 1, 1, 4, 4, 4, 4}},                 // (e)
      {7, {1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3}},     // (f)
  };
  load_logs(c, logs, 7);
  c.elect(1);
  ASSERT_EQ(c.leader(), 1u);
  EXPECT_EQ(c[1].raft().term(), 8u);
  ASSERT_TRUE(c[1].node->propose("p").is_ok());
  c.stabilize();
  const auto want = stored(c, 1);
  ASSERT_EQ(want.size(), 12u);  // 10 + the no-op + "p".
  for (NodeId id : c.ids()) EXPECT_EQ(stored(c, id), want) << "follower " << id;
  for (NodeId id : c.ids()) EXPECT_EQ(c[id].raft().log().committed(), 12u) << id;
}

// Fast backtracking: follower (f) of Figure 7 diverges over 8 entries of
// two terms; the leader needs a rejection per term, not per entry.
TEST(Replication, FastBacktrackingTakesRoundTripsPerTermNotPerEntry) {
  TestCluster c(3);
  load_logs(c,
            {{1, {1, 1, 1, 4, 4, 5, 5, 6, 6, 6}},
             {2, {1, 1, 1, 4, 4, 5, 5, 6, 6, 6}},
             {3, {1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3}}},
            7);
  c.elect(1);
  ASSERT_EQ(c.leader(), 1u);
  int rejections = 0;
  for (const Message& m : c.history) {
    if (m.type == MessageType::kAppResp && m.from == 3 && m.reject) ++rejections;
  }
  EXPECT_GE(rejections, 1);
  EXPECT_LE(rejections, 3);
  EXPECT_EQ(stored(c, 3), stored(c, 1));
}

// Figure 8: an entry of an older term replicated on a majority is not
// committed by counting; only through an entry of the current term.
class Figure8 : public ::testing::TestWithParam<bool> {};

TEST_P(Figure8, OldTermEntryIsNotCommittedByCounting) {
  const bool canary = GetParam();
  TestCluster c(5, [canary](Config& cfg) {
    cfg.max_msg_bytes = 1;  // One entry per MsgApp, to stop between them.
    cfg.canaries.commit_old_term_by_counting = canary;
  });
  // (c) of Figure 8: S1 holds index 2 of term 2, S5 index 2 of term 3.
  load_logs(c, {{1, {1, 2}}, {2, {1, 2}}, {3, {1}}, {4, {1}}, {5, {1, 3}}}, 3);
  c.isolate(5);
  // Index 3 (S1's no-op of term 4) never leaves S1.
  c.drop_filter = [](Message& m) {
    if (m.type != MessageType::kApp) return false;
    std::erase_if(m.entries, [](const Entry& e) { return e.index >= 3; });
    return false;
  };
  c.elect(1);
  ASSERT_EQ(c.leader(), 1u);
  ASSERT_EQ(c[1].raft().term(), 4u);
  // Index 2 (term 2) is now on S1, S2, S3 and S4: a majority.
  for (NodeId id : {1, 2, 3, 4}) ASSERT_EQ(c[id].storage->last_index() >= 2, true) << id;
  if (canary) {
    EXPECT_EQ(c[1].raft().log().committed(), 2u);  // The broken rule.
  } else {
    EXPECT_LT(c[1].raft().log().committed(), 2u);
    // Once the term-4 entry reaches a majority, both commit.
    c.drop_filter = nullptr;
    c.tick(1);
    c.stabilize();
    EXPECT_EQ(c[1].raft().log().committed(), 3u);
  }
}

INSTANTIATE_TEST_SUITE_P(Canary, Figure8, ::testing::Values(false, true));

// Thesis §10.2.1: the leader sends its entries before persisting them but
// counts itself toward the quorum only once they are persisted.
TEST(AsyncPersistence, LeaderCountsItselfOnlyAfterPersisting) {
  TestCluster c(3);
  c.elect(1);
  const Index before = c[1].raft().log().committed();
  ASSERT_TRUE(c[1].node->propose("x").is_ok());
  Ready rd = c[1].node->ready();
  ASSERT_EQ(rd.entries.size(), 1u);
  const Index idx = rd.entries[0].index;
  // The appends may go out at once, before the leader's fsync.
  int apps = 0;
  for (const Message& m : rd.messages) {
    if (m.type == MessageType::kApp && !m.entries.empty()) {
      ++apps;
      if (m.to == 2) (void)c[2].node->step(m);
    }
  }
  EXPECT_EQ(apps, 2);
  c.process_ready(2);  // Follower 2 persists and acks.
  c.deliver_if([](const Message& m) { return m.to == 1 && m.from == 2; });
  // Leader (unpersisted) + follower 2 is not a majority of persisted copies.
  EXPECT_EQ(c[1].raft().log().committed(), before);
  ASSERT_TRUE(c[1].storage->append(rd.entries).is_ok());
  if (rd.hard_state) c[1].storage->set_hard_state(*rd.hard_state);
  c[1].node->advance();
  EXPECT_EQ(c[1].raft().log().committed(), idx);
}

TEST(AsyncPersistence, FollowerAcksWaitForPersistence) {
  TestCluster c(3);
  c.elect(1);
  ASSERT_TRUE(c[1].node->propose("x").is_ok());
  c.process_ready(1);
  c.deliver_if([](const Message& m) { return m.to == 2; });
  Ready rd = c[2].node->ready();
  ASSERT_FALSE(rd.entries.empty());
  for (const Message& m : rd.messages) EXPECT_NE(m.type, MessageType::kAppResp);
  bool ack = false;
  for (const Message& m : rd.messages_after_persist) ack |= m.type == MessageType::kAppResp;
  EXPECT_TRUE(ack);
  ASSERT_TRUE(c[2].storage->append(rd.entries).is_ok());
  c[2].node->advance();
}

TEST(AsyncPersistence, FiveNodesCommitWithoutTheLeadersCopy) {
  TestCluster c(5);
  c.elect(1);
  ASSERT_TRUE(c[1].node->propose("x").is_ok());
  Ready rd = c[1].node->ready();
  const Index idx = rd.entries.back().index;
  for (const Message& m : rd.messages) (void)c[m.to].node->step(m);
  for (NodeId id : {2, 3, 4}) c.process_ready(id);
  c.deliver_if([](const Message& m) { return m.to == 1; });
  EXPECT_EQ(c[1].raft().log().committed(), idx);  // Three followers suffice.
  ASSERT_TRUE(c[1].storage->append(rd.entries).is_ok());
  c[1].node->advance();
}

// Config::leader_persists_async: a leader hands each entry out once, goes
// on while its disk syncs, and applies only what its disk holds.
TEST(AsyncPersistence, LeaderAppliesOnlyWhatItReportedDurable) {
  TestCluster c(3, [](Config& cfg) { cfg.leader_persists_async = true; });
  c.elect(1);
  RawNode& leader = *c[1].node;
  auto hand_out = [&](const std::string& data) {
    EXPECT_TRUE(leader.propose(data).is_ok());
    Ready rd = leader.ready();
    EXPECT_TRUE(rd.persist_async);
    EXPECT_TRUE(rd.messages_after_persist.empty());
    for (const Message& m : rd.messages) c.queue().push_back(m);
    leader.advance();
    return rd.entries;
  };
  const std::vector<Entry> a = hand_out("a");
  const std::vector<Entry> b = hand_out("b");  // While a's sync is under way.
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);  // Not a again.
  EXPECT_EQ(b[0].index, a[0].index + 1);
  // Both followers ack: committed, but not durable here, so not applied.
  for (int i = 0; i < 3; ++i) {
    c.deliver_if([](const Message& m) { return m.to != 1; });
    c.process_ready(2);
    c.process_ready(3);
    c.deliver_if([](const Message& m) { return m.to == 1; });
  }
  EXPECT_EQ(leader.raft().log().committed(), b[0].index);
  auto applied_now = [&] {
    std::vector<Index> out;
    while (leader.has_ready()) {
      Ready rd = leader.ready();
      for (const Entry& e : rd.committed_entries) out.push_back(e.index);
      leader.advance();
    }
    return out;
  };
  EXPECT_TRUE(applied_now().empty());
  ASSERT_TRUE(c[1].storage->append(a).is_ok());
  leader.report_persisted(a[0].index, a[0].term);
  EXPECT_EQ(applied_now(), std::vector<Index>{a[0].index});
  ASSERT_TRUE(c[1].storage->append(b).is_ok());
  leader.report_persisted(b[0].index, b[0].term);
  EXPECT_EQ(applied_now(), std::vector<Index>{b[0].index});
}

// A leader that learns of a higher term while its writes are on their way
// persists that term synchronously (and ignores a late report of entries
// that the new leader's log replaced).
TEST(AsyncPersistence, ANewTermIsPersistedSynchronously) {
  TestCluster c(3, [](Config& cfg) { cfg.leader_persists_async = true; });
  c.elect(1);
  ASSERT_TRUE(c[1].node->propose("lost").is_ok());
  Ready rd = c[1].node->ready();
  ASSERT_TRUE(rd.persist_async);
  ASSERT_EQ(rd.entries.size(), 1u);
  const Entry lost = rd.entries[0];
  c[1].node->advance();  // Its append never leaves: node 1 is cut off.
  c.isolate(1);
  NodeId next = kNoNode;
  for (int i = 0; i < 100 && next == kNoNode; ++i) {
    c.tick(2);
    c.tick(3);
    c.stabilize();
    for (NodeId id : {2, 3}) next = c[id].raft().state() == StateType::kLeader ? id : next;
  }
  ASSERT_NE(next, kNoNode);
  c.heal();
  c.tick(next);  // A heartbeat of the new term reaches node 1.
  c.process_ready(next);
  c.deliver_if([](const Message& m) { return m.to == 1; });
  rd = c[1].node->ready();
  EXPECT_FALSE(rd.persist_async);
  ASSERT_TRUE(rd.hard_state.has_value());
  EXPECT_GT(rd.hard_state->term, lost.term);
  // The writer finishes the old batch while this Ready is outstanding.
  ASSERT_TRUE(c[1].storage->append(std::vector<Entry>{lost}).is_ok());
  c[1].node->report_persisted(lost.index, lost.term);
  if (rd.hard_state) c[1].storage->set_hard_state(*rd.hard_state);
  ASSERT_TRUE(c[1].storage->append(rd.entries).is_ok());
  for (const Message& m : rd.messages_after_persist) c.queue().push_back(m);
  for (const Message& m : rd.messages) c.queue().push_back(m);
  c[1].node->advance();
  c.stabilize();
  // The new leader's log replaced the entry that was never committed.
  EXPECT_EQ(c[1].raft().log().committed(), c[next].raft().log().committed());
  EXPECT_FALSE(c[1].raft().log().match_term(lost.index, lost.term));
}

// Batching: many proposals become one append, bounded by max_msg_bytes.
TEST(Batching, ProposalsShareAppendsBoundedByMaxMsgBytes) {
  const std::string payload(100, 'v');
  const std::uint64_t limit = 5 * entry_size_bytes(Entry{.data = payload});
  TestCluster c(3, [limit](Config& cfg) { cfg.max_msg_bytes = limit; });
  c.elect(1);
  c.history.clear();
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(c[1].node->propose(payload).is_ok());
  c.stabilize();
  std::size_t apps = 0;
  for (const Message& m : c.history) {
    if (m.type != MessageType::kApp || m.from != 1) continue;
    std::uint64_t bytes = 0;
    for (const Entry& e : m.entries) bytes += entry_size_bytes(e);
    EXPECT_LE(bytes, limit);
    ++apps;
  }
  EXPECT_EQ(c[2].applied.size(), 51u);
  // 50 proposals in one Ready went out as ~10 appends per follower, not 50.
  EXPECT_LE(apps, 2u * 12u);
}

TEST(FlowControl, InflightWindowLimitsUnackedAppends) {
  TestCluster c(3, [](Config& cfg) {
    cfg.max_msg_bytes = 1;  // One entry per append.
    cfg.max_inflight_msgs = 4;
  });
  c.elect(1);
  c.cut(2, 1);  // Acks from 2 never arrive; 1 -> 2 flows.
  c.history.clear();
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(c[1].node->propose("p").is_ok());
  c.stabilize();
  int apps_to_2 = 0;
  for (const Message& m : c.history) {
    if (m.type == MessageType::kApp && m.to == 2 && !m.entries.empty()) ++apps_to_2;
  }
  EXPECT_EQ(apps_to_2, 4);
  const Progress* pr = c[1].raft().tracker().get(2);
  EXPECT_EQ(pr->state, ProgressState::kReplicate);
  EXPECT_TRUE(pr->inflights.full());
}

}  // namespace
}  // namespace dkv::raft

namespace dkv::raft {
namespace {

TEST(FlowControl, InflightBytesLimitPausesAFollower) {
  const std::string payload(100, 'v');
  const std::uint64_t one = entry_size_bytes(Entry{.data = payload});
  TestCluster c(3, [one](Config& cfg) {
    cfg.max_msg_bytes = one;  // One entry per append.
    cfg.max_inflight_bytes = 3 * one;
  });
  c.elect(1);
  c.cut(2, 1);  // 2 never acknowledges.
  c.history.clear();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(c[1].node->propose(payload).is_ok());
  c.stabilize();
  int apps_to_2 = 0;
  for (const Message& m : c.history) {
    if (m.type == MessageType::kApp && m.to == 2 && !m.entries.empty()) ++apps_to_2;
  }
  EXPECT_EQ(apps_to_2, 3);
}

TEST(FlowControl, LeaderRefusesProposalsBeyondUncommittedBytes) {
  TestCluster c(3, [](Config& cfg) { cfg.max_uncommitted_bytes = 250; });
  c.elect(1);
  const Index committed = c[1].raft().log().committed();
  c.isolate(1);  // Nothing can commit.
  const std::string payload(100, 'v');
  EXPECT_TRUE(c[1].node->propose(payload).is_ok());
  EXPECT_TRUE(c[1].node->propose(payload).is_ok());
  c.stabilize();  // The appends are lost.
  EXPECT_EQ(c[1].node->propose(payload).code(), util::Code::kResourceExhausted);
  c.heal();
  c.tick(1);  // A heartbeat round finds the followers behind and catches them up.
  c.stabilize();
  EXPECT_EQ(c[1].raft().log().committed(), committed + 2);
  EXPECT_TRUE(c[1].node->propose(payload).is_ok());  // Committed: room again.
}

}  // namespace
}  // namespace dkv::raft

namespace dkv::raft {
namespace {

TEST(Batching, CommittedEntriesPerReadyAreBounded) {
  const std::string payload(100, 'v');
  const std::uint64_t limit = 3 * entry_size_bytes(Entry{.data = payload});
  TestCluster c(1, [limit](Config& cfg) { cfg.max_committed_bytes_per_ready = limit; });
  c.elect(1);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(c[1].node->propose(payload).is_ok());
  c.process_ready(1);  // Persists the 20 entries; they commit at advance().
  std::size_t applied = 0;
  while (c[1].node->has_ready()) {
    Ready rd = c[1].node->ready();
    std::uint64_t bytes = 0;
    for (const Entry& e : rd.committed_entries) bytes += entry_size_bytes(e);
    EXPECT_LE(bytes, limit);
    applied += rd.committed_entries.size();
    ASSERT_TRUE(c[1].storage->append(rd.entries).is_ok());
    if (rd.hard_state) c[1].storage->set_hard_state(*rd.hard_state);
    c[1].node->advance();
  }
  EXPECT_EQ(applied, 20u);
}

}  // namespace
}  // namespace dkv::raft

namespace dkv::raft {
namespace {

// RawNode::status(): the leader's view of each member's replication, which
// the node reads instead of the progress tracker (node/node_membership.cc).
TEST(RawNodeStatus, LeaderReportsEachMembersProgress) {
  testing::TestCluster c(3, {}, /*learners=*/1);
  c.elect(1);
  ASSERT_TRUE(c[1].node->propose("x").is_ok());
  c.stabilize();
  const RaftStatus st = c[1].node->status();
  ASSERT_EQ(st.progress.size(), 4u);
  for (const auto& [id, peer] : st.progress) {
    EXPECT_EQ(peer.match, st.last_index) << id;
    EXPECT_EQ(peer.voter, id != 4) << id;
    EXPECT_FALSE(peer.rejoining) << id;
  }
  EXPECT_TRUE(st.progress.at(2).recent_active);
  EXPECT_TRUE(c[1].node->basic_status().progress.empty());
  EXPECT_TRUE(c[2].node->status().progress.empty());  // Followers know no progress.
}

}  // namespace
}  // namespace dkv::raft

namespace dkv::raft {
namespace {

// RaftStatus::conf_change_gate: the node asks it whether a change may be
// proposed, and whether to wait (a new leader's first entry) or refuse.
TEST(RawNodeStatus, ConfChangeGateFollowsTheOneChangeAtATimeRule) {
  testing::TestCluster c(3);
  EXPECT_EQ(c[1].node->basic_status().conf_change_gate, ConfChangeGate::kNotLeader);
  c.elect(1);
  EXPECT_EQ(c[1].node->basic_status().conf_change_gate, ConfChangeGate::kOpen);
  EXPECT_EQ(c[2].node->basic_status().conf_change_gate, ConfChangeGate::kNotLeader);
  ConfChange cc;
  cc.type = ConfChangeType::kAddLearner;
  cc.node_id = 4;
  ASSERT_TRUE(c[1].node->propose_conf_change(cc).is_ok());
  EXPECT_EQ(c[1].node->basic_status().conf_change_gate, ConfChangeGate::kChangePending);
  c.stabilize();
  EXPECT_EQ(c[1].node->basic_status().conf_change_gate, ConfChangeGate::kOpen);
}

// A new leader takes no change before it applied its own first entry.
TEST(RawNodeStatus, ConfChangeGateWaitsForANewLeadersFirstEntry) {
  MemoryStorage storage;
  storage.set_conf_state({{1}, {}});
  Config config;
  config.id = 1;
  config.election_ticks = 10;
  config.heartbeat_ticks = 1;
  config.rng = [] { return 7u; };
  RawNode node(config, storage);
  node.campaign();  // Alone: leads at once, its no-op not yet applied.
  EXPECT_EQ(node.basic_status().conf_change_gate, ConfChangeGate::kFirstEntryOfTerm);
}

}  // namespace
}  // namespace dkv::raft
