// Logs of misconfigured peers (issue 14, item 8): a node of another cluster
// whose DKV_CLUSTER names a member's address keeps reconnecting; the member
// logs its refusal once per 30 s, naming the peer (hex id, address) and
// which side's DKV_CLUSTER differs, instead of a line per attempt.
#include <gtest/gtest.h>

#include <iostream>
#include <thread>

#include "harness.h"

namespace dkv::testing {
namespace {

using namespace std::chrono_literals;

std::size_t count_of(const std::string& haystack, const std::string& text) {
  std::size_t n = 0;
  for (auto at = haystack.find(text); at != std::string::npos; at = haystack.find(text, at + 1))
    ++n;
  return n;
}

TEST(LogsTest, RefusedForeignPeerIsLoggedOncePerIntervalWithItsAddress) {
  LocalCluster c("logs_foreign", 3);
  ASSERT_TRUE(c.start_all(30s)) << c.process(0).log();
  TempDir dir("logs_foreign_x");
  const std::uint16_t rpc = free_port();
  const std::uint16_t rest = free_port();
  // x's DKV_CLUSTER gives member a's address: x bootstraps a cluster of its
  // own and dials a.
  DkvProcess x(dkv_binary(),
               {{"DKV_NODE_ID", "x"},
                {"DKV_RPC_PORT", std::to_string(rpc)},
                {"DKV_REST_PORT", std::to_string(rest)},
                {"DKV_DB_PATH", dir.path() + "/x.db"},
                {"DKV_LISTEN_HOST", "127.0.0.1"},
                {"DKV_LOG_LEVEL", "debug"},
                {"DKV_CLUSTER", "x@127.0.0.1:" + std::to_string(rpc) +
                                    ",a@127.0.0.1:" + std::to_string(c.rpc_port(0))}},
               dir.path() + "/x.log");
  ASSERT_TRUE(x.start());
  // Wait until x has been refused several times.
  const auto until = std::chrono::steady_clock::now() + 60s;
  while (count_of(x.log(), "to reach node a at") < 4 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(200ms);  // Poll pacing.
  }
  ASSERT_GE(count_of(x.log(), "to reach node a at"), 4u) << x.log();
  const std::string log = c.process(0).log();
  const auto line = log.find("refused a message stream");
  if (line != std::string::npos) std::cout << log.substr(line, log.find('\n', line) - line) << "\n";
  EXPECT_EQ(count_of(log, "refused a message stream from"), 1u) << log;
  EXPECT_NE(log.find("refused a message stream from node ["), std::string::npos) << log;
  EXPECT_NE(log.find("] from 127.0.0.1:"), std::string::npos) << log;
  EXPECT_NE(log.find("is not a member of this cluster"), std::string::npos) << log;
  EXPECT_NE(log.find("its DKV_CLUSTER (not this node's) differs"), std::string::npos) << log;
  // Ids in hex, as /v0/status prints the cluster id.
  const std::string cluster_id = c.status_field(0, "clusterId");
  EXPECT_NE(log.find("is not this node's " + cluster_id), std::string::npos) << cluster_id << log;
}

bool wait_log(DkvProcess& p, const std::string& text, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (p.log().find(text) == std::string::npos) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(200ms);  // Poll pacing.
  }
  return true;
}

// A node that stays without a leader says so at warn level.
TEST(LogsTest, LeaderlessNodeWarns) {
  // 30 election timeouts of 100 ms: the warning comes after 3 s.
  LocalCluster c("logs_leaderless", 3, {{"DKV_HEARTBEAT_MS", "20"}, {"DKV_ELECTION_MS", "100"}});
  ASSERT_TRUE(c.start(0));  // b and c never start.
  EXPECT_TRUE(wait_log(c.process(0), "warning node=a no leader for 3 s", 60s))
      << c.process(0).log();
  EXPECT_NE(c.process(0).log().find("the voters are a@127.0.0.1:"), std::string::npos);
}

}  // namespace
}  // namespace dkv::testing
