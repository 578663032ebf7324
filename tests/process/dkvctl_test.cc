// dkvctl, the real binary, against real dkv clusters on loopback: its output
// in each -w format, its exit codes (0 / 1 server error / 2 bad usage),
// failover past a dead endpoint, endpoint status and health, and a backup
// with `snapshot save` restored into a new cluster in fresh directories.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "dkvctl_runner.h"
#include "harness.h"

namespace dkv::testing {
namespace {

using namespace std::chrono_literals;

int count_of(const std::string& text, const std::string& what) {
  int n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

class DkvctlTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = new LocalCluster("dkvctl", 3);
    ASSERT_TRUE(cluster_->start_all(30s));
    ASSERT_GE(cluster_->wait_for_leader({0, 1, 2}, 30s), 0);
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }

  static std::string endpoint(int i) {
    return "127.0.0.1:" + std::to_string(cluster_->rpc_port(i));
  }
  static std::string all_endpoints() { return endpoint(0) + "," + endpoint(1) + "," + endpoint(2); }

  // dkvctl with --endpoints set to the whole cluster, then `args`.
  static CommandResult ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {"--endpoints", all_endpoints()});
    return run_dkvctl(args);
  }

  static LocalCluster* cluster_;
};

LocalCluster* DkvctlTest::cluster_ = nullptr;

TEST_F(DkvctlTest, PutGetDelRoundTrip) {
  auto r = ctl({"put", "greeting", "hello world"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "OK\n");
  r = ctl({"get", "greeting"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "greeting\nhello world\n");
  r = ctl({"get", "greeting", "--print-value-only", "--serializable"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "hello world\n");
  r = ctl({"get", "greeting", "-w", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "{\"key\":\"" + base64("greeting") + "\",\"value\":\"" + base64("hello world") +
                       "\"}\n");
  r = ctl({"get", "greeting", "-w", "table"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("| greeting | hello world |"), std::string::npos) << r.out;

  r = ctl({"put", "--base64", base64(std::string("\0k", 2)), base64(std::string("\xff\x00", 2))});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = ctl({"get", "--base64", base64(std::string("\0k", 2)), "--print-value-only"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, base64(std::string("\xff\x00", 2)) + "\n");

  r = ctl({"del", "greeting"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "1\n");
  r = ctl({"del", "greeting", "-w", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "{\"deleted\":\"0\"}\n");
}

TEST_F(DkvctlTest, MissingKeyExitsOneWithOneErrorLine) {
  const auto r = ctl({"get", "no-such-key"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err.rfind("Error: NOT_FOUND: ", 0), 0u) << r.err;
  EXPECT_EQ(count_of(r.err, "\n"), 1) << r.err;
}

TEST_F(DkvctlTest, ServerRefusalExitsOne) {
  const auto r = ctl({"put", std::string(600, 'k'), "v"});  // Keys are at most 511 bytes.
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err.rfind("Error: INVALID_ARGUMENT: ", 0), 0u) << r.err;
}

TEST_F(DkvctlTest, BadUsageExitsTwo) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"put", "only-a-key"}, {"frobnicate"}, {"get", "k", "-w", "yaml"}, {}}) {
    const auto r = ctl(args);
    EXPECT_EQ(r.exit_code, 2) << ::testing::PrintToString(args) << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err.rfind("Error: ", 0), 0u) << r.err;
  }
  EXPECT_EQ(run_dkvctl({"--help"}).exit_code, 0);
}

TEST_F(DkvctlTest, GlobalFlagsAfterTheCommandAndEndpointsFromTheEnvironment) {
  auto r = run_dkvctl({"put", "env-key", "v1"}, {{"DKV_ENDPOINTS", all_endpoints()}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_dkvctl({"get", "env-key", "-w", "json", "--endpoints", endpoint(2)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"value\":\"" + base64("v1") + "\""), std::string::npos) << r.out;
}

TEST_F(DkvctlTest, FailsOverPastADeadEndpoint) {
  const std::string dead = "127.0.0.1:" + std::to_string(free_port());
  auto r = run_dkvctl({"--endpoints", dead + "," + endpoint(1), "put", "failover", "ok"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_dkvctl(
      {"get", "failover", "--print-value-only", "--endpoints", dead + "," + endpoint(2)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "ok\n");
  // Nothing reachable: an error from the client, exit 1, naming the endpoint.
  r = run_dkvctl({"--endpoints", dead, "--dial-timeout", "1s", "get", "failover"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err.rfind("Error: UNAVAILABLE: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(dead), std::string::npos) << r.err;
}

// A node that accepts connections but never answers (SIGSTOP): dkvctl
// gives up on it after --dial-timeout and the next endpoint serves, once the
// others have a leader.
TEST(DkvctlFailoverTest, SkipsAStoppedEndpoint) {
  LocalCluster cluster("dkvctl_stopped", 3);
  ASSERT_TRUE(cluster.start_all(30s));
  const auto ep = [&](int i) { return "127.0.0.1:" + std::to_string(cluster.rpc_port(i)); };
  const std::string endpoints = ep(0) + "," + ep(1) + "," + ep(2);
  ASSERT_EQ(run_dkvctl({"--endpoints", endpoints, "put", "k", "v"}).exit_code, 0);
  cluster.process(0).signal(SIGSTOP);
  const auto r = run_dkvctl({"--endpoints", endpoints, "--dial-timeout", "1s", "--command-timeout",
                             "20s", "get", "k", "--print-value-only"});
  cluster.process(0).signal(SIGCONT);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "v\n");
}

TEST_F(DkvctlTest, EndpointStatusInEachFormat) {
  auto r = ctl({"endpoint", "status", "-w", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count_of(r.out, "\"endpoint\":"), 3) << r.out;
  for (const char* id : {"a", "b", "c"}) {
    EXPECT_NE(r.out.find(std::string("\"nodeId\":\"") + id + "\""), std::string::npos) << r.out;
  }
  EXPECT_EQ(count_of(r.out, "\"version\":\"0."), 3) << r.out;
  EXPECT_EQ(count_of(r.out, "\"dbSizeBytes\":\"0\""), 0) << r.out;
  // One cluster id, the same on every node, 16 hex digits.
  const auto at = r.out.find("\"clusterId\":\"");
  ASSERT_NE(at, std::string::npos) << r.out;
  const std::string id = r.out.substr(at + 13, 16);
  EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
  EXPECT_EQ(count_of(r.out, "\"clusterId\":\"" + id + "\""), 3) << r.out;

  r = ctl({"endpoint", "status", "-w", "table"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("| ENDPOINT "), std::string::npos) << r.out;
  EXPECT_EQ(count_of(r.out, "| 127.0.0.1:"), 3) << r.out;
  EXPECT_EQ(count_of(r.out, "| leader "), 1) << r.out;

  r = run_dkvctl({"endpoint", "status", "--cluster", "--endpoints", endpoint(0)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count_of(r.out, "\n"), 3) << r.out;

  // A dead endpoint: the others are still reported; exit 1.
  const std::string dead = "127.0.0.1:" + std::to_string(free_port());
  r = run_dkvctl({"endpoint", "status", "--endpoints", dead + "," + endpoint(1)});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(count_of(r.out, "\n"), 1) << r.out;
  EXPECT_NE(r.out.find(endpoint(1) + ", b, "), std::string::npos) << r.out;
  EXPECT_NE(r.err.find(dead), std::string::npos) << r.err;
}

TEST_F(DkvctlTest, EndpointHealthInEachFormat) {
  auto r = ctl({"endpoint", "health", "-w", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count_of(r.out, "\"health\":true"), 3) << r.out;
  r = ctl({"endpoint", "health"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count_of(r.out, " is healthy: "), 3) << r.out;
  r = ctl({"endpoint", "health", "-w", "table"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count_of(r.out, "| true "), 3) << r.out;

  const std::string dead = "127.0.0.1:" + std::to_string(free_port());
  r = run_dkvctl({"endpoint", "health", "-w", "json", "--endpoints", endpoint(0) + "," + dead});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(count_of(r.out, "\"health\":true"), 1) << r.out;
  EXPECT_EQ(count_of(r.out, "\"health\":false"), 1) << r.out;
  EXPECT_NE(r.err.find("Error: unhealthy cluster"), std::string::npos) << r.err;
}

// Starts three dkv processes on restored directories and checks the data.
class RestoredCluster {
 public:
  RestoredCluster(const std::string& dir, const std::string& backup) {
    for (int i = 0; i < 3; ++i) {
      ids_.push_back(std::string(1, static_cast<char>('a' + i)));
      rpc_.push_back(free_port());
      rest_.push_back(free_port());
    }
    for (int i = 0; i < 3; ++i) {
      cluster_ += (i > 0 ? "," : "") + ids_[i] + "@127.0.0.1:" + std::to_string(rpc_[i]);
    }
    for (int i = 0; i < 3; ++i) {
      const std::string data_dir = dir + "/" + ids_[i] + ".db";
      const auto r = run_dkvctl({"snapshot", "restore", backup, "--data-dir", data_dir, "--name",
                                 ids_[i], "--initial-cluster", cluster_});
      EXPECT_EQ(r.exit_code, 0) << r.err;
      EXPECT_NE(r.out.find("Restored member " + ids_[i]), std::string::npos) << r.out;
      processes_.push_back(std::make_unique<DkvProcess>(
          dkv_binary(),
          std::map<std::string, std::string>{{"DKV_NODE_ID", ids_[i]},
                                             {"DKV_CLUSTER", cluster_},
                                             {"DKV_RPC_PORT", std::to_string(rpc_[i])},
                                             {"DKV_REST_PORT", std::to_string(rest_[i])},
                                             {"DKV_DB_PATH", data_dir},
                                             {"DKV_LISTEN_HOST", "127.0.0.1"}},
          dir + "/" + ids_[i] + ".log"));
    }
  }

  bool start(std::chrono::milliseconds timeout) {
    for (auto& p : processes_) {
      if (!p->start()) return false;
    }
    for (int i = 0; i < 3; ++i) {
      if (!processes_[i]->wait_ready(rest_[i], timeout)) return false;
    }
    return true;
  }

  std::string endpoints() const {
    std::string e;
    for (int i = 0; i < 3; ++i)
      e += (i > 0 ? "," : "") + std::string("127.0.0.1:") + std::to_string(rpc_[i]);
    return e;
  }
  std::string log(int i) const { return processes_[i]->log(); }
  std::uint16_t rest_port(int i) const { return rest_[i]; }

 private:
  std::vector<std::string> ids_;
  std::vector<std::uint16_t> rpc_;
  std::vector<std::uint16_t> rest_;
  std::string cluster_;
  std::vector<std::unique_ptr<DkvProcess>> processes_;
};

TEST_F(DkvctlTest, SnapshotSaveThenRestoreIntoANewCluster) {
  TempDir dir("dkvctl_backup");
  constexpr int kKeys = 300;
  const std::string value(2000, 'v');
  for (int i = 0; i < kKeys; ++i) {
    const std::string body = "{\"key\":\"" + base64("backup-" + std::to_string(i)) +
                             "\",\"value\":\"" + base64(value + std::to_string(i)) + "\"}";
    ASSERT_EQ(http("POST", cluster_->rest_port(i % 3), "/v0/kv", body).status, 200) << i;
  }
  // A writer puts seq-0, seq-1, ... one after the other while the backup
  // is taken: a consistent image holds a prefix of them.
  std::atomic<bool> stop{false};
  std::atomic<int> acked{0};
  std::thread writer([&] {
    const auto until = std::chrono::steady_clock::now() + 60s;
    for (int i = 0; i < 20000 && !stop && std::chrono::steady_clock::now() < until; ++i) {
      const std::string body = "{\"key\":\"" + base64("seq-" + std::to_string(i)) +
                               "\",\"value\":\"" + base64("x") + "\"}";
      if (http("POST", cluster_->rest_port(0), "/v0/kv", body).status != 200) break;
      acked = i + 1;
    }
  });
  const auto until = std::chrono::steady_clock::now() + 30s;
  while (acked < 20 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(5ms);  // Poll interval.
  }
  const std::string backup = dir.path() + "/backup.db";
  auto r = ctl({"snapshot", "save", backup});
  stop = true;
  writer.join();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_GE(acked.load(), 20);
  EXPECT_EQ(r.out.rfind("Snapshot saved at " + backup, 0), 0u) << r.out;
  EXPECT_TRUE(std::filesystem::exists(backup));
  EXPECT_FALSE(std::filesystem::exists(backup + ".part"));
  EXPECT_GT(std::filesystem::file_size(backup), kKeys * value.size());

  r = run_dkvctl({"snapshot", "status", backup, "-w", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"sizeBytes\":\"" + std::to_string(std::filesystem::file_size(backup))),
            std::string::npos)
      << r.out;

  // Writes after the backup are not in it.
  ASSERT_EQ(ctl({"put", "after-backup", "x"}).exit_code, 0);

  RestoredCluster restored(dir.path(), backup);
  ASSERT_TRUE(restored.start(30s)) << restored.log(0);
  for (int i = 0; i < kKeys; i += 7) {
    r = run_dkvctl({"--endpoints", restored.endpoints(), "get", "backup-" + std::to_string(i),
                    "--print-value-only"});
    ASSERT_EQ(r.exit_code, 0) << i << r.err;
    EXPECT_EQ(r.out, value + std::to_string(i) + "\n");
  }
  int present = 0;  // seq-[0, present) are in the restored data, no later one.
  for (int i = 0; i < acked; ++i) {
    std::string key = base64("seq-" + std::to_string(i));
    std::replace(key.begin(), key.end(), '+', '-');
    std::replace(key.begin(), key.end(), '/', '_');
    const int status = http("GET", restored.rest_port(i % 3), "/v0/kv/key/" + key).status;
    ASSERT_TRUE(status == 200 || status == 404) << status;
    if (status == 200) {
      ASSERT_EQ(present, i) << "seq-" << i << " is in the backup but seq-" << present << " is not";
      ++present;
    }
  }
  std::cout << "backup holds seq-0..seq-" << present - 1 << " of " << acked << " acked\n";
  r = run_dkvctl({"--endpoints", restored.endpoints(), "get", "after-backup"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  // The new cluster takes writes, and is not the old one.
  r = run_dkvctl({"--endpoints", restored.endpoints(), "put", "new", "cluster"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto old_status = ctl({"endpoint", "status", "-w", "json"});
  const auto new_status =
      run_dkvctl({"--endpoints", restored.endpoints(), "endpoint", "status", "-w", "json"});
  ASSERT_EQ(new_status.exit_code, 0) << new_status.err;
  const auto id_of = [](const std::string& json) {
    const auto at = json.find("\"clusterId\":\"");
    return at == std::string::npos ? std::string() : json.substr(at + 13, 16);
  };
  EXPECT_NE(id_of(old_status.out), id_of(new_status.out));
  EXPECT_EQ(count_of(new_status.out, "\"clusterId\":\"" + id_of(new_status.out)), 3)
      << new_status.out;

  // A second restore into a used directory is refused and changes nothing.
  r = run_dkvctl({"snapshot", "restore", backup, "--data-dir", dir.path() + "/a.db", "--name", "a",
                  "--initial-cluster", "a@127.0.0.1:1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not empty"), std::string::npos) << r.err;
}

TEST_F(DkvctlTest, DamagedBackupIsRefused) {
  TempDir dir("dkvctl_damaged");
  const std::string backup = dir.path() + "/backup.db";
  ASSERT_EQ(ctl({"snapshot", "save", backup}).exit_code, 0);
  {
    std::fstream f(backup, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(10);
    f.put('\x7f');
  }
  auto r = run_dkvctl({"snapshot", "status", backup});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err.rfind("Error: DATA_LOSS: ", 0), 0u) << r.err;
  r = run_dkvctl({"snapshot", "restore", backup, "--data-dir", dir.path() + "/a.db", "--name", "a",
                  "--initial-cluster", "a@127.0.0.1:1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/a.db"));
}

}  // namespace
}  // namespace dkv::testing
