// Corruption sweeps on a log of a few small (2 KiB) segments:
//   * the last segment cut at every offset with garbage after the cut (and
//     at every 4th offset without): recovery succeeds and yields exactly the batches that end
//     before the cut (a torn tail is cut off);
//   * one byte flipped at a sample of offsets of every earlier segment
//     (header, records, zero padding): recovery refuses with DATA_LOSS naming
//     the file and an offset at or before the flipped byte; never different
//     data;
//   * a bad record followed by a valid one in the last segment, and missing
//     segments: refused the same way.
#include <gtest/gtest.h>

#include <random>

#include "test_util.h"
#include "wal/format.h"
#include "wal/log.h"
#include "wal/mem_file_system.h"

namespace dkv::wal {
namespace {

using testing::make_entries;
using testing::mem_options;
using testing::ModelState;

constexpr std::uint64_t kSegmentBytes = 2048;

struct BatchEnd {
  std::uint64_t seq = 0;        // Segment the batch went to.
  std::uint64_t end_bytes = 0;  // Offset just after it.
  ModelState state;             // The log after it.
};

class CorruptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::unique_ptr<Log> log;
    Recovered rec;
    ASSERT_TRUE(testing::open_log(mem_options(fs_, kSegmentBytes), &log, &rec).is_ok());
    ModelState state;
    ends_.push_back({1, log->active_offset_bytes(), state});
    raft::HardState hs{1, 1, 0};
    raft::Index next = 1;
    while (ends_.back().seq < 3 || ends_.back().end_bytes < kSegmentBytes / 2) {
      hs.commit = next / 2;
      hs.term = 1 + next / 40;
      const auto es = make_entries(next, 1 + next % 4, hs.term, 20 + next % 30);
      ASSERT_TRUE(log->save(&hs, es).is_ok());
      ASSERT_TRUE(log->sync().is_ok());
      state.save(&hs, es);
      next += es.size();
      ends_.push_back({log->segments().back().seq, log->active_offset_bytes(), state});
    }
    for (const auto& s : log->segments()) paths_.push_back(s.path);
  }

  // The state recovery must give when the last segment is cut at `cut`.
  const ModelState& expected_after_cut(std::uint64_t cut) const {
    const std::uint64_t last = ends_.back().seq;
    const ModelState* best = nullptr;
    for (const BatchEnd& e : ends_) {
      if (e.seq < last || (e.seq == last && e.end_bytes <= cut)) best = &e.state;
    }
    return *best;
  }

  MemFileSystem fs_;
  std::vector<BatchEnd> ends_;
  std::vector<std::string> paths_;  // Segment paths, oldest first.
};

TEST_F(CorruptionTest, TruncatedLastSegmentRecoversTheSyncedPrefix) {
  const std::string path = paths_.back();
  std::string data;
  ASSERT_TRUE(fs_.get_contents(path, &data));
  const std::uint64_t data_end = ends_.back().end_bytes;
  const std::uint64_t header_bytes = format::parse_record(data, 0).size;
  ASSERT_GT(data_end, header_bytes + 200);
  std::mt19937_64 rng(1);
  int garbage_runs = 0;
  for (std::uint64_t cut = header_bytes; cut <= data_end + 16; ++cut) {
    for (int variant = 0; variant < 2; ++variant) {
      if (variant == 0 && cut % 4 != 0) continue;  // Plain cuts: a sample is enough.
      auto fs = fs_.clone();
      std::string cut_data = data.substr(0, cut);
      if (variant == 1) {  // Garbage after the cut, as a torn write may leave.
        for (int i = 0; i < 64; ++i) cut_data += static_cast<char>(rng());
        ++garbage_runs;
      }
      fs->set_contents(path, cut_data);
      std::unique_ptr<Log> log;
      Recovered rec;
      const util::Status s = testing::open_log(mem_options(*fs, kSegmentBytes), &log, &rec);
      ASSERT_TRUE(s.is_ok()) << "cut at " << cut << " variant " << variant << ": " << s.to_string();
      const ModelState& want = expected_after_cut(cut);
      if (variant == 1) {
        EXPECT_NE(rec.torn_tail.find(path + " offset "), std::string::npos) << rec.torn_tail;
      }
      ASSERT_EQ(ModelState::from(rec), want)
          << "cut at " << cut << " variant " << variant << " got "
          << ModelState::from(rec).describe() << " want " << want.describe();
      // The torn tail is gone for good: the log appends after it (checked
      // at a sample of cuts, to keep the test quick).
      if (cut % 8 != 0) continue;
      const auto more = make_entries(want.last_index() + 1, 1, want.last_term());
      ASSERT_TRUE(log->save(nullptr, more).is_ok());
      ASSERT_TRUE(log->sync().is_ok());
      log.reset();
      fs->crash();
      ASSERT_TRUE(testing::open_log(mem_options(*fs, kSegmentBytes), &log, &rec).is_ok());
      ModelState after = want;
      after.save(nullptr, more);
      ASSERT_EQ(ModelState::from(rec), after) << "cut at " << cut;
    }
  }
  EXPECT_GT(garbage_runs, 100);
}

TEST_F(CorruptionTest, FlippedByteInAnEarlierSegmentIsRefused) {
  ASSERT_GE(paths_.size(), 3u);
  int checked = 0;
  for (std::size_t seg = 0; seg + 1 < paths_.size(); ++seg) {
    std::string data;
    ASSERT_TRUE(fs_.get_contents(paths_[seg], &data));
    for (std::size_t off = seg; off < data.size(); off += 7) {
      auto fs = fs_.clone();
      std::string bad = data;
      bad[off] = static_cast<char>(bad[off] ^ 0xff);
      fs->set_contents(paths_[seg], bad);
      std::unique_ptr<Log> log;
      Recovered rec;
      const util::Status s = testing::open_log(mem_options(*fs, kSegmentBytes), &log, &rec);
      ASSERT_EQ(s.code(), util::Code::kDataLoss)
          << paths_[seg] << " byte " << off << " flipped: " << s.to_string();
      ASSERT_NE(s.message().find(paths_[seg]), std::string::npos) << s.message();
      const auto at = s.message().find(" at offset ");
      ASSERT_NE(at, std::string::npos) << s.message();
      const std::uint64_t reported = std::stoull(s.message().substr(at + 11));
      EXPECT_LE(reported, off) << s.message();
      ++checked;
    }
  }
  EXPECT_GT(checked, 500);
}

TEST_F(CorruptionTest, BadRecordFollowedByAValidOneInTheLastSegmentIsRefused) {
  const std::string path = paths_.back();
  std::string data;
  ASSERT_TRUE(fs_.get_contents(path, &data));
  const std::uint64_t header_bytes = format::parse_record(data, 0).size;
  // Flip a byte in the state record: valid batches follow it.
  std::string bad = data;
  bad[header_bytes + 12] = static_cast<char>(bad[header_bytes + 12] ^ 1);
  fs_.set_contents(path, bad);
  std::unique_ptr<Log> log;
  Recovered rec;
  const util::Status s = testing::open_log(mem_options(fs_, kSegmentBytes), &log, &rec);
  EXPECT_EQ(s.code(), util::Code::kDataLoss) << s.to_string();
  EXPECT_NE(s.message().find(path + " at offset " + std::to_string(header_bytes)),
            std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("a valid record follows"), std::string::npos) << s.message();
}

TEST_F(CorruptionTest, MissingMiddleSegmentIsRefused) {
  ASSERT_TRUE(fs_.remove(paths_[1]).is_ok());
  std::unique_ptr<Log> log;
  Recovered rec;
  const util::Status s = testing::open_log(mem_options(fs_, kSegmentBytes), &log, &rec);
  EXPECT_EQ(s.code(), util::Code::kDataLoss) << s.to_string();
  EXPECT_NE(s.message().find("segment 2 is missing"), std::string::npos) << s.message();
}

TEST_F(CorruptionTest, MissingFirstSegmentWithoutASnapshotIsRefused) {
  // Without a marker covering them, entries in a lost first segment are a gap.
  ASSERT_TRUE(fs_.remove(paths_[0]).is_ok());
  std::unique_ptr<Log> log;
  Recovered rec;
  const util::Status s = testing::open_log(mem_options(fs_, kSegmentBytes), &log, &rec);
  EXPECT_EQ(s.code(), util::Code::kDataLoss) << s.to_string();
  EXPECT_NE(s.message().find("are missing"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find(paths_[1]), std::string::npos) << s.message();
}

}  // namespace
}  // namespace dkv::wal
