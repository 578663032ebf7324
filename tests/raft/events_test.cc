// Raft events (raft/events.h): what the node logs at debug. An election, a
// vote rejected with its reason, and a leadership transfer report events
// with the right peers and terms, in order.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <vector>

#include "test_cluster.h"

namespace dkv::raft {
namespace {

using testing::TestCluster;

std::string name(NodeId id) { return "n" + std::to_string(id); }

// Every node's events as describe() lines, by node.
using Log = std::map<NodeId, std::vector<std::string>>;

TestCluster::Tweak record_into(std::shared_ptr<Log> log) {
  return [log](Config& c) {
    const NodeId id = c.id;
    c.on_event = [log, id](const Event& e) { (*log)[id].push_back(describe(e, name)); };
  };
}

bool has(const std::vector<std::string>& lines, const std::string& line) {
  for (const auto& l : lines) {
    if (l == line) return true;
  }
  return false;
}

TEST(RaftEvents, ElectionAndVotes) {
  auto log = std::make_shared<Log>();
  TestCluster c(3, record_into(log));
  c.elect(1);
  ASSERT_EQ(c.leader(), 1u);
  EXPECT_TRUE(has((*log)[1], "asking for pre-votes for term 1 (election timeout)"));
  EXPECT_TRUE(has((*log)[1], "campaigning for term 1 (election timeout)"));
  EXPECT_TRUE(has((*log)[1], "became leader at term 1"));
  EXPECT_TRUE(has((*log)[2], "granted pre-vote for term 1 to n1"));
  EXPECT_TRUE(has((*log)[2], "granted vote for term 1 to n1"));
}

TEST(RaftEvents, RejectedVoteSaysWhy) {
  auto log = std::make_shared<Log>();
  TestCluster c(3, record_into(log));
  ASSERT_TRUE(c[1].storage->append({{1, 1}, {2, 2}}).is_ok());
  c[1].storage->set_hard_state({2, 0, 0});
  c[1].node = std::make_unique<RawNode>(c.make_config(1), *c[1].storage);
  (void)c[1].node->step(Message{
      .type = MessageType::kVote, .to = 1, .from = 2, .term = 3, .log_term = 1, .index = 1});
  EXPECT_TRUE(has((*log)[1],
                  "rejected vote for term 3 from n2 (its log (last 1 term 1) is behind ours "
                  "(last 2 term 2))"))
      << ::testing::PrintToString((*log)[1]);
}

TEST(RaftEvents, LeadershipTransfer) {
  auto log = std::make_shared<Log>();
  TestCluster c(3, record_into(log));
  c.elect(1);
  c[1].node->transfer_leader(3);
  c.stabilize();
  ASSERT_EQ(c.leader(), 3u);
  EXPECT_TRUE(has((*log)[1], "transferring leadership to n3"));
  EXPECT_TRUE(has((*log)[1], "told n3 to campaign now (TimeoutNow)"));
  EXPECT_TRUE(has((*log)[3], "campaigning for term 2 (leadership transfer)"));
  EXPECT_TRUE(has((*log)[3], "became leader at term 2"));
}

}  // namespace
}  // namespace dkv::raft
