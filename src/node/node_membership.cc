// The membership side of a Node's raft thread: applying conf changes
// (names, addresses, persistence, transport peers through on_membership),
// proposing checked changes, leadership moves, and their waiters.
#include <spdlog/spdlog.h>

#include <limits>

#include "node/node.h"
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

}  // namespace

// A committed kConfChange entry: the core's configuration first, then the
// names, recorded with the entry's index in one LMDB transaction.
void Node::apply_conf_change(const raft::Entry& entry) {
  const auto cc = raft::ConfChange::decode(entry.data);
  DKV_ASSERT(cc.has_value());
  raw_->apply_conf_change(*cc);
  Membership m = membership();
  if (auto s = m.apply(*cc); !s.is_ok()) {
    fatal("conf change at index " + std::to_string(entry.index), s);
  }
  const std::string who = cc->type == raft::ConfChangeType::kRemoveNode
                              ? membership().name_of(cc->node_id)
                              : cc->context.substr(0, cc->context.find('@'));
  if (auto s = store_->set_membership(m.encode(), entry.index); !s.is_ok()) {
    fatal("recording the membership", s);
  }
  spdlog::info("membership change at index {}: {} {}; members now {}", entry.index,
               change_name(cc->type), who.empty() ? std::to_string(cc->node_id) : who, m.encode());
  events_.record("membership", std::string(change_name(cc->type)) + " " +
                                   (who.empty() ? std::to_string(cc->node_id) : who) +
                                   "; members now " + m.encode());
  set_membership(m);
  if (change_in_flight_ && change_in_flight_->index == entry.index) {
    PendingChange c = std::move(*change_in_flight_);
    change_in_flight_.reset();
    if (c.term == entry.term) {
      c.done(util::Status::ok(), std::move(m));
    } else {
      c.done(util::unavailable("the change was lost in a leader change; check the members"), {});
    }
  }
}

void Node::set_membership(Membership m) {
  removed_ids_.clear();
  for (const auto& name : m.removed()) removed_ids_.insert(node_id_of(name));
  {
    std::lock_guard lock(mu_);
    for (const auto& p : catch_up_peers_) removed_ids_.erase(node_id_of(p.id));
  }
  // Removed only by a change that names us: a joining node installs a
  // snapshot taken before its own addition, which does not list it yet.
  const bool gone = m.find(raft_id_) == nullptr && m.was_removed(raft_id_);
  {
    std::lock_guard lock(mu_);
    membership_ = m;
  }
  if (gone && !removed_) {
    removed_ = true;
    ready_ = false;
    spdlog::warn(
        "this node was removed from the cluster: it serves nothing more (clients get "
        "UNAVAILABLE); stop it and remove its data directory");
  }
  // Added back under its old name (`force`): a node that joins with a fresh
  // data directory replays the log through its earlier removal, then through
  // the addition; the membership applied last is what counts.
  if (m.find(raft_id_) != nullptr && removed_) {
    removed_ = false;
    spdlog::info("this node was added back to the cluster: it serves again once caught up");
  }
  if (options_.on_membership) options_.on_membership(m);
}

std::vector<MemberAddress> Node::peer_members() const {
  std::lock_guard lock(mu_);
  std::vector<MemberAddress> out = membership_.all();
  for (const auto& p : catch_up_peers_) {
    if (membership_.find(node_id_of(p.id)) == nullptr) out.push_back(p);
  }
  return out;
}

void Node::end_snapshot_catch_up() {
  Membership m;
  {
    std::lock_guard lock(mu_);
    if (catch_up_peers_.empty()) return;
    catch_up_peers_.clear();
    m = membership_;
  }
  spdlog::info("caught up after installing a snapshot: peers are the members {}", m.encode());
  set_membership(std::move(m));
}

void Node::mark_removed(const std::string& why) {
  if (removed_.exchange(true)) return;
  ready_ = false;
  spdlog::warn("this node was removed from the cluster ({}): it serves nothing more", why);
}

ClusterView Node::leader_view() const {
  const raft::Raft& r = raw_->raft();
  ClusterView v;
  v.membership = membership();
  v.last_index = r.log().last_index();
  v.active.insert(raft_id_);
  for (const auto& [id, pr] : r.tracker().progress()) {
    v.match[id] = pr.match;
    if (pr.state == raft::ProgressState::kSnapshot) v.snapshotting.insert(id);
    if (pr.state == raft::ProgressState::kReplicate && pr.match > 0) v.replicating.insert(id);
    const auto it = last_active_tick_.find(id);
    // recent_active stays set up to an election timeout after the last
    // message (CheckQuorum resets it): allow one more. Heard from since the
    // last tick counts too: on_tick records it only at the next tick, and a
    // new leader (last_active_tick_ empty) must not see its voters as down.
    if (pr.recent_active ||
        (it != last_active_tick_.end() &&
         tick_count_ - it->second <= static_cast<std::uint64_t>(election_ticks_))) {
      v.active.insert(id);
    }
  }
  return v;
}

void Node::start_change(PendingChange c) {
  const raft::Raft& r = raw_->raft();
  if (r.state() != raft::StateType::kLeader) {
    return c.done(util::unavailable("not the leader (leadership moved); retry"), {});
  }
  if (change_in_flight_) {
    return c.done({util::Code::kFailedPrecondition,
                   "a membership change is pending (proposed, not applied yet); retry once it is"},
                  {});
  }
  if (r.pending_conf_index() > r.log().applied()) {
    // The core's rule: one change at a time, and none before a new leader
    // applied an entry of its own term (the 2015 fix). A change pending is
    // the client's to retry; a new leader's first entry only needs applying:
    // wait for that (on_tick retries), so that a change forwarded to a new
    // leader, such as the removal of the old one (hand_off_before_removal),
    // just works.
    if (!pending_is_first_entry_of_term()) {
      return c.done({util::Code::kFailedPrecondition,
                     "a membership change is pending (proposed, not applied yet); retry once it "
                     "is"},
                    {});
    }
    waiting_changes_.push_back(std::move(c));
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
  if (auto s = raw_->propose_conf_change(cc); !s.is_ok()) return c.done(std::move(s), {});
  c.index = r.log().last_index();
  c.term = r.term();
  spdlog::info("proposed membership change at index {}: {} {}{}", c.index, change_name(cc.type),
               cc.context, c.request.force ? " (forced)" : "");
  change_in_flight_ = std::move(c);
}

void Node::start_move(PendingMove m) {
  if (m.removal) return start_hand_off_before_removal(std::move(m));
  const raft::NodeId target = node_id_of(m.id);
  const Membership members = membership();
  if (members.find(target) == nullptr)
    return m.done(util::not_found("no member '" + m.id + "'"), {});
  if (!members.is_voter(target)) {
    return m.done({util::Code::kFailedPrecondition,
                   "member '" + m.id + "' is a learner; only a voter can lead"},
                  {});
  }
  if (raw_->raft().state() != raft::StateType::kLeader) {
    return m.done(util::unavailable("not the leader (leadership moved); retry"), {});
  }
  if (target == raft_id_) return m.done(util::Status::ok(), m.id);
  spdlog::info("moving leadership to {}", m.id);
  raw_->transfer_leader(target);
  moves_.push_back(std::move(m));
}

// A removal of this leader, checked here first, then carried out by the
// voter it hands leadership to (node.h, hand_off_before_removal).
void Node::start_hand_off_before_removal(PendingMove m) {
  if (raw_->raft().state() != raft::StateType::kLeader) {
    return m.done(util::unavailable("not the leader (leadership moved); retry"), {});
  }
  if (change_in_flight_) {
    return m.done({util::Code::kFailedPrecondition,
                   "a membership change is pending (proposed, not applied yet); retry once it is"},
                  {});
  }
  if (auto s = check_change(leader_view(), *m.removal); !s.is_ok()) return m.done(std::move(s), {});
  raft::Index match = 0;
  const raft::NodeId target = most_caught_up_voter(&match);
  if (target == raft::kNoNode) return m.done(util::Status::ok(), options_.node_id);
  m.id = membership().name_of(target);
  spdlog::info("handing leadership to {} (match {}) before this node is removed; {} removes it",
               m.id, match, m.id);
  raw_->transfer_leader(target);
  moves_.push_back(std::move(m));
}

void Node::finish_moves(raft::NodeId lead) {
  std::erase_if(moves_, [&](PendingMove& m) {
    if (node_id_of(m.id) != lead) return false;
    m.done(util::Status::ok(), m.id);
    return true;
  });
}

// True if the entry the core's one-change-at-a-time rule waits for is not a
// configuration change but this leader's first entry (its no-op).
bool Node::pending_is_first_entry_of_term() const {
  const raft::Raft& r = raw_->raft();
  const raft::Index i = r.pending_conf_index();
  const auto entry = r.log().slice(i, i + 1, std::numeric_limits<std::uint64_t>::max());
  if (!entry || entry->empty()) return false;  // Compacted: not a fresh leader's.
  const raft::Entry& e = entry->front();
  return e.type != raft::EntryType::kConfChange && e.term == r.term() && e.data.empty();
}

void Node::retry_waiting_changes() {
  std::vector<PendingChange> waiting = std::move(waiting_changes_);
  waiting_changes_.clear();
  for (PendingChange& c : waiting) start_change(std::move(c));
}

void Node::expire_membership_waiters(std::chrono::steady_clock::time_point now) {
  std::erase_if(waiting_changes_, [&](PendingChange& c) {
    if (now <= c.deadline) return false;
    c.done(util::unavailable("the leader did not apply its pending entries within the request "
                             "timeout (no quorum?); the change was not proposed"),
           {});
    return true;
  });
  if (change_in_flight_ && now > change_in_flight_->deadline) {
    PendingChange c = std::move(*change_in_flight_);
    change_in_flight_.reset();
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

}  // namespace dkv::node
