// MemoryStorage: the Storage contract the core relies on.
#include <gtest/gtest.h>

#include "raft/storage.h"

namespace dkv::raft {
namespace {

std::vector<Entry> ents(Index from, std::vector<Term> terms) {
  std::vector<Entry> out;
  for (Term t : terms) out.push_back(Entry{.term = t, .index = from++, .data = "x"});
  return out;
}

TEST(MemoryStorage, EmptyLogHasDummyAtZero) {
  MemoryStorage s;
  EXPECT_EQ(s.first_index(), 1u);
  EXPECT_EQ(s.last_index(), 0u);
  Term t = 99;
  ASSERT_TRUE(s.term(0, &t).is_ok());
  EXPECT_EQ(t, 0u);
  EXPECT_EQ(s.term(1, &t).code(), kUnavailable);
}

TEST(MemoryStorage, AppendReplacesConflictingSuffix) {
  MemoryStorage s;
  ASSERT_TRUE(s.append(ents(1, {1, 1, 2, 2})).is_ok());
  ASSERT_TRUE(s.append(ents(3, {3})).is_ok());
  EXPECT_EQ(s.last_index(), 3u);
  Term t = 0;
  ASSERT_TRUE(s.term(3, &t).is_ok());
  EXPECT_EQ(t, 3u);
}

TEST(MemoryStorage, EntriesRespectsByteLimitButReturnsOne) {
  MemoryStorage s;
  ASSERT_TRUE(s.append(ents(1, {1, 1, 1, 1})).is_ok());
  std::vector<Entry> out;
  ASSERT_TRUE(s.entries(1, 5, 0, &out).is_ok());
  EXPECT_EQ(out.size(), 1u);
  out.clear();
  ASSERT_TRUE(s.entries(1, 5, 2 * entry_size_bytes(Entry{.data = "x"}), &out).is_ok());
  EXPECT_EQ(out.size(), 2u);
}

TEST(MemoryStorage, CompactKeepsTermOfCompactionPoint) {
  MemoryStorage s;
  ASSERT_TRUE(s.append(ents(1, {1, 2, 3, 4})).is_ok());
  ASSERT_TRUE(s.create_snapshot(3, ConfState{{1}, {}}, "state").is_ok());
  ASSERT_TRUE(s.compact(3).is_ok());
  EXPECT_EQ(s.first_index(), 4u);
  Term t = 0;
  ASSERT_TRUE(s.term(3, &t).is_ok());
  EXPECT_EQ(t, 3u);
  EXPECT_EQ(s.term(2, &t).code(), kCompacted);
  std::vector<Entry> out;
  EXPECT_EQ(s.entries(2, 4, 100, &out).code(), kCompacted);
  EXPECT_EQ(s.snapshot().metadata.index, 3u);
  EXPECT_EQ(s.snapshot().metadata.term, 3u);
}

TEST(MemoryStorage, ApplySnapshotReplacesLog) {
  MemoryStorage s;
  ASSERT_TRUE(s.append(ents(1, {1, 1})).is_ok());
  Snapshot snap{.data = "d", .metadata = {.index = 10, .term = 4, .conf_state = {{1, 2}, {}}}};
  ASSERT_TRUE(s.apply_snapshot(snap).is_ok());
  EXPECT_EQ(s.first_index(), 11u);
  EXPECT_EQ(s.last_index(), 10u);
  EXPECT_EQ(s.initial_state().second, (ConfState{{1, 2}, {}}));
  EXPECT_FALSE(s.apply_snapshot(snap).is_ok());  // Not newer.
}

TEST(ConfChange, RoundTrips) {
  ConfChange cc{
      .type = ConfChangeType::kAddLearner, .node_id = 0x0102030405060708ULL, .context = "addr"};
  auto back = ConfChange::decode(cc.encode());
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, cc);
  EXPECT_FALSE(ConfChange::decode("short").has_value());
}

}  // namespace
}  // namespace dkv::raft
