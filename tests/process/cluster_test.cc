// Process tests of a real 3-node dkv cluster on loopback ports: the original
// README's example across nodes, forwarding, failover after kill -9 of the
// leader, a restarted node catching up, and no quorum -> UNAVAILABLE.
#include <gtest/gtest.h>
#include <signal.h>

#include "harness.h"

namespace dkv::testing {
namespace {

using namespace std::chrono_literals;

std::string put_body(const std::string& b64_key, const std::string& b64_value) {
  return R"({"key":")" + b64_key + R"(","value":")" + b64_value + R"("})";
}

TEST(ClusterTest, OriginalReadmeAcrossNodes) {
  LocalCluster c("cluster_readme", 3);
  ASSERT_TRUE(c.start_all(30s)) << c.process(0).log();
  // The first member of DKV_CLUSTER leads first.
  EXPECT_EQ(c.wait_for_leader({0, 1, 2}, 10s), 0);
  // curl -X POST localhost:7071/v0/kv -d '{"key":"aGVsbG8=","value":"d29ybGQ="}'
  EXPECT_EQ(http("POST", c.rest_port(0), "/v0/kv", put_body("aGVsbG8=", "d29ybGQ=")).status, 200);
  // curl -X GET localhost:9091/v0/kv/key/aGVsbG8=  (any node, linearizable)
  for (int i = 0; i < 3; ++i) {
    auto r = http("GET", c.rest_port(i), "/v0/kv/key/aGVsbG8=");
    EXPECT_EQ(r.status, 200) << c.id(i);
    EXPECT_EQ(r.body, R"({"key":"aGVsbG8=","value":"d29ybGQ="})") << c.id(i);
  }
  // A follower forwards writes; the write is visible everywhere at once.
  EXPECT_EQ(http("POST", c.rest_port(2), "/v0/kv", put_body("Yg==", "Yw==")).status, 200);
  EXPECT_EQ(http("GET", c.rest_port(1), "/v0/kv/key/Yg==").body,
            R"({"key":"Yg==","value":"Yw=="})");
  EXPECT_EQ(http("DELETE", c.rest_port(1), "/v0/kv/key/Yg==").body, R"({"deleted":"1"})");
  EXPECT_EQ(http("GET", c.rest_port(2), "/v0/kv/key/Yg==").status, 404);
  // Every node reports the same leader and term.
  for (int i = 1; i < 3; ++i) {
    EXPECT_EQ(c.status_field(i, "leaderId"), "a");
    EXPECT_EQ(c.status_field(i, "term"), c.status_field(0, "term"));
    EXPECT_EQ(c.status_field(i, "role"), "follower");
  }
  EXPECT_EQ(c.status_field(0, "role"), "leader");
}

TEST(ClusterTest, LeaderKill9FailsOverAndTheOldLeaderCatchesUp) {
  LocalCluster c("cluster_failover", 3);
  ASSERT_TRUE(c.start_all(30s));
  const int leader = c.wait_for_leader({0, 1, 2}, 10s);
  ASSERT_GE(leader, 0);
  for (int k = 0; k < 20; ++k) {
    ASSERT_EQ(http("POST", c.rest_port(leader), "/v0/kv", put_body("azE=", "djE=")).status, 200);
  }
  c.process(leader).signal(SIGKILL);
  ASSERT_EQ(c.process(leader).wait_exit(10s), 128 + SIGKILL);

  std::vector<int> survivors;
  for (int i = 0; i < 3; ++i) {
    if (i != leader) survivors.push_back(i);
  }
  const int new_leader = c.wait_for_leader(survivors, 15s, leader);
  ASSERT_GE(new_leader, 0) << "no new leader";
  ASSERT_NE(new_leader, leader);
  // Still serving, through either survivor.
  EXPECT_EQ(http("POST", c.rest_port(survivors[0]), "/v0/kv", put_body("azI=", "djI=")).status,
            200);
  EXPECT_EQ(http("GET", c.rest_port(survivors[1]), "/v0/kv/key/azI=").body,
            R"({"key":"azI=","value":"djI="})");

  // The old leader rejoins as a follower and catches up.
  ASSERT_TRUE(c.start(leader));
  ASSERT_TRUE(c.wait_ready(leader, 20s)) << c.process(leader).log();
  EXPECT_EQ(c.status_field(leader, "role"), "follower");
  EXPECT_EQ(http("GET", c.rest_port(leader), "/v0/kv/key/azI=").body,
            R"({"key":"azI=","value":"djI="})");
  EXPECT_EQ(http("GET", c.rest_port(leader), "/v0/kv/key/azE=").body,
            R"({"key":"azE=","value":"djE="})");
}

TEST(ClusterTest, WithoutQuorumRequestsFailUnavailable) {
  LocalCluster c("cluster_noquorum", 3, {{"DKV_REQUEST_TIMEOUT_MS", "1000"}});
  ASSERT_TRUE(c.start_all(30s));
  ASSERT_GE(c.wait_for_leader({0, 1, 2}, 10s), 0);
  ASSERT_EQ(http("POST", c.rest_port(0), "/v0/kv", put_body("aw==", "dg==")).status, 200);
  for (int i = 1; i < 3; ++i) {
    c.process(i).signal(SIGKILL);
    c.process(i).wait_exit(10s);
  }
  // No quorum: a write and a linearizable read fail with 503, never a wrong
  // answer; a serializable read still answers locally.
  auto w = http("POST", c.rest_port(0), "/v0/kv", put_body("aw==", "dzI="));
  EXPECT_EQ(w.status, 503) << w.body;
  auto r = http("GET", c.rest_port(0), "/v0/kv/key/aw==");
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(http("GET", c.rest_port(0), "/v0/kv/key/aw==?serializable=true").body,
            R"({"key":"aw==","value":"dg=="})");
}

}  // namespace
}  // namespace dkv::testing

namespace dkv::testing {
namespace {

// A key's base64 for key number i ("k<i>").
std::string key_b64(int i) { return base64("k" + std::to_string(i)); }

TEST(ClusterTest, NodeBehindTheCompactedLogCatchesUpBySnapshotAndRestarts) {
  LocalCluster c("cluster_snapshot", 3, {{"DKV_SNAPSHOT_ENTRIES", "50"}});
  ASSERT_TRUE(c.start_all(30s));
  const int leader = c.wait_for_leader({0, 1, 2}, 10s);
  ASSERT_GE(leader, 0);
  const int lagging = (leader + 1) % 3;
  c.process(lagging).signal(SIGKILL);
  ASSERT_EQ(c.process(lagging).wait_exit(10s), 128 + SIGKILL);
  // Far more than snapshot + catch-up entries: the lagging node's next entry
  // is compacted away on the leader.
  for (int i = 0; i < 300; ++i) {
    ASSERT_EQ(http("POST", c.rest_port(leader), "/v0/kv", put_body(key_b64(i), "dg==")).status,
              200);
  }
  ASSERT_TRUE(c.start(lagging));
  ASSERT_TRUE(c.wait_ready(lagging, 30s)) << c.process(lagging).log();
  EXPECT_NE(c.process(lagging).log().find("installed snapshot"), std::string::npos);
  // Its local state has every write (serializable: no help from the leader).
  for (int i = 0; i < 300; i += 37) {
    EXPECT_EQ(
        http("GET", c.rest_port(lagging), "/v0/kv/key/" + key_b64(i) + "?serializable=true").status,
        200)
        << i;
  }
  // A node restarts from its own snapshot plus WAL tail.
  c.process(leader).signal(SIGTERM);
  ASSERT_EQ(c.process(leader).wait_exit(10s), 0);
  ASSERT_TRUE(c.start(leader));
  ASSERT_TRUE(c.wait_ready(leader, 30s)) << c.process(leader).log();
  for (int i = 0; i < 300; i += 41) {
    EXPECT_EQ(
        http("GET", c.rest_port(leader), "/v0/kv/key/" + key_b64(i) + "?serializable=true").status,
        200)
        << i;
  }
}

}  // namespace
}  // namespace dkv::testing

namespace dkv::testing {
namespace {

TEST(ClusterTest, SigtermOnTheLeaderHandsLeadershipOver) {
  LocalCluster c("cluster_sigterm", 3);
  ASSERT_TRUE(c.start_all(30s));
  const int leader = c.wait_for_leader({0, 1, 2}, 10s);
  ASSERT_GE(leader, 0);
  ASSERT_EQ(http("POST", c.rest_port(leader), "/v0/kv", put_body("aw==", "dg==")).status, 200);
  const std::string term_before = c.status_field((leader + 1) % 3, "term");
  c.process(leader).signal(SIGTERM);
  EXPECT_EQ(c.process(leader).wait_exit(5s), 0) << c.process(leader).log();
  EXPECT_NE(c.process(leader).log().find("handing leadership to"), std::string::npos);
  std::vector<int> others;
  for (int i = 0; i < 3; ++i) {
    if (i != leader) others.push_back(i);
  }
  const int next = c.wait_for_leader(others, 10s, leader);
  ASSERT_GE(next, 0);
  EXPECT_EQ(http("GET", c.rest_port(others[0]), "/v0/kv/key/aw==").status, 200);
}

TEST(ClusterTest, PausedLeaderStepsDownAndNeverServesAStaleRead) {
  LocalCluster c("cluster_pause", 3, {{"DKV_REQUEST_TIMEOUT_MS", "2000"}});
  ASSERT_TRUE(c.start_all(30s));
  const int leader = c.wait_for_leader({0, 1, 2}, 10s);
  ASSERT_GE(leader, 0);
  ASSERT_EQ(http("POST", c.rest_port(leader), "/v0/kv", put_body("aw==", "djE=")).status, 200);
  c.process(leader).signal(SIGSTOP);
  std::vector<int> others;
  for (int i = 0; i < 3; ++i) {
    if (i != leader) others.push_back(i);
  }
  const int next = c.wait_for_leader(others, 15s, leader);
  ASSERT_GE(next, 0) << "the majority did not elect a new leader";
  ASSERT_EQ(http("POST", c.rest_port(next), "/v0/kv", put_body("aw==", "djI=")).status, 200);
  c.process(leader).signal(SIGCONT);
  // Right after waking up the old leader still believes it leads; a
  // linearizable read on it must return the new value or fail, never "v1".
  for (int i = 0; i < 20; ++i) {
    auto r = http("GET", c.rest_port(leader), "/v0/kv/key/aw==");
    if (r.status == 200) {
      EXPECT_EQ(r.body, R"({"key":"aw==","value":"djI="})") << "stale read on the old leader";
    } else {
      EXPECT_EQ(r.status, 503) << r.body;
    }
  }
  // It rejoins as a follower.
  ASSERT_TRUE(c.wait_ready(leader, 15s));
  EXPECT_EQ(c.wait_for_leader({0, 1, 2}, 10s), next);
}

// A write forwarded to a leader that then goes away fails as soon as the
// follower sees another leader (503, outcome unknown), not at the request
// timeout: the client can retry within a failover. The timeout is set long
// so that the two causes tell apart by their messages.
TEST(ClusterTest, WriteInFlightToALostLeaderFailsAtTheLeaderChange) {
  LocalCluster c("cluster_lost_leader", 3, {{"DKV_REQUEST_TIMEOUT_MS", "20000"}});
  ASSERT_TRUE(c.start_all(30s));
  const int leader = c.wait_for_leader({0, 1, 2}, 10s);
  ASSERT_GE(leader, 0);
  const int follower = (leader + 1) % 3;
  c.process(leader).signal(SIGSTOP);
  // The follower still believes in the leader for an election timeout, so
  // it forwards the proposal into the void.
  const HttpResponse r = http("POST", c.rest_port(follower), "/v0/kv", put_body("aw==", "djE="));
  c.process(leader).signal(SIGCONT);
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_NE(r.body.find("leader changed"), std::string::npos) << r.body;
  // Whatever happened to it, the cluster serves on.
  const int next = c.wait_for_leader({0, 1, 2}, 15s);
  ASSERT_GE(next, 0);
  EXPECT_EQ(http("POST", c.rest_port(follower), "/v0/kv", put_body("aw==", "djI=")).status, 200);
}

TEST(ClusterTest, FullRestartKeepsEveryAcknowledgedWrite) {
  LocalCluster c("cluster_restart", 3, {{"DKV_SNAPSHOT_ENTRIES", "40"}});
  ASSERT_TRUE(c.start_all(30s));
  ASSERT_GE(c.wait_for_leader({0, 1, 2}, 10s), 0);
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(http("POST", c.rest_port(i % 3), "/v0/kv", put_body(key_b64(i), "dg==")).status, 200);
  }
  for (int i = 0; i < 3; ++i) c.process(i).signal(SIGKILL);
  for (int i = 0; i < 3; ++i) c.process(i).wait_exit(10s);
  ASSERT_TRUE(c.start_all(30s));
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(http("GET", c.rest_port((i + 1) % 3), "/v0/kv/key/" + key_b64(i)).status, 200) << i;
  }
}

}  // namespace
}  // namespace dkv::testing
