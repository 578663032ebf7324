// Events: what the raft core reports for debugging (elections, votes and
// their reasons, rejected appends, snapshots, leadership transfers), as
// plain values through Config::on_event. The core does no I/O: the node
// turns events into log lines (at debug). Deterministic like the rest of
// the core: the same inputs give the same events, in order.
// Threading: on_event runs on the caller of tick()/step() (the raft thread).
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "raft/types.h"

namespace dkv::raft {

enum class EventType : std::uint8_t {
  kCampaign,          // term: the term asked for; pre: PreVote; reason.
  kVoteGranted,       // peer: the candidate; term; pre.
  kVoteRejected,      // peer: the candidate; term; pre; reason.
  kVoteIgnored,       // peer: the candidate; term; reason (leader lease).
  kBecameLeader,      // term.
  kSteppedDown,       // term; reason.
  kAppendRejected,    // Follower: peer: the leader; index, log_term: its prev entry; reason.
  kAppendRejectedBy,  // Leader: peer: the follower; index: the rejected prev; hint.
  kSnapshotSent,      // peer; index, log_term: the snapshot's.
  kSnapshotRestored,  // peer: the leader; index, log_term.
  kTransferStarted,   // peer: the transferee.
  kTransferAborted,   // peer: the transferee; reason.
  kTimeoutNowSent,    // peer.
};

struct Event {
  EventType type = EventType::kCampaign;
  NodeId peer = kNoNode;
  Term term = 0;
  Index index = 0;
  Term log_term = 0;
  Index hint = 0;
  bool pre = false;
  std::string_view reason;  // A literal, or text owned by the core until on_event returns.
};

// One line, ids as given by `name` (e.g. member names); for logs and tests.
std::string describe(const Event& e, const std::function<std::string(NodeId)>& name);

}  // namespace dkv::raft
