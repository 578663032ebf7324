// Process test of snapshot transfer to a lagging follower: a real 3-node
// cluster, one follower killed (-9) while the others take tens of MiB of
// writes past DKV_SNAPSHOT_ENTRIES (so the leader compacts its log), then
// restarted. It must catch up by a snapshot streamed from the leader's file
// into its own snap dir and restored from there, never holding the image
// in memory: its anonymous memory (sampled) grows by well under the image size. (The
// old path kept the whole image in memory at least twice: reassembled, and
// as the raft core's snapshot data.)
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "harness.h"

namespace dkv::testing {
namespace {

using namespace std::chrono_literals;

// A field of /proc/<pid>/status in bytes ("VmHWM": peak resident set), 0 if
// unreadable.
std::uint64_t proc_status_bytes(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) {
      std::istringstream fields(line.substr(field.size() + 1));
      std::uint64_t kib = 0;
      fields >> kib;
      return kib << 10;
    }
  }
  return 0;
}

// Anonymous memory (heap, stacks): what holding a snapshot in memory would
// grow. Not VmHWM: LMDB reads its pages through a shared map, so every
// page a restore writes and reads back is resident file memory, page cache
// the kernel reclaims, and counts in RSS.
std::uint64_t anon_bytes(pid_t pid) { return proc_status_bytes(pid, "RssAnon"); }

// Samples anon_bytes(pid) every 20 ms from construction to stop(): the peak
// of a process that may briefly hold something large.
class AnonPeakSampler {
 public:
  explicit AnonPeakSampler(pid_t pid)
      : thread_([this, pid] {
          while (!stop_.load()) {
            peak_.store(std::max(peak_.load(), anon_bytes(pid)));
            std::this_thread::sleep_for(std::chrono::milliseconds(20));  // Sampling period.
          }
        }) {}
  ~AnonPeakSampler() { stop(); }
  std::uint64_t stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
    return peak_.load();
  }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> peak_{0};
  std::thread thread_;
};

std::string key_of(int i) { return "big-" + std::to_string(100000 + i); }
// 100 KiB, different for each key.
std::string value_of(int i) {
  std::string v = std::to_string(i) + ":";
  while (v.size() < (100u << 10)) v += static_cast<char>('a' + (v.size() * 7 + i) % 26);
  return v;
}

int put(std::uint16_t port, const std::string& key, const std::string& value) {
  return http("POST", port, "/v0/kv",
              R"({"key":")" + base64(key) + R"(","value":")" + base64(value) + R"("})")
      .status;
}

// A numeric field of node i's status; 0 while it does not answer.
std::uint64_t status_u64(LocalCluster& c, int i, const std::string& field) {
  const std::string v = c.status_field(i, field);
  return v.empty() ? 0 : std::stoull(v);
}

TEST(SnapshotTransferTest, LaggingFollowerCatchesUpByAStreamedSnapshot) {
  constexpr int kBigValues = 800;    // 80 MiB of live data.
  constexpr int kSmallValues = 450;  // Past two more snapshots, so the last covers the big ones.
  constexpr std::uint64_t kImageBytesMin = std::uint64_t{kBigValues} * (100 << 10);
  // MALLOC_ARENA_MAX=1: glibc otherwise keeps freed chunks in an arena per
  // gRPC thread that ran a reactor (tens of MiB of free memory counted in
  // RSS, varying from run to run); one arena measures what is live.
  LocalCluster c("snapshot_transfer", 3,
                 {{"DKV_SNAPSHOT_ENTRIES", "200"}, {"MALLOC_ARENA_MAX", "1"}});
  ASSERT_TRUE(c.start_all(30s)) << c.process(0).log();
  const int leader = c.wait_for_leader({0, 1, 2}, 10s);
  ASSERT_GE(leader, 0);
  const int lagging = leader == 2 ? 1 : 2;
  // Its anonymous memory after it started and caught up on an almost empty
  // log: the baseline the restarted process is compared with.
  const std::uint64_t baseline_bytes = anon_bytes(c.process(lagging).pid());
  ASSERT_GT(baseline_bytes, 0u);
  c.process(lagging).signal(SIGKILL);
  ASSERT_EQ(c.process(lagging).wait_exit(10s), 128 + SIGKILL);

  // Four writers on disjoint keys; every put must be acknowledged.
  std::atomic<int> failures{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      for (int i = w; i < kBigValues; i += 4) {
        if (put(c.rest_port(leader), key_of(i), value_of(i)) != 200) ++failures;
      }
    });
  }
  for (auto& t : writers) t.join();
  ASSERT_EQ(failures.load(), 0);
  for (int i = 0; i < kSmallValues; ++i) {
    ASSERT_EQ(put(c.rest_port(leader), "small-" + std::to_string(i), "s"), 200);
  }
  const std::uint64_t leader_commit = status_u64(c, leader, "commitIndex");

  ASSERT_TRUE(c.start(lagging));
  AnonPeakSampler sampler(c.process(lagging).pid());
  ASSERT_TRUE(c.wait_ready(lagging, 60s)) << c.process(lagging).log();
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (status_u64(c, lagging, "appliedIndex") < leader_commit &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);  // Polling a condition, bounded by the deadline.
  }
  ASSERT_GE(status_u64(c, lagging, "appliedIndex"), leader_commit);
  const std::uint64_t peak_bytes = sampler.stop();

  // It got there by a snapshot, not by the log (compacted long ago).
  const std::string log = c.process(lagging).log();
  EXPECT_NE(log.find("installed snapshot at index"), std::string::npos) << log;
  const auto received = log.find("transport: received snapshot at index");
  ASSERT_NE(received, std::string::npos) << log;
  const auto size_at = log.find('(', received);
  const std::uint64_t snapshot_bytes = std::stoull(log.substr(size_at + 1));
  EXPECT_GE(snapshot_bytes, kImageBytesMin);
  std::cout << "snapshot " << (snapshot_bytes >> 20) << " MiB; follower peak anon memory "
            << (baseline_bytes >> 20) << " MiB before, " << (peak_bytes >> 20)
            << " MiB after catching up (now anon "
            << (proc_status_bytes(c.process(lagging).pid(), "RssAnon") >> 20) << " MiB, file "
            << (proc_status_bytes(c.process(lagging).pid(), "RssFile") >> 20) << " MiB)\n";
  // Streaming keeps the growth to chunks, gRPC windows and LMDB's dirty
  // pages of one restore transaction (kRestoreTxnBytes): far below the image.
  EXPECT_LT(peak_bytes, baseline_bytes + snapshot_bytes / 2)
      << "the follower's peak anonymous memory grew by about the snapshot's size";

  // And it serves the data.
  for (int i : {0, 1, kBigValues / 2, kBigValues - 1}) {
    const auto r = http("GET", c.rest_port(lagging), "/v0/kv/key/" + base64(key_of(i)));
    ASSERT_EQ(r.status, 200) << i;
    EXPECT_NE(r.body.find(base64(value_of(i))), std::string::npos) << i;
  }
}

// The newest .snap file in node i's snap dir, "" if none.
std::string latest_snapshot_file(LocalCluster& c, int i) {
  std::string latest;
  for (const auto& e : std::filesystem::directory_iterator(c.db_path(i) + "/snap")) {
    const std::string p = e.path().string();
    if (p.ends_with(".snap") && p > latest) latest = p;  // Names sort by index.
  }
  return latest;
}

// Waits until node i's log holds `needle` at least `times` times; bounded.
bool wait_for_log(LocalCluster& c, int i, const std::string& needle, int times,
                  std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string log = c.process(i).log();
    int n = 0;
    for (auto at = log.find(needle); at != std::string::npos; at = log.find(needle, at + 1)) ++n;
    if (n >= times) return true;
    std::this_thread::sleep_for(50ms);  // Polling a condition, bounded by the deadline.
  }
  return false;
}

// A snapshot damaged on the leader's disk is refused by the follower at every
// attempt and never installed; the core keeps retrying, and once the leader
// has a newer (intact) snapshot the follower catches up with it.
TEST(SnapshotTransferTest, DamagedSnapshotIsRefusedAndRetriedNeverInstalled) {
  LocalCluster c("snapshot_damaged", 3, {{"DKV_SNAPSHOT_ENTRIES", "100"}});
  ASSERT_TRUE(c.start_all(30s)) << c.process(0).log();
  const int leader = c.wait_for_leader({0, 1, 2}, 10s);
  ASSERT_GE(leader, 0);
  const int lagging = leader == 2 ? 1 : 2;
  c.process(lagging).signal(SIGKILL);
  ASSERT_EQ(c.process(lagging).wait_exit(10s), 128 + SIGKILL);
  for (int i = 0; i < 250; ++i) {
    ASSERT_EQ(put(c.rest_port(leader), "k" + std::to_string(i), std::string(10 << 10, 'v')), 200);
  }
  ASSERT_TRUE(wait_for_log(c, leader, "log kept from", 2, 30s));
  const std::string damaged = latest_snapshot_file(c, leader);
  ASSERT_FALSE(damaged.empty());
  {
    // One byte in the middle of the payload, in place (the leader reads
    // the same inode).
    std::fstream f(damaged, std::ios::in | std::ios::out | std::ios::binary);
    const auto size = std::filesystem::file_size(damaged);
    f.seekg(static_cast<std::streamoff>(size / 2));
    char b = 0;
    f.get(b);
    f.seekp(static_cast<std::streamoff>(size / 2));
    f.put(static_cast<char>(b ^ 0x01));
  }

  ASSERT_TRUE(c.start(lagging));
  // Refused more than once: the core retries after each failure.
  ASSERT_TRUE(wait_for_log(c, lagging, "refused a snapshot stream", 3, 60s))
      << c.process(lagging).log();
  const std::string refused = c.process(lagging).log();
  EXPECT_NE(refused.find("DATA_LOSS"), std::string::npos) << refused;
  std::cout << refused.substr(refused.find("refused a snapshot stream"), 200) << "\n";
  EXPECT_EQ(c.process(lagging).log().find("installed snapshot"), std::string::npos);
  EXPECT_LT(status_u64(c, lagging, "appliedIndex"), 100u);

  // A newer snapshot on the leader replaces the damaged one; the next retry
  // carries it and the follower catches up.
  for (int i = 250; i < 400; ++i) {
    ASSERT_EQ(put(c.rest_port(leader), "k" + std::to_string(i), "w"), 200);
  }
  ASSERT_TRUE(wait_for_log(c, lagging, "installed snapshot", 1, 60s)) << c.process(lagging).log();
  const std::uint64_t leader_commit = status_u64(c, leader, "commitIndex");
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (status_u64(c, lagging, "appliedIndex") < leader_commit &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);  // Polling a condition, bounded by the deadline.
  }
  ASSERT_GE(status_u64(c, lagging, "appliedIndex"), leader_commit);
  const auto r = http("GET", c.rest_port(lagging), "/v0/kv/key/" + base64("k7"));
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.body.find(base64(std::string(10 << 10, 'v'))), std::string::npos);
}

}  // namespace
}  // namespace dkv::testing
