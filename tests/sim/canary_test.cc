// The simulator has teeth: each test-only canary breaks one Raft rule, and
// the simulator must catch it (an invariant violation, or an assertion in
// the core) within a stated seed budget. The schedules are biased toward
// the faults that expose each bug (see derive_options). Label: sim.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "sim.h"

namespace dkv::sim {
namespace {

// Seeds tried per canary. Measured when written: first seed caught, and
// share of seeds 0..999 that fail: commit_old_term 44 (1.1%), forget_vote 3
// (47%: vote safety, and election safety too), read_without_heartbeat 0
// (22%), skip_conf_change_fix 36 (5.5%), count_leader_before_persist 0
// (74%). The wipe-restarts (issue 14) moved the schedules: first seeds are
// now 181, 3, 7, 3 and 0, and vote_while_rejoining is caught at 19 (5.7% of
// seeds 0..299: vote safety and leader completeness); read_requester_is_quorum
// at 68 (1.3% of seeds 0..1499: a stale follower read). The test is
// deterministic; the budget leaves a wide margin for changes that move the
// schedules.
constexpr std::uint64_t kSeedBudget = 1500;

// Runs seeds in a child process (a canary may trip a DKV_ASSERT, which
// aborts) and returns the first seed that failed, or -1.
long long first_failing_seed(const std::string& canary) {
  int fds[2];
  if (pipe(fds) != 0) return -2;
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    for (std::uint64_t seed = 0; seed < kSeedBudget; ++seed) {
      // Report the seed before running it: if it aborts, it is the culprit.
      char buf[32];
      const int n =
          std::snprintf(buf, sizeof(buf), "%llu\n", static_cast<unsigned long long>(seed));
      if (write(fds[1], buf, static_cast<std::size_t>(n)) != n) _exit(3);
      const Result r = run(derive_options(seed, canary));
      // Only a safety violation counts: a broken rule may also just stall
      // the cluster, which proves less.
      if (!r.ok && r.failure.rfind("liveness", 0) != 0) {
        std::fprintf(stderr, "canary %s caught at seed %llu: %s\n", canary.c_str(),
                     static_cast<unsigned long long>(seed), r.failure.c_str());
        _exit(0);
      }
    }
    _exit(1);
  }
  close(fds[1]);
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = read(fds[0], buf, sizeof(buf));
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  const auto nl = out.find_last_of('\n', out.size() - 2);
  const long long last = std::stoll(out.substr(nl == std::string::npos ? 0 : nl + 1));
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return last;
  if (WIFSIGNALED(status)) return last;  // An assertion in the core caught it.
  return -1;
}

class Canary : public ::testing::TestWithParam<const char*> {};

TEST_P(Canary, SimulatorCatchesItWithinBudget) {
  const long long seed = first_failing_seed(GetParam());
  EXPECT_GE(seed, 0) << "canary " << GetParam() << " survived " << kSeedBudget << " seeds";
  std::printf("canary %s caught at seed %lld (budget %llu)\n", GetParam(), seed,
              static_cast<unsigned long long>(kSeedBudget));
}

INSTANTIATE_TEST_SUITE_P(Sim, Canary,
                         ::testing::Values("commit_old_term", "forget_vote",
                                           "read_without_heartbeat", "skip_conf_change_fix",
                                           "count_leader_before_persist", "vote_while_rejoining",
                                           "delete_nothing_bumps_revision",
                                           "read_requester_is_quorum"));

// And without a canary the same biased schedules pass: the failures above
// come from the broken rule, not from the bias.
TEST(Canary, BiasedSchedulesPassWithoutTheCanary) {
  for (const char* canary :
       {"commit_old_term", "forget_vote", "read_without_heartbeat", "skip_conf_change_fix",
        "vote_while_rejoining", "read_requester_is_quorum"}) {
    for (std::uint64_t seed = 0; seed < 100; ++seed) {
      Options o = derive_options(seed, canary);
      o.canaries = raft::TestCanaries{};
      const Result r = run(o);
      ASSERT_TRUE(r.ok) << canary << " seed " << seed << ": " << r.failure
                        << "\n  replay: raft_sim --seed=" << seed
                        << " --trace --schedule=" << canary;
    }
  }
}

}  // namespace
}  // namespace dkv::sim
