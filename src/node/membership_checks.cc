#include "node/membership_checks.h"

#include <algorithm>

namespace dkv::node {
namespace {

util::Status refuse(const std::string& why) {
  return {util::Code::kFailedPrecondition, why + " (force skips this check: dangerous)"};
}

std::vector<raft::NodeId> voters_after(const ClusterView& view, const ChangeRequest& r) {
  std::vector<raft::NodeId> voters = view.membership.conf_state().voters;
  const raft::NodeId id = node_id_of(r.member.id);
  switch (r.kind) {
    case ChangeKind::kAddVoter:
    case ChangeKind::kPromote:
      voters.push_back(id);
      break;
    case ChangeKind::kRemove:
      std::erase(voters, id);
      break;
    case ChangeKind::kAddLearner:
      break;
  }
  return voters;
}

util::Status check_names(const Membership& m, const ChangeRequest& r) {
  const raft::NodeId id = node_id_of(r.member.id);
  switch (r.kind) {
    case ChangeKind::kAddLearner:
    case ChangeKind::kAddVoter:
      if (m.find(id) != nullptr) {
        return {util::Code::kAlreadyExists, "member '" + r.member.id + "' already exists"};
      }
      if (const MemberAddress* other = m.find_address(r.member.address())) {
        return {util::Code::kAlreadyExists,
                "address " + r.member.address() + " is already used by member '" + other->id + "'"};
      }
      if (m.was_removed(id) && !r.force) {
        return refuse("member '" + r.member.id +
                      "' was removed; its old process could come back: add it under a new name");
      }
      return util::Status::ok();
    case ChangeKind::kPromote:
      if (m.find(id) == nullptr) return util::not_found("no member '" + r.member.id + "'");
      if (m.is_voter(id)) {
        return {util::Code::kFailedPrecondition, "member '" + r.member.id + "' is a voter already"};
      }
      return util::Status::ok();
    case ChangeKind::kRemove:
      if (m.find(id) == nullptr) return util::not_found("no member '" + r.member.id + "'");
      if (m.is_voter(id) && m.voters().size() == 1) {
        return {util::Code::kFailedPrecondition, "cannot remove the last voter"};
      }
      return util::Status::ok();
  }
  return util::Status::ok();
}

}  // namespace

bool quorum_active(const std::vector<raft::NodeId>& voters, const std::set<raft::NodeId>& active) {
  const auto up = std::count_if(voters.begin(), voters.end(),
                                [&](raft::NodeId id) { return active.count(id) > 0; });
  return static_cast<std::size_t>(up) >= raft::majority(voters.size());
}

util::Status check_change(const ClusterView& view, const ChangeRequest& r) {
  if (auto s = check_names(view.membership, r); !s.is_ok()) return s;
  if (r.force) return util::Status::ok();
  const raft::NodeId id = node_id_of(r.member.id);
  if (r.kind == ChangeKind::kPromote) {
    if (!view.active.count(id)) {
      return refuse("learner '" + r.member.id + "' is far behind: not heard from recently");
    }
    if (view.snapshotting.count(id)) {
      return refuse("learner '" + r.member.id + "' is far behind: still receiving a snapshot");
    }
    if (!view.replicating.count(id)) {
      return refuse("learner '" + r.member.id +
                    "' is far behind: the leader has not reached it yet (is it started?)");
    }
    const auto it = view.match.find(id);
    const raft::Index match = it == view.match.end() ? 0 : it->second;
    if (match + kPromoteLagEntriesMax < view.last_index) {
      return refuse("learner '" + r.member.id + "' is far behind: it has the log to " +
                    std::to_string(match) + ", the leader to " + std::to_string(view.last_index) +
                    " (at most " + std::to_string(kPromoteLagEntriesMax) + " entries behind)");
    }
  }
  const std::vector<raft::NodeId> after = voters_after(view, r);
  if (!quorum_active(after, view.active)) {
    std::size_t up = 0;
    for (raft::NodeId v : after) up += view.active.count(v);
    return refuse("after this change only " + std::to_string(up) + " of " +
                  std::to_string(after.size()) + " voters would be up; a quorum needs " +
                  std::to_string(raft::majority(after.size())));
  }
  return util::Status::ok();
}

}  // namespace dkv::node
