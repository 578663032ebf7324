// wal::Log: round trips, overwrites, segments, markers, compaction, the lock,
// metadata checks, and fatal I/O errors. Crash points, corruption and the
// random model test have their own files.
#include "wal/log.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "test_util.h"
#include "wal/format.h"
#include "wal/mem_file_system.h"

namespace dkv::wal {
namespace {

using testing::kDb;
using testing::make_entries;
using testing::mem_options;
using testing::open_log;

std::vector<raft::Entry> concat(std::vector<raft::Entry> a, const std::vector<raft::Entry>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::vector<std::string> wal_files(MemFileSystem& fs) {
  std::vector<std::string> names;
  EXPECT_TRUE(fs.list_dir("/db/wal", &names).is_ok());
  return names;
}

TEST(Log, CreatesAnEmptyLog) {
  MemFileSystem fs;
  std::unique_ptr<Log> log;
  Recovered rec;
  ASSERT_TRUE(open_log(mem_options(fs), &log, &rec).is_ok());
  EXPECT_TRUE(rec.created);
  EXPECT_EQ(rec.torn_tail, "");
  EXPECT_TRUE(rec.hard_state.empty());
  EXPECT_EQ(rec.snapshot, SnapshotMarker{});
  EXPECT_TRUE(rec.entries.empty());
  EXPECT_EQ(log->last_index(), 0u);
  log.reset();
  fs.crash();  // Creation is durable by itself.
  ASSERT_TRUE(open_log(mem_options(fs), &log, &rec).is_ok());
  EXPECT_FALSE(rec.created);
  EXPECT_TRUE(rec.entries.empty());
}

TEST(Log, RoundTripsHardStateAndEntries) {
  MemFileSystem fs;
  std::unique_ptr<Log> log;
  Recovered rec;
  ASSERT_TRUE(open_log(mem_options(fs), &log, &rec).is_ok());
  const raft::HardState hs{2, 1, 3};
  const auto entries = make_entries(1, 5, 2);
  ASSERT_TRUE(log->save(&hs, entries).is_ok());
  ASSERT_TRUE(log->sync().is_ok());
  const raft::HardState hs2{2, 1, 5};
  ASSERT_TRUE(log->save(&hs2, {}).is_ok());
  ASSERT_TRUE(log->sync().is_ok());
  log.reset();
  fs.crash();
  ASSERT_TRUE(open_log(mem_options(fs), &log, &rec).is_ok());
  EXPECT_EQ(rec.hard_state, hs2);
  EXPECT_EQ(rec.entries, entries);
  EXPECT_EQ(log->last_index(), 5u);
  EXPECT_EQ(log->hard_state(), hs2);
}

TEST(Log, UnsyncedSaveIsLostOnCrashButKeptOnCleanRestart) {
  MemFileSystem fs;
  std::unique_ptr<Log> log;
  Recovered rec;
  ASSERT_TRUE(open_log(mem_options(fs), &log, &rec).is_ok());
  ASSERT_TRUE(log->save(nullptr, make_entries(1, 3, 1)).is_ok());
  ASSERT_TRUE(log->sync().is_ok());
  ASSERT_TRUE(log->save(nullptr, make_entries(4, 3, 1)).is_ok());
  log.reset();  // Process exit: the page cache keeps the write.
  ASSERT_TRUE(open_log(mem_options(fs), &log, &rec).is_ok());
  EXPECT_EQ(rec.entries, make_entries(1, 6, 1));
  ASSERT_TRUE(log->save(nullptr, make_entries(7, 3, 1)).is_ok());
  log.reset();
  fs.crash();  // Machine crash: only synced data survives.
  ASSERT_TRUE(open_log(mem_options(fs), &log, &rec).is_ok());
  EXPECT_EQ(rec.entries, make_entries(1, 6, 1));
}

TEST(Log, OverwriteReplacesSuffixAcrossRestartsAndSegments) {
  MemFileSystem fs;
  std::unique_ptr<Log> log;
  Recovered rec;
  ASSERT_TRUE(open_log(mem_options(fs, 2048), &log, &rec).is_ok());
  for (raft::Index i = 1; i <= 100; i += 10) {
    ASSERT_TRUE(log->save(nullptr, make_entries(i, 10, 1, 40)).is_ok());
    ASSERT_TRUE(log->sync().is_ok());
  }
  ASSERT_GT(log->segments().size(), 2u);
  // A new leader's log diverges at 31: entries 31.. of term 1 are replaced.
  ASSERT_TRUE(log->save(nullptr, make_entries(31, 5, 2, 40)).is_ok());
  ASSERT_TRUE(log->sync().is_ok());
  EXPECT_EQ(log->last_index(), 35u);
  log.reset();
  fs.crash();
  ASSERT_TRUE(open_log(mem_options(fs, 2048), &log, &rec).is_ok());
  const auto want = concat(make_entries(1, 30, 1, 40), make_entries(31, 5, 2, 40));
  EXPECT_EQ(rec.entries, want);
  // Appending after the truncation point and overwriting again.
  ASSERT_TRUE(log->save(nullptr, make_entries(36, 3, 2, 40)).is_ok());
  ASSERT_TRUE(log->save(nullptr, make_entries(34, 2, 3, 40)).is_ok());
  ASSERT_TRUE(log->sync().is_ok());
  log.reset();
  fs.crash();
  ASSERT_TRUE(open_log(mem_options(fs, 2048), &log, &rec).is_ok());
  EXPECT_EQ(rec.entries, concat(concat(make_entries(1, 30, 1, 40), make_entries(31, 3, 2, 40)),
                                make_entries(34, 2, 3, 40)));
}

TEST(Log, PreallocatesTheNextSegmentAheadOfNeed) {
  MemFileSystem fs;
  std::unique_ptr<Log> log;
  Recovered rec;
  ASSERT_TRUE(open_log(mem_options(fs, 4096), &log, &rec).is_ok());
  EXPECT_EQ(wal_files(fs), std::vector<std::string>{format::segment_file_name(1)});
  raft::Index next = 1;
  while (log->active_offset_bytes() < 2048) {
    ASSERT_TRUE(log->save(nullptr, make_entries(next, 4, 1, 64)).is_ok());
    ASSERT_TRUE(log->sync().is_ok());
    next += 4;
  }
  const std::string tmp = format::segment_file_name(2) + ".tmp";
  EXPECT_EQ(wal_files(fs), (std::vector<std::string>{format::segment_file_name(1), tmp}));
  std::string contents;
  ASSERT_TRUE(fs.get_contents("/db/wal/" + tmp, &contents));
  EXPECT_EQ(contents.size(), 4096u);
  while (log->segments().size() == 1) {
    ASSERT_TRUE(log->save(nullptr, make_entries(next, 4, 1, 64)).is_ok());
    ASSERT_TRUE(log->sync().is_ok());
    next += 4;
  }
  EXPECT_EQ(wal_files(fs)[1], format::segment_file_name(2));
  // A batch bigger than a whole segment still fits (in a segment of its own).
  ASSERT_TRUE(log->save(nullptr, make_entries(next, 3, 1, 5000)).is_ok());
  ASSERT_TRUE(log->sync().is_ok());
  next += 3;
  log.reset();
  fs.crash();
  ASSERT_TRUE(open_log(mem_options(fs, 4096), &log, &rec).is_ok());
  ASSERT_EQ(rec.entries.size(), next - 1);
  EXPECT_EQ(rec.entries.back(), make_entries(next - 1, 1, 1, 5000)[0]);
}

TEST(Log, MarkerWithMatchingTermKeepsLaterEntries) {
  MemFileSystem fs;
  std::unique_ptr<Log> log;
  Recovered rec;
  ASSERT_TRUE(open_log(mem_options(fs), &log, &rec).is_ok());
  ASSERT_TRUE(log->save(nullptr, make_entries(1, 10, 1)).is_ok());
  ASSERT_TRUE(log->save(nullptr, make_entries(11, 10, 2)).is_ok());
  ASSERT_TRUE(log->save_snapshot_marker({12, 2}).is_ok());
  EXPECT_EQ(log->last_index(), 20u);
  log.reset();
  fs.crash();  // The marker syncs by itself.
  ASSERT_TRUE(open_log(mem_options(fs), &log, &rec).is_ok());
  EXPECT_EQ(rec.snapshot, (SnapshotMarker{12, 2}));
  EXPECT_EQ(rec.entries, make_entries(13, 8, 2));
  // The term check still knows the terms after the marker.
  ASSERT_TRUE(log->save(nullptr, make_entries(21, 1, 2)).is_ok());
}

TEST(Log, MarkerWithOtherTermOrBeyondTheLogReplacesTheLog) {
  MemFileSystem fs;
  std::unique_ptr<Log> log;
  Recovered rec;
  ASSERT_TRUE(open_log(mem_options(fs), &log, &rec).is_ok());
  ASSERT_TRUE(log->save(nullptr, make_entries(1, 10, 1)).is_ok());
  ASSERT_TRUE(log->save_snapshot_marker({8, 3}).is_ok());  // Entry 8 has term 1.
  EXPECT_EQ(log->last_index(), 8u);
  ASSERT_TRUE(log->save(nullptr, make_entries(9, 2, 3)).is_ok());
  ASSERT_TRUE(log->save_snapshot_marker({50, 4}).is_ok());  // Past the end.
  EXPECT_EQ(log->last_index(), 50u);
  ASSERT_TRUE(log->save(nullptr, make_entries(51, 2, 4)).is_ok());
  ASSERT_TRUE(log->sync().is_ok());
  log.reset();
  fs.crash();
  ASSERT_TRUE(open_log(mem_options(fs), &log, &rec).is_ok());
  EXPECT_EQ(rec.snapshot, (SnapshotMarker{50, 4}));
  EXPECT_EQ(rec.entries, make_entries(51, 2, 4));
}

TEST(Log, ReturnsEntriesBeforeTheSnapshotWhenAsked) {
  MemFileSystem fs;
  std::unique_ptr<Log> log;
  Recovered rec;
  Options o = mem_options(fs, 1024);
  ASSERT_TRUE(open_log(o, &log, &rec).is_ok());
  for (raft::Index i = 1; i <= 40; i += 4) {
    ASSERT_TRUE(log->save(nullptr, make_entries(i, 4, 1, 40)).is_ok());
    ASSERT_TRUE(log->sync().is_ok());
  }
  ASSERT_TRUE(log->save_snapshot_marker({12, 1}).is_ok());
  auto reopen = [&](std::size_t max) {
    log.reset();
    o.entries_before_snapshot_max = max;
    ASSERT_TRUE(open_log(o, &log, &rec).is_ok());
  };
  reopen(0);
  EXPECT_TRUE(rec.entries_before_snapshot.empty());
  reopen(5);
  EXPECT_EQ(rec.entries_before_snapshot, make_entries(8, 5, 1, 40));
  EXPECT_EQ(rec.entries, make_entries(13, 28, 1, 40));
  reopen(100);
  EXPECT_EQ(rec.entries_before_snapshot, make_entries(1, 12, 1, 40));
  // A later marker extends them; compaction keeps at least what it must.
  ASSERT_TRUE(log->save_snapshot_marker({30, 1}).is_ok());
  ASSERT_TRUE(log->release_to(25).is_ok());
  ASSERT_GT(log->segments().front().seq, 1u);
  reopen(100);
  const auto& before = rec.entries_before_snapshot;
  ASSERT_GE(before.size(), 6u);
  EXPECT_LT(before.size(), 30u);
  EXPECT_EQ(before, make_entries(31 - before.size(), before.size(), 1, 40));
  // An installed snapshot (no entry at its index here) leaves none.
  ASSERT_TRUE(log->save_snapshot_marker({60, 2}).is_ok());
  reopen(100);
  EXPECT_TRUE(rec.entries_before_snapshot.empty());
  EXPECT_TRUE(rec.entries.empty());
}

TEST(Log, ReleaseToDeletesOnlySegmentsWhollyBeforeTheIndex) {
  MemFileSystem fs;
  std::unique_ptr<Log> log;
  Recovered rec;
  const raft::HardState hs{5, 2, 0};
  ASSERT_TRUE(open_log(mem_options(fs, 2048), &log, &rec).is_ok());
  ASSERT_TRUE(log->save(&hs, {}).is_ok());
  raft::Index next = 1;
  for (int i = 0; i < 40; ++i, next += 5) {
    ASSERT_TRUE(log->save(nullptr, make_entries(next, 5, 5, 30)).is_ok());
    ASSERT_TRUE(log->sync().is_ok());
  }
  const std::size_t before = log->segments().size();
  ASSERT_GT(before, 4u);
  const raft::Index snap = log->segments()[2].max_index + 3;  // Inside segment 4.
  ASSERT_TRUE(log->save_snapshot_marker({snap, 5}).is_ok());
  ASSERT_TRUE(log->release_to(snap + 1).is_ok());
  ASSERT_EQ(log->segments().size(), before - 3);
  EXPECT_EQ(log->segments().front().seq, 4u);
  EXPECT_EQ(wal_files(fs).front(), format::segment_file_name(4));
  log.reset();
  fs.crash();
  ASSERT_TRUE(open_log(mem_options(fs, 2048), &log, &rec).is_ok());
  EXPECT_EQ(rec.hard_state, hs);  // Kept by the later segments' state records.
  EXPECT_EQ(rec.snapshot, (SnapshotMarker{snap, 5}));
  EXPECT_EQ(rec.entries, make_entries(snap + 1, next - 1 - snap, 5, 30));
  // Releasing everything keeps the active segment.
  ASSERT_TRUE(log->save_snapshot_marker({next - 1, 5}).is_ok());
  ASSERT_TRUE(log->release_to(next).is_ok());
  EXPECT_EQ(log->segments().size(), 1u);
  log.reset();
  fs.crash();
  ASSERT_TRUE(open_log(mem_options(fs, 2048), &log, &rec).is_ok());
  EXPECT_EQ(rec.hard_state, hs);
  EXPECT_EQ(rec.snapshot, (SnapshotMarker{next - 1, 5}));
  EXPECT_TRUE(rec.entries.empty());
}

// The segment after the deleted ones must durably hold the state: here the
// active segment was just started by an unsynced save when compaction runs.
TEST(Log, ReleaseToRightAfterASegmentSwitchThenCrash) {
  MemFileSystem fs;
  std::unique_ptr<Log> log;
  Recovered rec;
  const raft::HardState hs{3, 1, 0};
  ASSERT_TRUE(open_log(mem_options(fs, 1024), &log, &rec).is_ok());
  ASSERT_TRUE(log->save(&hs, {}).is_ok());
  raft::Index next = 1;
  while (log->segments().size() < 3) {
    ASSERT_TRUE(log->save(nullptr, make_entries(next, 2, 3, 60)).is_ok());
    ASSERT_TRUE(log->sync().is_ok());
    next += 2;
  }
  const SnapshotMarker m{next - 1, 3};
  ASSERT_TRUE(log->save_snapshot_marker(m).is_ok());
  const std::size_t segments = log->segments().size();
  // Too big for what is left of the segment: goes to a new one, unsynced.
  ASSERT_TRUE(log->save(nullptr, make_entries(next, 1, 3, 900)).is_ok());
  ASSERT_EQ(log->segments().size(), segments + 1);
  ASSERT_TRUE(log->release_to(m.index + 1).is_ok());
  EXPECT_EQ(log->segments().size(), 1u);
  log.reset();
  fs.crash();
  const util::Status s = open_log(mem_options(fs, 1024), &log, &rec);
  ASSERT_TRUE(s.is_ok()) << s.to_string();
  EXPECT_EQ(rec.hard_state, hs);
  EXPECT_EQ(rec.snapshot, m);
}

TEST(Log, LockRefusesASecondOpen) {
  MemFileSystem fs;
  std::unique_ptr<Log> log, second;
  Recovered rec;
  ASSERT_TRUE(open_log(mem_options(fs), &log, &rec).is_ok());
  const util::Status s = open_log(mem_options(fs), &second, &rec);
  EXPECT_EQ(s.code(), util::Code::kUnavailable) << s.to_string();
  EXPECT_NE(s.message().find("/db/LOCK"), std::string::npos) << s.message();
  log.reset();
  EXPECT_TRUE(open_log(mem_options(fs), &second, &rec).is_ok());
}

// The same on the real file system: flock() conflicts between two open
// file descriptions, even in one process.
TEST(Log, PosixLockRefusesASecondOpenAndRoundTrips) {
  char tmpl[] = "/tmp/dkv-wal-test-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string db = std::string(tmpl) + "/data";
  Options o;
  o.cluster_id = "c";
  o.node_id = "a";
  o.segment_size_bytes = 4096;
  {
    std::unique_ptr<Log> log, second;
    Recovered rec;
    ASSERT_TRUE(Log::open(db, o, &log, &rec).is_ok());
    EXPECT_EQ(Log::open(db, o, &second, &rec).code(), util::Code::kUnavailable);
    const raft::HardState hs{1, 1, 0};
    for (raft::Index i = 1; i <= 200; i += 10) {
      ASSERT_TRUE(log->save(&hs, make_entries(i, 10, 1, 50)).is_ok());
      ASSERT_TRUE(log->sync().is_ok());
    }
    EXPECT_GT(log->segments().size(), 2u);
  }
  {
    std::unique_ptr<Log> log;
    Recovered rec;
    ASSERT_TRUE(Log::open(db, o, &log, &rec).is_ok());
    EXPECT_EQ(rec.entries, make_entries(1, 200, 1, 50));
    EXPECT_EQ(rec.hard_state, (raft::HardState{1, 1, 0}));
  }
  std::filesystem::remove_all(tmpl);
}

// A second process on the same data directory is refused while the first
// holds it, and gets it once the first is gone.
TEST(Log, PosixLockRefusesASecondProcess) {
  char tmpl[] = "/tmp/dkv-wal-test-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string db = tmpl;
  Options o;
  o.segment_size_bytes = 4096;
  auto child_open = [&] {
    const pid_t pid = ::fork();
    if (pid == 0) {
      std::unique_ptr<Log> log;
      Recovered rec;
      const util::Status s = Log::open(db, o, &log, &rec);
      ::_exit(s.is_ok() ? 0 : s.code() == util::Code::kUnavailable ? 3 : 4);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  {
    std::unique_ptr<Log> log;
    Recovered rec;
    ASSERT_TRUE(Log::open(db, o, &log, &rec).is_ok());
    EXPECT_EQ(child_open(), 3);
  }
  EXPECT_EQ(child_open(), 0);
  std::filesystem::remove_all(tmpl);
}

// kill -9 of a writer at arbitrary moments on the real file system: every
// batch the child reported durable (after sync()) is there after each
// restart, and the log keeps growing across the kills. The parent kills the
// child after reading its k-th report, wherever the child is by then.
TEST(Log, PosixKillNineLosesNothingReportedDurable) {
  char tmpl[] = "/tmp/dkv-wal-test-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string db = tmpl;
  Options o;
  o.segment_size_bytes = 8192;
  raft::Index durable = 0;
  for (int round = 0; round < 6; ++round) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::close(fds[0]);
      std::unique_ptr<Log> log;
      Recovered rec;
      if (!Log::open(db, o, &log, &rec).is_ok()) ::_exit(1);
      raft::Index next = rec.entries.empty() ? 1 : rec.entries.back().index + 1;
      for (;;) {
        const raft::HardState hs{1, 1, next - 1};
        if (!log->save(&hs, make_entries(next, 3, 1, 100)).is_ok()) ::_exit(2);
        if (!log->sync().is_ok()) ::_exit(3);
        next += 3;
        const raft::Index reported = next - 1;
        if (::write(fds[1], &reported, sizeof reported) != sizeof reported) ::_exit(4);
      }
    }
    ::close(fds[1]);
    const int reports = 5 + round * 7;
    for (int i = 0; i < reports; ++i) {
      raft::Index r = 0;
      ASSERT_EQ(::read(fds[0], &r, sizeof r), static_cast<ssize_t>(sizeof r));
      durable = std::max(durable, r);
    }
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    // Reports written before the kill but not read yet are durable too.
    raft::Index r = 0;
    while (::read(fds[0], &r, sizeof r) == static_cast<ssize_t>(sizeof r))
      durable = std::max(durable, r);
    ::close(fds[0]);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited " << WEXITSTATUS(status);
    std::unique_ptr<Log> log;
    Recovered rec;
    const util::Status s = Log::open(db, o, &log, &rec);
    ASSERT_TRUE(s.is_ok()) << s.to_string();
    ASSERT_GE(rec.entries.size(), durable) << "round " << round;
    EXPECT_EQ(rec.entries, make_entries(1, rec.entries.size(), 1, 100));
  }
  EXPECT_GT(durable, 50u);
  std::filesystem::remove_all(tmpl);
}

TEST(Log, MetadataMismatchIsAFailedPrecondition) {
  MemFileSystem fs;
  std::unique_ptr<Log> log;
  Recovered rec;
  ASSERT_TRUE(open_log(mem_options(fs), &log, &rec).is_ok());
  log.reset();
  Options o = mem_options(fs);
  o.node_id = "b";
  util::Status s = open_log(o, &log, &rec);
  EXPECT_EQ(s.code(), util::Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("node 'a', not 'b'"), std::string::npos) << s.message();
  o = mem_options(fs);
  o.cluster_id = "other";
  s = open_log(o, &log, &rec);
  EXPECT_EQ(s.code(), util::Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("cluster 'cluster-1'"), std::string::npos) << s.message();
  o.cluster_id.clear();  // Empty: accept what is stored.
  o.node_id.clear();
  ASSERT_TRUE(open_log(o, &log, &rec).is_ok());
  EXPECT_EQ(log->metadata().cluster_id, "cluster-1");
  EXPECT_EQ(log->metadata().node_id, "a");
}

TEST(Log, FormatVersionMismatchIsAFailedPrecondition) {
  MemFileSystem fs;
  std::unique_ptr<Log> log;
  Recovered rec;
  ASSERT_TRUE(open_log(mem_options(fs), &log, &rec).is_ok());
  log.reset();
  const std::string path = "/db/wal/" + format::segment_file_name(1);
  std::string data;
  ASSERT_TRUE(fs.get_contents(path, &data));
  const format::ParsedRecord r = format::parse_record(data, 0);
  ASSERT_EQ(r.outcome, format::ParseOutcome::kOk);
  std::string payload;
  format::encode_segment_header({format::kFormatVersion + 1, 1, "cluster-1", "a"}, &payload);
  std::string header;
  format::append_record(&header, format::RecordType::kSegmentHeader, payload);
  ASSERT_EQ(header.size(), r.size);
  data.replace(0, header.size(), header);
  fs.set_contents(path, data);
  const util::Status s = open_log(mem_options(fs), &log, &rec);
  EXPECT_EQ(s.code(), util::Code::kFailedPrecondition) << s.to_string();
  EXPECT_NE(s.message().find("format version 2"), std::string::npos) << s.message();
}

TEST(Log, FailedWriteIsFatal) {
  MemFileSystem fs;
  std::unique_ptr<Log> log;
  Recovered rec;
  ASSERT_TRUE(open_log(mem_options(fs), &log, &rec).is_ok());
  ASSERT_TRUE(log->save(nullptr, make_entries(1, 2, 1)).is_ok());
  fs.set_fault_hook([](MemFileSystem::Op op, const std::string&, std::uint64_t) {
    return op == MemFileSystem::Op::kWrite ? util::internal_error("pwrite: No space left on device")
                                           : util::Status::ok();
  });
  const util::Status s = log->save(nullptr, make_entries(3, 2, 1));
  EXPECT_EQ(s.code(), util::Code::kInternal);
  EXPECT_NE(s.message().find("No space left on device"), std::string::npos);
  fs.set_fault_hook(nullptr);
  // Never retry and continue: everything after fails the same way.
  EXPECT_FALSE(log->sync().is_ok());
  EXPECT_FALSE(log->save(nullptr, make_entries(3, 2, 1)).is_ok());
  EXPECT_FALSE(log->save_snapshot_marker({1, 1}).is_ok());
  EXPECT_FALSE(log->release_to(1).is_ok());
  EXPECT_EQ(log->fatal_error().code(), util::Code::kInternal);
}

TEST(Log, FailedSyncIsFatal) {
  MemFileSystem fs;
  std::unique_ptr<Log> log;
  Recovered rec;
  ASSERT_TRUE(open_log(mem_options(fs), &log, &rec).is_ok());
  ASSERT_TRUE(log->save(nullptr, make_entries(1, 2, 1)).is_ok());
  fs.set_fault_hook([](MemFileSystem::Op op, const std::string&, std::uint64_t) {
    return op == MemFileSystem::Op::kSync ? util::internal_error("fdatasync: Input/output error")
                                          : util::Status::ok();
  });
  EXPECT_FALSE(log->sync().is_ok());
  fs.set_fault_hook(nullptr);
  // A second fsync could "succeed" after the kernel dropped the dirty pages
  // (fsyncgate): the log must not let the caller believe that.
  EXPECT_FALSE(log->sync().is_ok());
  EXPECT_NE(log->fatal_error().message().find("Input/output error"), std::string::npos);
}

TEST(LogDeathTest, NonContiguousBatchIsACallerBug) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  MemFileSystem fs;
  std::unique_ptr<Log> log;
  Recovered rec;
  ASSERT_TRUE(open_log(mem_options(fs), &log, &rec).is_ok());
  ASSERT_TRUE(log->save(nullptr, make_entries(1, 2, 1)).is_ok());
  EXPECT_DEATH((void)log->save(nullptr, make_entries(5, 1, 1)), "first <= last_index_ \\+ 1");
  EXPECT_DEATH((void)log->save(nullptr, make_entries(3, 1, 0)), "term");
  const raft::HardState lower{0, 0, 0}, hs{2, 1, 0};
  ASSERT_TRUE(log->save(&hs, {}).is_ok());
  EXPECT_DEATH((void)log->save(&lower, {}), "hs->term >= hard_state_.term");
}

}  // namespace
}  // namespace dkv::wal
