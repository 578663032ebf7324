// Process tests of the README's "Data directory" recovery (issue 14, item
// 1): a follower is killed with SIGKILL, its DKV_DB_PATH deleted, and it is
// started again with the same DKV_NODE_ID and DKV_CLUSTER (no other
// variable), or under its existing name with DKV_CLUSTER_STATE=existing. It
// must catch up (it used to stay at commit 0 for good: the leader kept its
// old match) and then take part in elections again, so that the cluster
// survives the loss of another node.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <map>
#include <string>
#include <thread>

#include "harness.h"

namespace dkv::testing {
namespace {

using namespace std::chrono_literals;

std::string put_body(const std::string& b64_key, const std::string& b64_value) {
  return R"({"key":")" + b64_key + R"(","value":")" + b64_value + R"("})";
}

std::string key(int k) { return base64("key" + std::to_string(k)); }
std::string value(int k) { return base64("value" + std::to_string(k)); }

std::uint64_t status_u64(LocalCluster& c, int i, const std::string& field) {
  const std::string v = c.status_field(i, field);
  return v.empty() ? 0 : std::stoull(v);
}

// Waits until node i's commit and applied indexes reach at least node
// `leader`'s commit index, read once now.
bool wait_caught_up(LocalCluster& c, int i, int leader, std::chrono::milliseconds timeout) {
  const std::uint64_t target = status_u64(c, leader, "commitIndex");
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (status_u64(c, i, "commitIndex") >= target && status_u64(c, i, "appliedIndex") >= target) {
      return true;
    }
    std::this_thread::sleep_for(100ms);  // Poll pacing.
  }
  return false;
}

// Polls a write through node i until it is acknowledged, or `timeout`.
int put_until_ok(LocalCluster& c, int i, int k, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  do {
    status = http("POST", c.rest_port(i), "/v0/kv", put_body(key(k), value(k))).status;
    if (status == 200) return status;
    std::this_thread::sleep_for(200ms);  // Retry pacing.
  } while (std::chrono::steady_clock::now() < until);
  return status;
}

// The README's procedure on follower c (index 2), started again with
// `restart_env` on top of its usual variables; then checks that it caught
// up within 20 s and that the cluster survives losing its leader.
void wipe_follower_and_check(LocalCluster& c,
                             const std::map<std::string, std::string>& restart_env) {
  ASSERT_TRUE(c.start_all(30s));
  ASSERT_EQ(c.wait_for_leader({0, 1, 2}, 15s), 0);
  for (int k = 0; k < 20; ++k) {
    ASSERT_EQ(http("POST", c.rest_port(0), "/v0/kv", put_body(key(k), value(k))).status, 200);
  }
  // c holds everything: the leader's match for it is the whole log, which
  // is what kept a wiped c from ever getting entries again.
  ASSERT_TRUE(wait_caught_up(c, 2, 0, 20s));

  c.process(2).signal(SIGKILL);
  ASSERT_EQ(c.process(2).wait_exit(10s), 128 + SIGKILL);
  std::filesystem::remove_all(c.db_path(2));
  ASSERT_TRUE(c.start(2, restart_env));

  // Caught up within 20 s, with no write meanwhile (an idle leader sends
  // only heartbeats): commit and applied reach the leader's, and a value
  // written before the wipe reads locally.
  EXPECT_TRUE(wait_caught_up(c, 2, 0, 20s))
      << "commit " << c.status_field(2, "commitIndex") << " applied "
      << c.status_field(2, "appliedIndex") << " leader commit " << c.status_field(0, "commitIndex")
      << "\n"
      << c.process(2).log();
  const auto r = http("GET", c.rest_port(2), "/v0/kv/key/" + key(3) + "?serializable=true");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, R"({"key":")" + key(3) + R"(","value":")" + value(3) + R"("})");

  // It votes again once the leader said it caught up.
  const auto until = std::chrono::steady_clock::now() + 20s;
  while (c.process(2).log().find("this node votes again") == std::string::npos &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(100ms);  // Poll pacing.
  }
  ASSERT_NE(c.process(2).log().find("this node votes again"), std::string::npos)
      << c.process(2).log();

  // The cluster survives the loss of another node: kill the leader; b and
  // the rejoined c elect one of them and take writes.
  c.process(0).signal(SIGKILL);
  c.process(0).wait_exit(10s);
  const int leader = c.wait_for_leader({1, 2}, 20s, 0);
  ASSERT_GE(leader, 1) << c.process(1).log() << c.process(2).log();
  EXPECT_EQ(put_until_ok(c, leader, 21, 20s), 200);
  const auto last = http("GET", c.rest_port(leader), "/v0/kv/key/" + key(19));
  EXPECT_EQ(last.status, 200) << last.body;
}

TEST(WipedMemberTest, FollowerWipedAndRestartedWithSameIdCatchesUp) {
  LocalCluster c("wiped_member_same_id", 3);
  wipe_follower_and_check(c, {});
  EXPECT_NE(c.process(2).log().find("its data was lost; rejoining"), std::string::npos)
      << c.process(2).log();
}

TEST(WipedMemberTest, FreshDirectoryUnderAnExistingNameWithStateExistingCatchesUp) {
  LocalCluster c("wiped_member_existing", 3);
  wipe_follower_and_check(c, {{"DKV_CLUSTER_STATE", "existing"}});
}

// /v0/status says a wiped member is rejoining for as long as it is: here
// until the third member is back, since the leader's rejoin entry must
// commit on the others before the wiped node may vote again.
TEST(WipedMemberTest, StatusSaysRejoiningUntilTheOthersCommitItsCatchUp) {
  LocalCluster c("wiped_member_status", 3);
  ASSERT_TRUE(c.start_all(30s));
  ASSERT_EQ(c.wait_for_leader({0, 1, 2}, 15s), 0);
  ASSERT_EQ(http("POST", c.rest_port(0), "/v0/kv", put_body(key(1), value(1))).status, 200);
  ASSERT_TRUE(wait_caught_up(c, 2, 0, 20s));
  EXPECT_EQ(c.status_field(2, "rejoining"), "false");
  for (int i : {2, 1}) {
    c.process(i).signal(SIGKILL);
    ASSERT_EQ(c.process(i).wait_exit(10s), 128 + SIGKILL);
  }
  std::filesystem::remove_all(c.db_path(2));
  ASSERT_TRUE(c.start(2));
  const auto said = [&](const std::string& want, std::chrono::seconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (c.status_field(2, "rejoining") != want && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(100ms);  // Poll pacing.
    }
    return c.status_field(2, "rejoining") == want;
  };
  ASSERT_TRUE(said("true", 20s)) << c.process(2).log();
  ASSERT_TRUE(c.start(1));
  EXPECT_TRUE(said("false", 30s)) << c.process(2).log();
  EXPECT_NE(c.process(2).log().find("this node votes again"), std::string::npos);
}

}  // namespace
}  // namespace dkv::testing
