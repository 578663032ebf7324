#include "node/event_log.h"

#include <gtest/gtest.h>

namespace dkv::node {
namespace {

TEST(EventLog, KeepsTheNewestUpToItsCapacityInOrder) {
  EventLog log(3);
  for (int i = 1; i <= 5; ++i) log.record("leader", "event " + std::to_string(i));
  const auto recent = log.recent();
  ASSERT_EQ(recent.size(), 3u);
  EXPECT_EQ(recent[0].text, "event 3");
  EXPECT_EQ(recent[2].text, "event 5");
  EXPECT_EQ(recent[0].seq, 3u);
  EXPECT_EQ(recent[2].seq, 5u);
  EXPECT_LE(recent[0].unix_ms, recent[2].unix_ms);
  EXPECT_GT(recent[0].unix_ms, 0);
}

TEST(EventLog, KeepsOnlyTheRaftEventsPeopleCareAbout) {
  EventLog log;
  auto name = [](raft::NodeId id) { return id == 2 ? std::string("b") : std::string(); };
  raft::Event vote;
  vote.type = raft::EventType::kVoteGranted;
  vote.peer = 2;
  log.record_raft(vote, name);
  raft::Event sent;
  sent.type = raft::EventType::kSnapshotSent;
  sent.peer = 2;
  sent.index = 42;
  sent.log_term = 3;
  log.record_raft(sent, name);
  raft::Event transfer;
  transfer.type = raft::EventType::kTransferStarted;
  transfer.peer = 9;  // No name known: shown by id.
  log.record_raft(transfer, name);
  const auto recent = log.recent();
  ASSERT_EQ(recent.size(), 2u);
  EXPECT_EQ(recent[0].kind, "snapshot");
  EXPECT_EQ(recent[0].text, "sending snapshot at index 42 term 3 to b");
  EXPECT_EQ(recent[1].kind, "transfer");
  EXPECT_EQ(recent[1].text, "transferring leadership to node 9");
}

}  // namespace
}  // namespace dkv::node
