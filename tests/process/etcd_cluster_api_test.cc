// Debian's etcdctl 3.4 (/usr/bin/etcdctl, ETCDCTL_API=3) against a 3-node
// dkv: member list, endpoint status, member add/promote/remove of a learner
// that really joins (and refuses what etcd's learners refuse), etcd's error strings, alarm
// list/disarm, snapshot save (the file ends with the SHA-256 of the image), move-leader; and curl's
// view: GET /version, GET /health, POST /v3/maintenance/status and
// /v3/cluster/member/list. Skips if etcdctl is not installed.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <sstream>
#include <set>
#include <thread>

#include "etcdctl_runner.h"
#include "harness.h"

namespace dkv::testing {
namespace {

using namespace std::chrono_literals;
bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

struct ShellRun {
  int exit_code = -1;
  std::string out;  // stdout and stderr.
};

ShellRun joined(const CommandResult& r) { return {r.exit_code, r.out + r.err}; }

// Runs a shell command line, stdout and stderr together.
ShellRun sh(const std::string& command) {
  return joined(run_program("/bin/sh", {"-c", command}, {}, ""));
}

// The words of a command line without quotes.
std::vector<std::string> words(const std::string& line) {
  std::vector<std::string> out;
  std::istringstream in(line);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

class EtcdctlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!etcdctl_installed()) GTEST_SKIP() << "no " << kEtcdctl << " (etcd-client)";
    cluster_ = std::make_unique<LocalCluster>("etcdctl", 3, env_);
    ASSERT_TRUE(cluster_->start_all(60s));
    ASSERT_GE(cluster_->wait_for_leader({0, 1, 2}, 30s), 0);
  }

  std::string endpoint(int i) { return "127.0.0.1:" + std::to_string(cluster_->rpc_port(i)); }
  std::string all_endpoints() { return endpoint(0) + "," + endpoint(1) + "," + endpoint(2); }
  ShellRun etcdctl(const std::string& args, const std::string& endpoints = "") {
    return joined(run_etcdctl(endpoints.empty() ? endpoint(0) : endpoints, words(args)));
  }
  // The hex ID `member list` shows for the member named `name`, or "".
  std::string member_id(const std::string& name) {
    const ShellRun r = etcdctl("member list");
    std::size_t at = 0;
    while (at < r.out.size()) {
      const std::size_t end = r.out.find('\n', at);
      const std::string line = r.out.substr(at, end - at);
      if (contains(line, ", " + name + ", ")) return line.substr(0, line.find(','));
      if (end == std::string::npos) break;
      at = end + 1;
    }
    return "";
  }
  // Repeats `args` until its output has `want`, or 30 s; the last run.
  ShellRun etcdctl_until(const std::string& args, const std::string& want,
                         const std::string& endpoints = "") {
    const auto until = std::chrono::steady_clock::now() + 30s;
    ShellRun r = etcdctl(args, endpoints);
    while (!contains(r.out, want) && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(200ms);  // Poll pacing.
      r = etcdctl(args, endpoints);
    }
    return r;
  }

  std::map<std::string, std::string> env_;  // The cluster's extra variables.
  std::unique_ptr<LocalCluster> cluster_;
};

TEST_F(EtcdctlTest, ListsMembersAndEndpointStatusAsEtcdDoes) {
  ShellRun r = etcdctl("member list -w table");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  for (int i = 0; i < 3; ++i) {
    const std::string url = "http://" + endpoint(i);
    EXPECT_TRUE(contains(
        r.out, "| started |    " + cluster_->id(i) + " | " + url + " | " + url + " |      false |"))
        << r.out;
  }
  r = etcdctl("member list -w json");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, R"("name":"b","peerURLs":["http://)" + endpoint(1) + R"("])"))
      << r.out;
  EXPECT_TRUE(contains(r.out, R"("header":{"cluster_id":)")) << r.out;

  r = etcdctl("endpoint status -w table --cluster");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(contains(r.out, "| http://" + endpoint(i) + " |"));
  EXPECT_TRUE(contains(r.out, "|  3.4.23 |")) << r.out;
  std::size_t leaders = 0;
  for (auto at = r.out.find("|      true |"); at != std::string::npos;
       at = r.out.find("|      true |", at + 1)) {
    ++leaders;
  }
  EXPECT_EQ(leaders, 1u) << r.out;  // IS LEADER true once; IS LEARNER never.

  r = etcdctl("endpoint status -w json");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, R"("version":"3.4.23","dbSize":)")) << r.out;
  EXPECT_TRUE(contains(r.out, R"("raftAppliedIndex":)")) << r.out;

  // 3.4's health check is a Range of "health": healthy once etcd's KV is
  // served; until then it must fail on that Range, not elsewhere.
  r = etcdctl("endpoint health");
  EXPECT_TRUE(contains(r.out, "is healthy") || contains(r.out, "Unimplemented")) << r.out;
}

TEST_F(EtcdctlTest, AddsPromotesAndRemovesALearnerThatJoins) {
  const int d = cluster_->add_node();
  ASSERT_EQ(cluster_->id(d), "d");
  const std::string d_url = "http://" + endpoint(d);
  // The URL's user part names the member (etcdctl sends no name).
  ShellRun r = etcdctl("member add d --learner --peer-urls=http://d@" + endpoint(d));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, " added to cluster ")) << r.out;
  EXPECT_TRUE(contains(r.out, "ETCD_NAME=\"d\"")) << r.out;
  EXPECT_TRUE(
      contains(cluster_->process(0).log() + cluster_->process(1).log() + cluster_->process(2).log(),
               "start it with DKV_NODE_ID=d"));
  const std::string id = member_id("d");
  ASSERT_FALSE(id.empty());
  r = etcdctl("member list");
  EXPECT_TRUE(contains(r.out, id + ", started, d, " + d_url + ", " + d_url + ", true")) << r.out;

  // Not started yet: not in sync.
  r = etcdctl("member promote " + id);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(contains(
      r.out, "Error: etcdserver: can only promote a learner member which is in sync with leader"))
      << r.out;

  cluster_->set_env(d, "DKV_CLUSTER_STATE", "existing");
  ASSERT_TRUE(cluster_->start(d));
  // A learner serves serializable Ranges only, as etcd's (v3rpc
  // isRPCSupportedForLearner); everything else gets etcd's error.
  ASSERT_EQ(etcdctl("put k v").exit_code, 0);
  r = etcdctl_until("get k --consistency=s", "k\nv", endpoint(d));
  EXPECT_TRUE(contains(r.out, "k\nv")) << r.out;
  for (const std::string refused : {"put k w", "get k", "del k", "compaction 1"}) {
    r = etcdctl(refused, endpoint(d));
    EXPECT_NE(r.exit_code, 0) << refused;
    EXPECT_TRUE(contains(r.out, "etcdserver: rpc not supported for learner")) << refused << r.out;
  }
  r = sh("printf '\\nput k x\\n\\n\\n' | env ETCDCTL_API=3 " + std::string(kEtcdctl) +
         " --endpoints=" + endpoint(d) + " txn");
  EXPECT_TRUE(contains(r.out, "etcdserver: rpc not supported for learner")) << r.out;
  r = sh("curl -s -X POST http://127.0.0.1:" + std::to_string(cluster_->rest_port(d)) +
         "/v3/kv/put -d '{\"key\":\"aw==\",\"value\":\"dw==\"}'");
  EXPECT_TRUE(contains(r.out, R"("error":"etcdserver: rpc not supported for learner","code":14)"))
      << r.out;
  r = etcdctl_until("member promote " + id, "promoted");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "Member " + id + " promoted in cluster ")) << r.out;
  r = etcdctl("member list");
  EXPECT_TRUE(contains(r.out, id + ", started, d, " + d_url + ", " + d_url + ", false")) << r.out;
  // A voter now: it takes writes (once it applied its promotion).
  r = etcdctl_until("put k w", "OK", endpoint(d));
  EXPECT_EQ(r.exit_code, 0) << r.out;

  r = etcdctl("member remove " + id);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "Member " + id + " removed from cluster ")) << r.out;
  EXPECT_EQ(member_id("d"), "");
}

// `endpoint hashkv`: every member's hash of the same revision is the same,
// after a compaction that each member carries out at its own pace.
TEST_F(EtcdctlTest, HashKvAgreesAcrossMembers) {
  for (int i = 0; i < 20; ++i) {  // Revisions 2..21.
    ASSERT_EQ(etcdctl("put k" + std::to_string(i % 5) + " v" + std::to_string(i)).exit_code, 0);
  }
  ASSERT_EQ(etcdctl("del k3").exit_code, 0);  // 22.
  ASSERT_EQ(etcdctl("compaction 10").exit_code, 0);
  ASSERT_EQ(etcdctl("put k9 last").exit_code, 0);  // 23.
  // Poll until every member has applied revision 23 (no future-revision
  // error): then three lines "<endpoint>, <hash>" with one hash.
  const auto until = std::chrono::steady_clock::now() + 30s;
  std::set<std::string> hashes;
  ShellRun r;
  do {
    r = etcdctl("endpoint hashkv --rev=23", all_endpoints());
    hashes.clear();
    std::size_t lines = 0;
    for (std::size_t at = r.out.find(", "); at != std::string::npos;
         at = r.out.find(", ", at + 1)) {
      hashes.insert(r.out.substr(at + 2, r.out.find('\n', at) - at - 2));
      ++lines;
    }
    if (r.exit_code == 0 && lines == 3) break;
    std::this_thread::sleep_for(200ms);  // Poll pacing.
  } while (std::chrono::steady_clock::now() < until);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(hashes.size(), 1u) << r.out;
  EXPECT_NE(*hashes.begin(), "0") << r.out;
  r = etcdctl("endpoint hashkv --rev=5");
  EXPECT_TRUE(contains(r.out, "required revision has been compacted")) << r.out;
}

TEST_F(EtcdctlTest, NamesAMemberFromItsAddressAndAnswersEtcdsErrors) {
  ShellRun r = etcdctl("member add x --learner --peer-urls=http://127.0.0.1:1");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const std::string id = member_id("127.0.0.1-1");
  ASSERT_FALSE(id.empty()) << etcdctl("member list").out;

  r = etcdctl("member add y --learner --peer-urls=http://127.0.0.1:1");
  EXPECT_TRUE(contains(r.out, "Error: etcdserver: Peer URLs already exists")) << r.out;
  r = etcdctl("member add y --peer-urls=http://127.0.0.1:2,http://127.0.0.1:3");
  EXPECT_TRUE(contains(r.out, "Error: etcdserver: given member URLs are invalid")) << r.out;
  r = etcdctl("member update " + id + " --peer-urls=http://127.0.0.1:2");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(contains(r.out, "dkv cannot change a member's peer URLs")) << r.out;
  r = etcdctl("member update " + id + " --peer-urls=http://127.0.0.1:1");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  r = etcdctl("member promote " + member_id("a"));
  EXPECT_TRUE(contains(r.out, "Error: etcdserver: can only promote a learner member")) << r.out;

  r = etcdctl("member remove " + id);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  r = etcdctl("member remove " + id);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(contains(r.out, "Error: etcdserver: member not found")) << r.out;
  r = etcdctl("member promote 1234");
  EXPECT_TRUE(contains(r.out, "Error: etcdserver: member not found")) << r.out;
}

TEST_F(EtcdctlTest, AlarmsSnapshotAndMoveLeader) {
  ShellRun r = etcdctl("alarm list");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out, "");
  r = etcdctl("alarm disarm");
  EXPECT_EQ(r.exit_code, 0) << r.out;

  TempDir dir("etcdctl-snapshot");
  const std::string file = dir.path() + "/snap.db";
  r = etcdctl("snapshot save " + file);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "Snapshot saved at " + file)) << r.out;
  const auto size = std::filesystem::file_size(file);
  ASSERT_GT(size, 32u);
  const ShellRun image_sha =
      sh("head -c " + std::to_string(size - 32) + " " + file + " | sha256sum");
  const ShellRun tail_hex = sh("tail -c 32 " + file + " | od -An -tx1 | tr -d ' \\n'");
  EXPECT_EQ(image_sha.out.substr(0, 64), tail_hex.out);

  const int leader = cluster_->wait_for_leader({0, 1, 2}, 30s);
  ASSERT_GE(leader, 0);
  const int target = (leader + 1) % 3;
  r = etcdctl("move-leader " + member_id(cluster_->id(target)), all_endpoints());
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "Leadership transferred from ")) << r.out;
  EXPECT_EQ(cluster_->wait_for_leader({0, 1, 2}, 30s), target);
  r = etcdctl("move-leader 1234", all_endpoints());
  EXPECT_TRUE(contains(r.out, "Error: etcdserver: bad leader transferee")) << r.out;
}

TEST_F(EtcdctlTest, CurlSeesEtcdsProbesAndV3Routes) {
  const std::uint16_t port = cluster_->rest_port(1);
  HttpResponse r = http("GET", port, "/version");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"etcdserver":"3.4.23","etcdcluster":"3.4.0"})");
  r = http("GET", port, "/health");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"health":"true"})");

  r = http("POST", port, "/v3/maintenance/status", "{}");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(contains(r.body, R"({"header":{"cluster_id":")")) << r.body;
  EXPECT_TRUE(contains(r.body, R"(,"version":"3.4.23","dbSize":")")) << r.body;
  EXPECT_TRUE(contains(r.body, R"("raftAppliedIndex":")")) << r.body;

  r = http("POST", port, "/v3/cluster/member/list", "{}");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(contains(r.body, R"({"ID":")")) << r.body;
  EXPECT_TRUE(contains(r.body, R"("name":"c","peerURLs":["http://)" + endpoint(2))) << r.body;

  r = http("POST", port, "/v3/cluster/member/remove", R"({"ID":"5"})");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, R"({"error":"etcdserver: member not found","code":5,)"
                    R"("message":"etcdserver: member not found"})");

  // A node alone, without its peers: no leader, unhealthy.
  for (int i = 0; i < 3; ++i) {
    if (i != 1) cluster_->process(i).signal(SIGKILL);
  }
  const auto until = std::chrono::steady_clock::now() + 30s;
  while ((r = http("GET", port, "/health")).status == 200 &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(200ms);  // Poll pacing.
  }
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, R"({"health":"false"})");
}

// A cluster with the smallest quota: writes past it raise etcd's NOSPACE
// alarm on every member, which refuses writes until it is disarmed.
class EtcdctlQuotaTest : public EtcdctlTest {
 protected:
  void SetUp() override {
    env_ = {{"DKV_QUOTA_BYTES", "1048576"}};
    EtcdctlTest::SetUp();
  }
};

TEST_F(EtcdctlQuotaTest, AWritePastTheQuotaRaisesAPersistedClusterWideAlarm) {
  const std::string value = base64(std::string(256 << 10, 'x'));
  HttpResponse put;
  for (int i = 0; i < 20; ++i) {
    put = http("POST", cluster_->rest_port(0), "/v0/kv",
               R"({"key":")" + base64("k" + std::to_string(i)) + R"(","value":")" + value + "\"}");
    if (put.status != 200) break;
  }
  ASSERT_EQ(put.status, 429) << put.body;
  EXPECT_TRUE(contains(put.body, "database space exceeded")) << put.body;

  const std::string raised = "alarm:NOSPACE";
  ShellRun r = etcdctl_until("alarm list", raised);
  EXPECT_TRUE(contains(r.out, "memberID:")) << r.out;
  r = etcdctl_until("alarm list", raised, endpoint(2));  // Every member.
  ASSERT_TRUE(contains(r.out, raised)) << r.out;
  r = etcdctl("endpoint status -w json", endpoint(2));
  EXPECT_TRUE(contains(r.out, R"("errors":["memberID:)")) << r.out;
  HttpResponse h = http("GET", cluster_->rest_port(2), "/health");
  EXPECT_EQ(h.status, 503);
  EXPECT_EQ(h.body, R"({"health":"false"})");
  // Writes that add data are refused everywhere; deletes go on.
  put = http("POST", cluster_->rest_port(2), "/v0/kv",
             R"({"key":")" + base64("small") + R"(","value":"dg=="})");
  EXPECT_EQ(put.status, 429) << put.body;
  EXPECT_EQ(http("DELETE", cluster_->rest_port(2), "/v0/kv/key/" + base64("k0")).status, 200);

  // Persisted: a restarted member still holds it.
  cluster_->process(2).signal(SIGKILL);
  ASSERT_TRUE(cluster_->start(2));
  ASSERT_TRUE(cluster_->wait_ready(2, 30s));
  r = etcdctl("alarm list", endpoint(2));
  EXPECT_TRUE(contains(r.out, raised)) << r.out;

  r = etcdctl("alarm disarm");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, raised)) << r.out;  // What it disarmed.
  r = etcdctl("alarm list", endpoint(2));
  const auto until = std::chrono::steady_clock::now() + 30s;
  while (contains(r.out, raised) && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(200ms);  // Poll pacing.
    r = etcdctl("alarm list", endpoint(2));
  }
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(http("GET", cluster_->rest_port(2), "/health").status, 200);
}

}  // namespace
}  // namespace dkv::testing
