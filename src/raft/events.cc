#include "raft/events.h"

#include <functional>

namespace dkv::raft {

std::string describe(const Event& e, const std::function<std::string(NodeId)>& name) {
  const std::string peer = e.peer == kNoNode ? std::string("none") : name(e.peer);
  const std::string term = std::to_string(e.term);
  const std::string vote = e.pre ? "pre-vote" : "vote";
  const std::string why = e.reason.empty() ? "" : " (" + std::string(e.reason) + ")";
  switch (e.type) {
    case EventType::kCampaign:
      return std::string(e.pre ? "asking for pre-votes" : "campaigning") + " for term " + term +
             why;
    case EventType::kVoteGranted:
      return "granted " + vote + " for term " + term + " to " + peer;
    case EventType::kVoteRejected:
      return "rejected " + vote + " for term " + term + " from " + peer + why;
    case EventType::kVoteIgnored:
      return "ignored a vote request for term " + term + " from " + peer + why;
    case EventType::kBecameLeader:
      return "became leader at term " + term;
    case EventType::kSteppedDown:
      return "stepped down at term " + term + why;
    case EventType::kAppendRejected:
      return "rejected an append from " + peer + " after index " + std::to_string(e.index) +
             " (term " + std::to_string(e.log_term) + ")" + why + "; hint " +
             std::to_string(e.hint);
    case EventType::kAppendRejectedBy:
      return peer + " rejected an append after index " + std::to_string(e.index) + "; hint " +
             std::to_string(e.hint);
    case EventType::kSnapshotSent:
      return "sending snapshot at index " + std::to_string(e.index) + " term " +
             std::to_string(e.log_term) + " to " + peer;
    case EventType::kSnapshotRestored:
      return "restored snapshot at index " + std::to_string(e.index) + " term " +
             std::to_string(e.log_term) + " from " + peer;
    case EventType::kTransferStarted:
      return "transferring leadership to " + peer;
    case EventType::kTransferAborted:
      return "abandoned the leadership transfer to " + peer + why;
    case EventType::kTimeoutNowSent:
      return "told " + peer + " to campaign now (TimeoutNow)";
  }
  return "?";
}

}  // namespace dkv::raft
