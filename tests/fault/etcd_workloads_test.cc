// The watch and lease workloads (etcd_workloads.h) against etcd itself:
// Debian's etcd-server 3.4 as a 3-member cluster on loopback ports
// (EtcdCluster, tests/process). etcd is the reference: its histories must
// pass the checkers, also when a member is paused or killed under the
// watchers (they resume on another member), and the same history made wrong on purpose
// (an event dropped; an expiry observed earlier) must fail them.
// Skips without /usr/bin/etcd. Label fault (~35 s).
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <thread>

#include "etcd_compat_harness.h"
#include "etcd_workloads.h"

namespace dkv::fault {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

EtcdWorkloadOptions options_for(const testing::EtcdCluster& etcd) {
  EtcdWorkloadOptions o;
  o.endpoints = etcd.endpoints();
  for (int i = 0; i < etcd.size(); ++i) o.members.push_back("etcd-" + std::to_string(i));
  o.seed = 18;
  return o;
}

std::string violations(const WatchCheckResult& r) {
  std::string out;
  for (const auto& v : r.violations) {
    out += v.rule + " (watcher " + std::to_string(v.watcher) + "): " + v.detail + "\n";
  }
  return out;
}

TEST(EtcdWorkloadsTest, WatchersResumeAfterAPauseAndAKillAndPassTheChecker) {
  if (::access("/usr/bin/etcd", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/etcd";
  testing::EtcdCluster etcd("watch_workload", 3);
  ASSERT_TRUE(etcd.start(60s)) << etcd.log(0);
  const auto epoch = Clock::now();
  WatchWorkload workload(options_for(etcd), epoch);
  // The fault schedule (sleeps pace it; they synchronise nothing): member 1
  // paused longer than the stall timeout (3 s), so watcher 1 resumes
  // elsewhere; then member 0 killed under watcher 0.
  std::this_thread::sleep_for(2s);
  etcd.signal(1, SIGSTOP);
  std::this_thread::sleep_for(5s);
  etcd.signal(1, SIGCONT);
  std::this_thread::sleep_for(2s);
  etcd.kill(0);
  std::this_thread::sleep_for(3s);
  workload.stop(15s);
  const auto watchers = workload.watchers();
  const auto writes = workload.writes();
  const WatchCheckResult r = check_watch(watchers, writes);
  EXPECT_TRUE(r.ok()) << violations(r);
  EXPECT_GT(r.events, 50);
  EXPECT_GE(r.resumes, 2);
  EXPECT_GT(r.progress, 0);
  std::printf("watch: %zu writes, %lld events, %lld resumes, %lld progress notifications\n",
              writes.size(), static_cast<long long>(r.events), static_cast<long long>(r.resumes),
              static_cast<long long>(r.progress));
  // The resumed watchers continued on another member: 1 after its stall, 0 after its death.
  ASSERT_GE(watchers[1].sessions.size(), 2u);
  EXPECT_NE(watchers[1].sessions[1].member, "etcd-1");
  EXPECT_EQ(watchers[1].sessions[0].end.rfind("stalled", 0), 0u) << watchers[1].sessions[0].end;
  ASSERT_GE(watchers[0].sessions.size(), 2u);
  EXPECT_NE(watchers[0].sessions.back().member, "etcd-0");

  // Canary: the same history with one delivered event dropped.
  auto broken = watchers;
  [&] {
    for (auto& s : broken[1].sessions) {
      for (auto& resp : s.responses) {
        if (resp.events.size() == 1 && resp.events[0].mod_revision > 5) {
          resp.events.clear();
          resp.header_revision = 0;  // Not a progress notification either.
          return;
        }
      }
    }
  }();
  const WatchCheckResult b = check_watch(broken, writes);
  EXPECT_FALSE(b.ok());
}

TEST(EtcdWorkloadsTest, LeasesExpireWithinTheBoundAndPassTheChecker) {
  if (::access("/usr/bin/etcd", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/etcd";
  testing::EtcdCluster etcd("lease_workload", 3);
  ASSERT_TRUE(etcd.start(60s)) << etcd.log(0);
  const auto epoch = Clock::now();
  LeaseWorkload workload(options_for(etcd), epoch);
  std::this_thread::sleep_for(2s);  // Each client takes a lease (a schedule, not synchronisation).
  workload.stop(40s);               // And follows it to its end.
  const auto leases = workload.leases();
  // The bound with a stable leader: TTL + 3 s.
  const LeaseCheckResult r = check_leases(leases) /* 3 s slack */;
  std::string why;
  for (const auto& v : r.violations) why += v.rule + ": " + v.detail + "\n";
  EXPECT_TRUE(r.ok()) << why;
  EXPECT_GE(r.leases, 3);
  EXPECT_GE(r.expired_seen, 1);
  std::printf("lease: %lld leases, %lld renewals, %lld seen expired (TTL %llds granted)\n",
              static_cast<long long>(r.leases), static_cast<long long>(r.renewals),
              static_cast<long long>(r.expired_seen),
              static_cast<long long>(leases.empty() ? 0 : leases[0].grant.ttl_s));

  // Canary: an expiry observed 1 s after the last acknowledged renewal.
  auto broken = leases;
  for (auto& l : broken) {
    if (l.keepalives.empty() || !l.keepalives.back().acknowledged) continue;
    const std::int64_t at = l.keepalives.back().invoke_ns + 1'000'000'000;
    l.observations.push_back({at, at + 1'000'000, false, "forged early expiry"});
    break;
  }
  EXPECT_FALSE(check_leases(broken).ok());
}

}  // namespace
}  // namespace dkv::fault
