// AutoCompactor (node/auto_compactor.h) against etcd's v3compactor rules,
// with a clock the test moves.
#include "node/auto_compactor.h"

#include <gtest/gtest.h>

namespace dkv::node {
namespace {

using namespace std::chrono_literals;
using Clock = AutoCompactor::Clock;
using Mode = AutoCompactionOptions::Mode;

AutoCompactionOptions by_revision(std::int64_t retention) {
  AutoCompactionOptions o;
  o.mode = Mode::kRevision;
  o.retention_revisions = retention;
  o.revision_check_interval = 1s;
  return o;
}

AutoCompactionOptions periodic(std::chrono::milliseconds period) {
  AutoCompactionOptions o;
  o.mode = Mode::kPeriodic;
  o.retention_period = period;
  return o;
}

TEST(AutoCompactorTest, RevisionModeCompactsToCurrentMinusRetentionEachInterval) {
  AutoCompactor c(by_revision(100));
  const Clock::time_point t0{};
  EXPECT_EQ(c.on_tick(t0, true, 500, 0), 400);        // A tenth compactable: at once.
  EXPECT_EQ(c.on_tick(t0 + 500ms, true, 600, 0), 0);  // 400 in flight, within the interval.
  EXPECT_EQ(c.on_tick(t0 + 1s, true, 600, 0), 500);   // Each interval, as etcd: again.
  // Already compacted that far: nothing to propose.
  EXPECT_EQ(c.on_tick(t0 + 2s, true, 505, 500), 0);
  EXPECT_EQ(c.on_tick(t0 + 3s, true, 650, 500), 550);
}

// dkv's addition: a tenth of the retention compactable, with nothing in
// flight, proposes before the interval.
TEST(AutoCompactorTest, RevisionModeProposesSoonerOnceATenthIsCompactable) {
  AutoCompactor c(by_revision(100));
  const Clock::time_point t0{};
  EXPECT_EQ(c.on_tick(t0, true, 100, 0), 0);
  EXPECT_EQ(c.on_tick(t0 + 1ms, true, 109, 0), 0);    // 9 compactable.
  EXPECT_EQ(c.on_tick(t0 + 2ms, true, 110, 0), 10);   // 10: a tenth.
  EXPECT_EQ(c.on_tick(t0 + 3ms, true, 150, 0), 0);    // 10 is in flight.
  EXPECT_EQ(c.on_tick(t0 + 4ms, true, 150, 10), 50);  // Applied: the next one.
}

TEST(AutoCompactorTest, RevisionModeNeverCompactsBelowOneOrOnAFollower) {
  AutoCompactor c(by_revision(100));
  const Clock::time_point t0{};
  c.on_tick(t0, true, 50, 0);
  EXPECT_EQ(c.on_tick(t0 + 1s, true, 50, 0), 0);    // 50 - 100 <= 0.
  EXPECT_EQ(c.on_tick(t0 + 2s, false, 500, 0), 0);  // Not the leader.
  EXPECT_EQ(c.on_tick(t0 + 3s, true, 500, 0), 400);
}

TEST(AutoCompactorTest, ZeroRetentionIsOff) {
  AutoCompactor by_rev(by_revision(0));
  AutoCompactor by_time(periodic(0ms));
  for (int s = 0; s < 100; ++s) {
    const Clock::time_point t = Clock::time_point{} + std::chrono::seconds(s);
    EXPECT_EQ(by_rev.on_tick(t, true, 10'000 + s, 0), 0);
    EXPECT_EQ(by_time.on_tick(t, true, 10'000 + s, 0), 0);
  }
}

// etcd's periodic.go: samples every period/10; nothing during the first
// period; then, every period (at most an hour), the revision sampled one
// period ago.
TEST(AutoCompactorTest, PeriodicModeCompactsToTheRevisionOfOnePeriodAgo) {
  AutoCompactor c(periodic(10s));
  EXPECT_EQ(c.sample_interval(), 1s);
  EXPECT_EQ(c.compact_interval(), 10s);
  const Clock::time_point t0{};
  std::vector<std::int64_t> proposed_at;  // Seconds of each proposal.
  std::vector<std::int64_t> revs;
  for (int tenth = 0; tenth <= 300; ++tenth) {  // 30 s in ticks of 100 ms.
    const auto now = t0 + std::chrono::milliseconds(100 * tenth);
    const std::int64_t current = 1000 + 10 * tenth;  // 100 revisions a second.
    const std::int64_t rev = c.on_tick(now, true, current, revs.empty() ? 0 : revs.back());
    if (rev == 0) continue;
    proposed_at.push_back(tenth / 10);
    revs.push_back(rev);
  }
  ASSERT_EQ(proposed_at, (std::vector<std::int64_t>{10, 20, 30}));
  // At 10 s: the revision sampled at 0 s; then, as etcd (whose window is
  // sampled at the top of its loop, one interval before the check), the
  // one sampled 11 s before.
  EXPECT_EQ(revs, (std::vector<std::int64_t>{1000, 1900, 2900}));
}

TEST(AutoCompactorTest, PeriodicModeCompactsHourlyForLongPeriods) {
  AutoCompactor c(periodic(std::chrono::hours(24)));
  EXPECT_EQ(c.sample_interval(), 6min);
  EXPECT_EQ(c.compact_interval(), 1h);
}

TEST(AutoCompactorTest, PeriodicModeWaitsWhileNotLeading) {
  AutoCompactor c(periodic(10s));
  const Clock::time_point t0{};
  std::int64_t first = 0;
  for (int s = 0; s <= 30 && first == 0; ++s) {
    first = c.on_tick(t0 + std::chrono::seconds(s), s >= 15, 100 + s, 0);
    if (first != 0) {
      EXPECT_EQ(s, 15);
      EXPECT_EQ(first, 104);  // Sampled while following, 11 s before.
    }
  }
  EXPECT_NE(first, 0);
}

}  // namespace
}  // namespace dkv::node
