// Snapshotter (node/snapshotter.h) over a real WAL, LMDB store and raft
// MemoryStorage in temp dirs: a due snapshot is written in the background,
// finished on the caller's thread (WAL marker, compaction), and its file
// installs into another node's store.
#include "node/snapshotter.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <optional>

#include "node/entry_codec.h"
#include "raft/storage.h"
#include "wal/log.h"
#include "wal/snapshot_file.h"

namespace dkv::node {
namespace {

namespace fs = std::filesystem;

// One node's disk state: WAL, store, raft storage.
struct Disk {
  explicit Disk(const fs::path& dir) : db_path(dir.string()) {
    fs::remove_all(dir);
    wal::Options wo;
    wo.cluster_id = "1";
    wo.node_id = "a";
    wal::Recovered recovered;
    EXPECT_TRUE(wal::Log::open(db_path, wo, &log, &recovered).is_ok());
    kv::StoreOptions so;
    so.dir = db_path + "/kv";
    EXPECT_TRUE(kv::Store::open(so, &store).is_ok());
    EXPECT_TRUE(store->set_membership(kMembers, 0).is_ok());
  }
  // Appends and applies puts k1..kn at indexes last+1.. (term 1).
  void apply_puts(int n) {
    std::vector<raft::Entry> entries;
    std::vector<kv::Command> commands;
    for (int i = 0; i < n; ++i) {
      const raft::Index index = log->last_index() + 1 + i;
      kv::Command c{kv::Op::kPut, "k" + std::to_string(index), "v"};
      entries.push_back({1, index, raft::EntryType::kNormal, encode_entry(index, c)});
      commands.push_back(c);
    }
    raft::HardState hs{1, 0, entries.back().index};
    ASSERT_TRUE(log->save(&hs, entries).is_ok());
    ASSERT_TRUE(log->sync().is_ok());
    ASSERT_TRUE(storage.append(entries).is_ok());
    std::vector<kv::ApplyResult> results;
    ASSERT_TRUE(store->apply(commands, entries.back().index, &results).is_ok());
  }

  static constexpr const char* kMembers = "a@127.0.0.1:7070";
  std::string db_path;
  std::unique_ptr<wal::Log> log;
  std::unique_ptr<kv::Store> store;
  raft::MemoryStorage storage;
};

class SnapshotterTest : public ::testing::Test {
 protected:
  fs::path dir(const std::string& name) {
    return fs::path(::testing::TempDir()) /
           ("snapshotter_test_" + std::to_string(::getpid()) + "_" + name);
  }
  std::unique_ptr<Snapshotter> make(Disk& disk, SnapshotPolicy policy) {
    return std::make_unique<Snapshotter>(wal::posix_file_system(), disk.db_path, policy,
                                         *disk.store, *disk.log, disk.storage,
                                         [this](SnapshotDone done) {
                                           std::lock_guard lock(mu_);
                                           done_ = std::move(done);
                                           cv_.notify_all();
                                         });
  }
  // Awaits the background thread's outcome (generous: the machine is shared).
  SnapshotDone await_done() {
    std::unique_lock lock(mu_);
    EXPECT_TRUE(cv_.wait_for(lock, std::chrono::seconds(60), [&] { return done_.has_value(); }));
    SnapshotDone d = std::move(*done_);
    done_.reset();
    return d;
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<SnapshotDone> done_;
};

TEST_F(SnapshotterTest, WritesADueSnapshotAndCompactsBehindIt) {
  Disk disk(dir("write"));
  auto snapshotter = make(disk, {.entries = 10, .bytes = 1 << 30, .catchup_entries = 5});
  disk.apply_puts(8);
  ASSERT_TRUE(snapshotter->maybe_start(0).is_ok());
  EXPECT_FALSE(snapshotter->in_flight());  // 8 < 10 entries: not due.
  disk.apply_puts(12);
  ASSERT_TRUE(snapshotter->maybe_start(0).is_ok());
  EXPECT_TRUE(snapshotter->in_flight());
  ASSERT_TRUE(snapshotter->maybe_start(0).is_ok());  // One at a time.
  SnapshotDone done = await_done();
  ASSERT_TRUE(done.status.is_ok()) << done.status.to_string();
  EXPECT_EQ(done.index, 20u);
  EXPECT_EQ(done.term, 1u);
  EXPECT_EQ(done.membership, Disk::kMembers);
  ASSERT_TRUE(snapshotter->finish(std::move(done)).is_ok());
  EXPECT_FALSE(snapshotter->in_flight());
  EXPECT_EQ(snapshotter->last_index(), 20u);
  EXPECT_EQ(disk.log->snapshot().index, 20u);
  EXPECT_EQ(disk.storage.snapshot().metadata.index, 20u);
  EXPECT_GT(disk.storage.first_index(), 1u);   // Compacted...
  EXPECT_LE(disk.storage.first_index(), 16u);  // ...keeping 5 entries behind it.
  EXPECT_TRUE(fs::exists(wal::snapshot_path(wal::snap_dir_path(disk.db_path), {20, 1})));
  ASSERT_TRUE(snapshotter->maybe_start(0).is_ok());
  EXPECT_FALSE(snapshotter->in_flight());  // Nothing applied since.
}

TEST_F(SnapshotterTest, AppliedBytesMakeASnapshotDueSooner) {
  Disk disk(dir("bytes"));
  auto snapshotter = make(disk, {.entries = 1000, .bytes = 100, .catchup_entries = 5});
  disk.apply_puts(3);
  ASSERT_TRUE(snapshotter->maybe_start(99).is_ok());
  EXPECT_FALSE(snapshotter->in_flight());
  ASSERT_TRUE(snapshotter->maybe_start(100).is_ok());
  EXPECT_TRUE(snapshotter->in_flight());
  ASSERT_TRUE(snapshotter->finish(await_done()).is_ok());
  EXPECT_EQ(snapshotter->last_index(), 3u);
}

TEST_F(SnapshotterTest, InstallsALeadersSnapshotFile) {
  Disk leader(dir("leader"));
  auto leader_snapshotter = make(leader, {.entries = 5, .bytes = 1 << 30, .catchup_entries = 0});
  leader.apply_puts(6);
  ASSERT_TRUE(leader_snapshotter->maybe_start(0).is_ok());
  ASSERT_TRUE(leader_snapshotter->finish(await_done()).is_ok());

  Disk follower(dir("follower"));
  // What the transport does (snapshot_transfer.h): the file lands in the
  // follower's snap dir before the core hands out the metadata.
  const std::string name = wal::snapshot_path(wal::snap_dir_path(leader.db_path), {6, 1});
  fs::create_directories(wal::snap_dir_path(follower.db_path));
  fs::copy_file(name, wal::snapshot_path(wal::snap_dir_path(follower.db_path), {6, 1}));
  auto snapshotter = make(follower, {});
  raft::Snapshot meta;  // Raft snapshot metadata: no data.
  meta.metadata.index = 6;
  meta.metadata.term = 1;
  meta.metadata.conf_state.voters = {node_id_of("a")};
  Membership m;
  ASSERT_TRUE(snapshotter->install(meta, 0, &m).is_ok());
  EXPECT_EQ(m.encode(), Disk::kMembers);
  EXPECT_EQ(follower.store->applied_index(), 6u);
  std::string value;
  EXPECT_TRUE(follower.store->get("k6", &value).is_ok());
  EXPECT_EQ(follower.log->snapshot().index, 6u);
  EXPECT_EQ(follower.storage.snapshot().metadata.index, 6u);
  EXPECT_EQ(snapshotter->last_index(), 6u);
}

TEST_F(SnapshotterTest, AMissingLeaderSnapshotFileIsAnError) {
  Disk follower(dir("missing"));
  auto snapshotter = make(follower, {});
  raft::Snapshot meta;
  meta.metadata.index = 9;
  meta.metadata.term = 2;
  Membership m;
  EXPECT_FALSE(snapshotter->install(meta, 0, &m).is_ok());
  EXPECT_EQ(follower.store->applied_index(), 0u);
  EXPECT_EQ(follower.log->snapshot().index, 0u);
}

}  // namespace
}  // namespace dkv::node
