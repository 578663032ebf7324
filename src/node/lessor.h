// Lessor: the leader's clock over leases (etcd's lessor, leader half). The
// lease tables themselves are the store's (kv/lease.h); the Lessor keeps
// only what is not replicated: each lease's deadline on this node's clock,
// and only while this node is the primary lessor, i.e. it leads term T AND
// has applied an entry of term T (its leadership is confirmed: a stalled
// ex-leader that resumes is not confirmed in any newer term).
//   - Promotion (becoming primary): every stored lease's deadline is now +
//     its remaining TTL (the last checkpoint's, else the whole TTL) + one
//     election timeout, the time the old leader may still have renewed it.
//   - Demotion (not leader, or a new term): every deadline is dropped.
//   - Expiry: leases past their deadline are revoked by proposals
//     LeaseRevoke{id, proposer_term = T} (apply ignores them in any other
//     term), at most kRevokesPerSecond, each again after an election
//     timeout if it is still there.
//   - Checkpoints: every checkpoint_interval (default 5 s; etcd: 5 min) the
//     primary proposes the remaining TTL, rounded up to whole seconds, of
//     each lease whose stored checkpoint is at least one interval stale, at
//     most kCheckpointBatchMax per entry, so that leader changes and
//     restarts resume a lease where it was rather than at its whole TTL.
//   - Renewal (KeepAlive): deadline = now + TTL; if the lease carries a
//     checkpoint the caller must clear it (a checkpoint with remaining 0)
//     before answering, or a later promotion would resume it from the
//     stale, shorter remaining TTL.
// The pure decisions are free functions below, with the clock injected.
// Test hooks (the node simulator, tests/sim/node_sim_leases.h): an observer
// of applied lease changes, and the canary that keeps deciding expiries
// after demotion (NodeCanaries::lessor_after_demotion).
// Threading: on_turn() and on_applied() on the raft thread; renew(),
// remaining() and the accessors from any thread (a mutex guards the state).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "kv/lease.h"
#include "util/mutex.h"
#include "util/status.h"
#include "util/thread_annotations.h"

namespace dkv::node {

using LeaseClock = std::chrono::steady_clock;

struct LessorOptions {
  std::chrono::milliseconds election_timeout{1000};
  // How often the primary checkpoints remaining TTLs; 0: never.
  std::chrono::milliseconds checkpoint_interval{5000};
};

inline constexpr int kRevokesPerSecond = 1000;  // etcd's leaseRevokeRate.
// How often the primary looks for expired leases (a scan of every lease;
// etcd: every 500 ms). Turns in between only take the mutex.
inline constexpr std::chrono::milliseconds kExpiryScanInterval{100};
inline constexpr std::size_t kCheckpointBatchMax = 1000;  // etcd's maxLeaseCheckpointBatchSize.

// One lease as the primary sees it.
struct LeaseDeadline {
  std::int64_t ttl = 0;               // Seconds.
  std::int64_t stored_remaining = 0;  // The stored checkpoint (0: none).
  LeaseClock::time_point deadline;
  LeaseClock::time_point revoke_sent;  // Last revoke proposal; epoch: none.
};

// The pure rules (unit-tested with a fake clock).
// Deadline of a stored lease on promotion: now + remaining (or TTL) + E.
LeaseClock::time_point promoted_deadline(const kv::LeaseInfo& lease, LeaseClock::time_point now,
                                         std::chrono::milliseconds election_timeout);
// Whole seconds left before `deadline`, rounded up; 0 once it passed.
std::int64_t remaining_seconds(LeaseClock::time_point deadline, LeaseClock::time_point now);
// Ids to revoke now: past their deadline and not proposed within an
// election timeout, at most `budget`, earliest deadline first.
std::vector<std::int64_t> leases_to_revoke(const std::map<std::int64_t, LeaseDeadline>& leases,
                                           LeaseClock::time_point now,
                                           std::chrono::milliseconds election_timeout,
                                           std::size_t budget);
// (id, remaining) pairs to checkpoint: leases whose TTL exceeds the
// interval and whose stored remaining (TTL if none) exceeds the remaining
// now by at least one interval; at most kCheckpointBatchMax.
std::vector<std::pair<std::int64_t, std::int64_t>> leases_to_checkpoint(
    const std::map<std::int64_t, LeaseDeadline>& leases, LeaseClock::time_point now,
    std::chrono::milliseconds interval);

class Lessor {
 public:
  // Proposals the raft thread makes for the lessor.
  struct Work {
    std::vector<std::int64_t> revoke;  // With proposer_term = term.
    std::uint64_t term = 0;
    std::vector<std::pair<std::int64_t, std::int64_t>> checkpoint;
    bool empty() const { return revoke.empty() && checkpoint.empty(); }
  };
  using LoadLeases = std::function<util::Status(std::vector<kv::LeaseInfo>*)>;
  using AppliedObserver =
      std::function<void(const std::vector<kv::LeaseChange>&, LeaseClock::time_point)>;

  explicit Lessor(LessorOptions options) : options_(options) {}
  Lessor(const Lessor&) = delete;
  Lessor& operator=(const Lessor&) = delete;

  // Every raft turn. `leader`: this node leads `term`; `confirmed`: it has
  // applied an entry of `term`. On promotion `load` lists the stored leases
  // (a failure leaves it unpromoted; the next turn tries again).
  Work on_turn(LeaseClock::time_point now, bool leader, std::uint64_t term, bool confirmed,
               const LoadLeases& load);
  // After each applied batch: the store's lease changes (grants get a
  // deadline of now + TTL, revokes are forgotten, checkpoints recorded).
  void on_applied(const std::vector<kv::LeaseChange>& changes, LeaseClock::time_point now);

  struct Renewal {
    util::Status status;  // UNAVAILABLE: not primary; NOT_FOUND: no such lease.
    std::int64_t ttl = 0;
    bool clear_checkpoint = false;
  };
  Renewal renew(std::int64_t id, LeaseClock::time_point now);
  // Seconds left, rounded up, if this node is primary and knows the lease.
  std::optional<std::int64_t> remaining(std::int64_t id, LeaseClock::time_point now) const;
  // The term this node is primary lessor in; 0: it is not.
  std::uint64_t primary_term() const;
  std::int64_t min_ttl_seconds() const {
    return kv::min_lease_ttl_seconds(options_.election_timeout.count());
  }

  // TEST ONLY: called with every applied batch's lease changes, on the
  // raft thread, before the lessor handles them. Set before the node runs.
  void set_applied_observer(AppliedObserver observer) { observer_ = std::move(observer); }
  // TEST ONLY (a canary): on demotion keep the deadlines, and go on
  // proposing revokes for them, tagged with the term it led, as a stalled
  // ex-leader trusting its own clock would. Apply must ignore them.
  void set_decide_after_demotion(bool on) {
    util::MutexLock lock(mu_);
    decide_after_demotion_ = on;
  }

 private:
  void promote(LeaseClock::time_point now, std::uint64_t term,
               const std::vector<kv::LeaseInfo>& stored) DKV_REQUIRES(mu_);
  void demote() DKV_REQUIRES(mu_);
  std::size_t take_revoke_budget(LeaseClock::time_point now) DKV_REQUIRES(mu_);
  Work stale_revokes(LeaseClock::time_point now) DKV_REQUIRES(mu_);

  const LessorOptions options_;
  mutable util::Mutex mu_;
  std::uint64_t primary_term_ DKV_GUARDED_BY(mu_) = 0;
  std::map<std::int64_t, LeaseDeadline> leases_ DKV_GUARDED_BY(mu_);
  LeaseClock::time_point next_checkpoint_ DKV_GUARDED_BY(mu_);
  LeaseClock::time_point next_scan_ DKV_GUARDED_BY(mu_);
  // Revoke rate limit: a token bucket of kRevokesPerSecond, one second deep.
  double revoke_tokens_ DKV_GUARDED_BY(mu_) = 0;
  LeaseClock::time_point tokens_at_ DKV_GUARDED_BY(mu_);
  AppliedObserver observer_;  // Set before the node runs; then read-only.
  // The canary's: deadlines kept from the term it led last.
  bool decide_after_demotion_ DKV_GUARDED_BY(mu_) = false;
  std::uint64_t stale_term_ DKV_GUARDED_BY(mu_) = 0;
  std::map<std::int64_t, LeaseDeadline> stale_leases_ DKV_GUARDED_BY(mu_);
};

}  // namespace dkv::node
