// The test-only WAL failpoints (wal/failpoints.h): DKV_TEST_FAILPOINTS
// parsing, and the Log over a FailpointFileSystem on a MemFileSystem:
//   * wal-fsync-eio at every sync of a workload: the first failed sync makes
//     the Log refuse every later call, and a crash then loses nothing whose
//     sync returned OK;
//   * wal-torn-write at every write: the process "dies" after half a write
//     (the page cache keeps it), recovery cuts the torn tail and keeps every
//     synced entry;
//   * lazy sync (DKV_TEST_ACK_BEFORE_PERSIST): sync() says OK but a crash
//     loses the data, until the period passes or the file is closed.
#include "wal/failpoints.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "test_util.h"
#include "wal/log.h"
#include "wal/mem_file_system.h"

namespace dkv::wal {
namespace {

using testing::kDb;
using testing::make_entries;
using testing::mem_options;

constexpr std::uint64_t kSegmentBytes = 1024;

TEST(FailpointsTest, ParsesNamesAndCounts) {
  Failpoints f;
  ASSERT_TRUE(parse_failpoints("wal-fsync-eio", &f).is_ok());
  EXPECT_EQ(f.fsync_eio_after, 0u);
  EXPECT_FALSE(f.torn_write_after.has_value());
  ASSERT_TRUE(parse_failpoints("wal-torn-write:after=7,wal-fsync-eio:after=12", &f).is_ok());
  EXPECT_EQ(f.torn_write_after, 7u);
  EXPECT_EQ(f.fsync_eio_after, 12u);
  EXPECT_TRUE(f.any());
  EXPECT_FALSE(Failpoints{}.any());
}

TEST(FailpointsTest, RejectsBadSpecsNamingThePartAndChangingNothing) {
  for (const std::string bad :
       {"", "wal-fsync", "wal-fsync-eio:after=", "wal-fsync-eio:after=x", "wal-fsync-eio:after=-1",
        "wal-fsync-eio:n=3", "wal-fsync-eio,wal-fsync-eio", "wal-torn-write,", " wal-fsync-eio"}) {
    Failpoints f;
    f.fsync_eio_after = 99;
    const util::Status s = parse_failpoints(bad, &f);
    EXPECT_EQ(s.code(), util::Code::kInvalidArgument) << "'" << bad << "'";
    EXPECT_NE(s.message().find("DKV_TEST_FAILPOINTS"), std::string::npos) << s.message();
    EXPECT_EQ(f.fsync_eio_after, 99u) << "'" << bad << "' changed the output";
  }
}

// Saves and syncs batches of 3 entries until a call fails (or 12 batches);
// returns the entries whose sync returned OK.
std::vector<raft::Entry> run_until_failure(Log& log, util::Status* first_error) {
  std::vector<raft::Entry> acked;
  raft::HardState hs{1, 1, 0};
  for (raft::Index next = 1; next < 37; next += 3) {
    const auto batch = make_entries(next, 3, hs.term, 40);
    hs.commit = next > 3 ? next - 3 : 0;
    util::Status s = log.save(&hs, batch);
    if (s.is_ok()) s = log.sync();
    if (!s.is_ok()) {
      *first_error = s;
      return acked;
    }
    acked.insert(acked.end(), batch.begin(), batch.end());
  }
  return acked;
}

TEST(FailpointsTest, FsyncFailureStopsTheLogAndLosesNothingSynced) {
  int failed_runs = 0;
  for (std::uint64_t after = 0; after < 40; ++after) {
    SCOPED_TRACE("wal-fsync-eio:after=" + std::to_string(after));
    MemFileSystem mem;
    Failpoints f;
    f.fsync_eio_after = after;
    FailpointFileSystem fs(mem, f);
    std::unique_ptr<Log> log;
    Recovered rec;
    util::Status err;
    std::vector<raft::Entry> acked;
    if (util::Status s = Log::open(kDb, mem_options(mem, kSegmentBytes), &log, &rec); !s.is_ok()) {
      FAIL() << s.to_string();
    }
    log.reset();
    auto o = mem_options(mem, kSegmentBytes);
    o.fs = &fs;
    if (util::Status s = Log::open(kDb, o, &log, &rec); !s.is_ok()) {
      EXPECT_TRUE(fs.fsync_failed()) << s.to_string();  // Failed in open's own syncs.
    } else {
      acked = run_until_failure(*log, &err);
      if (!err.is_ok()) {
        ++failed_runs;
        EXPECT_TRUE(fs.fsync_failed());
        EXPECT_NE(err.message().find("failpoint wal-fsync-eio"), std::string::npos)
            << err.message();
        // Never retry and continue: every later call gets the same error.
        EXPECT_EQ(log->fatal_error().message(), err.message());
        EXPECT_FALSE(log->sync().is_ok());
        raft::HardState hs{1, 1, 0};
        EXPECT_FALSE(log->save(&hs, make_entries(log->last_index() + 1, 1, 1)).is_ok());
      }
    }
    log.reset();
    mem.crash(MemFileSystem::CrashMode::kLoseUnsynced);
    ASSERT_TRUE(Log::open(kDb, mem_options(mem, kSegmentBytes), &log, &rec).is_ok());
    ASSERT_GE(rec.entries.size(), acked.size());
    EXPECT_TRUE(std::equal(acked.begin(), acked.end(), rec.entries.begin()))
        << "an entry whose sync returned OK was lost";
  }
  EXPECT_GE(failed_runs, 12);  // The workload syncs about 17 times after open.
}

TEST(FailpointsTest, TornWriteIsCutAtRecoveryAndLosesNothingSynced) {
  int torn_records = 0;
  for (std::uint64_t after = 0; after < 40; ++after) {
    SCOPED_TRACE("wal-torn-write:after=" + std::to_string(after));
    MemFileSystem mem;
    {
      std::unique_ptr<Log> log;
      Recovered rec;
      ASSERT_TRUE(Log::open(kDb, mem_options(mem, kSegmentBytes), &log, &rec).is_ok());
    }
    Failpoints f;
    f.torn_write_after = after;
    std::string crash_line;
    FailpointFileSystem fs(mem, f, [&](const std::string& line) { crash_line = line; });
    auto o = mem_options(mem, kSegmentBytes);
    o.fs = &fs;
    std::vector<raft::Entry> acked;
    {
      std::unique_ptr<Log> log;
      Recovered rec;
      if (Log::open(kDb, o, &log, &rec).is_ok()) {
        util::Status err;
        acked = run_until_failure(*log, &err);
      }
    }  // The process died: the Log is gone, the page cache (mem) stays.
    if (!fs.torn()) continue;
    EXPECT_NE(crash_line.find("failpoint wal-torn-write"), std::string::npos) << crash_line;
    std::unique_ptr<Log> log;
    Recovered rec;
    const util::Status s = Log::open(kDb, mem_options(mem, kSegmentBytes), &log, &rec);
    ASSERT_TRUE(s.is_ok()) << "a torn write must not look like corruption: " << s.to_string();
    torn_records += !rec.torn_tail.empty();
    ASSERT_GE(rec.entries.size(), acked.size());
    EXPECT_TRUE(std::equal(acked.begin(), acked.end(), rec.entries.begin()))
        << "an entry whose sync returned OK was lost";
    // The log is usable after the cut: an append survives a real crash.
    const raft::Index next = log->last_index() + 1;
    ASSERT_TRUE(log->save(nullptr, make_entries(next, 1, rec.hard_state.term + 1)).is_ok());
    ASSERT_TRUE(log->sync().is_ok());
    log.reset();
    mem.crash(MemFileSystem::CrashMode::kLoseUnsynced);
    ASSERT_TRUE(Log::open(kDb, mem_options(mem, kSegmentBytes), &log, &rec).is_ok());
    EXPECT_EQ(log->last_index(), next);
  }
  EXPECT_GT(torn_records, 10);  // Most tears hit a record that recovery must cut.
}

TEST(FailpointsTest, LazySyncAcknowledgesWhatACrashLoses) {
  MemFileSystem mem;
  Failpoints f;
  f.lazy_sync_period = std::chrono::hours(1);
  FailpointFileSystem fs(mem, f);
  auto o = mem_options(mem, kSegmentBytes);
  o.fs = &fs;
  std::unique_ptr<Log> log;
  Recovered rec;
  ASSERT_TRUE(Log::open(kDb, o, &log, &rec).is_ok());
  raft::HardState hs{1, 1, 0};
  ASSERT_TRUE(log->save(&hs, make_entries(1, 3, 1)).is_ok());
  ASSERT_TRUE(log->sync().is_ok());  // The lie.
  const auto kept = mem.clone();
  log.reset();  // A clean close writes the buffer out...
  mem.crash(MemFileSystem::CrashMode::kLoseUnsynced);
  ASSERT_TRUE(Log::open(kDb, mem_options(mem, kSegmentBytes), &log, &rec).is_ok());
  EXPECT_EQ(rec.entries.size(), 3u);
  log.reset();
  // ...but a crash before it loses what sync() acknowledged.
  kept->crash(MemFileSystem::CrashMode::kLoseUnsynced);
  ASSERT_TRUE(Log::open(kDb, mem_options(*kept, kSegmentBytes), &log, &rec).is_ok());
  EXPECT_TRUE(rec.entries.empty());
  log.reset();  // Before `kept`, whose lock it holds.
}

// The real thing: on the POSIX file system the torn write exits the process
// with kTornWriteExitCode and one line, and the half it wrote stays in the
// file (the page cache outlives the process).
TEST(FailpointsDeathTest, TornWriteExitsAndLeavesHalfTheWrite) {
  const std::string dir = ::testing::TempDir() + "/dkv-failpoints-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/x.wal";
  Failpoints f;
  f.torn_write_after = 1;
  EXPECT_EXIT(
      {
        FailpointFileSystem fs(posix_file_system(), f);
        std::unique_ptr<File> file;
        if (!fs.open(path, OpenMode::kCreate, &file).is_ok()) std::_Exit(1);
        (void)file->write_at(0, "whole-");
        (void)file->write_at(6, "12345678");
        std::_Exit(0);  // Not reached.
      },
      ::testing::ExitedWithCode(kTornWriteExitCode),
      "failpoint wal-torn-write: wrote 4 of 8 bytes");
  std::unique_ptr<File> file;
  ASSERT_TRUE(posix_file_system().open(path, OpenMode::kRead, &file).is_ok());
  std::string contents;
  ASSERT_TRUE(read_whole_file(*file, &contents).is_ok());
  EXPECT_EQ(contents, "whole-1234");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace dkv::wal
