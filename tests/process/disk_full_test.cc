// Process test of a full disk: DKV_DB_PATH/wal (or kv) is a tiny tmpfs,
// mounted in a mount namespace private to this test process (and the dkv it
// starts), so nothing of it is visible to the host. A single node is written
// to until the WAL (or LMDB) cannot grow: it must stop (exit 1) with one
// clear line naming ENOSPC, not retry and carry on; after space is freed it restarts
// and every acknowledged write is there. Needs root (CAP_SYS_ADMIN) for unshare and mount; skipped
// otherwise. CI runs as root.
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>

#include "harness.h"

namespace dkv::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::string value_of(int i) {
  std::string v = std::to_string(i) + ":";
  v.resize(64 << 10, static_cast<char>('a' + i % 26));
  return v;
}

int count_lines_with(const std::string& text, const std::string& needle) {
  int n = 0;
  for (std::size_t at = text.find(needle); at != std::string::npos;
       at = text.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

// Mounts a tmpfs of `size` on DKV_DB_PATH/`subdir` (in a mount namespace of
// this test), writes 64 KiB values to a single node until it stops, checks
// that it exited 1 with one line holding `stop_line`, then remounts
// the tmpfs larger and checks that every acknowledged write is there.
void full_disk_stops_the_node(const std::string& subdir, const std::string& size,
                              const std::string& stop_line) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "needs root to mount a tmpfs in a private mount namespace (CI runs as root)";
  }
  // A mount namespace of our own (this thread, inherited by the dkv we
  // fork), with mounts not propagating back to the host.
  ASSERT_EQ(::unshare(CLONE_NEWNS), 0) << std::strerror(errno);
  ASSERT_EQ(::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr), 0) << std::strerror(errno);

  TempDir dir("disk_full_" + subdir);
  const std::string db = dir.path() + "/a.db";
  const std::string full = db + "/" + subdir;
  fs::create_directories(full);
  ASSERT_EQ(::mount("tmpfs", full.c_str(), "tmpfs", 0, ("size=" + size).c_str()), 0)
      << std::strerror(errno);
  struct Unmount {
    std::string path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{full};

  const std::uint16_t rpc = free_port();
  const std::uint16_t rest = free_port();
  const std::map<std::string, std::string> env = {
      {"DKV_RPC_PORT", std::to_string(rpc)},
      {"DKV_REST_PORT", std::to_string(rest)},
      {"DKV_DB_PATH", db},
      {"DKV_NODE_ID", "a"},
      {"DKV_CLUSTER", "a@127.0.0.1:" + std::to_string(rpc)},
      {"DKV_LISTEN_HOST", "127.0.0.1"},
      // No compaction to make room.
      {"DKV_SNAPSHOT_ENTRIES", "1000000"},
      {"DKV_SNAPSHOT_BYTES", std::to_string(std::uint64_t{64} << 30)}};
  auto node = std::make_unique<DkvProcess>(dkv_binary(), env, dir.path() + "/a.log");
  ASSERT_TRUE(node->start());
  ASSERT_TRUE(node->wait_ready(rest, 20s)) << node->log();

  // Write 64 KiB values until the node stops; at most 1000 (64 MiB).
  int acknowledged = 0;
  for (int i = 0; i < 1000; ++i) {
    const int status = http("POST", rest, "/v0/kv",
                            R"({"key":")" + base64("k" + std::to_string(i)) + R"(","value":")" +
                                base64(value_of(i)) + R"("})")
                           .status;
    if (status != 200) break;
    acknowledged = i + 1;
  }
  ASSERT_GT(acknowledged, 100) << node->log();
  ASSERT_LT(acknowledged, 1000) << subdir << " never ran out of space";
  EXPECT_EQ(node->wait_exit(20s), 1) << node->log();
  const std::string log = node->log();
  EXPECT_EQ(count_lines_with(log, stop_line), 1) << log;
  std::cout << "stopped after " << acknowledged
            << " acknowledged writes: " << log.substr(log.find(stop_line)) << "\n";

  // Free space (a bigger tmpfs, same files) and restart: nothing lost.
  ASSERT_EQ(::mount("tmpfs", full.c_str(), "tmpfs", MS_REMOUNT, "size=256m"), 0)
      << std::strerror(errno);
  node = std::make_unique<DkvProcess>(dkv_binary(), env, dir.path() + "/a2.log");
  ASSERT_TRUE(node->start());
  ASSERT_TRUE(node->wait_ready(rest, 30s)) << node->log();
  for (int i = 0; i < acknowledged; ++i) {
    const auto r = http("GET", rest, "/v0/kv/key/" + base64("k" + std::to_string(i)));
    ASSERT_EQ(r.status, 200) << i;
    ASSERT_NE(r.body.find(base64(value_of(i))), std::string::npos) << i;
  }
  // And it takes writes again.
  EXPECT_EQ(http("POST", rest, "/v0/kv",
                 R"({"key":")" + base64("after") + R"(","value":")" + base64("v") + R"("})")
                .status,
            200);
  node->signal(SIGTERM);
  EXPECT_EQ(node->wait_exit(10s), 0);
}

// 40 MiB: the first WAL segment (16 MiB) and the next one, preallocated
// ahead of need; the third does not fit. The WAL's fsync fails with ENOSPC.
TEST(DiskFullTest, FullWalDiskStopsTheNodeAndLosesNothingAcknowledged) {
  full_disk_stops_the_node("wal", "40m", "No space left on device");
}

// LMDB writes its pages in the map; before each transaction the store
// reserves blocks for what it may add (fallocate; a step of physical
// compaction asks for up to 20 MiB), which the full tmpfs refuses with
// ENOSPC, and the node stops with one line naming it (not a SIGBUS).
TEST(DiskFullTest, FullStoreDiskStopsTheNodeAndLosesNothingAcknowledged) {
  full_disk_stops_the_node("kv", "40m", "No space left on device");
}

}  // namespace
}  // namespace dkv::testing
