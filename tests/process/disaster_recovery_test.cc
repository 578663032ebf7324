// Process tests of disaster recovery (issue 14, item 2) on real dkv
// processes: after a membership change (d added and promoted), the majority
// is lost, one survivor (b) restarts with DKV_FORCE_NEW_CLUSTER, and two new
// members (e and f here; f and g in the issue) are added and promoted as the
// README says. Every member must then list b, e and f -- the survivor's
// membership, not one rebuilt from the old log (which added d back) -- so
// that after kill -9 of b the other two of three elect a leader and serve
// writes, a member added then (g, through the new leader) catches up, and a
// restarted member starts. Run with fresh addresses and with e taking the
// lost d's address.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"

namespace dkv::testing {
namespace {

using namespace std::chrono_literals;

std::string put_body(int k) {
  return R"({"key":")" + base64("key" + std::to_string(k)) + R"(","value":")" +
         base64("value" + std::to_string(k)) + R"("})";
}

std::string get_target(int k) { return "/v0/kv/key/" + base64("key" + std::to_string(k)); }

std::string add_body(LocalCluster& c, int i) {
  return R"({"id":")" + c.id(i) + R"(","address":"127.0.0.1:)" + std::to_string(c.rpc_port(i)) +
         R"("})";
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

// The ids in a GET /v0/members body, in order, each followed by "(learner)"
// if it is one: e.g. "b e f".
std::string member_list(const std::string& body) {
  std::string out;
  const std::string id_key = R"("id":")";
  for (auto at = body.find(id_key); at != std::string::npos; at = body.find(id_key, at)) {
    at += id_key.size();
    const auto end = body.find('"', at);
    if (!out.empty()) out += ' ';
    out += body.substr(at, end - at);
    const auto next = body.find('}', end);
    if (body.substr(end, next - end).find(R"("isLearner":true)") != std::string::npos) {
      out += "(learner)";
    }
  }
  return out;
}

// Polls node i's membership until it is `want`, or `timeout`; the last seen.
std::string wait_members(LocalCluster& c, int i, const std::string& want,
                         std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  std::string seen;
  for (;;) {
    const HttpResponse r = http("GET", c.rest_port(i), "/v0/members");
    seen = r.status == 200 ? member_list(r.body) : "HTTP " + std::to_string(r.status) + r.body;
    if (seen == want || std::chrono::steady_clock::now() >= until) return seen;
    std::this_thread::sleep_for(100ms);  // Poll pacing.
  }
}

// DKV_CLUSTER as `dkvctl member add` prints it: the members and the new one.
std::string cluster_of(LocalCluster& c, const std::vector<int>& nodes) {
  std::string out;
  for (int i : nodes) {
    if (!out.empty()) out += ',';
    out += c.id(i) + "@127.0.0.1:" + std::to_string(c.rpc_port(i));
  }
  return out;
}

// Adds node n through node `via` as the README says (member add, start with
// DKV_CLUSTER_STATE=existing, promote once caught up).
void add_and_promote(LocalCluster& c, int via, int n, const std::vector<int>& members_after) {
  auto r = http("POST", c.rest_port(via), "/v0/members", add_body(c, n));
  ASSERT_EQ(r.status, 200) << r.body;
  c.set_env(n, "DKV_CLUSTER_STATE", "existing");
  c.set_env(n, "DKV_CLUSTER", cluster_of(c, members_after));
  ASSERT_TRUE(c.start(n));
  ASSERT_TRUE(c.wait_ready(n, 30s)) << c.process(n).log();
  r = poll_until_status(
      [&] { return http("POST", c.rest_port(via), "/v0/members/" + c.id(n) + "/promote", "{}"); },
      200, 20s);
  ASSERT_EQ(r.status, 200) << r.body;
}

class DisasterRecoveryTest : public ::testing::TestWithParam<bool> {};

TEST_P(DisasterRecoveryTest, NewMembersAgreeWithTheSurvivor) {
  const bool reuse_address = GetParam();
  LocalCluster c(reuse_address ? "dr_reused_address" : "dr_membership", 3);
  ASSERT_TRUE(c.start_all(30s)) << c.process(0).log();
  ASSERT_GE(c.wait_for_leader({0, 1, 2}, 10s), 0);
  for (int k = 0; k < 10; ++k) {
    ASSERT_EQ(http("POST", c.rest_port(0), "/v0/kv", put_body(k)).status, 200) << k;
  }
  // 2. d joins and is promoted: configuration entries in the log.
  const int d = c.add_node();
  ASSERT_NO_FATAL_FAILURE(add_and_promote(c, 0, d, {0, 1, 2, d}));
  ASSERT_EQ(wait_members(c, 1, "a b c d", 15s), "a b c d");

  // 3. kill -9 a, c and d; stop b.
  for (int i : {0, 2, d}) c.process(i).signal(SIGKILL);
  for (int i : {0, 2, d}) c.process(i).wait_exit(10s);
  c.process(1).signal(SIGTERM);
  ASSERT_GE(c.process(1).wait_exit(30s), 0);

  // 4. b restarts as a cluster of itself.
  c.set_env(1, "DKV_FORCE_NEW_CLUSTER", "true");
  ASSERT_TRUE(c.start(1));
  ASSERT_TRUE(c.wait_ready(1, 30s)) << c.process(1).log();
  c.unset_env(1, "DKV_FORCE_NEW_CLUSTER");
  ASSERT_EQ(wait_members(c, 1, "b", 10s), "b");

  // 5. e (and f) are added and promoted; e may take d's address.
  const int e = c.add_node(reuse_address ? c.rpc_port(d) : 0);
  ASSERT_NO_FATAL_FAILURE(add_and_promote(c, 1, e, {1, e}));
  const int f = c.add_node();
  ASSERT_NO_FATAL_FAILURE(add_and_promote(c, 1, f, {1, e, f}));
  for (int i : {1, e, f}) {
    EXPECT_EQ(wait_members(c, i, "b e f", 20s), "b e f") << "as node " << c.id(i) << " sees it";
  }
  for (int i : {e, f}) {
    EXPECT_EQ(c.process(i).log().find("this is node"), std::string::npos) << c.process(i).log();
  }
  // Later restarts name the members of now (DKV_CLUSTER of the harness still
  // lists d, at e's address in the reused case).
  for (int i : {1, e, f}) c.set_env(i, "DKV_CLUSTER", cluster_of(c, {1, e, f}));

  // kill -9 b: e and f are two of three voters.
  c.process(1).signal(SIGKILL);
  c.process(1).wait_exit(10s);
  ASSERT_GE(c.wait_for_leader({e, f}, 30s, /*not_this=*/1), 0)
      << c.process(e).log() << c.process(f).log();
  auto r = poll_until_status([&] { return http("POST", c.rest_port(e), "/v0/kv", put_body(20)); },
                             200, 20s);
  EXPECT_EQ(r.status, 200) << r.body;
  // A member added while b is down joins through the new leader: the
  // snapshot it installs (b's forced one) lists only b, yet it must keep
  // talking to the leader until it has caught up.
  const int leader = c.wait_for_leader({e, f}, 30s, /*not_this=*/1);
  ASSERT_GE(leader, 0);
  const int g = c.add_node();
  r = http("POST", c.rest_port(leader), "/v0/members", add_body(c, g));
  ASSERT_EQ(r.status, 200) << r.body;
  c.set_env(g, "DKV_CLUSTER_STATE", "existing");
  c.set_env(g, "DKV_CLUSTER", cluster_of(c, {1, e, f, g}));
  ASSERT_TRUE(c.start(g));
  ASSERT_TRUE(c.wait_ready(g, 30s)) << c.process(g).log();
  EXPECT_EQ(http("GET", c.rest_port(g), get_target(20)).status, 200);
  EXPECT_EQ(wait_members(c, g, "b e f g(learner)", 10s), "b e f g(learner)");

  // A restarted member starts, and the two serve again.
  c.process(e).signal(SIGKILL);
  c.process(e).wait_exit(10s);
  ASSERT_TRUE(c.start(e));
  ASSERT_TRUE(c.wait_ready(e, 30s)) << c.process(e).log();
  EXPECT_EQ(http("GET", c.rest_port(e), get_target(20)).status, 200);
  EXPECT_EQ(http("GET", c.rest_port(e), get_target(3)).status, 200);
  r = poll_until_status([&] { return http("POST", c.rest_port(f), "/v0/kv", put_body(21)); }, 200,
                        20s);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(wait_members(c, e, "b e f g(learner)", 10s), "b e f g(learner)");
}

INSTANTIATE_TEST_SUITE_P(Addresses, DisasterRecoveryTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "ReusedAddress" : "FreshAddresses";
                         });

}  // namespace
}  // namespace dkv::testing
