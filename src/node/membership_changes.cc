#include "node/membership_changes.h"

#include <spdlog/spdlog.h>

#include "raft/raw_node.h"
#include "util/assert.h"

namespace dkv::node {
namespace {

raft::ConfChangeType conf_change_type(ChangeKind kind) {
  switch (kind) {
    case ChangeKind::kAddLearner:
      return raft::ConfChangeType::kAddLearner;
    case ChangeKind::kAddVoter:
    case ChangeKind::kPromote:
      return raft::ConfChangeType::kAddNode;
    case ChangeKind::kRemove:
      return raft::ConfChangeType::kRemoveNode;
  }
  return raft::ConfChangeType::kAddLearner;
}

}  // namespace

const char* change_name(raft::ConfChangeType type) {
  switch (type) {
    case raft::ConfChangeType::kAddNode:
      return "add voter";
    case raft::ConfChangeType::kAddLearner:
      return "add learner";
    case raft::ConfChangeType::kRemoveNode:
      return "remove";
  }
  return "?";
}

MembershipChanges::MembershipChanges(raft::RawNode& raw, std::string node_id, int election_ticks,
                                     MembershipFn membership)
    : raw_(raw),
      node_id_(std::move(node_id)),
      raft_id_(node_id_of(node_id_)),
      election_ticks_(election_ticks),
      membership_(std::move(membership)) {}

void MembershipChanges::on_tick(std::uint64_t tick, Deadline now) {
  tick_ = tick;
  for (const auto& [id, peer] : raw_.status().progress) {  // Empty unless leading.
    if (peer.recent_active) last_active_tick_[id] = tick_;
  }
  if (!waiting_.empty()) retry_waiting_changes();
  expire(now);
}

void MembershipChanges::on_applied(raft::Index entry_index, raft::Term entry_term,
                                   const Membership& m) {
  if (!in_flight_ || in_flight_->index != entry_index) return;
  PendingChange c = std::move(*in_flight_);
  in_flight_.reset();
  if (c.term == entry_term) {
    c.done(util::Status::ok(), m);
  } else {
    c.done(util::unavailable("the change was lost in a leader change; check the members"), {});
  }
}

void MembershipChanges::fail_all(const util::Status& s) {
  if (in_flight_) in_flight_->done(s, {});
  in_flight_.reset();
  for (auto& c : waiting_) c.done(s, {});
  waiting_.clear();
  for (auto& m : moves_) m.done(s, {});
  moves_.clear();
}

ClusterView MembershipChanges::leader_view() const {
  const raft::RaftStatus st = raw_.status();
  ClusterView v;
  v.membership = membership_();
  v.last_index = st.last_index;
  v.active.insert(raft_id_);
  for (const auto& [id, pr] : st.progress) {
    v.match[id] = pr.match;
    if (pr.state == raft::ProgressState::kSnapshot) v.snapshotting.insert(id);
    if (pr.state == raft::ProgressState::kReplicate && pr.match > 0) v.replicating.insert(id);
    const auto it = last_active_tick_.find(id);
    // recent_active stays set up to an election timeout after the last
    // message (CheckQuorum resets it): allow one more. Heard from since the
    // last tick counts too: on_tick records it only at the next tick, and a
    // new leader (last_active_tick_ empty) must not see its voters as down.
    if (pr.recent_active || (it != last_active_tick_.end() &&
                             tick_ - it->second <= static_cast<std::uint64_t>(election_ticks_))) {
      v.active.insert(id);
    }
  }
  return v;
}

void MembershipChanges::start_change(PendingChange c) {
  const raft::ConfChangeGate gate = raw_.basic_status().conf_change_gate;
  if (gate == raft::ConfChangeGate::kNotLeader) {
    return c.done(util::unavailable("not the leader (leadership moved); retry"), {});
  }
  if (in_flight_) {
    return c.done({util::Code::kFailedPrecondition,
                   "a membership change is pending (proposed, not applied yet); retry once it is"},
                  {});
  }
  if (gate != raft::ConfChangeGate::kOpen) {
    // The core's rule: one change at a time, and none before a new leader
    // applied an entry of its own term (the 2015 fix). A change pending is
    // the client's to retry; a new leader's first entry only needs applying:
    // wait for that (on_tick retries), so that a change forwarded to a new
    // leader, such as the removal of the old one (hand_off_before_removal),
    // just works.
    if (gate != raft::ConfChangeGate::kFirstEntryOfTerm) {
      return c.done({util::Code::kFailedPrecondition,
                     "a membership change is pending (proposed, not applied yet); retry once it "
                     "is"},
                    {});
    }
    waiting_.push_back(std::move(c));
    return;
  }
  const ClusterView view = leader_view();
  if (auto s = check_change(view, c.request); !s.is_ok()) return c.done(std::move(s), {});
  const raft::NodeId id = node_id_of(c.request.member.id);
  if (const MemberAddress* known = view.membership.find(id)) c.request.member = *known;
  raft::ConfChange cc;
  cc.type = conf_change_type(c.request.kind);
  cc.node_id = id;
  cc.context = c.request.member.id + "@" + c.request.member.address();
  if (auto s = raw_.propose_conf_change(cc); !s.is_ok()) return c.done(std::move(s), {});
  const raft::RaftStatus st = raw_.basic_status();
  c.index = st.last_index;
  c.term = st.hard_state.term;
  // Invariant: at most one change in flight, and it has its entry's index
  // (on_applied matches on it; 0 would match nothing and leak the waiter
  // until its deadline).
  DKV_ASSERT(!in_flight_ && c.index > 0 && c.term > 0);
  spdlog::info("proposed membership change at index {}: {} {}{}", c.index, change_name(cc.type),
               cc.context, c.request.force ? " (forced)" : "");
  in_flight_ = std::move(c);
}

void MembershipChanges::start_move(PendingMove m) {
  if (m.removal) return start_hand_off_before_removal(std::move(m));
  const raft::NodeId target = node_id_of(m.id);
  const Membership members = membership_();
  if (members.find(target) == nullptr)
    return m.done(util::not_found("no member '" + m.id + "'"), {});
  if (!members.is_voter(target)) {
    return m.done({util::Code::kFailedPrecondition,
                   "member '" + m.id + "' is a learner; only a voter can lead"},
                  {});
  }
  if (raw_.basic_status().soft_state.state != raft::StateType::kLeader) {
    return m.done(util::unavailable("not the leader (leadership moved); retry"), {});
  }
  if (target == raft_id_) return m.done(util::Status::ok(), m.id);
  spdlog::info("moving leadership to {}", m.id);
  raw_.transfer_leader(target);
  moves_.push_back(std::move(m));
}

// A removal of this leader, checked here first, then carried out by the
// voter it hands leadership to (node.h, hand_off_before_removal).
void MembershipChanges::start_hand_off_before_removal(PendingMove m) {
  if (raw_.basic_status().soft_state.state != raft::StateType::kLeader) {
    return m.done(util::unavailable("not the leader (leadership moved); retry"), {});
  }
  if (in_flight_) {
    return m.done({util::Code::kFailedPrecondition,
                   "a membership change is pending (proposed, not applied yet); retry once it is"},
                  {});
  }
  if (auto s = check_change(leader_view(), *m.removal); !s.is_ok()) return m.done(std::move(s), {});
  raft::Index match = 0;
  const raft::NodeId target = most_caught_up_voter(&match);
  if (target == raft::kNoNode) return m.done(util::Status::ok(), node_id_);
  m.id = membership_().name_of(target);
  spdlog::info("handing leadership to {} (match {}) before this node is removed; {} removes it",
               m.id, match, m.id);
  raw_.transfer_leader(target);
  moves_.push_back(std::move(m));
}

void MembershipChanges::on_soft_state(raft::NodeId lead, bool leading) {
  if (!leading) last_active_tick_.clear();
  std::erase_if(moves_, [&](PendingMove& m) {
    if (node_id_of(m.id) != lead) return false;
    m.done(util::Status::ok(), m.id);
    return true;
  });
}

void MembershipChanges::retry_waiting_changes() {
  std::vector<PendingChange> waiting = std::move(waiting_);
  waiting_.clear();
  for (PendingChange& c : waiting) start_change(std::move(c));
}

void MembershipChanges::expire(Deadline now) {
  std::erase_if(waiting_, [&](PendingChange& c) {
    if (now <= c.deadline) return false;
    c.done(util::unavailable("the leader did not apply its pending entries within the request "
                             "timeout (no quorum?); the change was not proposed"),
           {});
    return true;
  });
  if (in_flight_ && now > in_flight_->deadline) {
    PendingChange c = std::move(*in_flight_);
    in_flight_.reset();
    c.done(util::unavailable("the change was proposed but not applied within the request "
                             "timeout (no quorum?); it may still be applied"),
           {});
  }
  std::erase_if(moves_, [&](PendingMove& m) {
    if (now <= m.deadline) return false;
    m.done(util::unavailable("leadership did not move to " + m.id + " within the request timeout"),
           {});
    return true;
  });
}

// Ties: the lowest id, so the choice is stable.
raft::NodeId MembershipChanges::most_caught_up_voter(raft::Index* match) const {
  const raft::RaftStatus st = raw_.status();
  raft::NodeId target = raft::kNoNode;
  raft::Index best_match = 0;
  for (const auto& [id, peer] : st.progress) {
    // A voter not heard from lately may be down: it could not take over.
    if (id == raft_id_ || !peer.voter || !peer.recent_active) continue;
    // Nor can one that lost its log and has not been told it caught up.
    if (peer.rejoining) continue;
    if (target == raft::kNoNode || peer.match > best_match) {
      target = id;
      best_match = peer.match;
    }
  }
  *match = best_match;
  return target;
}

// Asks the core to hand leadership to the most caught-up voter.
void MembershipChanges::start_leadership_transfer() {
  if (raw_.basic_status().soft_state.state != raft::StateType::kLeader) return;
  raft::Index best_match = 0;
  const raft::NodeId target = most_caught_up_voter(&best_match);
  if (target == raft::kNoNode) return;  // Alone: nobody to hand over to.
  spdlog::info("handing leadership to {} (match {})", membership_().name_of(target), best_match);
  raw_.transfer_leader(target);
}

}  // namespace dkv::node
