// Snapshot files: streaming round trip, chunking, listing and choosing the
// latest, deleting old ones, every flipped byte and every truncation refused,
// crash mid-write never leaves a partial .snap file.
#include "wal/snapshot_file.h"

#include <gtest/gtest.h>

#include <random>

#include "wal/mem_file_system.h"

namespace dkv::wal {
namespace {

const std::string kSnap = "/db/snap";

std::string payload_of(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

util::Status write_snapshot(FileSystem& fs, const SnapshotMeta& meta, const std::string& payload,
                            std::size_t piece_bytes, std::size_t chunk_bytes) {
  std::unique_ptr<SnapshotWriter> w;
  if (auto s = SnapshotWriter::create(fs, kSnap, meta, &w, chunk_bytes); !s.is_ok()) return s;
  for (std::size_t off = 0; off < payload.size(); off += piece_bytes) {
    if (auto s = w->append(std::string_view(payload).substr(off, piece_bytes)); !s.is_ok())
      return s;
  }
  return w->finish();
}

util::Status read_snapshot(FileSystem& fs, const std::string& path, SnapshotMeta* meta,
                           std::string* payload) {
  std::unique_ptr<SnapshotReader> r;
  if (auto s = SnapshotReader::open(fs, path, &r); !s.is_ok()) return s;
  *meta = r->meta();
  payload->clear();
  bool done = false;
  std::string chunk;
  while (true) {
    if (auto s = r->next(&chunk, &done); !s.is_ok()) return s;
    if (done) return util::Status::ok();
    *payload += chunk;
  }
}

TEST(SnapshotFile, StreamsARoundTrip) {
  MemFileSystem fs;
  const SnapshotMeta meta{{1234, 7}, "voters:1,2,3"};
  for (std::size_t size : {0, 1, 999, 1000, 1001, 25000}) {
    const std::string payload = payload_of(size, size);
    ASSERT_TRUE(write_snapshot(fs, meta, payload, 333, 1000).is_ok());
    const std::string path = kSnap + "/" + format::snapshot_file_name(1234, 7);
    SnapshotMeta got_meta;
    std::string got;
    const util::Status s = read_snapshot(fs, path, &got_meta, &got);
    ASSERT_TRUE(s.is_ok()) << s.to_string();
    EXPECT_EQ(got_meta, meta);
    EXPECT_EQ(got, payload) << size;
    EXPECT_TRUE(SnapshotReader::verify(fs, path, nullptr).is_ok());
  }
  std::vector<std::string> names;
  ASSERT_TRUE(fs.list_dir(kSnap, &names).is_ok());
  EXPECT_EQ(names.size(), 1u);  // No .tmp left behind.
}

TEST(SnapshotFile, ListsChoosesLatestAndRemovesOld) {
  MemFileSystem fs;
  std::optional<SnapshotFileInfo> latest;
  ASSERT_TRUE(latest_snapshot(fs, kSnap, &latest).is_ok());  // No dir yet.
  EXPECT_FALSE(latest.has_value());
  for (raft::Index i : {30, 10, 20}) {
    ASSERT_TRUE(write_snapshot(fs, {{i, 2}, ""}, "x", 1, 16).is_ok());
  }
  std::vector<SnapshotFileInfo> all;
  ASSERT_TRUE(list_snapshots(fs, kSnap, &all).is_ok());
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].marker.index, 10u);
  EXPECT_EQ(all[2].marker.index, 30u);
  ASSERT_TRUE(latest_snapshot(fs, kSnap, &latest).is_ok());
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->marker, (SnapshotMarker{30, 2}));
  ASSERT_TRUE(remove_snapshots_before(fs, kSnap, 30).is_ok());
  ASSERT_TRUE(list_snapshots(fs, kSnap, &all).is_ok());
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].marker.index, 30u);
  fs.crash();  // Deletions were made durable.
  ASSERT_TRUE(list_snapshots(fs, kSnap, &all).is_ok());
  EXPECT_EQ(all.size(), 1u);
}

TEST(SnapshotFile, EveryFlippedByteAndTruncationIsRefused) {
  MemFileSystem fs;
  ASSERT_TRUE(write_snapshot(fs, {{5, 1}, "m"}, payload_of(3000, 1), 500, 700).is_ok());
  const std::string path = kSnap + "/" + format::snapshot_file_name(5, 1);
  std::string data;
  ASSERT_TRUE(fs.get_contents(path, &data));
  for (std::size_t off = 0; off < data.size(); ++off) {
    std::string bad = data;
    bad[off] = static_cast<char>(bad[off] ^ 0x01);
    fs.set_contents(path, bad);
    const util::Status s = SnapshotReader::verify(fs, path, nullptr);
    ASSERT_EQ(s.code(), util::Code::kDataLoss) << "byte " << off << ": " << s.to_string();
    ASSERT_NE(s.message().find(path), std::string::npos);
  }
  for (std::size_t n = 0; n < data.size(); n += 3) {
    fs.set_contents(path, data.substr(0, n));
    ASSERT_EQ(SnapshotReader::verify(fs, path, nullptr).code(), util::Code::kDataLoss) << n;
  }
  fs.set_contents(path, data + "x");
  EXPECT_EQ(SnapshotReader::verify(fs, path, nullptr).code(), util::Code::kDataLoss);
  fs.set_contents(path, data);
  EXPECT_TRUE(SnapshotReader::verify(fs, path, nullptr).is_ok());
}

// Crash at every file operation of writing a snapshot: afterwards there is
// either no .snap file or a complete one.
TEST(SnapshotFile, CrashMidWriteNeverLeavesAPartialSnapshot) {
  const std::string payload = payload_of(5000, 3);
  std::uint64_t total = 0;
  {
    MemFileSystem fs;
    ASSERT_TRUE(write_snapshot(fs, {{9, 1}, "m"}, payload, 1000, 800).is_ok());
    total = fs.op_count();
  }
  for (int mode = 0; mode < 2; ++mode) {
    for (std::uint64_t k = 0; k <= total; ++k) {
      MemFileSystem fs;
      fs.set_fault_hook([k](MemFileSystem::Op, const std::string&, std::uint64_t n) {
        return n >= k ? util::unavailable("injected crash") : util::Status::ok();
      });
      const bool reported = write_snapshot(fs, {{9, 1}, "m"}, payload, 1000, 800).is_ok();
      fs.set_fault_hook(nullptr);
      fs.crash(mode == 0 ? MemFileSystem::CrashMode::kLoseUnsynced
                         : MemFileSystem::CrashMode::kKeepRandomPrefix,
               k);
      ASSERT_TRUE(remove_snapshot_temp_files(fs, kSnap).is_ok());
      std::vector<SnapshotFileInfo> all;
      ASSERT_TRUE(list_snapshots(fs, kSnap, &all).is_ok());
      if (reported) {
        ASSERT_EQ(all.size(), 1u) << "durable snapshot lost, crash at " << k;
      }
      for (const auto& f : all) {
        SnapshotMeta meta;
        std::string got;
        const util::Status s = read_snapshot(fs, f.path, &meta, &got);
        ASSERT_TRUE(s.is_ok()) << "crash at " << k << ": " << s.to_string();
        EXPECT_EQ(got, payload);
      }
      std::vector<std::string> names;
      if (fs.exists(kSnap)) {
        ASSERT_TRUE(fs.list_dir(kSnap, &names).is_ok());
        for (const auto& n : names) EXPECT_FALSE(n.ends_with(".tmp")) << n;
      }
    }
  }
}

TEST(SnapshotFile, FailedWriteReportsAndLeavesNoFile) {
  MemFileSystem fs;
  std::unique_ptr<SnapshotWriter> w;
  ASSERT_TRUE(SnapshotWriter::create(fs, kSnap, {{3, 1}, ""}, &w, 100).is_ok());
  fs.set_fault_hook([](MemFileSystem::Op op, const std::string&, std::uint64_t) {
    return op == MemFileSystem::Op::kSync ? util::internal_error("fdatasync: EIO")
                                          : util::Status::ok();
  });
  ASSERT_TRUE(w->append(std::string(1000, 'a')).is_ok());
  EXPECT_FALSE(w->finish().is_ok());
  fs.set_fault_hook(nullptr);
  EXPECT_FALSE(w->append("more").is_ok());
  w.reset();  // Removes the temporary file.
  std::vector<std::string> names;
  ASSERT_TRUE(fs.list_dir(kSnap, &names).is_ok());
  EXPECT_TRUE(names.empty());
}

}  // namespace
}  // namespace dkv::wal
