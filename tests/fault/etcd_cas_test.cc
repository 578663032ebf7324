// The CAS workload's client half against etcd itself: Debian's etcd-server
// 3.4 (/usr/bin/etcd) on loopback ports in a temporary directory, several
// clients incrementing one counter with Txn. etcd is the reference: its
// history must pass the checker and the count rule exactly (no faults, so
// no unknown outcomes), and the same history with one failed txn turned into
// a claimed success (a lost increment) must fail both. Skips without etcd.
// Label fault (in `make test`; a few seconds).
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "checker.h"
#include "clients.h"
#include "counter_check.h"
#include "harness.h"

namespace dkv::fault {
namespace {

using namespace std::chrono_literals;
constexpr const char* kEtcd = "/usr/bin/etcd";

// One etcd member on loopback; killed by the destructor.
class EtcdServer {
 public:
  explicit EtcdServer(const std::string& dir)
      : client_port_(testing::free_port()),
        process_(kEtcd, env(dir, client_port_, testing::free_port()), dir + "/etcd.log") {}

  bool start(std::chrono::milliseconds timeout) {
    if (!process_.start()) return false;
    // Ready once a Range answers.
    auto client = make_etcd_client(client_port_, 2s, "etcd");
    const auto epoch = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - epoch < timeout && process_.running()) {
      Op probe;
      probe.kind = OpKind::kRange;
      probe.key = "probe";
      client->run(probe, epoch);
      last_probe_ = describe(probe);
      if (probe.outcome == Outcome::kOk) return true;
      std::this_thread::sleep_for(100ms);  // Poll interval.
    }
    return false;
  }
  std::uint16_t port() const { return client_port_; }
  std::string log() const { return last_probe_ + "\n" + process_.log(); }

 private:
  static std::map<std::string, std::string> env(const std::string& dir, std::uint16_t client,
                                                std::uint16_t peer) {
    const std::string c = "http://127.0.0.1:" + std::to_string(client);
    const std::string p = "http://127.0.0.1:" + std::to_string(peer);
    return {{"ETCD_NAME", "cas"},
            {"ETCD_DATA_DIR", dir + "/data"},
            {"ETCD_LISTEN_CLIENT_URLS", c},
            {"ETCD_ADVERTISE_CLIENT_URLS", c},
            {"ETCD_LISTEN_PEER_URLS", p},
            {"ETCD_INITIAL_ADVERTISE_PEER_URLS", p},
            {"ETCD_INITIAL_CLUSTER", "cas=" + p}};
  }

  std::uint16_t client_port_;
  testing::DkvProcess process_;
  std::string last_probe_;
};

TEST(EtcdCasTest, IncrementsAgainstEtcdServerPassTheChecks) {
  if (!std::filesystem::exists(kEtcd))
    GTEST_SKIP() << kEtcd << " missing (apt-get install etcd-server)";
  testing::TempDir dir("etcd_cas");
  EtcdServer etcd(dir.path());
  ASSERT_TRUE(etcd.start(30s)) << etcd.log();
  constexpr int kClients = 6;
  constexpr int kIncrementsEach = 30;
  const auto epoch = std::chrono::steady_clock::now();
  std::vector<std::vector<Op>> histories(kClients);
  std::vector<std::thread> threads;
  for (int id = 0; id < kClients; ++id) {
    threads.emplace_back([&, id] {
      auto client = make_etcd_client(etcd.port(), 10s, "etcd");
      std::uint64_t seq = 0;
      for (int i = 0; i < kIncrementsEach; ++i) {
        increment_counter(*client, id, "counter", &seq, epoch, &histories[id]);
      }
    });
  }
  for (auto& t : threads) t.join();
  std::vector<Op> history;
  for (const auto& h : histories) history.insert(history.end(), h.begin(), h.end());
  Op final_read;
  final_read.client = kClients;
  final_read.kind = OpKind::kRange;
  final_read.key = "counter";
  make_etcd_client(etcd.port(), 10s, "etcd")->run(final_read, epoch);
  history.push_back(final_read);

  std::size_t succeeded = 0, failed_branch = 0, not_ok = 0;
  for (const Op& op : history) {
    not_ok += op.outcome != Outcome::kOk;
    if (op.kind == OpKind::kCas) (op.succeeded ? succeeded : failed_branch) += 1;
  }
  ASSERT_EQ(not_ok, 0u);
  std::printf("etcd: %zu increments succeeded, %zu took the else branch\n", succeeded,
              failed_branch);
  EXPECT_GT(succeeded, 0u);
  EXPECT_EQ(check(history).verdict, Verdict::kOk);
  const CounterCheck counted = check_counter(history, "counter");
  EXPECT_TRUE(counted.ok) << counted.why;
  EXPECT_EQ(counted.final_value, static_cast<std::int64_t>(succeeded));
  // Every success reported the revision its put created; the else branches
  // saw the counter with its mod_revision.
  for (const Op& op : history) {
    if (op.kind == OpKind::kCas && op.succeeded) {
      EXPECT_GT(op.revision, op.compare_revision);
    }
    if (op.kind == OpKind::kCas && !op.succeeded) {
      ASSERT_EQ(op.kvs.size(), 1u) << describe(op);
      EXPECT_NE(op.kvs[0].mod_revision, op.compare_revision) << describe(op);
    }
  }

  // A lost increment: a txn that took the else branch claims success.
  if (failed_branch == 0) GTEST_SKIP() << "no contention: every txn succeeded";
  std::vector<Op> lost = history;
  for (Op& op : lost) {
    if (op.kind != OpKind::kCas || op.succeeded) continue;
    op.succeeded = true;
    op.revision = op.kvs[0].mod_revision + 1000;
    op.kvs.clear();
    break;
  }
  EXPECT_EQ(check(lost).verdict, Verdict::kViolation);
  EXPECT_FALSE(check_counter(lost, "counter").ok);
}

}  // namespace
}  // namespace dkv::fault
