// Process tests of a node's data directory: LMDB commits are not fsynced
// (MDB_NOSYNC, synced every 30 s) and the WAL must make up for any
// loss, down to a torn LMDB after a machine crash; disk use
// stays bounded under a long overwrite load thanks to snapshots + compaction.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "harness.h"

namespace dkv::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// What the directory takes on disk (du), not the files' apparent sizes:
// LMDB's data.mdb is sparse up to the map size (MDB_WRITEMAP).
std::uint64_t dir_bytes(const fs::path& dir) {
  std::uint64_t total = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    struct stat st {};
    if (e.is_regular_file() && ::stat(e.path().c_str(), &st) == 0) {
      total += static_cast<std::uint64_t>(st.st_blocks) * 512;
    }
  }
  return total;
}

class DurabilityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        std::make_unique<TempDir>(std::string("durability_") +
                                  ::testing::UnitTest::GetInstance()->current_test_info()->name());
    rpc_port_ = free_port();
    rest_port_ = free_port();
  }
  std::string db_path() const { return dir_->path() + "/a.db"; }

  void start(std::map<std::string, std::string> extra = {}) {
    std::map<std::string, std::string> env = {
        {"DKV_RPC_PORT", std::to_string(rpc_port_)},
        {"DKV_REST_PORT", std::to_string(rest_port_)},
        {"DKV_DB_PATH", db_path()},
        {"DKV_NODE_ID", "a"},
        {"DKV_CLUSTER", "a@127.0.0.1:" + std::to_string(rpc_port_)},
        {"DKV_LISTEN_HOST", "127.0.0.1"}};
    for (auto& [k, v] : extra) env[k] = v;
    node_ = std::make_unique<DkvProcess>(dkv_binary(), env, dir_->path() + "/a.log");
    ASSERT_TRUE(node_->start());
    ASSERT_TRUE(node_->wait_ready(rest_port_, 20s)) << node_->log();
  }
  void stop() {
    node_->signal(SIGTERM);
    ASSERT_EQ(node_->wait_exit(10s), 0);
  }
  int put(const std::string& b64_key, const std::string& b64_value) {
    return http("POST", rest_port_, "/v0/kv",
                R"({"key":")" + b64_key + R"(","value":")" + b64_value + R"("})")
        .status;
  }

  std::unique_ptr<TempDir> dir_;
  std::uint16_t rpc_port_ = 0;
  std::uint16_t rest_port_ = 0;
  std::unique_ptr<DkvProcess> node_;
};

// LMDB commits without fsync: a crash may roll it back to an earlier synced
// state. Simulate exactly that by putting back an old copy of
// the LMDB files; the node must replay the WAL and lose nothing.
TEST_F(DurabilityTest, StoreRolledBackToAnEarlierCopyIsReplayedFromTheWal) {
  start();
  ASSERT_EQ(put("YQ==", "MQ=="), 200);  // a=1
  stop();
  const fs::path kv = fs::path(db_path()) / "kv";
  const fs::path saved = fs::path(dir_->path()) / "kv-copy";
  fs::copy(kv, saved, fs::copy_options::recursive);
  start();
  ASSERT_EQ(put("Yg==", "Mg=="), 200);  // b=2
  ASSERT_EQ(put("YQ==", "Mw=="), 200);  // a=3
  node_->signal(SIGKILL);
  node_->wait_exit(10s);
  fs::remove_all(kv);
  fs::copy(saved, kv, fs::copy_options::recursive);
  start();
  EXPECT_EQ(http("GET", rest_port_, "/v0/kv/key/YQ==").body, R"({"key":"YQ==","value":"Mw=="})");
  EXPECT_EQ(http("GET", rest_port_, "/v0/kv/key/Yg==").body, R"({"key":"Yg==","value":"Mg=="})");
}

// The same, with the copy older than a snapshot that compaction has since
// made the WAL start after: the node restores the snapshot, then replays.
TEST_F(DurabilityTest, StoreRolledBackBehindASnapshotIsRestoredFromIt) {
  start({{"DKV_SNAPSHOT_ENTRIES", "20"}});
  ASSERT_EQ(put("YQ==", "MQ=="), 200);
  stop();
  const fs::path kv = fs::path(db_path()) / "kv";
  const fs::path saved = fs::path(dir_->path()) / "kv-copy";
  fs::copy(kv, saved, fs::copy_options::recursive);
  start({{"DKV_SNAPSHOT_ENTRIES", "20"}});
  for (int i = 0; i < 60; ++i) ASSERT_EQ(put("Yg==", "Mg=="), 200);
  ASSERT_EQ(put("Yw==", "Mw=="), 200);
  node_->signal(SIGKILL);
  node_->wait_exit(10s);
  fs::remove_all(kv);
  fs::copy(saved, kv, fs::copy_options::recursive);
  start({{"DKV_SNAPSHOT_ENTRIES", "20"}});
  EXPECT_NE(node_->log().find("restoring the store from snapshot"), std::string::npos);
  EXPECT_EQ(http("GET", rest_port_, "/v0/kv/key/Yg==").body, R"({"key":"Yg==","value":"Mg=="})");
  EXPECT_EQ(http("GET", rest_port_, "/v0/kv/key/Yw==").body, R"({"key":"Yw==","value":"Mw=="})");
}

// Large values trigger snapshots by their bytes long before the entry
// count does, so the log kept in memory stays bounded: 24 puts of ~192 KiB
// pass DKV_SNAPSHOT_BYTES (1 MiB) several times, far below 100,000 entries.
TEST_F(DurabilityTest, LargeValuesTriggerSnapshotsByBytes) {
  start({{"DKV_SNAPSHOT_ENTRIES", "100000"}, {"DKV_SNAPSHOT_BYTES", "1048576"}});
  std::string value_b64;
  for (int i = 0; i < (192 << 10) / 3; ++i) value_b64 += "eHh4";
  for (int i = 0; i < 24; ++i) ASSERT_EQ(put(base64("big" + std::to_string(i)), value_b64), 200);
  // Snapshots finish in the background: wait (bounded) for the first.
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (node_->log().find("snapshot at index") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);  // Polling a condition, bounded by the deadline.
  }
  EXPECT_NE(node_->log().find("snapshot at index"), std::string::npos) << node_->log();
}

// A machine crash with unsynced LMDB commits may leave data.mdb torn. The
// store's marker then names another boot: the node must discard LMDB and
// rebuild it from the snapshot and the WAL. Simulated with a garbage
// data.mdb (which LMDB itself would refuse to open) and a foreign boot id.
TEST_F(DurabilityTest, TornStoreAfterAMachineCrashIsRebuiltFromSnapshotAndWal) {
  start({{"DKV_SNAPSHOT_ENTRIES", "20"}});
  for (int i = 0; i < 60; ++i) ASSERT_EQ(put("Yg==", "Mg=="), 200);
  ASSERT_EQ(put("Yw==", "Mw=="), 200);
  node_->signal(SIGKILL);
  node_->wait_exit(10s);
  const fs::path kv = fs::path(db_path()) / "kv";
  {
    std::ofstream torn(kv / "data.mdb", std::ios::binary | std::ios::trunc);
    torn << std::string(8192, '\x5a');
    std::ofstream marker(kv / "unsynced-since-boot", std::ios::trunc);
    marker << "00000000-0000-0000-0000-000000000000\n";
  }
  start({{"DKV_SNAPSHOT_ENTRIES", "20"}});
  EXPECT_NE(node_->log().find("machine went down with unsynced LMDB commits"), std::string::npos)
      << node_->log();
  EXPECT_EQ(http("GET", rest_port_, "/v0/kv/key/Yg==").body, R"({"key":"Yg==","value":"Mg=="})");
  EXPECT_EQ(http("GET", rest_port_, "/v0/kv/key/Yw==").body, R"({"key":"Yw==","value":"Mw=="})");
  // A clean stop syncs LMDB and leaves no marker behind.
  stop();
  EXPECT_FALSE(fs::exists(kv / "unsynced-since-boot"));
}

// Many times the snapshot threshold of overwrites: the directory stays under
// about 3x the live data and its retained history (the store keeps the last
// 1,000 revisions: DKV_AUTO_COMPACTION_RETENTION's default) plus 64 MiB (WAL
// segments are 16 MiB each) plus the store's disk blocks reserved ahead of
// its pages (up to 28 MiB: a compaction step's room of 16 MiB, 4 MiB of
// slack, rounded up to 8 MiB steps; kv/store.cc). A log that compaction kept
// (~100 MiB of WAL) or an uncompacted history (~96 MiB in the store) would
// still exceed the bound by far.
TEST_F(DurabilityTest, DiskUseStaysBoundedUnderOverwrites) {
  start({{"DKV_SNAPSHOT_ENTRIES", "1000"}});
  // 100 keys of 8 KiB values: ~800 KiB live; 12,000 writes = ~96 MiB written,
  // well past the bound below if compaction kept the log.
  std::string value_b64;
  for (int i = 0; i < 8192 / 3; ++i) value_b64 += "eHh4";
  const int writers = 8;
  const int writes_per_writer = 1500;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < writes_per_writer; ++i) {
        const std::string key = "k" + std::to_string((w * writes_per_writer + i) % 100);
        const std::string key_b64 = base64(key);
        if (put(key_b64, value_b64) != 200) failures++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  const std::uint64_t live_bytes = 100 * 8192 + 1000 * 8192;  // Keys and history.
  const std::uint64_t used = dir_bytes(db_path());
  const std::uint64_t wal_bytes = 64ull << 20;
  const std::uint64_t reserved_bytes = 28ull << 20;
  EXPECT_LT(used, 3 * live_bytes + wal_bytes + reserved_bytes)
      << "data directory grew to " << used << " bytes";
  EXPECT_NE(node_->log().find("snapshot at index"), std::string::npos);
}

}  // namespace
}  // namespace dkv::testing
