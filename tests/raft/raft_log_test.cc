// RaftLog: appends, conflicts, commit and the persisted mark.
#include <gtest/gtest.h>

#include <limits>

#include "raft/raft_log.h"

namespace dkv::raft {
namespace {

std::vector<Entry> ents(Index from, std::vector<Term> terms) {
  std::vector<Entry> out;
  for (Term t : terms) out.push_back(Entry{.term = t, .index = from++});
  return out;
}

TEST(RaftLog, MaybeAppendRejectsMismatchedPrevious) {
  MemoryStorage s;
  RaftLog log(s);
  log.append(ents(1, {1, 2}));
  EXPECT_FALSE(log.maybe_append(2, 1, 0, ents(3, {2})).has_value());  // Term at 2 is 2.
  EXPECT_FALSE(log.maybe_append(5, 2, 0, {}).has_value());            // Beyond the log.
  auto last = log.maybe_append(2, 2, 3, ents(3, {2}));
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(*last, 3u);
  EXPECT_EQ(log.committed(), 3u);
}

TEST(RaftLog, MaybeAppendTruncatesConflictButNotOnDuplicate) {
  MemoryStorage s;
  RaftLog log(s);
  log.append(ents(1, {1, 1, 1, 1}));
  // A duplicate of an older, shorter append must not truncate (§5.3).
  ASSERT_TRUE(log.maybe_append(1, 1, 0, ents(2, {1})).has_value());
  EXPECT_EQ(log.last_index(), 4u);
  // A conflicting entry replaces the suffix.
  ASSERT_TRUE(log.maybe_append(2, 1, 0, ents(3, {2})).has_value());
  EXPECT_EQ(log.last_index(), 3u);
  EXPECT_EQ(log.term_or_zero(3), 2u);
}

TEST(RaftLog, StableToIgnoresRewrittenTail) {
  MemoryStorage s;
  RaftLog log(s);
  log.append(ents(1, {1, 1, 1}));
  EXPECT_EQ(log.persisted(), 0u);
  // The tail is rewritten (a new leader) before the Ready is persisted.
  log.append(ents(3, {2}));
  ASSERT_TRUE(s.append(ents(1, {1, 1, 1})).is_ok());  // The Ready's entries.
  log.stable_to(3, 1);                                // The persisted Ready had term 1 at index 3.
  EXPECT_EQ(log.unstable_entries().size(), 3u);
  EXPECT_EQ(log.persisted(), 0u);
  ASSERT_TRUE(s.append(log.unstable_entries()).is_ok());  // The next Ready's.
  log.stable_to(3, 2);
  EXPECT_TRUE(log.unstable_entries().empty());
  EXPECT_EQ(log.persisted(), 3u);
}

// Entries handed out in a Ready (in progress) are not handed out again,
// unless a new leader rewrites them; committed entries stop at a limit.
TEST(RaftLog, EntriesInProgressAreHandedOutOnce) {
  MemoryStorage s;
  RaftLog log(s);
  log.append(ents(1, {1, 1, 1}));
  EXPECT_EQ(log.entries_to_persist().size(), 3u);
  log.mark_in_progress();
  EXPECT_FALSE(log.has_entries_to_persist());
  log.append(ents(4, {1, 1}));
  const auto next = log.entries_to_persist();
  ASSERT_EQ(next.size(), 2u);
  EXPECT_EQ(next.front().index, 4u);
  log.mark_in_progress();
  log.append(ents(3, {2}));  // A rewrite from 3 on: 3 goes out again.
  const auto again = log.entries_to_persist();
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again.front().term, 2u);
  log.commit_to(3);
  EXPECT_TRUE(log.has_next_committed_entries(std::numeric_limits<Index>::max()));
  EXPECT_FALSE(log.has_next_committed_entries(0));
  EXPECT_EQ(log.next_committed_entries(~0ULL, 2).size(), 2u);
}

TEST(RaftLog, TruncationLowersPersisted) {
  MemoryStorage s;
  ASSERT_TRUE(s.append(ents(1, {1, 1, 1})).is_ok());
  RaftLog log(s);
  EXPECT_EQ(log.persisted(), 3u);
  log.append(ents(2, {2}));
  EXPECT_EQ(log.persisted(), 1u);
  EXPECT_EQ(log.last_index(), 2u);
}

TEST(RaftLog, FindConflictByTermSkipsAWholeTerm) {
  MemoryStorage s;
  RaftLog log(s);
  log.append(ents(1, {1, 1, 2, 2, 2, 5, 5}));
  EXPECT_EQ(log.find_conflict_by_term(7, 3), (std::pair<Index, Term>{5, 2}));
  EXPECT_EQ(log.find_conflict_by_term(7, 5), (std::pair<Index, Term>{7, 5}));
  EXPECT_EQ(log.find_conflict_by_term(4, 1), (std::pair<Index, Term>{2, 1}));
}

TEST(RaftLog, IsUpToDateComparesLastTermThenLength) {
  MemoryStorage s;
  RaftLog log(s);
  log.append(ents(1, {1, 2, 2}));
  EXPECT_TRUE(log.is_up_to_date(1, 3));
  EXPECT_TRUE(log.is_up_to_date(3, 2));
  EXPECT_FALSE(log.is_up_to_date(2, 2));
  EXPECT_FALSE(log.is_up_to_date(10, 1));
}

TEST(RaftLog, SliceSpansStorageAndUnstable) {
  MemoryStorage s;
  ASSERT_TRUE(s.append(ents(1, {1, 1})).is_ok());
  RaftLog log(s);
  log.append(ents(3, {2, 2}));
  auto all = log.slice(1, 5, std::numeric_limits<std::uint64_t>::max());
  ASSERT_TRUE(all.has_value());
  ASSERT_EQ(all->size(), 4u);
  EXPECT_EQ((*all)[3].index, 4u);
  auto one = log.slice(1, 5, 0);
  ASSERT_TRUE(one.has_value());
  EXPECT_EQ(one->size(), 1u);
}

}  // namespace
}  // namespace dkv::raft
