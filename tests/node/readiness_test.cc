// Readiness (node/readiness.h): ready under a write loop, unready when
// unconfirmed, stale, without a leader or falling behind.
#include "node/readiness.h"

#include <gtest/gtest.h>

namespace dkv::node {
namespace {

constexpr int kElectionTicks = 10;

TEST(ReadinessTest, NotReadyUntilConfirmedAndCaughtUp) {
  Readiness r(kElectionTicks);
  EXPECT_TRUE(r.unconfirmed());
  EXPECT_FALSE(r.evaluate(true, 5, 0));  // No round answered yet.
  r.on_answer(7, 1);
  EXPECT_FALSE(r.unconfirmed());
  EXPECT_FALSE(r.evaluate(true, 6, 1));  // Behind the confirmed index.
  EXPECT_TRUE(r.evaluate(true, 7, 1));
  EXPECT_FALSE(r.evaluate(false, 7, 1));  // No leader known.
}

// The defect of issue 14: every new round's index is ahead of applied while
// writes go on; a ready node must stay ready.
TEST(ReadinessTest, StaysReadyUnderWrites) {
  Readiness r(kElectionTicks);
  r.on_answer(10, 0);
  ASSERT_TRUE(r.evaluate(true, 10, 0));
  raft::Index applied = 10;
  for (std::uint64_t tick = 1; tick < 200; ++tick) {
    applied += 3;  // Writes keep committing and applying...
    if (tick % kElectionTicks == 0) r.on_answer(applied + 2, tick);  // ...and a round sees more.
    EXPECT_TRUE(r.evaluate(true, applied, tick)) << "tick " << tick;
  }
}

TEST(ReadinessTest, FallingBehindMakesUnreadyUntilCaughtUpAgain) {
  Readiness r(kElectionTicks);
  r.on_answer(10, 0);
  ASSERT_TRUE(r.evaluate(true, 10, 0));
  r.on_answer(50, 10);
  EXPECT_TRUE(r.evaluate(true, 11, 10));  // Within one period of the leader.
  r.on_answer(90, 20);
  EXPECT_FALSE(r.evaluate(true, 49, 20));  // Not even where the leader was a period ago.
  EXPECT_FALSE(r.evaluate(true, 60, 20));  // Must reach the latest round again.
  EXPECT_TRUE(r.evaluate(true, 90, 20));
}

TEST(ReadinessTest, UnreadyWhenNotReconfirmed) {
  Readiness r(kElectionTicks);
  r.on_answer(3, 0);
  EXPECT_TRUE(r.evaluate(true, 3, Readiness::kStaleRounds * kElectionTicks));
  EXPECT_FALSE(r.evaluate(true, 3, Readiness::kStaleRounds * kElectionTicks + 1));
  r.on_answer(3, 40);
  EXPECT_TRUE(r.evaluate(true, 3, 40));
}

TEST(ReadinessTest, LeaderChangeNeedsANewConfirmation) {
  Readiness r(kElectionTicks);
  r.on_answer(3, 0);
  ASSERT_TRUE(r.evaluate(true, 3, 0));
  r.on_leader_change();
  EXPECT_TRUE(r.unconfirmed());
  EXPECT_FALSE(r.evaluate(true, 3, 1));
  r.on_answer(4, 2);
  EXPECT_TRUE(r.evaluate(true, 4, 2));
}

}  // namespace
}  // namespace dkv::node
