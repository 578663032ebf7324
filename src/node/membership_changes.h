// MembershipChanges: the leader's side of membership (issue 9) and of
// leadership moves, with their waiters. It owns
//   - the change in flight (proposed, its entry not applied yet) and the
//     changes waiting for a new leader to apply its first entry;
//   - leadership moves (move_leader, the hand-off before this leader's
//     removal, SIGTERM's transfer) and their waiters;
//   - when each peer was last seen active, for the checks' view.
// Policy is in membership_checks.h (pure functions); the one-change-at-a-
// time rule and quorums are the raft core's. Applying a committed change
// (the core's configuration, the persisted Membership, the transport's
// peers) is the Node's: it calls on_applied() after.
//
// Invariant: a waiter completes exactly once (every path below answers it
// and drops it; fail_all() answers the rest).
//
// Threading: not thread-safe; the raft thread only.
// Lifetime: `raw` must outlive this object; `membership` is called on the
// raft thread and returns the applied membership.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "node/membership.h"
#include "node/membership_checks.h"
#include "node/once.h"
#include "raft/types.h"
#include "util/status.h"

namespace dkv::raft {
class RawNode;
}  // namespace dkv::raft

namespace dkv::node {

using Deadline = std::chrono::steady_clock::time_point;
// "add voter", "add learner" or "remove", for logs and events.
const char* change_name(raft::ConfChangeType type);

using MembersDone = std::function<void(util::Status, Membership)>;
using LeaderDone = std::function<void(util::Status, std::string leader_id)>;

// A membership change asked of this leader, until it is applied here.
// Its `done` completes exactly once (Once asserts), whatever becomes of it:
// applied, refused, expired, lost in a leader change or failed at shutdown.
struct PendingChange {
  ChangeRequest request;
  Deadline deadline;
  Once<util::Status, Membership> done;
  raft::Index index = 0;  // Of its entry, once proposed.
  raft::Term term = 0;
};

// A leadership move asked of this leader, until the target leads.
struct PendingMove {
  std::string id;
  Deadline deadline;
  Once<util::Status, std::string> done;  // Exactly once, as PendingChange's.
  // hand_off_before_removal: the removal to check; the target is chosen
  // on the raft thread.
  std::optional<ChangeRequest> removal;
};

class MembershipChanges {
 public:
  using MembershipFn = std::function<Membership()>;

  MembershipChanges(raft::RawNode& raw, std::string node_id, int election_ticks,
                    MembershipFn membership);
  MembershipChanges(const MembershipChanges&) = delete;
  MembershipChanges& operator=(const MembershipChanges&) = delete;

  // Checks `change` and proposes it (leader only), or answers it.
  void start_change(PendingChange change);
  // Hands leadership to m.id, or (m.removal) to the most caught-up voter
  // before this leader's removal.
  void start_move(PendingMove move);
  // SIGTERM: hands leadership to the most caught-up voter, if leading.
  void start_leadership_transfer();

  // Once per tick: records active peers, retries waiting changes, expires
  // waiters past their deadline.
  void on_tick(std::uint64_t tick, Deadline now);
  // The core's leader or role changed.
  void on_soft_state(raft::NodeId lead, bool leading);
  // A change at `entry_index` of `entry_term` was applied, giving `m`.
  void on_applied(raft::Index entry_index, raft::Term entry_term, const Membership& m);
  // Fails every waiter with `s` (the node stops).
  void fail_all(const util::Status& s);

  // The recently active voter with the most of the log (ties: the lowest
  // id), or kNoNode. Leader only.
  raft::NodeId most_caught_up_voter(raft::Index* match) const;
  bool change_in_flight() const { return in_flight_.has_value(); }
  std::size_t waiting_count() const { return waiting_.size() + moves_.size(); }

 private:
  ClusterView leader_view() const;
  void start_hand_off_before_removal(PendingMove move);
  void retry_waiting_changes();
  void expire(Deadline now);

  raft::RawNode& raw_;
  const std::string node_id_;
  const raft::NodeId raft_id_;
  const int election_ticks_;
  const MembershipFn membership_;
  std::optional<PendingChange> in_flight_;
  // Changes not proposed yet: the core refuses one until the leader applied
  // its own first entry and any earlier change (start_change).
  std::vector<PendingChange> waiting_;
  std::vector<PendingMove> moves_;
  // Leader: the tick at which each peer was last seen recently active.
  std::map<raft::NodeId, std::uint64_t> last_active_tick_;
  std::uint64_t tick_ = 0;
};

}  // namespace dkv::node
