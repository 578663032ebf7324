// Process tests of dynamic membership (issue 9) on real dkv processes: a
// node joins with DKV_CLUSTER_STATE=existing and catches up by snapshot as a
// learner, is promoted, the leader is removed (it steps down and answers
// 503), a restart keeps the changed membership; unsafe changes are refused;
// one survivor restarts as a new cluster with DKV_FORCE_NEW_CLUSTER; a
// removed name added back with fresh data serves again.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <iostream>
#include <thread>

#include "harness.h"

namespace dkv::testing {
namespace {

using namespace std::chrono_literals;

std::string put_body(const std::string& b64_key, const std::string& b64_value) {
  return R"({"key":")" + b64_key + R"(","value":")" + b64_value + R"("})";
}

std::string add_body(LocalCluster& c, int i, bool voter = false, bool force = false) {
  return R"({"id":")" + c.id(i) + R"(","address":"127.0.0.1:)" + std::to_string(c.rpc_port(i)) +
         R"(")" + (voter ? R"(,"voter":true)" : "") + (force ? R"(,"force":true)" : "") + "}";
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Polls `request` until it answers `status`, or `timeout`; the last answer.
template <typename F>
HttpResponse poll_until_status(F request, int status, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  HttpResponse r = request();
  while (r.status != status && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(100ms);  // Poll pacing.
    r = request();
  }
  return r;
}

bool wait_log(DkvProcess& p, const std::string& text, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (!contains(p.log(), text)) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(100ms);  // Poll pacing.
  }
  return true;
}

std::size_t count_of(const std::string& haystack, const std::string& text) {
  std::size_t n = 0;
  for (auto at = haystack.find(text); at != std::string::npos; at = haystack.find(text, at + 1))
    ++n;
  return n;
}

// Waits until `text` occurs in p's log more than `seen` times.
bool wait_log_again(DkvProcess& p, const std::string& text, std::size_t seen,
                    std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (count_of(p.log(), text) <= seen) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(100ms);  // Poll pacing.
  }
  return true;
}

std::string key(int k) { return base64("key" + std::to_string(k)); }
std::string value(int k) { return base64("value" + std::to_string(k)); }

// The phases of JoinBySnapshotPromoteRemoveLeaderAndRestart, in order.

// member add d (a learner), sent to a follower, which forwards it to the
// leader; refused twice, and refused promotion while far behind.
void add_learner_d(LocalCluster& c, int d) {
  auto r = http("POST", c.rest_port(1), "/v0/members", add_body(c, d));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(contains(r.body, R"("id":"d")")) << r.body;
  EXPECT_TRUE(contains(r.body, R"("isLearner":true)")) << r.body;
  r = http("GET", c.rest_port(2), "/v0/members");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(contains(r.body, R"({"id":"d","address":"127.0.0.1:)" +
                                   std::to_string(c.rpc_port(d)) + R"(","isLearner":true})"))
      << r.body;
  // Adding it twice is refused.
  EXPECT_EQ(http("POST", c.rest_port(0), "/v0/members", add_body(c, d)).status, 409);
  // Not started yet: far behind, so not promoted.
  r = http("POST", c.rest_port(0), "/v0/members/d/promote", "{}");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_TRUE(contains(r.body, "far behind")) << r.body;
}

// d joins with the current members plus itself in DKV_CLUSTER, catches up
// by snapshot, and is promoted once caught up.
void join_and_promote_d(LocalCluster& c, int d) {
  c.set_env(d, "DKV_CLUSTER_STATE", "existing");
  ASSERT_TRUE(c.start(d));
  ASSERT_TRUE(c.wait_ready(d, 30s)) << c.process(d).log();
  EXPECT_TRUE(contains(c.process(d).log(), "installed snapshot")) << c.process(d).log();
  EXPECT_EQ(c.status_field(d, "role"), "learner");
  EXPECT_EQ(http("GET", c.rest_port(d), "/v0/kv/key/" + key(99)).body,
            R"({"key":")" + key(99) + R"(","value":")" + value(99) + R"("})");
  auto r = poll_until_status(
      [&] { return http("POST", c.rest_port(2), "/v0/members/d/promote", "{}"); }, 200, 15s);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(contains(r.body, R"("isLearner":true)")) << r.body;
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (c.status_field(d, "role") != "follower" && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(100ms);  // Poll pacing.
  }
  EXPECT_EQ(c.status_field(d, "role"), "follower");
}

// Remove the leader a (asked through a follower): it steps down, a new
// leader serves, a answers 503.
void remove_leader_a(LocalCluster& c) {
  auto r = http("DELETE", c.rest_port(1), "/v0/members/a");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(contains(r.body, R"("id":"a")")) << r.body;
  const int leader = c.wait_for_leader({1, 2, 3}, 15s, 0);
  ASSERT_GE(leader, 1) << c.process(1).log();
  EXPECT_EQ(http("POST", c.rest_port(3), "/v0/kv", put_body(key(200), value(200))).status, 200);
  EXPECT_TRUE(wait_log(c.process(0), "removed from the cluster", 10s)) << c.process(0).log();
  r = http("GET", c.rest_port(0), "/v0/kv/key/" + key(1));
  EXPECT_EQ(r.status, 503);
  EXPECT_TRUE(contains(r.body, "removed")) << r.body;
  EXPECT_EQ(http("GET", c.rest_port(0), "/readyz").status, 503);
  EXPECT_EQ(http("POST", c.rest_port(0), "/v0/kv", put_body(key(1), value(1))).status, 503);
}

// A restart of b uses the persisted membership, not DKV_CLUSTER.
void restart_b_with_persisted_membership(LocalCluster& c) {
  c.process(1).signal(SIGTERM);
  ASSERT_EQ(c.process(1).wait_exit(15s), 0);
  ASSERT_TRUE(c.start(1));
  ASSERT_TRUE(c.wait_ready(1, 30s)) << c.process(1).log();
  EXPECT_TRUE(contains(c.process(1).log(), "DKV_CLUSTER differs from the persisted membership"));
  const auto r = http("GET", c.rest_port(1), "/v0/members");
  EXPECT_FALSE(contains(r.body, R"("id":"a")")) << r.body;
  EXPECT_TRUE(contains(r.body, R"("id":"d")")) << r.body;
  EXPECT_EQ(http("GET", c.rest_port(1), "/v0/kv/key/" + key(200)).status, 200);
}

// A follower removed while it is down (paused) never receives its
// removal; once back it asks the others, learns it, and stops serving.
void remove_paused_follower(LocalCluster& c) {
  const int follower = c.status_field(1, "leaderId") == "c" ? 1 : 2;
  const int leader_index = 3 - follower;
  const std::string lost = "lost the stream to node " + c.id(follower);
  const std::size_t lost_before = count_of(c.process(leader_index).log(), lost);
  c.process(follower).signal(SIGSTOP);
  // Down as far as the leader can tell first: until then its messages (the
  // removal, its commit) still reach the paused follower's socket buffer,
  // to be read once it is back, and the follower would learn its removal
  // from its log rather than by asking.
  ASSERT_TRUE(wait_log_again(c.process(leader_index), lost, lost_before, 15s))
      << c.process(leader_index).log();
  // (Retried: the new leader accepts changes once its first entry applies.)
  const auto r = poll_until_status(
      [&] { return http("DELETE", c.rest_port(3), "/v0/members/" + c.id(follower)); }, 200, 10s);
  ASSERT_EQ(r.status, 200) << r.body;
  c.process(follower).signal(SIGCONT);
  EXPECT_TRUE(wait_log(c.process(follower), "lists it as removed", 20s))
      << c.process(follower).log();
  EXPECT_EQ(http("GET", c.rest_port(follower), "/v0/kv/key/" + key(1)).status, 503);
  EXPECT_EQ(http("POST", c.rest_port(3), "/v0/kv", put_body(key(300), value(300))).status, 200);
}

TEST(MembershipTest, JoinBySnapshotPromoteRemoveLeaderAndRestart) {
  // Small snapshots: the log the joiner needs is compacted away.
  LocalCluster c("membership_join", 3, {{"DKV_SNAPSHOT_ENTRIES", "20"}});
  ASSERT_TRUE(c.start_all(30s)) << c.process(0).log();
  ASSERT_EQ(c.wait_for_leader({0, 1, 2}, 10s), 0);
  for (int k = 0; k < 100; ++k) {
    ASSERT_EQ(http("POST", c.rest_port(0), "/v0/kv", put_body(key(k), value(k))).status, 200);
  }
  ASSERT_TRUE(wait_log(c.process(0), "snapshot at index", 10s));
  const int d = c.add_node();
  ASSERT_NO_FATAL_FAILURE(add_learner_d(c, d));
  ASSERT_NO_FATAL_FAILURE(join_and_promote_d(c, d));
  ASSERT_NO_FATAL_FAILURE(remove_leader_a(c));
  ASSERT_NO_FATAL_FAILURE(restart_b_with_persisted_membership(c));
  // Leadership moves to a named voter.
  const std::string target = c.status_field(1, "leaderId") == "b" ? "c" : "b";
  const auto r = http("POST", c.rest_port(3), "/v0/leader", R"({"id":")" + target + R"("})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, R"({"leaderId":")" + target + R"("})");
  ASSERT_NO_FATAL_FAILURE(remove_paused_follower(c));
}

// Removing the leader (issue 14, item 11): it hands leadership to a voter
// first, which removes it; no election timeout passes without a leader,
// so the term rises by exactly one (the transfer's election) and a new
// leader is known as soon as the call returns.
TEST(MembershipTest, RemovingTheLeaderHandsLeadershipOverFirst) {
  LocalCluster c("member_remove_leader", 3);
  ASSERT_TRUE(c.start_all(30s)) << c.process(0).log();
  const int leader = c.wait_for_leader({0, 1, 2}, 20s);
  ASSERT_GE(leader, 0);
  ASSERT_EQ(http("POST", c.rest_port(leader), "/v0/kv", put_body(key(1), value(1))).status, 200);
  const std::uint64_t term = std::stoull(c.status_field(leader, "term"));
  // Retried: the leader refuses (400, nothing changed) until it has heard
  // from both other voters recently, which a loaded machine can delay.
  const auto r = poll_until_status(
      [&] { return http("DELETE", c.rest_port(leader), "/v0/members/" + c.id(leader)); }, 200, 10s);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(contains(r.body, R"("id":")" + c.id(leader) + R"(")")) << r.body;
  std::vector<int> rest;
  for (int i = 0; i < 3; ++i) {
    if (i != leader) rest.push_back(i);
  }
  // The new leader removed the old one: both survivors know it already.
  for (int i : rest) {
    const std::string known = c.status_field(i, "leaderId");
    EXPECT_TRUE(known == c.id(rest[0]) || known == c.id(rest[1])) << c.id(i) << ": " << known;
  }
  const int next = c.wait_for_leader(rest, 15s, leader);
  ASSERT_GE(next, 0);
  EXPECT_EQ(std::stoull(c.status_field(next, "term")), term + 1);
  EXPECT_TRUE(contains(c.process(leader).log(), "handing leadership to " + c.id(next)))
      << c.process(leader).log();
  EXPECT_TRUE(wait_log(c.process(leader), "removed from the cluster", 10s));
  EXPECT_EQ(http("POST", c.rest_port(next), "/v0/kv", put_body(key(2), value(2))).status, 200);
}

TEST(MembershipTest, GrowThreeToFiveUnderWriteLoad) {
  LocalCluster c("membership_grow", 3, {{"DKV_SNAPSHOT_ENTRIES", "50"}});
  ASSERT_TRUE(c.start_all(30s)) << c.process(0).log();
  ASSERT_EQ(c.wait_for_leader({0, 1, 2}, 10s), 0);
  // A writer, bounded in count and time, through a follower (forwarded).
  std::atomic<bool> stop{false};
  std::vector<int> acked;  // Keys whose put was acknowledged; the writer's until joined.
  std::thread writer([&] {
    const auto until = std::chrono::steady_clock::now() + 60s;
    for (int k = 0; k < 5000 && !stop && std::chrono::steady_clock::now() < until; ++k) {
      if (http("POST", c.rest_port(1), "/v0/kv", put_body(key(k), value(k))).status == 200) {
        acked.push_back(k);
      }
    }
  });
  for (int n = 0; n < 2; ++n) {
    const int i = c.add_node();
    auto r = poll_until_status(
        [&] { return http("POST", c.rest_port(0), "/v0/members", add_body(c, i)); }, 200, 10s);
    ASSERT_EQ(r.status, 200) << r.body;
    c.set_env(i, "DKV_CLUSTER_STATE", "existing");
    ASSERT_TRUE(c.start(i));
    ASSERT_TRUE(c.wait_ready(i, 30s)) << c.process(i).log();
    r = poll_until_status(
        [&] { return http("POST", c.rest_port(2), "/v0/members/" + c.id(i) + "/promote", "{}"); },
        200, 20s);
    ASSERT_EQ(r.status, 200) << r.body;
  }
  stop = true;
  writer.join();
  ASSERT_FALSE(acked.empty());
  std::cerr << acked.size() << " writes acknowledged while the cluster grew\n";
  auto r = http("GET", c.rest_port(4), "/v0/members");
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(contains(r.body, R"("isLearner":true)")) << r.body;
  EXPECT_TRUE(contains(r.body, R"("id":"e")")) << r.body;
  // The newest member has every acknowledged write (linearizable reads).
  const std::size_t step = std::max<std::size_t>(1, acked.size() / 50);
  for (std::size_t j = 0; j < acked.size(); j += step) {
    EXPECT_EQ(http("GET", c.rest_port(4), "/v0/kv/key/" + key(acked[j])).status, 200) << acked[j];
  }
  EXPECT_EQ(http("GET", c.rest_port(4), "/v0/kv/key/" + key(acked.back())).status, 200);
}

TEST(MembershipTest, UnsafeChangesAreRefused) {
  // c never starts, so the leader has never heard from it; a short request
  // timeout and a long election timeout let a pending change be observed.
  LocalCluster c("membership_refusals", 3,
                 {{"DKV_REQUEST_TIMEOUT_MS", "1000"}, {"DKV_ELECTION_MS", "4000"}});
  ASSERT_TRUE(c.start(0));
  ASSERT_TRUE(c.start(1));
  ASSERT_TRUE(c.wait_ready(0, 30s)) << c.process(0).log();
  ASSERT_TRUE(c.wait_ready(1, 30s));
  ASSERT_EQ(c.wait_for_leader({0, 1}, 10s), 0);

  // Removing b would leave {a, c} with only a up.
  auto r = http("DELETE", c.rest_port(0), "/v0/members/b");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_TRUE(contains(r.body, "quorum")) << r.body;
  // So would adding a voter that is not up.
  const int d = c.add_node();
  r = http("POST", c.rest_port(1), "/v0/members", add_body(c, d, /*voter=*/true));
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_TRUE(contains(r.body, "quorum")) << r.body;
  // Unknown members.
  EXPECT_EQ(http("DELETE", c.rest_port(0), "/v0/members/zz").status, 404);
  EXPECT_EQ(http("POST", c.rest_port(0), "/v0/members/zz/promote", "{}").status, 404);
  EXPECT_EQ(http("POST", c.rest_port(0), "/v0/leader", R"({"id":"zz"})").status, 404);
  // Bad input.
  EXPECT_EQ(http("POST", c.rest_port(0), "/v0/members", R"({"id":"e","address":"nope"})").status,
            400);

  // A change that cannot commit (b stopped) stays pending: a second one is
  // refused while it is.
  c.process(1).signal(SIGSTOP);
  r = http("POST", c.rest_port(0), "/v0/members", add_body(c, d, false, /*force=*/true));
  EXPECT_EQ(r.status, 503) << r.body;
  const int e = c.add_node();
  r = http("POST", c.rest_port(0), "/v0/members", add_body(c, e));
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_TRUE(contains(r.body, "pending")) << r.body;
  c.process(1).signal(SIGCONT);
  // Once b is back the first change commits.
  r = poll_until_status(
      [&] {
        HttpResponse m = http("GET", c.rest_port(1), "/v0/members");
        if (!contains(m.body, R"("id":"d")")) m.status = 0;
        return m;
      },
      200, 15s);
  EXPECT_EQ(r.status, 200) << r.body;
  // A learner that never started is removed without ceremony.
  r = poll_until_status([&] { return http("DELETE", c.rest_port(0), "/v0/members/d"); }, 200, 10s);
  EXPECT_EQ(r.status, 200) << r.body;
  // Its name cannot come back (its old process might), unless forced.
  r = http("POST", c.rest_port(0), "/v0/members", add_body(c, d));
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_TRUE(contains(r.body, "was removed")) << r.body;
  r = http("POST", c.rest_port(0), "/v0/members", add_body(c, d, false, /*force=*/true));
  EXPECT_EQ(r.status, 200) << r.body;
  r = poll_until_status([&] { return http("DELETE", c.rest_port(1), "/v0/members/d?force=true"); },
                        200, 10s);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(contains(r.body, R"("id":"d")")) << r.body;
}

// A removed member, its data wiped, added back under its old name (force)
// joins afresh: replaying the log it applies its own removal, then its
// addition, and must serve again (it used to stay "removed" for good).
TEST(MembershipTest, RemovedNameAddedBackWithFreshDataServesAgain) {
  LocalCluster c("membership_readd", 3);
  ASSERT_TRUE(c.start_all(30s));
  ASSERT_EQ(c.wait_for_leader({0, 1, 2}, 10s), 0);
  ASSERT_EQ(http("POST", c.rest_port(0), "/v0/kv", put_body(key(1), value(1))).status, 200);
  auto r = http("DELETE", c.rest_port(0), "/v0/members/c");
  ASSERT_EQ(r.status, 200) << r.body;
  c.process(2).signal(SIGKILL);
  c.process(2).wait_exit(10s);
  std::filesystem::remove_all(c.db_path(2));
  r = http("POST", c.rest_port(1), "/v0/members", add_body(c, 2, false, /*force=*/true));
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_TRUE(c.start(2, {{"DKV_CLUSTER_STATE", "existing"}}));
  ASSERT_TRUE(c.wait_ready(2, 30s)) << c.process(2).log();
  EXPECT_TRUE(contains(c.process(2).log(), "added back to the cluster")) << c.process(2).log();
  EXPECT_EQ(http("GET", c.rest_port(2), "/v0/kv/key/" + key(1)).status, 200);
  r = poll_until_status([&] { return http("POST", c.rest_port(0), "/v0/members/c/promote", "{}"); },
                        200, 15s);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(http("POST", c.rest_port(2), "/v0/kv", put_body(key(2), value(2))).status, 200);
}

TEST(MembershipTest, ForceNewClusterRecoversOneSurvivor) {
  LocalCluster c("membership_force", 3);
  ASSERT_TRUE(c.start_all(30s));
  ASSERT_EQ(c.wait_for_leader({0, 1, 2}, 10s), 0);
  for (int k = 0; k < 20; ++k) {
    ASSERT_EQ(http("POST", c.rest_port(0), "/v0/kv", put_body(key(k), value(k))).status, 200);
  }
  // b has applied every write (it must not depend on which follower acked).
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (c.status_field(1, "appliedIndex") != c.status_field(0, "appliedIndex") &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(100ms);  // Poll pacing.
  }
  ASSERT_EQ(c.status_field(1, "appliedIndex"), c.status_field(0, "appliedIndex"));
  // The majority is lost for good.
  for (int i = 0; i < 3; ++i) c.process(i).signal(SIGKILL);
  for (int i = 0; i < 3; ++i) c.process(i).wait_exit(10s);

  // b restarts as a cluster of itself, keeping everything it had.
  c.set_env(1, "DKV_FORCE_NEW_CLUSTER", "true");
  ASSERT_TRUE(c.start(1));
  ASSERT_TRUE(c.wait_ready(1, 30s)) << c.process(1).log();
  EXPECT_EQ(c.status_field(1, "role"), "leader");
  for (int k = 0; k < 20; ++k) {
    EXPECT_EQ(http("GET", c.rest_port(1), "/v0/kv/key/" + key(k)).status, 200) << k;
  }
  EXPECT_EQ(http("POST", c.rest_port(1), "/v0/kv", put_body(key(50), value(50))).status, 200);
  auto r = http("GET", c.rest_port(1), "/v0/members");
  EXPECT_EQ(r.body, R"({"members":[{"id":"b","address":"127.0.0.1:)" +
                        std::to_string(c.rpc_port(1)) + R"(","isLearner":false}]})");

  // Then members are added again: a new node d joins and is promoted.
  const int d = c.add_node();
  ASSERT_EQ(http("POST", c.rest_port(1), "/v0/members", add_body(c, d)).status, 200);
  c.set_env(d, "DKV_CLUSTER_STATE", "existing");
  ASSERT_TRUE(c.start(d));
  ASSERT_TRUE(c.wait_ready(d, 30s)) << c.process(d).log();
  r = poll_until_status([&] { return http("POST", c.rest_port(1), "/v0/members/d/promote", "{}"); },
                        200, 15s);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(http("GET", c.rest_port(d), "/v0/kv/key/" + key(50)).status, 200);
}

}  // namespace
}  // namespace dkv::testing
