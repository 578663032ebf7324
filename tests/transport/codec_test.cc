// Round trips of raft::Message through its wire form (transport/codec.h):
// every field, every message type, absent vs empty snapshot, binary bytes,
// and refusal of enum values raft/types.h does not define.
#include "transport/codec.h"

#include <gtest/gtest.h>

#include <string>

#include "dkv/raftpb/raft.pb.h"

namespace dkv::transport {
namespace {

using raft::MessageType;

// A message with every field set to a distinct non-default value.
raft::Message full_message() {
  raft::Message m;
  m.type = MessageType::kSnap;
  m.to = 2;
  m.from = 0xffffffffffffffffULL;
  m.term = 7;
  m.log_term = 6;
  m.index = 1ULL << 40;
  m.entries = {
      {.term = 5, .index = 11, .type = raft::EntryType::kNormal, .data = std::string("a\0b", 3)},
      {.term = 6, .index = 12, .type = raft::EntryType::kConfChange, .data = "cc"},
      {.term = 6, .index = 13, .type = raft::EntryType::kNormal, .data = ""},
  };
  m.commit = 12;
  m.reject = true;
  m.reject_hint = 9;
  raft::Snapshot s;
  s.data = std::string("\0\xff snapshot", 11);
  s.metadata.index = 100;
  s.metadata.term = 4;
  s.metadata.conf_state.voters = {1, 2, 3};
  s.metadata.conf_state.learners = {4};
  m.snapshot = s;
  m.context = std::string("ctx\0", 4);
  return m;
}

raft::Message round_trip(const raft::Message& m) {
  raftpb::Message pb;
  encode(m, &pb);
  // Through bytes too, as on the wire.
  std::string bytes;
  EXPECT_TRUE(pb.SerializeToString(&bytes));
  raftpb::Message parsed;
  EXPECT_TRUE(parsed.ParseFromString(bytes));
  raft::Message out;
  const util::Status s = decode(parsed, &out);
  EXPECT_TRUE(s.is_ok()) << s.to_string();
  return out;
}

TEST(CodecTest, EveryFieldRoundTrips) {
  const raft::Message m = full_message();
  EXPECT_EQ(round_trip(m), m);
}

TEST(CodecTest, DefaultMessageRoundTrips) {
  const raft::Message m;
  EXPECT_EQ(round_trip(m), m);
}

TEST(CodecTest, EveryMessageTypeRoundTrips) {
  for (int t = 0; t <= 0xff; ++t) {
    if (!raftpb::MessageType_IsValid(t)) continue;
    raft::Message m = full_message();
    m.type = static_cast<MessageType>(t);
    EXPECT_EQ(round_trip(m), m) << raft::message_type_name(m.type);
  }
}

TEST(CodecTest, AbsentAndEmptySnapshotsDiffer) {
  raft::Message none;
  none.type = MessageType::kApp;
  const raft::Message none_out = round_trip(none);
  EXPECT_FALSE(none_out.snapshot.has_value());

  raft::Message empty = none;
  empty.snapshot = raft::Snapshot{};
  const raft::Message empty_out = round_trip(empty);
  ASSERT_TRUE(empty_out.snapshot.has_value());
  EXPECT_EQ(empty_out, empty);
}

TEST(CodecTest, MovingEncodeAndDecodeKeepTheValue) {
  const raft::Message m = full_message();
  raft::Message moved = m;
  raftpb::Message pb;
  encode(std::move(moved), &pb);
  raft::Message out;
  ASSERT_TRUE(decode(std::move(pb), &out).is_ok());
  EXPECT_EQ(out, m);
}

TEST(CodecTest, EncodeOverwritesTheOutput) {
  raftpb::Message pb;
  encode(full_message(), &pb);
  encode(raft::Message{}, &pb);
  raft::Message out;
  ASSERT_TRUE(decode(pb, &out).is_ok());
  EXPECT_EQ(out, raft::Message{});
}

TEST(CodecTest, UnknownMessageTypeIsRefused) {
  for (int t : {7, 9, 22, 255, 256, 266, -1}) {
    raftpb::Message pb;
    pb.set_type(static_cast<raftpb::MessageType>(t));
    raft::Message out;
    const util::Status s = decode(pb, &out);
    EXPECT_EQ(s.code(), util::Code::kInvalidArgument) << t;
  }
}

TEST(CodecTest, UnknownEntryTypeIsRefused) {
  raftpb::Message pb;
  pb.set_type(raftpb::MSG_APP);
  pb.add_entries()->set_type(static_cast<raftpb::EntryType>(2));
  raft::Message out;
  EXPECT_EQ(decode(pb, &out).code(), util::Code::kInvalidArgument);
}

TEST(CodecTest, SizeEstimateCoversPayloads) {
  const raft::Message m = full_message();
  raftpb::Message pb;
  encode(m, &pb);
  EXPECT_GE(message_size_bytes(m), pb.ByteSizeLong());
}

}  // namespace
}  // namespace dkv::transport
