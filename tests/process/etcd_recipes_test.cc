// etcd's recipes on dkv (issue 18): Debian's etcdctl 3.4 `lock` and `elect`
// against a 3-node dkv, each client on a different member. They build on
// everything at once: session leases with keepalives, a txn on
// create_revision, a Range with max_create_revision sorted by CREATE with
// limit 1, and a watch from a revision for the waiter ahead's DELETE.
// Skips if etcdctl is not installed.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "etcdctl_runner.h"
#include "harness.h"

namespace dkv::testing {
namespace {

using namespace std::chrono_literals;

std::string read_file(const std::string &path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Polls `done` (pacing only: each check is the condition itself) until it
// holds or `timeout` passes; the last answer.
template <typename F>
bool eventually(F done, std::chrono::milliseconds timeout = 30s) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= until)
      return false;
    std::this_thread::sleep_for(50ms);
  }
  return true;
}

class RecipesTest : public ::testing::Test {
protected:
  void SetUp() override {
    if (!etcdctl_installed())
      GTEST_SKIP() << "no etcdctl (etcd-client)";
    cluster_ = std::make_unique<LocalCluster>("recipes", 3);
    ASSERT_TRUE(cluster_->start_all(60s));
    ASSERT_GE(cluster_->wait_for_leader({0, 1, 2}, 30s), 0);
  }
  void TearDown() override {
    for (pid_t pid : background_)
      kill_background(pid);
  }

  std::string endpoint(int i) {
    return "127.0.0.1:" + std::to_string(cluster_->rpc_port(i));
  }
  std::string file(const std::string &name) { return dir_.path() + "/" + name; }
  // Starts `etcdctl ARGS` against member `i` in the background, its output
  // in file `out`.
  pid_t start_etcdctl(int i, const std::vector<std::string> &args,
                      const std::string &out) {
    const pid_t pid = spawn_etcdctl(endpoint(i), args, file(out));
    if (pid > 0)
      background_.push_back(pid);
    return pid;
  }
  // The number of keys under `prefix`, as member 2 sees them.
  int keys_under(const std::string &prefix) {
    const CommandResult r = run_etcdctl(
        endpoint(2), {"get", "--prefix", "--keys-only", "-w", "json", prefix});
    const std::string count = json_field(r.out, "count");
    return count.empty() ? 0 : std::stoi(count);
  }

  TempDir dir_{"recipes"};
  std::unique_ptr<LocalCluster> cluster_;
  std::vector<pid_t> background_;
};

// Two holders of one lock on different members run their critical sections
// one after the other: B waits (its key is there, its command has not run)
// until A's command ends, then runs.
TEST_F(RecipesTest, TwoLockHoldersTakeTurns) {
  const std::string log = file("log"), gate = file("gate");
  start_etcdctl(0,
                {"lock", "lk", "--", "sh", "-c",
                 "echo A-start >> " + log + "; while [ ! -e " + gate +
                     " ]; do sleep 0.05; done; echo A-end >> " + log},
                "a.out");
  ASSERT_TRUE(eventually([&] { return read_file(log) == "A-start\n"; }))
      << read_file(file("a.out"));
  start_etcdctl(1,
                {"lock", "lk", "--", "sh", "-c",
                 "echo B-start >> " + log + "; echo B-end >> " + log},
                "b.out");
  ASSERT_TRUE(eventually([&] { return keys_under("lk") == 2; }))
      << read_file(file("b.out"));
  EXPECT_EQ(read_file(log), "A-start\n"); // B queued behind A, not running.

  std::ofstream(gate).put('\n');
  ASSERT_TRUE(eventually([&] {
    return read_file(log).find("B-end") != std::string::npos;
  })) << read_file(log)
      << read_file(file("b.out"));
  EXPECT_EQ(read_file(log), "A-start\nA-end\nB-start\nB-end\n");
  EXPECT_TRUE(
      eventually([&] { return keys_under("lk") == 0; })); // Both released.
}

// A holder that dies without unlocking (SIGKILL: no revoke) holds the lock
// until its session lease expires; then the waiter gets it.
TEST_F(RecipesTest, DeadHoldersLockPassesOnWhenItsLeaseExpires) {
  const std::string log = file("log");
  const pid_t a = start_etcdctl(0,
                                {"lock", "--ttl", "3", "lk", "--", "sh", "-c",
                                 "echo A >> " + log + "; sleep 600"},
                                "a.out");
  ASSERT_TRUE(eventually([&] { return read_file(log) == "A\n"; }))
      << read_file(file("a.out"));
  start_etcdctl(
      1, {"lock", "--ttl", "3", "lk", "--", "sh", "-c", "echo B >> " + log},
      "b.out");
  ASSERT_TRUE(eventually([&] { return keys_under("lk") == 2; }))
      << read_file(file("b.out"));
  kill_background(a); // etcdctl and its command: the keepalives stop.
  // TTL 3 s, plus the documented expiry bound of 3 s, plus slack for a
  // loaded machine.
  EXPECT_TRUE(eventually([&] { return read_file(log) == "A\nB\n"; }, 20s))
      << read_file(log) << read_file(file("b.out"));
}

// `elect -l` on one member sees each leader in turn: p1, then p2 once p1's
// campaigner is interrupted and resigns.
TEST_F(RecipesTest, ElectionObserverSeesEachLeaderInTurn) {
  const std::string obs = file("obs"), c2 = file("c2");
  start_etcdctl(2, {"elect", "-l", "el"}, "obs");
  const pid_t first = start_etcdctl(0, {"elect", "el", "p1"}, "c1");
  ASSERT_TRUE(eventually([&] {
    return read_file(obs).find("p1\n") != std::string::npos;
  })) << read_file(obs)
      << read_file(file("c1"));
  start_etcdctl(1, {"elect", "el", "p2"}, "c2");
  ASSERT_TRUE(eventually([&] { return keys_under("el") == 2; }))
      << read_file(c2);
  EXPECT_EQ(read_file(c2).find("p2"), std::string::npos); // Still waiting.

  ::kill(first, SIGTERM); // etcdctl resigns on an interrupt.
  ASSERT_TRUE(eventually([&] {
    return read_file(c2).find("p2\n") != std::string::npos;
  })) << read_file(c2);
  EXPECT_TRUE(eventually([&] {
    return read_file(obs).find("p2\n") != std::string::npos;
  })) << read_file(obs);
  EXPECT_LT(read_file(obs).find("p1\n"), read_file(obs).find("p2\n"));
}

} // namespace
} // namespace dkv::testing
