// The node's snapshot transfer ends (node/snapshot_transfer.h) without the
// network: a source reads a snapshot file, a sink on another data directory
// writes what it is fed, and the received file is accepted only when it is
// whole and intact and is the snapshot the message names.
#include "node/snapshot_transfer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "wal/file.h"
#include "wal/snapshot_file.h"

namespace dkv::node {
namespace {

class SnapshotTransferTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::path(::testing::TempDir()) /
            ("snapshot_transfer_test_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(root_);
    leader_ = (root_ / "leader").string();
    follower_ = (root_ / "follower").string();
    std::filesystem::create_directories(leader_);
    std::filesystem::create_directories(follower_);
    // A snapshot file of ~3 MiB in 64 KiB chunks at index 40, term 3.
    std::unique_ptr<wal::SnapshotWriter> w;
    ASSERT_TRUE(wal::SnapshotWriter::create(wal::posix_file_system(), wal::snap_dir_path(leader_),
                                            {{40, 3}, "members"}, &w, 64 << 10)
                    .is_ok());
    for (int i = 0; i < 48; ++i)
      ASSERT_TRUE(w->append(std::string(64 << 10, 'a' + i % 26)).is_ok());
    ASSERT_TRUE(w->finish().is_ok());
    msg_.type = raft::MessageType::kSnap;
    msg_.snapshot.emplace();
    msg_.snapshot->metadata.index = 40;
    msg_.snapshot->metadata.term = 3;
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  // Streams the leader's file for msg_ to the follower's sink, passing each
  // chunk through `mangle`; returns finish()'s status (or the first error).
  util::Status transfer(const std::function<void(std::uint64_t offset, std::string*)>& mangle) {
    std::unique_ptr<wal::SnapshotSource> source;
    if (auto s = open_snapshot_source(leader_, msg_, &source); !s.is_ok()) return s;
    auto sink = make_snapshot_sink(follower_, msg_, source->total_bytes());
    EXPECT_NE(sink, nullptr);
    std::uint64_t offset = 0;
    while (offset < source->total_bytes()) {
      std::string chunk;
      if (auto s = source->read(100'000, &chunk); !s.is_ok()) return s;
      EXPECT_FALSE(chunk.empty());
      EXPECT_LE(chunk.size(), 100'000u);  // One chunk in memory, not the file.
      const std::uint64_t at = offset;
      offset += chunk.size();
      mangle(at, &chunk);
      if (auto s = sink->write(chunk); !s.is_ok()) return s;
    }
    raft::Message delivered = msg_;
    return sink->finish(&delivered);
  }

  std::string received_path() const {
    return wal::snapshot_path(wal::snap_dir_path(follower_), {40, 3});
  }
  // Files left in the follower's snap dir.
  std::size_t follower_files() const {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e :
         std::filesystem::directory_iterator(wal::snap_dir_path(follower_))) {
      ++n;
    }
    return n;
  }

  std::filesystem::path root_;
  std::string leader_;
  std::string follower_;
  raft::Message msg_;
};

TEST_F(SnapshotTransferTest, AWholeTransferLandsVerifiedUnderItsFinalName) {
  ASSERT_TRUE(transfer([](std::uint64_t, std::string*) {}).is_ok());
  wal::SnapshotMeta meta;
  ASSERT_TRUE(
      wal::SnapshotReader::verify(wal::posix_file_system(), received_path(), &meta).is_ok());
  EXPECT_EQ(meta.marker, (wal::SnapshotMarker{40, 3}));
  EXPECT_EQ(meta.membership, "members");
  EXPECT_EQ(follower_files(), 1u);  // No temporary file left.
}

TEST_F(SnapshotTransferTest, AFlippedByteAnywhereIsRefusedAndLeavesNothing) {
  const std::uint64_t size =
      std::filesystem::file_size(wal::snapshot_path(wal::snap_dir_path(leader_), {40, 3}));
  for (std::uint64_t target : {std::uint64_t{5}, size / 3, size / 2 + 17, size - 3}) {
    const util::Status s = transfer([target](std::uint64_t at, std::string* chunk) {
      if (target >= at && target < at + chunk->size()) (*chunk)[target - at] ^= 0x20;
    });
    EXPECT_EQ(s.code(), util::Code::kDataLoss) << target << ": " << s.to_string();
    EXPECT_FALSE(std::filesystem::exists(received_path())) << target;
    EXPECT_EQ(follower_files(), 0u) << target;
  }
}

TEST_F(SnapshotTransferTest, ATruncatedTransferIsRefused) {
  // The last chunk goes missing (the transport also checks the announced
  // size; the file's trailer catches it regardless).
  const util::Status s = transfer([](std::uint64_t at, std::string* chunk) {
    if (at + chunk->size() >= 3u << 20) chunk->clear();
  });
  EXPECT_EQ(s.code(), util::Code::kDataLoss) << s.to_string();
  EXPECT_FALSE(std::filesystem::exists(received_path()));
}

TEST_F(SnapshotTransferTest, AFileForAnotherSnapshotIsRefused) {
  // The leader's file is renamed to the index the message names, but its
  // header still says 40/3.
  std::filesystem::rename(wal::snapshot_path(wal::snap_dir_path(leader_), {40, 3}),
                          wal::snapshot_path(wal::snap_dir_path(leader_), {41, 3}));
  msg_.snapshot->metadata.index = 41;
  const util::Status s = transfer([](std::uint64_t, std::string*) {});
  EXPECT_EQ(s.code(), util::Code::kDataLoss) << s.to_string();
  EXPECT_FALSE(std::filesystem::exists(wal::snapshot_path(wal::snap_dir_path(follower_), {41, 3})));
}

TEST_F(SnapshotTransferTest, AMissingSourceFileIsAnError) {
  msg_.snapshot->metadata.index = 39;
  std::unique_ptr<wal::SnapshotSource> source;
  EXPECT_FALSE(open_snapshot_source(leader_, msg_, &source).is_ok());
}

}  // namespace
}  // namespace dkv::node
