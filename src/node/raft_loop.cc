// The raft thread of a Node: the Ready loop (see node.h for the order of
// its steps and why), proposals and their waiters, ReadIndex batches.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>

#include "node/entry_codec.h"
#include "node/node.h"
#include "raft/raw_node.h"
#include "raft/storage.h"
#include "util/assert.h"
#include "util/metrics.h"
#include "wal/log.h"

namespace dkv::node {
namespace {

// etcd's server and disk metrics, under dkv_ names.
struct NodeMetrics {
  util::Gauge& has_leader;
  util::Gauge& is_leader;
  util::Counter& leader_changes;
  util::Gauge& committed;
  util::Gauge& applied;
  util::Gauge& pending;
  util::Counter& failed;
  util::Histogram& wal_fsync;
  util::Histogram& apply;
  util::Gauge& db_size;
};

NodeMetrics& node_metrics() {
  auto& m = util::metrics();
  const auto seconds = util::exponential_buckets(0.0001, 2, 16);
  static NodeMetrics metrics{
      m.gauge("dkv_server_has_leader", "1 if a leader is known, else 0."),
      m.gauge("dkv_server_is_leader", "1 if this node leads, else 0."),
      m.counter("dkv_server_leader_changes_seen_total", "Leader changes seen."),
      m.gauge("dkv_server_proposals_committed_total", "Committed log index."),
      m.gauge("dkv_server_proposals_applied_total", "Applied log index."),
      m.gauge("dkv_server_proposals_pending", "Writes queued or proposed, not yet applied."),
      m.counter("dkv_server_proposals_failed_total", "Writes that failed after queueing."),
      m.histogram("dkv_disk_wal_fsync_duration_seconds", "WAL fdatasync latency.", seconds),
      m.histogram("dkv_disk_backend_commit_duration_seconds",
                  "Latency of applying a batch of entries to LMDB.", seconds),
      m.gauge("dkv_mvcc_db_total_size_in_bytes", "Bytes of the LMDB file in use."),
  };
  return metrics;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

void Node::run() {
  const auto tick_interval = std::chrono::milliseconds(options_.heartbeat_ms);
  auto next_tick = std::chrono::steady_clock::now() + tick_interval;
  for (;;) {
    Inbox inbox;
    {
      std::unique_lock lock(mu_);
      cv_.wait_until(lock, next_tick,
                     [&] { return stopping_ || !inbox_.empty() || raw_->has_ready(); });
      if (stopping_) break;
      std::swap(inbox, inbox_);
    }
    process_inbox(&inbox);
    const auto now = std::chrono::steady_clock::now();
    if (now >= next_tick) {
      on_tick(now);
      next_tick += tick_interval;
      if (next_tick < now) next_tick = now + tick_interval;  // Fell behind: don't burst.
    }
    while (raw_->has_ready()) {
      raft::Ready rd = raw_->ready();
      handle_ready(rd);
    }
    serve_reads();
  }
  fail_everything(util::unavailable("node is shutting down"));
  if (snapshot_thread_.joinable()) snapshot_thread_.join();
}

void Node::process_inbox(Inbox* inbox) {
  for (const auto& m : inbox->messages) {
    // A removed member never disrupts the cluster, even if it missed its
    // removal: its messages are dropped.
    if (removed_ids_.count(m.from) > 0) continue;
    // A stale or malformed message is the peer's problem, not ours: ignore.
    (void)raw_->step(m);
  }
  for (raft::NodeId peer : inbox->unreachable) raw_->report_unreachable(peer);
  for (const auto& [peer, ok] : inbox->snapshot_status) raw_->report_snapshot(peer, ok);
  if (inbox->transfer_leadership) start_leadership_transfer();
  if (inbox->snapshot_done) finish_snapshot(std::move(*inbox->snapshot_done));
  for (auto& c : inbox->changes) start_change(std::move(c));
  for (auto& m : inbox->moves) start_move(std::move(m));
  for (auto& w : inbox->writes) parked_.push_back(std::move(w));
  propose_parked();
  if (!inbox->reads.empty()) {
    const std::string context = std::to_string(next_read_context_++);
    ReadBatch& batch = read_batches_[context];
    batch.reads = std::move(inbox->reads);
    raw_->read_index(context);
  }
}

// Ties: the lowest id, so the choice is stable.
raft::NodeId Node::most_caught_up_voter(raft::Index* match) const {
  const raft::Raft& r = raw_->raft();
  raft::NodeId target = raft::kNoNode;
  raft::Index best_match = 0;
  for (const auto& [id, pr] : r.tracker().progress()) {
    // A voter not heard from lately may be down: it could not take over.
    if (id == raft_id_ || !r.tracker().is_voter(id) || !pr.recent_active) continue;
    // Nor can one that lost its log and has not been told it caught up.
    if (pr.rejoin_target != 0 || pr.rejoin_ack_owed) continue;
    if (target == raft::kNoNode || pr.match > best_match) {
      target = id;
      best_match = pr.match;
    }
  }
  *match = best_match;
  return target;
}

// Asks the core to hand leadership to the most caught-up voter.
void Node::start_leadership_transfer() {
  if (raw_->raft().state() != raft::StateType::kLeader) return;
  raft::Index best_match = 0;
  const raft::NodeId target = most_caught_up_voter(&best_match);
  if (target == raft::kNoNode) return;  // Alone: nobody to hand over to.
  spdlog::info("handing leadership to {} (match {})", membership().name_of(target), best_match);
  raw_->transfer_leader(target);
}

// Proposes the writes waiting for a leader; those refused stay parked until
// their deadline (no leader yet) or fail at once (any other refusal).
void Node::propose_parked() {
  std::vector<PendingWrite> still_parked;
  for (auto& w : parked_) {
    util::Status s = raw_->propose(w.data);
    if (s.is_ok()) {
      const std::uint64_t id = w.request_id;
      proposed_.emplace(id, std::move(w));
    } else if (s.code() == util::Code::kUnavailable) {
      still_parked.push_back(std::move(w));
    } else {
      {
        std::lock_guard lock(mu_);
        --pending_writes_;
      }
      w.done(std::move(s), {});
    }
  }
  parked_ = std::move(still_parked);
}

void Node::on_tick(std::chrono::steady_clock::time_point now) {
  raw_->tick();
  ++tick_count_;
  warn_if_leaderless();
  if (raw_->raft().state() == raft::StateType::kLeader) {
    for (const auto& [id, pr] : raw_->raft().tracker().progress()) {
      if (pr.recent_active) last_active_tick_[id] = tick_count_;
    }
  }
  if (rejoining_) nudge_leader_while_rejoining();
  if (!waiting_changes_.empty()) retry_waiting_changes();
  expire_membership_waiters(now);
  // Re-confirm readiness every election timeout, and at once while unsure.
  if (readiness_.unconfirmed() || ++ticks_since_readiness_check_ >= election_ticks_) {
    ticks_since_readiness_check_ = 0;
    raw_->read_index("ready:" + std::to_string(next_readiness_context_++));
  }
  update_readiness();
  if (!parked_.empty()) propose_parked();
  // LMDB commits are not fsynced (node.cc): flush them about once a second,
  // so that a machine crash rarely costs a rebuild of the store.
  if (now >= next_store_sync_) {
    next_store_sync_ = now + std::chrono::seconds(1);
    if (auto s = store_->sync(); !s.is_ok()) fatal("LMDB fsync failed", s);
  }
  expire_requests(now);
}

// Expire writes past their deadline: their outcome is unknown to the
// client (the entry may still commit), which UNAVAILABLE conveys. Reads
// too; and re-ask ReadIndex rounds the leader may have dropped.
void Node::expire_requests(std::chrono::steady_clock::time_point now) {
  std::size_t expired = 0;
  auto expire = [&](PendingWrite& w) {
    ++expired;
    w.done(util::unavailable("no leader or no quorum within the request timeout"), {});
  };
  for (auto it = proposed_.begin(); it != proposed_.end();) {
    if (now > it->second.deadline) {
      expire(it->second);
      it = proposed_.erase(it);
    } else {
      ++it;
    }
  }
  std::erase_if(parked_, [&](PendingWrite& w) {
    if (now <= w.deadline) return false;
    expire(w);
    return true;
  });
  if (expired > 0) {
    node_metrics().failed.inc(expired);
    std::lock_guard lock(mu_);
    pending_writes_ -= expired;
  }
  // Reads: expire, and re-ask rounds the leader may have dropped.
  for (auto it = read_batches_.begin(); it != read_batches_.end();) {
    ReadBatch& b = it->second;
    std::erase_if(b.reads, [&](PendingRead& r) {
      if (now <= r.deadline) return false;
      r.done(util::unavailable("no leader or no quorum within the request timeout"), {});
      return true;
    });
    if (b.reads.empty()) {
      it = read_batches_.erase(it);
      continue;
    }
    if (b.read_index == 0 && ++b.ticks_waiting >= election_ticks_) {
      // Ask again under a new context; the old answer, if any, is ignored.
      ReadBatch retry = std::move(b);
      retry.ticks_waiting = 0;
      it = read_batches_.erase(it);
      const std::string context = std::to_string(next_read_context_++);
      read_batches_.emplace(context, std::move(retry));
      raw_->read_index(context);
      continue;
    }
    ++it;
  }
}

// A node that lost its data tells the leader through a rejected append
// (raft: Config::rejoining), but an idle leader sends only heartbeats, and
// its old match for us makes them ask nothing we lack. So while rejoining,
// propose an empty entry (a no-op when applied) once per election timeout:
// the leader's append of it reaches this node, which rejects it, flagged.
// The same path as a write sent to this node, which the simulator covers.
void Node::nudge_leader_while_rejoining() {
  if (raw_->raft().lead() == raft::kNoNode) return;
  if (++ticks_since_rejoin_nudge_ < election_ticks_) return;
  ticks_since_rejoin_nudge_ = 0;
  (void)raw_->propose("");  // Dropped while no leader: the next tick retries.
}

// A node without a leader for long says so every 30 s: a lone follower's
// log otherwise shows nothing wrong.
void Node::warn_if_leaderless() {
  if (raw_->raft().lead() != raft::kNoNode || removed_) {
    ticks_without_leader_ = 0;
    return;
  }
  // Every 30 election timeouts (30 s by default): long enough that a normal
  // election never warns, and scaled with the timers like everything else.
  const std::uint64_t every_ticks = 30 * static_cast<std::uint64_t>(election_ticks_);
  if (++ticks_without_leader_ % every_ticks != 0) return;
  const Membership m = membership();
  std::string voters;
  for (const auto& v : m.voters()) voters += (voters.empty() ? "" : ",") + v.id + "@" + v.address();
  spdlog::warn(
      "no leader for {} s (this node is {} at term {}); the voters are {}: a majority of them "
      "must run and reach each other (check their logs for refused or unreachable peers)",
      ticks_without_leader_ * options_.heartbeat_ms / 1000, raft::state_name(raw_->raft().state()),
      raw_->raft().term(), voters);
}

void Node::handle_ready(raft::Ready& rd) {
  bool leader_changed = false;
  if (rd.soft_state) {
    const Membership m = membership();
    const std::string leader = m.name_of(rd.soft_state->lead);
    std::lock_guard lock(mu_);
    if (status_.leader_id != leader) {
      leader_changed = true;
      spdlog::info("leader is now {} (term {})", leader.empty() ? "unknown" : leader,
                   raw_->raft().term());
      events_.record("leader", "leader is now " + (leader.empty() ? "unknown" : leader) +
                                   " (term " + std::to_string(raw_->raft().term()) + ")");
      readiness_.on_leader_change();  // Confirm again under the new leader.
      node_metrics().leader_changes.inc();
      // Unanswered ReadIndex rounds may have died with the old leader: ask
      // again at the next tick rather than an election timeout later.
      for (auto& [context, batch] : read_batches_) {
        if (batch.read_index == 0) batch.ticks_waiting = election_ticks_;
      }
    }
    node_metrics().has_leader.set(leader.empty() ? 0 : 1);
    node_metrics().is_leader.set(rd.soft_state->state == raft::StateType::kLeader ? 1 : 0);
    if (rd.soft_state->state != raft::StateType::kLeader) last_active_tick_.clear();
    status_.leader_id = leader;
    status_.role = std::string(raft::state_name(rd.soft_state->state));
    role_changed_.notify_all();
  }
  if (rd.soft_state) finish_moves(rd.soft_state->lead);
  // A Ready that only commits (no new entries, no snapshot: what a leader
  // gets when an ack arrives) holds committed entries that earlier Readies
  // already made durable here. They are applied, and their clients
  // answered, before its messages go out and its hard state is written:
  // those (the new commit index for the followers) vouch for nothing the
  // apply needs, and on loopback each send runs the receiver's TCP path in
  // this thread. Membership changes keep the usual order.
  const bool apply_first =
      !rd.committed_entries.empty() && rd.entries.empty() && rd.snapshot.empty() &&
      std::none_of(rd.committed_entries.begin(), rd.committed_entries.end(),
                   [](const raft::Entry& e) { return e.type == raft::EntryType::kConfChange; });
  if (apply_first) apply_committed(rd.committed_entries);
  // 1. The leader's appends and heartbeats go out before its own fsync.
  if (!rd.messages.empty() && options_.send) options_.send(std::move(rd.messages));
  // 2. Durable before anything vouches for it.
  persist(rd);
  // 3. Votes and acks.
  if (!rd.messages_after_persist.empty() && options_.send) {
    options_.send(std::move(rd.messages_after_persist));
  }
  // 4. Apply.
  if (!apply_first && !rd.committed_entries.empty()) apply_committed(rd.committed_entries);
  if (leader_changed) fail_proposed_writes();
  maybe_snapshot();
  for (const auto& rs : rd.read_states) {
    if (rs.context.rfind("ready:", 0) == 0) {
      readiness_.on_answer(rs.index, tick_count_);
      continue;
    }
    auto it = read_batches_.find(rs.context);
    if (it != read_batches_.end()) it->second.read_index = rs.index;
  }
  raw_->advance();
  if (rejoining_ && !raw_->raft().rejoining()) finish_rejoining();
  bool caught_up = false;
  {
    std::lock_guard lock(mu_);
    const raft::HardState hs = raw_->raft().hard_state();
    status_.term = hs.term;
    status_.commit_index = hs.commit;
    status_.applied_index = store_->applied_index();
    caught_up = !catch_up_peers_.empty();
    NodeMetrics& m = node_metrics();
    m.committed.set(static_cast<double>(hs.commit));
    m.applied.set(static_cast<double>(status_.applied_index));
    m.pending.set(static_cast<double>(pending_writes_));
  }
  update_readiness();
  // Peers kept from before a snapshot are dropped once caught up (snapshots.cc).
  if (caught_up && ready_) end_snapshot_catch_up();
}

void Node::update_readiness() {
  bool leader_known = false;
  {
    std::lock_guard lock(mu_);
    leader_known = !status_.leader_id.empty();
  }
  ready_ = readiness_.evaluate(leader_known, store_->applied_index(), tick_count_);
}

void Node::persist(const raft::Ready& rd) {
  if (!rd.snapshot.empty()) install_snapshot(rd.snapshot);
  if (rd.hard_state || !rd.entries.empty()) {
    const raft::HardState* hs = rd.hard_state ? &*rd.hard_state : nullptr;
    if (auto s = log_->save(hs, rd.entries); !s.is_ok()) fatal("WAL write failed", s);
    // A hard state that only moved the commit index rides along unsynced
    // with the next fsync (Ready::must_sync): on the leader, that keeps an
    // fsync off every write's path between commit and apply.
    if (rd.must_sync) {
      const auto sync_start = std::chrono::steady_clock::now();
      if (auto s = log_->sync(); !s.is_ok()) fatal("WAL fsync failed", s);
      node_metrics().wal_fsync.observe(seconds_since(sync_start));
    }
    if (!rd.entries.empty()) {
      if (auto s = storage_->append(rd.entries); !s.is_ok()) fatal("raft storage append", s);
    }
    if (rd.hard_state) storage_->set_hard_state(*rd.hard_state);
  }
}

void Node::apply_committed(const std::vector<raft::Entry>& entries) {
  std::vector<kv::Command> commands;
  std::vector<std::uint64_t> request_ids;
  commands.reserve(entries.size());
  request_ids.reserve(entries.size());
  // Applies the commands gathered so far with applied index `through`, in
  // one transaction, and completes their waiters.
  auto flush = [&](raft::Index through) {
    if (through <= store_->applied_index()) return;
    std::vector<kv::ApplyResult> results;
    const auto apply_start = std::chrono::steady_clock::now();
    if (auto s = store_->apply(commands, through, &results); !s.is_ok()) fatal("apply failed", s);
    node_metrics().apply.observe(seconds_since(apply_start));
    node_metrics().db_size.set(static_cast<double>(store_->used_bytes()));
    std::size_t completed = 0;
    for (std::size_t i = 0; i < results.size(); ++i) {
      auto it = proposed_.find(request_ids[i]);
      if (it == proposed_.end()) continue;
      it->second.done(util::Status::ok(), results[i]);
      proposed_.erase(it);
      ++completed;
    }
    if (completed > 0) {
      std::lock_guard lock(mu_);
      pending_writes_ -= completed;
    }
    commands.clear();
    request_ids.clear();
  };
  const raft::Index applied = store_->applied_index();
  for (const auto& e : entries) {
    if (e.index <= applied) continue;  // Already in the store (a snapshot covered it).
    bytes_since_snapshot_ += e.data.size();
    if (e.type == raft::EntryType::kConfChange) {
      // The commands before it first: the change's own transaction records
      // the new membership with the change's index.
      flush(e.index - 1);
      apply_conf_change(e);
      continue;
    }
    if (e.data.empty()) continue;  // A new leader's no-op.
    std::uint64_t id = 0;
    kv::Command c;
    if (auto s = decode_entry(e.data, &id, &c); !s.is_ok()) {
      // Every replica applies the same log: a bad entry is our bug.
      fatal("undecodable committed entry " + std::to_string(e.index), s);
    }
    commands.push_back(std::move(c));
    request_ids.push_back(id);
  }
  flush(entries.back().index);
}

void Node::serve_reads() {
  const raft::Index applied = store_->applied_index();
  for (auto it = read_batches_.begin(); it != read_batches_.end();) {
    const ReadBatch& b = it->second;
    if (b.read_index == 0 || b.read_index > applied) {
      ++it;
      continue;
    }
    for (const auto& r : b.reads) {
      if (r.barrier_only) {
        r.done(util::Status::ok(), {});
        continue;
      }
      std::string value;
      util::Status s = store_->get(r.key, &value);
      r.done(std::move(s), std::move(value));
    }
    it = read_batches_.erase(it);
  }
}

void Node::fail_everything(const util::Status& s) {
  Inbox rest;
  {
    std::lock_guard lock(mu_);
    std::swap(rest, inbox_);
    pending_writes_ = 0;
  }
  for (auto& w : rest.writes) w.done(s, {});
  for (auto& r : rest.reads) r.done(s, {});
  for (auto& c : rest.changes) c.done(s, {});
  for (auto& m : rest.moves) m.done(s, {});
  if (change_in_flight_) change_in_flight_->done(s, {});
  change_in_flight_.reset();
  for (auto& c : waiting_changes_) c.done(s, {});
  waiting_changes_.clear();
  for (auto& m : moves_) m.done(s, {});
  moves_.clear();
  for (auto& w : parked_) w.done(s, {});
  for (auto& [id, w] : proposed_) w.done(s, {});
  for (auto& [ctx, b] : read_batches_) {
    for (auto& r : b.reads) r.done(s, {});
  }
  parked_.clear();
  proposed_.clear();
  read_batches_.clear();
}

// The leader a write was proposed to is gone: it may have died with the
// entry, or the entry may still commit under the next one. Say so now
// rather than at the deadline, so that the client can retry elsewhere
// within a failover instead of a whole request timeout.
void Node::fail_proposed_writes() {
  if (proposed_.empty()) return;
  const std::size_t n = proposed_.size();
  for (auto& [id, w] : proposed_) {
    w.done(util::unavailable("the leader changed before the write was applied; it may or may "
                             "not take effect"),
           {});
  }
  proposed_.clear();
  node_metrics().failed.inc(n);
  std::lock_guard lock(mu_);
  pending_writes_ -= n;
}

void Node::fatal(const std::string& what, const util::Status& s) {
  // The disk may be in an unknown state: never retry and continue
  // (fsyncgate). Stop the process; recovery replays the WAL.
  spdlog::critical("{}: {}; stopping", what, s.to_string());
  spdlog::shutdown();
  std::_Exit(1);
}

}  // namespace dkv::node
