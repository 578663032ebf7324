// tests/bench/bench_process_test.cc
// dkv-bench against a real 3-node cluster (LocalCluster): short put, get
// (after --prefill) and mixed runs over gRPC and REST finish with every
// request ok, and the JSON summary says so; range and cas likewise over
// etcd's KV API; the same against a real single-node etcd with --target etcd
// (skipped without /usr/bin/etcd, which
// `make compare-etcd` installs). Checks the tool end to end, not the
// servers' speed: no timing is asserted.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <regex>
#include <string>
#include <thread>

#include "harness.h"

namespace dkv::testing {
namespace {

using namespace std::chrono_literals;

struct BenchRun {
  int exit_code = -1;
  std::string out;  // stdout: the JSON summary.
};

BenchRun run_bench(const std::string& args) {
  BenchRun r;
  // stderr (options, progress) stays on the test's stderr for the log.
  const std::string cmd = std::string(DKV_BENCH_BINARY_PATH) + " " + args + " --json";
  std::FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) return r;
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) r.out.append(buf, n);
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// An integer field of the JSON summary, or -1.
long long field(const std::string& json, const std::string& name) {
  std::smatch m;
  if (!std::regex_search(json, m, std::regex("\"" + name + "\":([0-9]+)"))) return -1;
  return std::stoll(m[1]);
}

std::string endpoints(LocalCluster& c, bool rest) {
  std::string out;
  for (int i = 0; i < c.size(); ++i) {
    if (i > 0) out += ",";
    out += "127.0.0.1:" + std::to_string(rest ? c.rest_port(i) : c.rpc_port(i));
  }
  return out;
}

TEST(BenchProcessTest, PutGetMixedOverGrpcAndRest) {
  LocalCluster c("bench_cluster", 3);
  ASSERT_TRUE(c.start_all(30s)) << c.process(0).log();
  ASSERT_GE(c.wait_for_leader({0, 1, 2}, 10s), 0);
  for (bool rest : {false, true}) {
    const std::string common = std::string("--protocol ") + (rest ? "rest" : "grpc") +
                               " --endpoints " + endpoints(c, rest) +
                               " --clients 8 --conns 2 --max-duration 60s --key-space 100";
    SCOPED_TRACE(common);
    BenchRun put = run_bench("put --total 200 " + common);
    EXPECT_EQ(put.exit_code, 0) << put.out;
    EXPECT_EQ(field(put.out, "ok_ops"), 200) << put.out;
    EXPECT_EQ(field(put.out, "error_ops"), 0) << put.out;

    // After --prefill every key exists: no get may come back NOT_FOUND.
    BenchRun get = run_bench("get --prefill --total 300 " + common);
    EXPECT_EQ(get.exit_code, 0) << get.out;
    EXPECT_EQ(field(get.out, "ok_ops"), 300) << get.out;
    EXPECT_EQ(field(get.out, "not_found_ops"), 0) << get.out;
    EXPECT_EQ(field(get.out, "error_ops"), 0) << get.out;

    BenchRun mixed = run_bench("mixed --read-ratio 0.5 --serializable --duration 1s " + common);
    EXPECT_EQ(mixed.exit_code, 0) << mixed.out;
    EXPECT_GT(field(mixed.out, "ok_ops"), 0) << mixed.out;
    EXPECT_EQ(field(mixed.out, "error_ops"), 0) << mixed.out;
  }
}

// range and cas through etcd's KV API, the same client code against dkv and
// etcd: every range sees the whole 100-key prefix, and every CAS takes the
// then branch (each client owns its key, fresh in each run): each txn after a
// client's first succeeds only if the revision the last one returned is the
// key's mod_revision.
void expect_range_and_cas(const std::string& common) {
  BenchRun range = run_bench("range --total 100 " + common);
  EXPECT_EQ(range.exit_code, 0) << range.out;
  EXPECT_EQ(field(range.out, "ok_ops"), 100) << range.out;
  EXPECT_EQ(field(range.out, "not_found_ops"), 0) << range.out;
  EXPECT_EQ(field(range.out, "error_ops"), 0) << range.out;
  for (int round : {0, 1}) {  // A second run does not trip over the first's keys.
    BenchRun cas = run_bench("cas --total 200 " + common);
    EXPECT_EQ(cas.exit_code, 0) << round << cas.out;
    EXPECT_EQ(field(cas.out, "ok_ops"), 200) << round << cas.out;
    EXPECT_EQ(field(cas.out, "error_ops"), 0) << round << cas.out;
    EXPECT_EQ(field(cas.out, "else_ops"), 0) << round << cas.out;
  }
  EXPECT_EQ(run_bench("range --protocol rest --total 1 " + common).exit_code, 1);
}

TEST(BenchProcessTest, RangeAndCasAgainstDkv) {
  LocalCluster c("bench_cas", 3);
  ASSERT_TRUE(c.start_all(30s)) << c.process(0).log();
  ASSERT_GE(c.wait_for_leader({0, 1, 2}, 10s), 0);
  expect_range_and_cas("--endpoints " + endpoints(c, false) +
                       " --clients 8 --conns 2 --max-duration 60s --val-size 256");
}

// Wire compatibility of etcd's generated stubs and of the /v3 REST bodies:
// puts succeed, every prefilled key is found, and keys nobody wrote read as
// not found (so "found" is really read from the answer).
TEST(BenchProcessTest, EtcdTargetOverGrpcAndRest) {
  const std::string etcd = "/usr/bin/etcd";
  if (::access(etcd.c_str(), X_OK) != 0) {
    GTEST_SKIP() << "no " << etcd << " (make compare-etcd installs etcd-server)";
  }
  TempDir dir("bench_etcd");
  const std::uint16_t client_port = free_port();
  const std::string client_url = "http://127.0.0.1:" + std::to_string(client_port);
  const std::string peer_url = "http://127.0.0.1:" + std::to_string(free_port());
  DkvProcess node(etcd,
                  {{"ETCD_NAME", "e0"},
                   {"ETCD_DATA_DIR", dir.path() + "/e0"},
                   {"ETCD_LISTEN_CLIENT_URLS", client_url},
                   {"ETCD_ADVERTISE_CLIENT_URLS", client_url},
                   {"ETCD_LISTEN_PEER_URLS", peer_url},
                   {"ETCD_INITIAL_ADVERTISE_PEER_URLS", peer_url},
                   {"ETCD_INITIAL_CLUSTER", "e0=" + peer_url}},
                  dir.path() + "/etcd.log");
  ASSERT_TRUE(node.start());
  const auto until = std::chrono::steady_clock::now() + 30s;
  while (http("GET", client_port, "/health").status != 200) {
    ASSERT_TRUE(node.running()) << node.log();
    ASSERT_LT(std::chrono::steady_clock::now(), until) << "etcd not healthy\n" << node.log();
    std::this_thread::sleep_for(20ms);  // Polling interval of a condition wait.
  }
  for (bool rest : {false, true}) {
    const std::string common = std::string("--target etcd --protocol ") + (rest ? "rest" : "grpc") +
                               " --endpoints 127.0.0.1:" + std::to_string(client_port) +
                               " --clients 8 --conns 2 --max-duration 60s --val-size 256";
    SCOPED_TRACE(common);
    BenchRun put = run_bench("put --total 200 --key-space 100 " + common);
    EXPECT_EQ(put.exit_code, 0) << put.out;
    EXPECT_EQ(field(put.out, "ok_ops"), 200) << put.out;
    EXPECT_EQ(field(put.out, "error_ops"), 0) << put.out;

    BenchRun get = run_bench("get --prefill --total 300 --key-space 100 " + common);
    EXPECT_EQ(get.exit_code, 0) << get.out;
    EXPECT_EQ(field(get.out, "ok_ops"), 300) << get.out;
    EXPECT_EQ(field(get.out, "not_found_ops"), 0) << get.out;
    EXPECT_EQ(field(get.out, "error_ops"), 0) << get.out;

    // Keys 100..99999 were never written: most of 300 random gets miss.
    BenchRun miss = run_bench("get --serializable --total 300 --key-space 100000 " + common);
    EXPECT_EQ(field(miss.out, "error_ops"), 0) << miss.out;
    EXPECT_GT(field(miss.out, "not_found_ops"), 200) << miss.out;
  }
  expect_range_and_cas("--target etcd --endpoints 127.0.0.1:" + std::to_string(client_port) +
                       " --clients 8 --conns 2 --max-duration 60s --val-size 256");
  node.signal(SIGTERM);
  EXPECT_GE(node.wait_exit(10s), 0) << node.log();
}

TEST(BenchProcessTest, NoServerMeansExitOne) {
  // Nothing listens on a fresh free port.
  BenchRun r =
      run_bench("put --protocol rest --endpoints 127.0.0.1:" + std::to_string(free_port()) +
                " --duration 1s");
  EXPECT_EQ(r.exit_code, 1);
}

}  // namespace
}  // namespace dkv::testing
