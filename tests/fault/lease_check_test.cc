// The lease checker (lease_check.h): clean histories pass (kept alive, then
// expiring within the bound; revoked), and deliberately broken ones (the
// canaries) are rejected by the rule they break.
#include "lease_check.h"

#include <gtest/gtest.h>

namespace dkv::fault {
namespace {

constexpr std::int64_t kS = 1'000'000'000;
constexpr std::int64_t kMs = 1'000'000;

LeaseCall ack(std::int64_t invoke, std::int64_t complete, std::int64_t ttl_s = 5) {
  return {invoke, complete, true, false, ttl_s};
}
LeaseObservation alive(std::int64_t at) { return {at, at + 10 * kMs, true, "get present"}; }
LeaseObservation gone(std::int64_t at) { return {at, at + 10 * kMs, false, "get absent"}; }

// TTL 5 s: granted at 0, kept alive at 1.5 s and 3 s, then left to expire:
// alive at 7.9 s (before 3 s + 5 s), gone at 9 s (within the 3 s slack).
LeaseRecord clean() {
  LeaseRecord l;
  l.id = 0x1234;
  l.grant = ack(0, 5 * kMs);
  l.keepalives = {ack(1500 * kMs, 1505 * kMs), ack(3 * kS, 3 * kS + 5 * kMs)};
  l.observations = {alive(1 * kS), alive(4 * kS), alive(7900 * kMs), gone(9 * kS), gone(10 * kS)};
  return l;
}

bool flags(const LeaseCheckResult& r, const std::string& rule) {
  for (const auto& v : r.violations) {
    if (v.rule == rule) return true;
  }
  return false;
}

std::string details(const LeaseCheckResult& r) {
  std::string out;
  for (const auto& v : r.violations) out += v.rule + ": " + v.detail + "\n";
  return out;
}

TEST(LeaseCheckTest, CleanHistoriesPass) {
  LeaseRecord revoked = clean();
  revoked.id = 0x99;
  revoked.keepalives.resize(1);
  revoked.revoked = true;
  revoked.revoke = ack(2 * kS, 2 * kS + 5 * kMs);
  revoked.observations = {alive(1 * kS), gone(2100 * kMs)};
  const auto r = check_leases({clean(), revoked});
  EXPECT_TRUE(r.ok()) << details(r);
  EXPECT_EQ(r.leases, 2);
  EXPECT_EQ(r.expired_seen, 2);
  EXPECT_EQ(r.renewals, 5);
}

TEST(LeaseCheckTest, HistoryReadsAsText) {
  const std::string text = describe_lease_history({clean()});
  EXPECT_NE(text.find("lease 0000000000001234 client 0\n  grant [0.000s, 0.005s] ttl 5\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("  seen gone [9.000s, 9.010s] get absent\n"), std::string::npos) << text;
}

TEST(LeaseCheckTest, CanaryExpiredBeforeTtlAfterAKeepaliveIsFlagged) {
  LeaseRecord l = clean();
  l.observations.push_back(gone(7 * kS));  // The keepalive sent at 3 s holds it to 8 s.
  auto r = check_leases({l});
  EXPECT_TRUE(flags(r, "early")) << details(r);
  // A renewal acknowledged after an observation of expiry: it came back.
  LeaseRecord back = clean();
  back.keepalives.push_back(ack(9500 * kMs, 9510 * kMs));
  r = check_leases({back});
  EXPECT_TRUE(flags(r, "early")) << details(r);
}

TEST(LeaseCheckTest, CanaryKeptPastTheBoundIsFlagged) {
  LeaseRecord l = clean();
  l.observations.push_back(alive(11100 * kMs));  // 3.005 s + 5 s + 3 s = 11.005 s.
  auto r = check_leases({l});
  EXPECT_TRUE(flags(r, "kept")) << details(r);
  EXPECT_FALSE(flags(r, "early"));
  // A wider slack (as under faults) accepts it.
  LeaseCheckOptions wide;
  wide.kept_slack_ns = 5 * kS;
  EXPECT_TRUE(check_leases({l}, wide).ok());
  // An unanswered keepalive may have renewed it up to when the client gave up.
  LeaseRecord maybe = l;
  maybe.keepalives.push_back({4 * kS, 4500 * kMs, false, true, 0});
  EXPECT_TRUE(check_leases({maybe}).ok()) << details(check_leases({maybe}));
}

// Leader changes extend the bound (a new leader starts the whole TTL + an
// election timeout), chained; a window that began after the bound does not.
TEST(LeaseCheckTest, LeaderChangeWindowsExtendTheBoundChained) {
  LeaseRecord l = clean();  // Last renewal by 3.005 s: bound 11.005 s.
  l.observations.push_back(alive(20 * kS));
  LeaseCheckOptions o;
  o.leader_change_ns = 2 * kS;
  // A fault 9-10 s: 10 + 2 + 5 + 3 = 20 s. Alive at 20 s is within it.
  o.leader_change_windows = {{9 * kS, 10 * kS}};
  EXPECT_TRUE(check_leases({l}, o).ok()) << details(check_leases({l}, o));
  // Seen alive at 21 s: past it, unless a second change came before 20 s.
  l.observations.push_back(alive(21 * kS));
  EXPECT_TRUE(flags(check_leases({l}, o), "kept"));
  o.leader_change_windows.push_back({19 * kS, 19500 * kMs});
  EXPECT_TRUE(check_leases({l}, o).ok()) << details(check_leases({l}, o));
  // The first window after the bound: no extension at all.
  o.leader_change_windows = {{11500 * kMs, 12 * kS}};
  EXPECT_TRUE(flags(check_leases({l}, o), "kept"));
}

// A revoke whose answer was lost may have happened: an expiry seen after
// it is no violation (seed 129326602: the revoke's member was killed).
TEST(LeaseCheckTest, RevokeOfUnknownOutcomeExplainsAnExpiry) {
  LeaseRecord l = clean();
  l.observations = {alive(1 * kS), alive(3100 * kMs), gone(3300 * kMs)};
  EXPECT_TRUE(flags(check_leases({l}), "early"));
  l.revoke_sent = true;
  l.revoke = {3200 * kMs, 3250 * kMs, false, true, 0};
  EXPECT_TRUE(check_leases({l}).ok()) << details(check_leases({l}));
}

TEST(LeaseCheckTest, CanaryAliveAfterAnAcknowledgedRevokeIsFlagged) {
  LeaseRecord l = clean();
  l.revoked = true;
  l.revoke = ack(2 * kS, 2 * kS + 5 * kMs);
  l.observations = {alive(1 * kS), alive(2500 * kMs)};
  const auto r = check_leases({l});
  EXPECT_TRUE(flags(r, "kept")) << details(r);
}

}  // namespace
}  // namespace dkv::fault
