// /readyz under writes (issue 14, item 5): sampled on every node while a
// bounded write loop runs, it never answers 503 on a healthy single node
// nor on a 3-node cluster's leader and followers.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "harness.h"

namespace dkv::testing {
namespace {

using namespace std::chrono_literals;

// Puts and deletes through node `writer` while every node's /readyz is
// sampled right after each write; returns "" or what went wrong.
std::string sample_under_writes(LocalCluster& c, int writer, int writes) {
  std::string failures;
  for (int k = 0; k < writes; ++k) {
    const std::string key = base64("k" + std::to_string(k % 7));
    const auto put = http("POST", c.rest_port(writer), "/v0/kv",
                          R"({"key":")" + key + R"(","value":")" + base64("v") + R"("})");
    if (put.status != 200) return "put answered " + std::to_string(put.status) + ": " + put.body;
    if (k % 2 == 1) {
      const auto del = http("DELETE", c.rest_port(writer), "/v0/kv/key/" + key);
      if (del.status != 200) return "delete answered " + std::to_string(del.status);
    }
    for (int i = 0; i < c.size(); ++i) {
      const auto r = http("GET", c.rest_port(i), "/readyz");
      if (r.status != 200) {
        failures += "write " + std::to_string(k) + ": " + c.id(i) + " /readyz " +
                    std::to_string(r.status) + " " + r.body;
      }
    }
  }
  return failures;
}

TEST(ReadinessTest, SingleNodeStaysReadyUnderWrites) {
  LocalCluster c("readyz_single", 1);
  ASSERT_TRUE(c.start_all(30s)) << c.process(0).log();
  EXPECT_EQ(sample_under_writes(c, 0, 300), "");
}

TEST(ReadinessTest, ClusterLeaderAndFollowersStayReadyUnderWrites) {
  LocalCluster c("readyz_cluster", 3);
  ASSERT_TRUE(c.start_all(30s)) << c.process(0).log();
  const int leader = c.wait_for_leader({0, 1, 2}, 20s);
  ASSERT_GE(leader, 0);
  // A second writer through a follower keeps commits flowing between samples.
  std::atomic<bool> stop{false};
  std::thread background([&] {
    const int follower = (leader + 1) % 3;
    for (int k = 0; !stop.load() && k < 5000; ++k) {
      http("POST", c.rest_port(follower), "/v0/kv",
           R"({"key":")" + base64("bg") + R"(","value":")" + base64(std::to_string(k)) + R"("})");
    }
  });
  const std::string through_leader = sample_under_writes(c, leader, 150);
  const std::string through_follower = sample_under_writes(c, (leader + 2) % 3, 150);
  stop = true;
  background.join();
  EXPECT_EQ(through_leader, "");
  EXPECT_EQ(through_follower, "");
}

}  // namespace
}  // namespace dkv::testing
