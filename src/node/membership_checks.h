// The safety checks of a membership change, as pure functions of the
// leader's view (no locks, no I/O), so that they can be unit-tested:
//   - a change that would leave the cluster without a quorum of voters that
//     are up now is refused (the leader counts a voter as up if it heard
//     from it within the last election timeout, itself included);
//   - a learner is promoted only once caught up: recently active, taking
//     appends (not probed, not being sent a snapshot: a member the leader
//     never reached is never "replicating"), and its replicated log (match
//     index) at most kPromoteLagEntriesMax entries behind the leader's.
// Every refusal is FAILED_PRECONDITION with a message that says why; the
// operator's `force` skips them (dangerous: see the README).
// Threading: plain functions.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "node/membership.h"
#include "raft/types.h"
#include "util/status.h"

namespace dkv::node {

// "Far behind": a learner whose log is more than this many entries behind
// the leader's is not promoted (it would slow every commit while it catches
// up, and with one more voter down could stall the cluster).
inline constexpr std::uint64_t kPromoteLagEntriesMax = 1000;

// The leader's view of its followers, for the checks.
struct ClusterView {
  Membership membership;
  std::set<raft::NodeId> active;  // Heard from within an election timeout (leader included).
  std::map<raft::NodeId, raft::Index> match;
  std::set<raft::NodeId> snapshotting;  // Being sent a snapshot now.
  std::set<raft::NodeId> replicating;   // Taking appends (probed and matched).
  raft::Index last_index = 0;
};

enum class ChangeKind { kAddLearner, kAddVoter, kPromote, kRemove };

struct ChangeRequest {
  ChangeKind kind = ChangeKind::kAddLearner;
  MemberAddress member;  // kAdd*: id and address; kPromote/kRemove: id only.
  bool force = false;
};

// Checks a request against the membership (NOT_FOUND for an unknown member,
// ALREADY_EXISTS for a duplicate id or address, FAILED_PRECONDITION for a
// pointless or removed-name request) and, unless request.force, against
// the view (quorum, promotion lag). OK: the change may be proposed.
util::Status check_change(const ClusterView& view, const ChangeRequest& request);

// Voters in `voters` that are in `active`, and whether they make a quorum.
bool quorum_active(const std::vector<raft::NodeId>& voters, const std::set<raft::NodeId>& active);

}  // namespace dkv::node
