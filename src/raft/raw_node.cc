#include "raft/raw_node.h"

#include <limits>

#include "util/assert.h"

namespace dkv::raft {

RawNode::RawNode(const Config& config, const Storage& storage)
    : raft_(std::make_unique<Raft>(config, storage)),
      prev_soft_(raft_->soft_state()),
      prev_hard_(raft_->hard_state()) {}

void RawNode::tick() { raft_->tick(); }

void RawNode::campaign() { (void)raft_->step(Message{.type = MessageType::kHup}); }

util::Status RawNode::propose(std::string data) {
  Message m{.type = MessageType::kProp, .from = raft_->id()};
  m.entries.push_back(Entry{.data = std::move(data)});
  return raft_->step(m);
}

util::Status RawNode::propose_conf_change(const ConfChange& cc) {
  Message m{.type = MessageType::kProp, .from = raft_->id()};
  m.entries.push_back(Entry{.type = EntryType::kConfChange, .data = cc.encode()});
  return raft_->step(m);
}

util::Status RawNode::step(const Message& m) {
  switch (m.type) {
    case MessageType::kHup:
    case MessageType::kBeat:
    case MessageType::kCheckQuorum:
    case MessageType::kUnreachable:
    case MessageType::kSnapStatus:
      return util::invalid_argument("local message type from the network");
    default:
      break;
  }
  return raft_->step(m);
}

void RawNode::read_index(std::string context) {
  DKV_ASSERT(!context.empty());
  (void)raft_->step(Message{.type = MessageType::kReadIndex, .context = std::move(context)});
}

void RawNode::transfer_leader(NodeId to) {
  (void)raft_->step(Message{.type = MessageType::kTransferLeader, .from = to});
}

ConfState RawNode::apply_conf_change(const ConfChange& cc) { return raft_->apply_conf_change(cc); }

void RawNode::report_unreachable(NodeId id) {
  (void)raft_->step(Message{.type = MessageType::kUnreachable, .from = id});
}

void RawNode::report_snapshot(NodeId id, bool ok) {
  (void)raft_->step(Message{.type = MessageType::kSnapStatus, .from = id, .reject = !ok});
}

bool RawNode::next_ready_async() const {
  const Raft& r = *raft_;
  const HardState hs = r.hard_state();
  return r.config().leader_persists_async && r.state() == StateType::kLeader &&
         hs.term == prev_hard_.term && hs.vote == prev_hard_.vote &&
         !r.log().unstable_snapshot().has_value() && r.msgs_after_persist().empty();
}

Index RawNode::apply_limit() const {
  return next_ready_async() ? raft_->log().persisted() : std::numeric_limits<Index>::max();
}

bool RawNode::has_ready() const {
  DKV_ASSERT(!ready_outstanding_);  // advance() the last Ready first.
  Raft& r = *raft_;
  return r.has_unsent() || r.soft_state() != prev_soft_ || r.hard_state() != prev_hard_ ||
         r.log().unstable_snapshot().has_value() || r.log().has_entries_to_persist() ||
         !r.msgs().empty() || !r.msgs_after_persist().empty() || !r.read_states().empty() ||
         r.log().has_next_committed_entries(apply_limit());
}

Ready RawNode::ready() {
  DKV_ASSERT(!ready_outstanding_);  // One Ready at a time.
  Raft& r = *raft_;
  r.flush();
  Ready rd;
  rd.persist_async = next_ready_async();  // Before prev_hard_ moves on.
  const Index apply_to = apply_limit();
  if (r.soft_state() != prev_soft_) {
    rd.soft_state = r.soft_state();
    prev_soft_ = r.soft_state();
  }
  const HardState hs = r.hard_state();
  const bool term_or_vote_changed = hs.term != prev_hard_.term || hs.vote != prev_hard_.vote;
  if (hs != prev_hard_) {
    rd.hard_state = hs;
    if (r.config().canaries.forget_vote) rd.hard_state->vote = kNoNode;  // Canary.
    prev_hard_ = hs;
  }
  rd.entries = r.log().entries_to_persist();
  r.log().mark_in_progress();
  if (r.log().unstable_snapshot()) rd.snapshot = *r.log().unstable_snapshot();
  rd.must_sync = term_or_vote_changed || !rd.entries.empty() || !rd.snapshot.empty();
  rd.committed_entries =
      r.log().next_committed_entries(r.config().max_committed_bytes_per_ready, apply_to);
  rd.read_states.swap(r.read_states());
  rd.messages.swap(r.msgs());
  rd.messages_after_persist.swap(r.msgs_after_persist());
  if (term_or_vote_changed) {
    // A new term or vote must be durable before anything leaves under it
    // (e.g. a single voter that just won its election, sending to learners).
    rd.messages.insert(rd.messages.end(), rd.messages_after_persist.begin(),
                       rd.messages_after_persist.end());
    rd.messages_after_persist = std::move(rd.messages);
    rd.messages.clear();
  }
  ready_last_entry_.reset();
  if (!rd.entries.empty() && !rd.persist_async) {
    ready_last_entry_ = Entry{.term = rd.entries.back().term, .index = rd.entries.back().index};
  }
  ready_snapshot_index_ = rd.snapshot.metadata.index;
  ready_applied_to_ = rd.committed_entries.empty() ? 0 : rd.committed_entries.back().index;
  ready_outstanding_ = true;
  return rd;
}

void RawNode::advance() {
  DKV_ASSERT(ready_outstanding_);
  ready_outstanding_ = false;
  if (ready_snapshot_index_ != 0) {
    raft_->on_snapshot_persisted(ready_snapshot_index_);
    raft_->log().applied_to(ready_snapshot_index_);
  }
  if (ready_last_entry_) raft_->on_persisted(ready_last_entry_->index, ready_last_entry_->term);
  if (ready_applied_to_ != 0) raft_->log().applied_to(ready_applied_to_);
}

void RawNode::report_persisted(Index index, Term term) { raft_->on_persisted(index, term); }

namespace {

ConfChangeGate conf_change_gate(const Raft& r) {
  if (r.state() != StateType::kLeader) return ConfChangeGate::kNotLeader;
  const Index i = r.pending_conf_index();
  if (i <= r.log().applied()) return ConfChangeGate::kOpen;
  // Is the entry the rule waits for this leader's first (an empty entry of
  // its term), or a configuration change?
  const auto entry = r.log().slice(i, i + 1, std::numeric_limits<std::uint64_t>::max());
  if (!entry || entry->empty()) return ConfChangeGate::kChangePending;  // Compacted: older.
  const Entry& e = entry->front();
  const bool first_entry = e.type != EntryType::kConfChange && e.term == r.term() && e.data.empty();
  return first_entry ? ConfChangeGate::kFirstEntryOfTerm : ConfChangeGate::kChangePending;
}

}  // namespace

RaftStatus RawNode::basic_status() const {
  const Raft& r = *raft_;
  return RaftStatus{.id = r.id(),
                    .hard_state = r.hard_state(),
                    .soft_state = r.soft_state(),
                    .applied = r.log().applied(),
                    .persisted = r.log().persisted(),
                    .last_index = r.log().last_index(),
                    .conf_state = r.tracker().conf_state(),
                    .rejoining = r.rejoining(),
                    .conf_change_gate = conf_change_gate(r),
                    .progress = {}};
}

RaftStatus RawNode::status() const {
  RaftStatus st = basic_status();
  const Raft& r = *raft_;
  if (r.state() != StateType::kLeader) return st;
  for (const auto& [id, pr] : r.tracker().progress()) {
    st.progress[id] = PeerStatus{.match = pr.match,
                                 .state = pr.state,
                                 .recent_active = pr.recent_active,
                                 .voter = r.tracker().is_voter(id),
                                 .rejoining = pr.rejoin_target != 0 || pr.rejoin_flagged};
  }
  return st;
}

}  // namespace dkv::raft
