// The membership side of a Node's raft thread: applying conf changes
// (names, addresses, persistence, transport peers through on_membership),
// installing a leader's snapshot's membership, removal. Proposing changes
// and leadership moves: membership_changes.h.
#include <spdlog/spdlog.h>

#include "node/membership_changes.h"
#include "node/node.h"
#include "raft/raw_node.h"
#include "util/assert.h"

namespace dkv::node {
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
  changes_->on_applied(entry.index, entry.term, m);
}

void Node::set_membership(Membership m) {
  removed_ids_.clear();
  for (const auto& name : m.removed()) removed_ids_.insert(node_id_of(name));
  {
    util::MutexLock lock(mu_);
    for (const auto& p : catch_up_peers_) removed_ids_.erase(node_id_of(p.id));
  }
  // Removed only by a change that names us: a joining node installs a
  // snapshot taken before its own addition, which does not list it yet.
  const bool gone = m.find(raft_id_) == nullptr && m.was_removed(raft_id_);
  {
    util::MutexLock lock(mu_);
    membership_ = m;
  }
  learner_ = m.is_learner(raft_id_);
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
  util::MutexLock lock(mu_);
  std::vector<MemberAddress> out = membership_.all();
  for (const auto& p : catch_up_peers_) {
    if (membership_.find(node_id_of(p.id)) == nullptr) out.push_back(p);
  }
  return out;
}

void Node::end_snapshot_catch_up() {
  Membership m;
  {
    util::MutexLock lock(mu_);
    if (catch_up_peers_.empty()) return;
    catch_up_peers_.clear();
    m = membership_;
  }
  spdlog::info("caught up after installing a snapshot: peers are the members {}", m.encode());
  set_membership(std::move(m));
}

// A leader's snapshot may be older than members this node knew (node.h,
// catch_up_peers_): those stay peers until it caught up.
void Node::install_snapshot(const raft::Snapshot& snapshot) {
  Membership m;
  if (auto s = snapshotter_->install(snapshot, applier_->applied_entry_bytes(), &m); !s.is_ok()) {
    fatal("installing the leader's snapshot", s);
  }
  events_.record("snapshot",
                 "installed snapshot at index " + std::to_string(snapshot.metadata.index));
  {
    util::MutexLock lock(mu_);
    for (const auto& known : membership_.all()) {
      const raft::NodeId id = node_id_of(known.id);
      if (id == raft_id_ || m.find(id) != nullptr) continue;
      std::erase_if(catch_up_peers_, [&](const MemberAddress& p) { return p.id == known.id; });
      catch_up_peers_.push_back(known);
    }
  }
  set_membership(std::move(m));
}

void Node::mark_removed(const std::string& why) {
  if (removed_.exchange(true)) return;
  ready_ = false;
  spdlog::warn("this node was removed from the cluster ({}): it serves nothing more", why);
}

}  // namespace dkv::node
