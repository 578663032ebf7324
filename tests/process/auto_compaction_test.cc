// DKV_AUTO_COMPACTION_*: a real node's leader proposes compactions, seen
// through the store's compact revision in /metrics
// (dkv_mvcc_compact_revision), on a 3-node cluster so that the followers
// apply them too.
#include <gtest/gtest.h>

#include <string>
#include <thread>

#include "harness.h"

namespace dkv::testing {
namespace {

using namespace std::chrono_literals;

// A gauge's value in node i's /metrics, or -1.
double metric(LocalCluster& c, int i, const std::string& name) {
  const HttpResponse r = http("GET", c.rest_port(i), "/metrics");
  const std::size_t at = r.body.find("\n" + name + " ");
  if (r.status != 200 || at == std::string::npos) return -1;
  return std::stod(r.body.substr(at + name.size() + 2));
}

// Waits (up to 60 s) until every node's compact revision is at least `rev`.
bool every_node_compacted_to(LocalCluster& c, double rev) {
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < deadline) {
    bool all = true;
    for (int i = 0; i < c.size(); ++i)
      all = all && metric(c, i, "dkv_mvcc_compact_revision") >= rev;
    if (all) return true;
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

void put_many(LocalCluster& c, int leader, int n) {
  for (int i = 0; i < n; ++i) {
    const std::string body = R"({"key":")" + base64("k" + std::to_string(i % 7)) +
                             R"(","value":")" + base64("v" + std::to_string(i)) + R"("})";
    ASSERT_EQ(http("POST", c.rest_port(leader), "/v0/kv", body).status, 200) << i;
  }
}

// Revision mode: the compact revision follows current - retention.
TEST(AutoCompactionTest, RevisionModeKeepsTheLastRetentionRevisions) {
  LocalCluster c("auto_compaction_revision", 3, {{"DKV_AUTO_COMPACTION_RETENTION", "20"}});
  ASSERT_TRUE(c.start_all(30s));
  const int leader = c.wait_for_leader({0, 1, 2}, 30s);
  ASSERT_GE(leader, 0);
  put_many(c, leader, 100);  // Revisions 2-101.
  EXPECT_TRUE(every_node_compacted_to(c, 101 - 20))
      << "compact revision on the leader: " << metric(c, leader, "dkv_mvcc_compact_revision");
  EXPECT_EQ(metric(c, leader, "dkv_mvcc_current_revision"), 101);
}

// Periodic mode with a short period: compacts to a revision of one period
// (and a sample interval) ago, once the first period has passed.
TEST(AutoCompactionTest, PeriodicModeCompactsToARevisionOfAPeriodAgo) {
  LocalCluster c(
      "auto_compaction_periodic", 3,
      {{"DKV_AUTO_COMPACTION_MODE", "periodic"}, {"DKV_AUTO_COMPACTION_RETENTION", "2s"}});
  ASSERT_TRUE(c.start_all(30s));
  const int leader = c.wait_for_leader({0, 1, 2}, 30s);
  ASSERT_GE(leader, 0);
  put_many(c, leader, 30);  // Revisions 2-31.
  // Nothing written after these: within a few periods the sampled revision
  // a period ago is 31.
  EXPECT_TRUE(every_node_compacted_to(c, 31))
      << "compact revision on the leader: " << metric(c, leader, "dkv_mvcc_compact_revision");
}

}  // namespace
}  // namespace dkv::testing
