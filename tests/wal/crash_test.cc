// Crash-point tests: one workload (create, appends across small segments, an
// overwrite, a snapshot file, a marker, compaction, more appends) is run once
// to count its file-system operations, then rerun once per operation k with
// the machine "dying" at operation k (it and everything after fail), and
// crash() throwing away what was not durable. That covers every durability
// point: after a write before its fsync, after an fsync before a rename,
// mid-snapshot, mid-compaction. After each crash:
//   * open() succeeds (a crash is never reported as corruption);
//   * the recovered state is one the log may legally be in: at least every
//     save reported durable, at most everything written (History::allows);
//   * the snapshot the recovered marker names exists and verifies, and every
//     .snap file verifies;
//   * the log is usable: an append after recovery survives the next crash.
// Both crash modes run: losing everything unsynced, and keeping a random
// prefix of it (torn writes).
#include <gtest/gtest.h>

#include "test_util.h"
#include "wal/log.h"
#include "wal/mem_file_system.h"
#include "wal/snapshot_file.h"

namespace dkv::wal {
namespace {

using testing::History;
using testing::kDb;
using testing::make_entries;
using testing::mem_options;
using testing::ModelState;

constexpr std::uint64_t kSegmentBytes = 1024;
const std::string kSnapDir = "/db/snap";

std::string snapshot_payload(const ModelState& s) {
  return "state-machine-image-up-to-" + std::to_string(s.marker.index) + std::string(3000, 'x');
}

// Runs the workload until the first failed operation; History records what
// was written and what was reported durable.
void run_workload(MemFileSystem& fs, History* h) {
  std::unique_ptr<Log> log;
  Recovered rec;
  if (!Log::open(kDb, mem_options(fs, kSegmentBytes), &log, &rec).is_ok()) return;
  h->synced();  // The empty log.
  raft::HardState hs{1, 1, 0};
  auto save = [&](const raft::HardState* s, const std::vector<raft::Entry>& es) {
    if (!log->save(s, es).is_ok()) return false;
    h->saved(s, es);
    return true;
  };
  auto sync = [&] {
    if (!log->sync().is_ok()) return false;
    h->synced();
    return true;
  };
  raft::Index next = 1;
  for (int i = 0; i < 12; ++i) {
    hs.commit = next > 3 ? next - 3 : 0;
    if (!save(&hs, make_entries(next, 3, hs.term, 40)) || !sync()) return;
    next += 3;
  }
  // A new leader (term 2) overwrites the last four entries.
  hs = {2, 2, hs.commit};
  next -= 4;
  if (!save(&hs, make_entries(next, 2, 2, 40)) || !sync()) return;
  next += 2;
  // Snapshot at next - 6, then the marker, then compaction.
  const SnapshotMarker m{next - 6, h->current().term_at(next - 6)};
  {
    std::unique_ptr<SnapshotWriter> w;
    if (!SnapshotWriter::create(fs, kSnapDir, {m, "members:a,b,c"}, &w, 1000).is_ok()) return;
    ModelState at = h->current();
    at.mark(m);
    const std::string payload = snapshot_payload(at);
    for (std::size_t off = 0; off < payload.size(); off += 700) {
      if (!w->append(std::string_view(payload).substr(off, 700)).is_ok()) return;
    }
    if (!w->finish().is_ok()) return;
  }
  h->marking(m);
  if (!log->save_snapshot_marker(m).is_ok()) return;
  h->synced();
  if (!log->release_to(m.index + 1).is_ok()) return;
  if (!remove_snapshots_before(fs, kSnapDir, m.index).is_ok()) return;
  for (int i = 0; i < 5; ++i) {
    hs.commit = next - 1;
    if (!save(&hs, make_entries(next, 3, 2, 40)) || !sync()) return;
    next += 3;
  }
  // Written, never synced.
  (void)save(nullptr, make_entries(next, 3, 2, 40));
}

std::string mode_name(MemFileSystem::CrashMode mode) {
  switch (mode) {
    case MemFileSystem::CrashMode::kLoseUnsynced:
      return "lose-unsynced";
    case MemFileSystem::CrashMode::kKeepRandomPrefix:
      return "keep-random-prefix";
    case MemFileSystem::CrashMode::kKeepRandomSectors:
      return "keep-random-sectors";
  }
  return "?";
}

void check_recovery(MemFileSystem& fs, const History& h, const std::string& what) {
  SCOPED_TRACE(what);
  ASSERT_TRUE(remove_snapshot_temp_files(fs, kSnapDir).is_ok());
  std::unique_ptr<Log> log;
  Recovered rec;
  const util::Status s = Log::open(kDb, mem_options(fs, kSegmentBytes), &log, &rec);
  ASSERT_TRUE(s.is_ok()) << s.to_string();
  const ModelState got = ModelState::from(rec);
  ASSERT_TRUE(h.allows(got)) << "recovered: " << got.describe() << h.describe_allowed();
  std::vector<SnapshotFileInfo> snaps;
  ASSERT_TRUE(list_snapshots(fs, kSnapDir, &snaps).is_ok());
  bool found_marker = got.marker.index == 0;
  for (const SnapshotFileInfo& f : snaps) {
    SnapshotMeta meta;
    const util::Status v = SnapshotReader::verify(fs, f.path, &meta);
    ASSERT_TRUE(v.is_ok()) << v.to_string();
    EXPECT_EQ(meta.marker, f.marker);
    found_marker = found_marker || f.marker == got.marker;
  }
  EXPECT_TRUE(found_marker) << "no snapshot file for the recovered marker";
  // The recovered log takes appends, and they survive the next crash.
  const raft::Term t = std::max<raft::Term>(got.last_term(), 3);
  const auto more = make_entries(got.last_index() + 1, 2, t, 40);
  ASSERT_TRUE(log->save(nullptr, more).is_ok());
  ASSERT_TRUE(log->sync().is_ok());
  log.reset();
  fs.crash();
  ASSERT_TRUE(Log::open(kDb, mem_options(fs, kSegmentBytes), &log, &rec).is_ok());
  ModelState want = got;
  want.save(nullptr, more);
  EXPECT_EQ(ModelState::from(rec), want);
}

void crash_at_every_op(MemFileSystem::CrashMode mode, int seeds) {
  std::uint64_t total_ops = 0;
  {
    MemFileSystem fs;
    History h;
    run_workload(fs, &h);
    total_ops = fs.op_count();
    ASSERT_GT(h.states.size(), 20u);
  }
  ASSERT_GT(total_ops, 50u);
  for (std::uint64_t k = 0; k <= total_ops; ++k) {
    for (int seed = 0; seed < seeds; ++seed) {
      MemFileSystem fs;
      fs.set_fault_hook([k](MemFileSystem::Op, const std::string&, std::uint64_t n) {
        return n >= k ? util::unavailable("injected crash") : util::Status::ok();
      });
      History h;
      run_workload(fs, &h);
      fs.set_fault_hook(nullptr);
      fs.crash(mode, k * 1000 + static_cast<std::uint64_t>(seed));
      check_recovery(fs, h,
                     "crash at op " + std::to_string(k) + " of " + std::to_string(total_ops) +
                         ", mode " + mode_name(mode) + ", seed " + std::to_string(seed));
      if (::testing::Test::HasFailure()) return;
    }
  }
}

TEST(Crash, AtEveryDurabilityPointLosingAllUnsynced) {
  crash_at_every_op(MemFileSystem::CrashMode::kLoseUnsynced, 1);
}

TEST(Crash, AtEveryDurabilityPointKeepingTornPrefixes) {
  crash_at_every_op(MemFileSystem::CrashMode::kKeepRandomPrefix, 3);
}

// Sectors of the last write persisted in any order: still never reported as
// corruption, since a save() is one record and nothing valid follows it.
TEST(Crash, AtEveryDurabilityPointKeepingRandomSectors) {
  crash_at_every_op(MemFileSystem::CrashMode::kKeepRandomSectors, 3);
}

// Recovery writes too (cutting a torn tail, the state record, removing
// .tmp files): crash again at each of its operations, then recover for good.
TEST(Crash, DuringRecoveryAfterACrash) {
  MemFileSystem probe;
  History ph;
  run_workload(probe, &ph);
  const std::uint64_t total_ops = probe.op_count();
  int nested = 0;
  for (std::uint64_t k = 0; k <= total_ops; k += 3) {
    MemFileSystem fs;
    fs.set_fault_hook([k](MemFileSystem::Op, const std::string&, std::uint64_t n) {
      return n >= k ? util::unavailable("injected crash") : util::Status::ok();
    });
    History h;
    run_workload(fs, &h);
    fs.set_fault_hook(nullptr);
    fs.crash(MemFileSystem::CrashMode::kKeepRandomPrefix, k);
    for (std::uint64_t j = 0;; ++j) {
      auto copy = fs.clone();  // Counts its operations from 0.
      copy->set_fault_hook([j](MemFileSystem::Op, const std::string&, std::uint64_t n) {
        return n >= j ? util::unavailable("injected crash in recovery") : util::Status::ok();
      });
      std::unique_ptr<Log> log;
      Recovered rec;
      const bool opened = Log::open(kDb, mem_options(*copy, kSegmentBytes), &log, &rec).is_ok();
      log.reset();
      copy->set_fault_hook(nullptr);
      copy->crash(MemFileSystem::CrashMode::kKeepRandomPrefix, j);
      check_recovery(
          *copy, h,
          "crash at op " + std::to_string(k) + ", then in recovery at op " + std::to_string(j));
      if (HasFailure()) return;
      ++nested;
      if (opened) break;  // Recovery got through all its operations.
    }
  }
  EXPECT_GT(nested, 150);
}

// A crash that loses nothing (the process dies, the machine does not) at
// every point: recovery must also accept everything written.
TEST(Crash, ProcessDeathAtEveryPoint) {
  MemFileSystem probe;
  History ph;
  run_workload(probe, &ph);
  const std::uint64_t total_ops = probe.op_count();
  for (std::uint64_t k = 0; k <= total_ops; k += 1) {
    MemFileSystem fs;
    fs.set_fault_hook([k](MemFileSystem::Op, const std::string&, std::uint64_t n) {
      return n >= k ? util::unavailable("injected death") : util::Status::ok();
    });
    History h;
    run_workload(fs, &h);
    fs.set_fault_hook(nullptr);
    // No crash(): unsynced data stays, as in the page cache. Locks die
    // with the process, which the test models by dropping the Log.
    check_recovery(fs, h, "process death at op " + std::to_string(k));
    if (HasFailure()) return;
  }
}

}  // namespace
}  // namespace dkv::wal
