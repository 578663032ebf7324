// The Lessor's rules (node/lessor.h) with an injected clock: promotion,
// demotion, expiry only when primary and confirmed, rate limits,
// checkpoints, renewal.
#include "node/lessor.h"

#include <gtest/gtest.h>

namespace dkv::node {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr milliseconds kElection{1000};

class LessorTest : public ::testing::Test {
 protected:
  LeaseClock::time_point t0 = LeaseClock::time_point{} + seconds(1000);
  std::vector<kv::LeaseInfo> stored;
  Lessor lessor{LessorOptions{kElection, milliseconds(5000)}};

  Lessor::Work turn(LeaseClock::time_point now, bool leader = true, std::uint64_t term = 2,
                    bool confirmed = true) {
    return lessor.on_turn(now, leader, term, confirmed, [this](std::vector<kv::LeaseInfo>* out) {
      *out = stored;
      return util::Status::ok();
    });
  }
};

TEST_F(LessorTest, NothingExpiresUntilTheLeaderIsConfirmed) {
  stored = {{1, 5, 0}};
  EXPECT_TRUE(turn(t0 + seconds(100), true, 2, /*confirmed=*/false).empty());
  EXPECT_EQ(lessor.primary_term(), 0u);
  EXPECT_TRUE(turn(t0 + seconds(100), /*leader=*/false).empty());
}

TEST_F(LessorTest, PromotionExtendsDeadlinesByAnElectionTimeout) {
  stored = {{1, 5, 0}, {2, 60, 3}};  // Lease 2 was checkpointed at 3 s left.
  EXPECT_TRUE(turn(t0).empty());
  EXPECT_EQ(lessor.primary_term(), 2u);
  EXPECT_EQ(lessor.remaining(1, t0), 6);  // 5 s + 1 s.
  EXPECT_EQ(lessor.remaining(2, t0), 4);  // 3 s + 1 s: the checkpoint, not 60.
  EXPECT_TRUE(turn(t0 + milliseconds(3900)).revoke.empty());
  Lessor::Work w = turn(t0 + seconds(4));
  EXPECT_EQ(w.revoke, std::vector<std::int64_t>{2});
  EXPECT_EQ(w.term, 2u);
  // Not proposed again within an election timeout; then again.
  EXPECT_TRUE(turn(t0 + milliseconds(4050)).revoke.empty());  // Not scanned yet.
  EXPECT_TRUE(turn(t0 + milliseconds(4500)).revoke.empty());
  EXPECT_EQ(turn(t0 + seconds(6)).revoke, (std::vector<std::int64_t>{2, 1}));
}

TEST_F(LessorTest, DemotionDropsDeadlinesAndANewTermStartsOver) {
  stored = {{1, 5, 0}};
  turn(t0);
  EXPECT_TRUE(turn(t0 + seconds(1), /*leader=*/false).empty());
  EXPECT_EQ(lessor.primary_term(), 0u);
  EXPECT_FALSE(lessor.remaining(1, t0).has_value());
  EXPECT_EQ(lessor.renew(1, t0).status.code(), util::Code::kUnavailable);
  // Leader again in term 3, much later: deadlines start from then.
  turn(t0 + seconds(100), true, 3);
  EXPECT_EQ(lessor.primary_term(), 3u);
  EXPECT_EQ(lessor.remaining(1, t0 + seconds(100)), 6);
  // Leader of term 4 but not confirmed yet: not primary in any term.
  EXPECT_TRUE(turn(t0 + seconds(200), true, 4, /*confirmed=*/false).empty());
  EXPECT_EQ(lessor.primary_term(), 0u);
}

TEST_F(LessorTest, AStalledLeaderThatResumesInAnOldTermRevokesNothing) {
  stored = {{1, 5, 0}};
  turn(t0, true, 2);
  // SIGSTOP for a minute; the cluster moved on to term 3. Resumed, the
  // node first learns the new term (follower), or still believes it leads
  // term 2 for a moment: either way its proposals carry term 2, which
  // apply ignores in any entry of term 3 (kv/lease.h).
  Lessor::Work w = turn(t0 + seconds(60), true, 2);
  EXPECT_EQ(w.term, 2u);  // What it proposes is tagged with its old term.
  EXPECT_TRUE(turn(t0 + seconds(60), /*leader=*/false, 3).empty());
}

// The node simulator's canary (NodeCanaries::lessor_after_demotion): an
// ex-leader that goes on deciding on its own clock, with its old term.
TEST_F(LessorTest, TheCanaryKeepsDecidingAfterDemotionInItsOldTerm) {
  stored = {{1, 5, 0}};
  turn(t0);
  EXPECT_TRUE(turn(t0 + seconds(1), /*leader=*/false).empty());
  EXPECT_TRUE(turn(t0 + seconds(100), /*leader=*/false).empty());  // Off: nothing.

  Lessor canary{LessorOptions{kElection, milliseconds(5000)}};
  canary.set_decide_after_demotion(true);
  std::vector<kv::LeaseChange> seen;
  canary.set_applied_observer(
      [&](const std::vector<kv::LeaseChange>& c, LeaseClock::time_point) { seen = c; });
  auto load = [this](std::vector<kv::LeaseInfo>* out) {
    *out = stored;
    return util::Status::ok();
  };
  canary.on_turn(t0, true, 2, true, load);
  EXPECT_TRUE(canary.on_turn(t0 + seconds(1), false, 3, false, load).empty());
  const Lessor::Work w = canary.on_turn(t0 + seconds(7), false, 3, false, load);
  EXPECT_EQ(w.revoke, std::vector<std::int64_t>{1});
  EXPECT_EQ(w.term, 2u);  // The term it led: apply ignores it in term 3.
  const std::vector<kv::LeaseChange> revoked = {{kv::LeaseChange::Kind::kRevoked, {1, 0, 0}}};
  canary.on_applied(revoked, t0 + seconds(8));
  EXPECT_EQ(seen, revoked);
  EXPECT_TRUE(canary.on_turn(t0 + seconds(20), false, 3, false, load).empty());
}

TEST_F(LessorTest, GrantsRenewalsAndRevokesAsApplied) {
  turn(t0);
  lessor.on_applied({{kv::LeaseChange::Kind::kGranted, {9, 10, 0}}}, t0);
  EXPECT_EQ(lessor.remaining(9, t0 + seconds(4)), 6);
  Lessor::Renewal r = lessor.renew(9, t0 + seconds(8));
  ASSERT_TRUE(r.status.is_ok());
  EXPECT_EQ(r.ttl, 10);
  EXPECT_FALSE(r.clear_checkpoint);
  EXPECT_TRUE(turn(t0 + seconds(17)).revoke.empty());
  lessor.on_applied({{kv::LeaseChange::Kind::kCheckpointed, {9, 10, 4}}}, t0);
  EXPECT_TRUE(lessor.renew(9, t0 + seconds(17)).clear_checkpoint);
  lessor.on_applied({{kv::LeaseChange::Kind::kRevoked, {9, 0, 0}}}, t0);
  EXPECT_EQ(lessor.renew(9, t0).status.code(), util::Code::kNotFound);
}

TEST_F(LessorTest, RevokesAreRateLimited) {
  for (std::int64_t id = 1; id <= 3000; ++id) stored.push_back({id, 1, 0});
  turn(t0);
  auto now = t0 + seconds(3);
  EXPECT_EQ(turn(now).revoke.size(), 1000u);  // A burst of one second's worth.
  std::size_t total = 0;
  for (int i = 0; i < 10; ++i) total += turn(now += milliseconds(100)).revoke.size();
  EXPECT_EQ(total, 1000u);  // Then kRevokesPerSecond.
}

TEST_F(LessorTest, CheckpointsRecordStaleRemainingTtls) {
  stored = {{1, 60, 0}, {2, 3, 0}};                       // Lease 2's TTL is below the interval.
  turn(t0);                                               // Deadlines: 61 s and 4 s.
  EXPECT_TRUE(turn(t0 + seconds(4)).checkpoint.empty());  // Not due yet.
  Lessor::Work w = turn(t0 + seconds(6));
  EXPECT_EQ(w.checkpoint, (std::vector<std::pair<std::int64_t, std::int64_t>>{{1, 55}}));
  // A renewal before that checkpoint applies must clear it after it.
  EXPECT_TRUE(lessor.renew(1, t0 + seconds(6)).clear_checkpoint);
  lessor.renew(1, t0);  // Deadline t0 + 60 s from here on.
  lessor.on_applied({{kv::LeaseChange::Kind::kCheckpointed, {1, 60, 55}}}, t0);
  EXPECT_TRUE(turn(t0 + seconds(8)).checkpoint.empty());  // Not due.
  EXPECT_EQ(turn(t0 + seconds(11)).checkpoint,
            (std::vector<std::pair<std::int64_t, std::int64_t>>{{1, 49}}));
  lessor.on_applied({{kv::LeaseChange::Kind::kCheckpointed, {1, 60, 49}}}, t0);
  // Renewed (and its checkpoint cleared): less than an interval below its TTL.
  EXPECT_TRUE(lessor.renew(1, t0 + seconds(12)).clear_checkpoint);
  lessor.on_applied({{kv::LeaseChange::Kind::kCheckpointed, {1, 60, 0}}}, t0);
  EXPECT_TRUE(turn(t0 + seconds(16)).checkpoint.empty());
}

TEST(LessorRulesTest, RemainingSecondsRoundUp) {
  const auto t = LeaseClock::time_point{} + seconds(10);
  EXPECT_EQ(remaining_seconds(t + milliseconds(1), t), 1);
  EXPECT_EQ(remaining_seconds(t + milliseconds(1000), t), 1);
  EXPECT_EQ(remaining_seconds(t + milliseconds(1001), t), 2);
  EXPECT_EQ(remaining_seconds(t, t), 0);
  EXPECT_EQ(promoted_deadline({1, 10, 0}, t, kElection), t + seconds(11));
  EXPECT_EQ(promoted_deadline({1, 10, 2}, t, kElection), t + seconds(3));
}

}  // namespace
}  // namespace dkv::node
