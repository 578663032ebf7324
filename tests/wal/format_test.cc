// Record framing and payload codecs of format.h.
#include "wal/format.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace dkv::wal::format {
namespace {

TEST(Format, FileNamesRoundTrip) {
  EXPECT_EQ(segment_file_name(7), "00000000000000000007.wal");
  EXPECT_EQ(parse_segment_file_name("00000000000000000007.wal"), 7u);
  EXPECT_EQ(parse_segment_file_name("7.wal"), std::nullopt);
  EXPECT_EQ(parse_segment_file_name("00000000000000000007.wal.tmp"), std::nullopt);
  EXPECT_EQ(parse_segment_file_name("0000000000000000000x.wal"), std::nullopt);
  EXPECT_EQ(parse_segment_file_name("99999999999999999999.wal"), std::nullopt);  // > 2^64.
  const std::string s = snapshot_file_name(100, 3);
  EXPECT_EQ(s, "00000000000000000100-00000000000000000003.snap");
  EXPECT_EQ(parse_snapshot_file_name(s), (SnapshotMarker{100, 3}));
  EXPECT_EQ(parse_snapshot_file_name(s + ".tmp"), std::nullopt);
}

TEST(Format, RecordRoundTripAndEveryCorruptionIsCaught) {
  std::string buf;
  append_record(&buf, RecordType::kMarker, "hello");
  ASSERT_EQ(buf.size(), kRecordHeaderSize + 5);
  ParsedRecord r = parse_record(buf, 0);
  ASSERT_EQ(r.outcome, ParseOutcome::kOk);
  EXPECT_EQ(r.type, RecordType::kMarker);
  EXPECT_EQ(r.payload, "hello");
  EXPECT_EQ(r.size, buf.size());
  for (std::size_t i = 0; i < buf.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = buf;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      EXPECT_NE(parse_record(bad, 0).outcome, ParseOutcome::kOk) << i << " " << bit;
    }
  }
  for (std::size_t n = 1; n < buf.size(); ++n) {
    EXPECT_EQ(parse_record(buf.substr(0, n), 0).outcome, ParseOutcome::kPartial) << n;
  }
  EXPECT_EQ(parse_record(std::string(20, '\0'), 0).outcome, ParseOutcome::kZero);
  EXPECT_EQ(parse_record(std::string(3, '\0'), 0).outcome, ParseOutcome::kZero);
  EXPECT_EQ(parse_record("", 0).outcome, ParseOutcome::kZero);
}

TEST(Format, BatchRoundTrip) {
  const auto entries = testing::make_entries(5, 20, 3, 40);
  const raft::HardState hs{3, 2, 4};
  std::string payload;
  encode_batch(&hs, entries, &payload);
  EXPECT_EQ(payload.size(), batch_payload_size(&hs, entries));
  Batch b;
  const char* problem = "";
  ASSERT_TRUE(decode_batch(payload, &b, &problem)) << problem;
  ASSERT_TRUE(b.hard_state.has_value());
  EXPECT_EQ(*b.hard_state, hs);
  EXPECT_EQ(b.entries, entries);
  // Every truncation of the payload is refused.
  for (std::size_t n = 0; n < payload.size(); ++n) {
    Batch t;
    EXPECT_FALSE(decode_batch(payload.substr(0, n), &t, &problem)) << n;
  }
  EXPECT_FALSE(decode_batch(payload + "x", &b, &problem));
}

TEST(Format, HeaderStateMarkerSnapRoundTrip) {
  std::string p;
  encode_segment_header(SegmentHeader{kFormatVersion, 9, "c", "n"}, &p);
  SegmentHeader h;
  const char* problem = "";
  ASSERT_TRUE(decode_segment_header(p, &h, &problem));
  EXPECT_EQ(h.seq, 9u);
  EXPECT_EQ(h.cluster_id, "c");
  EXPECT_EQ(h.node_id, "n");
  p.clear();
  encode_state(StateRecord{{4, 1, 2}, {10, 3}}, &p);
  EXPECT_EQ(p.size(), kStatePayloadBytes);
  StateRecord st;
  ASSERT_TRUE(decode_state(p, &st, &problem));
  EXPECT_EQ(st.hard_state, (raft::HardState{4, 1, 2}));
  EXPECT_EQ(st.marker, (SnapshotMarker{10, 3}));
  p.clear();
  encode_marker({10, 3}, true, &p);
  EXPECT_EQ(p.size(), kMarkerPayloadBytes);
  SnapshotMarker m;
  bool keep = false;
  ASSERT_TRUE(decode_marker(p, &m, &keep, &problem));
  EXPECT_EQ(m, (SnapshotMarker{10, 3}));
  EXPECT_TRUE(keep);
  p.clear();
  encode_snap_header(SnapHeader{kFormatVersion, {5, 2}, "members"}, &p);
  SnapHeader sh;
  ASSERT_TRUE(decode_snap_header(p, &sh, &problem));
  EXPECT_EQ(sh.marker, (SnapshotMarker{5, 2}));
  EXPECT_EQ(sh.membership, "members");
  EXPECT_FALSE(decode_segment_header(p, &h, &problem));  // Wrong magic.
  p.clear();
  encode_snap_trailer(SnapTrailer{100, 2, 0xdeadbeef}, &p);
  EXPECT_EQ(p.size(), kSnapTrailerPayloadBytes);
  SnapTrailer tr;
  ASSERT_TRUE(decode_snap_trailer(p, &tr, &problem));
  EXPECT_EQ(tr.payload_crc, 0xdeadbeefu);
}

}  // namespace
}  // namespace dkv::wal::format
