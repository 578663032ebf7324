// The fault suite's lease checker: rules over a recorded history of leases
// (grant, keepalives, revoke, and observations of whether the lease was
// still alive), all on the client's monotonic clock, which the servers
// share on one machine. Two rules, each named in a violation:
//   early   a lease is never expired before TTL after its last acknowledged
//           renewal. The server renewed after the grant or keepalive was
//           sent, so invoke + TTL (the TTL the answer reported) is a lower
//           bound of the deadline: an observation that saw the lease
//           expired and completed before it is a violation. So is any
//           acknowledged renewal invoked after an observation of expiry
//           completed (a lease does not come back).
//   kept    a lease is never kept past `kept_bound` after its last renewal:
//           the renewal happened before its answer (or, for one whose answer
//           never came, before the client gave up on it), so an observation
//           invoked later than that + `kept_bound` that saw the lease alive
//           is a violation; also one invoked after an acknowledged revoke
//           completed. `kept_bound` is TTL + slack: the slack is a
//           parameter (3 s with a stable leader, the bound). Leader
//           changes extend it (README, Leases: a new leader starts every
//           deadline at the remaining TTL, or the whole TTL without a
//           checkpoint, + an election timeout): for each window in which
//           leaders may have changed (a fault and its healing) that began
//           before the bound so far, the bound becomes at least the
//           window's end + `leader_change_ns` (an election, then the new
//           leader's extension) + TTL + slack. Windows chain: a lease kept
//           alive by one leader change may meet the next.
// Pure functions, no I/O, clocks or threads. Threading: any thread.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace dkv::fault {

struct LeaseCall {
  std::int64_t invoke_ns = 0;
  // When the answer came; for one of unknown outcome, when the client gave
  // up waiting (the renewal may have happened up to then).
  std::int64_t complete_ns = 0;
  bool acknowledged = false;  // An answer with TTL > 0 (the lease was alive).
  bool unknown = false;       // No answer: it may or may not have renewed.
  std::int64_t ttl_s = 0;     // The TTL the answer reported.
};

struct LeaseObservation {
  std::int64_t invoke_ns = 0;
  std::int64_t complete_ns = 0;
  bool alive = false;  // False: it saw the lease expired (key gone, TTL -1, not found).
  std::string how;     // "get lk3-7 absent", "keepalive ttl 0", for reports.
};

struct LeaseRecord {
  int client = 0;
  std::int64_t id = 0;
  LeaseCall grant;
  std::vector<LeaseCall> keepalives;
  bool revoked = false;  // An acknowledged revoke: `revoke` is its call.
  // A revoke was sent, acknowledged or not (its answer lost: it may have
  // happened); `revoke` is its call. Explains an expiry seen after it.
  bool revoke_sent = false;
  LeaseCall revoke;
  std::vector<LeaseObservation> observations;
};

struct LeaseViolation {
  std::string rule;  // "early" or "kept".
  std::int64_t lease = 0;
  std::string detail;
};

struct LeaseCheckOptions {
  // Kept at most TTL + this after the last renewal (with a stable leader).
  std::int64_t kept_slack_ns = 3'000'000'000;
  // [start, end] of each window in which leaders may have changed, ordered
  // by start, on the history's clock.
  std::vector<std::pair<std::int64_t, std::int64_t>> leader_change_windows;
  // After a window's end: an election, then the new leader's extension.
  std::int64_t leader_change_ns = 0;
};

struct LeaseCheckResult {
  std::vector<LeaseViolation> violations;
  std::int64_t leases = 0, expired_seen = 0, renewals = 0;
  bool ok() const { return violations.empty(); }
};

// The history as text, for a report: one block per lease, its calls and
// observations with their times.
std::string describe_lease_history(const std::vector<LeaseRecord>& leases);

LeaseCheckResult check_leases(const std::vector<LeaseRecord>& leases,
                              const LeaseCheckOptions& options = {});

}  // namespace dkv::fault
