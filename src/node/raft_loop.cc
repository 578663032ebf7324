// The raft thread of a Node: the Ready loop (see node.h for the order of
// its steps and why), proposals and their waiters, ReadIndex batches.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>

#include "kv/mvcc_request.h"
#include "node/entry_codec.h"
#include "node/node.h"
#include "node/node_metrics.h"
#include "raft/raw_node.h"
#include "raft/storage.h"
#include "util/assert.h"
#include "wal/log.h"

namespace dkv::node {

// The thread: waits for work or the next tick, then takes one turn.
void Node::run() {
  const auto tick_interval = std::chrono::milliseconds(options_.heartbeat_ms);
  auto next_tick = std::chrono::steady_clock::now() + tick_interval;
  for (;;) {
    Inbox inbox;
    {
      util::MutexLock lock(mu_);
      while (!stopping_ && inbox_.empty() && !raw_->has_ready() &&
             !applier_->compaction_pending()) {
        if (!cv_.wait_until(mu_, next_tick)) break;  // The next tick is due.
      }
      if (stopping_) break;
      std::swap(inbox, inbox_);
    }
    const auto now = std::chrono::steady_clock::now();
    const bool tick = now >= next_tick;
    if (tick) {
      next_tick += tick_interval;
      if (next_tick < now) next_tick = now + tick_interval;  // Fell behind: don't burst.
    }
    turn(&inbox, tick, now);
  }
  finish_raft_thread();
}

void Node::finish_raft_thread() {
  drain_wal();
  fail_everything(util::unavailable("node is shutting down"));
  read_server_->stop();  // What it holds is applied: served, not failed.
  snapshotter_->join();
}

void Node::step(std::chrono::steady_clock::time_point now) {
  DKV_ASSERT(options_.background != nullptr);  // Otherwise the raft thread takes the turns.
  const auto tick_interval = std::chrono::milliseconds(options_.heartbeat_ms);
  if (next_tick_ == std::chrono::steady_clock::time_point{}) next_tick_ = now + tick_interval;
  Inbox inbox;
  {
    util::MutexLock lock(mu_);
    if (stopping_) return;
    std::swap(inbox, inbox_);
  }
  const bool tick = now >= next_tick_;
  if (tick) {
    next_tick_ += tick_interval;
    if (next_tick_ < now) next_tick_ = now + tick_interval;
  }
  turn(&inbox, tick, now);
}

void Node::turn(Inbox* inbox, bool tick, std::chrono::steady_clock::time_point now) {
  turn_now_ = now;
  const char* failed = "";
  if (auto s = driver_->land(&failed); !s.is_ok()) fatal(failed, s);
  process_inbox(inbox);
  if (tick) on_tick(now);
  while (raw_->has_ready()) {
    raft::Ready rd = raw_->ready();
    handle_ready(rd);
  }
  read_server_->post(reads_->take_servable(store_->applied_index()));
  propose_auto_compaction(now);
  run_lessor(now);
  // Physical compaction runs here, between Readies, one bounded step per
  // turn (run() does not sleep while some remains), not in the apply batch.
  if (auto s = applier_->compact_history(); !s.is_ok()) fatal("compacting history", s);
  sync_store(now);
}

// LMDB commits are not fsynced (node.cc): fsync them every
// store_sync_interval (NodeOptions), so that a machine crash rarely costs a
// rebuild of the store. The flusher writes the pages back off this thread
// first (store_flusher.h); checked on every turn, so that the sync follows
// its write-back closely and finds little left to write.
void Node::sync_store(std::chrono::steady_clock::time_point now) {
  if (now < next_store_sync_ || !store_flusher_->ready_to_sync()) return;
  next_store_sync_ = now + options_.store_sync_interval;
  if (auto s = store_flusher_->take_error(); !s.is_ok()) fatal("LMDB fsync failed", s);
  if (auto s = store_->sync(); !s.is_ok()) fatal("LMDB fsync failed", s);
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
  if (inbox->transfer_leadership) changes_->start_leadership_transfer();
  if (inbox->snapshot_done) {
    drain_wal();  // finish() writes a marker in the WAL.
    const raft::Index before = snapshotter_->last_index();
    if (auto s = snapshotter_->finish(std::move(*inbox->snapshot_done)); !s.is_ok()) {
      fatal("taking a snapshot", s);
    }
    if (snapshotter_->last_index() > before) {
      events_.record("snapshot",
                     "took snapshot at index " + std::to_string(snapshotter_->last_index()));
    }
  }
  for (auto& c : inbox->changes) changes_->start_change(std::move(c));
  for (auto& m : inbox->moves) changes_->start_move(std::move(m));
  for (auto& w : inbox->writes) applier_->park(std::move(w));
  applier_->propose_parked([this](const std::string& data) { return raw_->propose(data); });
  reads_->start(std::move(inbox->reads),
                [this](std::string context) { raw_->read_index(std::move(context)); });
}

void Node::on_tick(std::chrono::steady_clock::time_point now) {
  raw_->tick();
  ++tick_count_;
  warn_if_leaderless();
  if (rejoining_) nudge_leader_while_rejoining();
  changes_->on_tick(tick_count_, now);
  // Re-confirm readiness every election timeout, and at once while unsure.
  if (readiness_.unconfirmed() || ++ticks_since_readiness_check_ >= election_ticks_) {
    ticks_since_readiness_check_ = 0;
    raw_->read_index("ready:" + std::to_string(next_readiness_context_++));
  }
  update_readiness();
  if (applier_->has_parked()) {
    applier_->propose_parked([this](const std::string& data) { return raw_->propose(data); });
  }
  expire_requests(now);
}

void Node::propose_auto_compaction(std::chrono::steady_clock::time_point now) {
  const bool leader = raw_->basic_status().soft_state.state == raft::StateType::kLeader;
  const std::int64_t rev =
      auto_compactor_.on_tick(now, leader, store_->current_revision(), store_->compact_revision());
  if (rev == 0) return;
  etcdserverpb::CompactionRequest request;
  request.set_revision(rev);
  // No waiter: request id 0. Refused (a leadership transfer, or the
  // feature gate: the cluster's level is below kMvccRequests): the next
  // check proposes again.
  const kv::Command command = kv::etcd_command(request);
  if (!kv::check_proposal(command, store_->feature_level()).is_ok()) return;
  if (raw_->propose(encode_entry(0, command)).is_ok()) {
    spdlog::debug("auto-compaction: proposed compaction to revision {}", rev);
  }
}

// Requests past their deadline fail; ReadIndex rounds the leader may have
// dropped are asked again.
void Node::expire_requests(std::chrono::steady_clock::time_point now) {
  applier_->expire(now);
  reads_->on_tick(now, [this](std::string context) { raw_->read_index(std::move(context)); });
}

// A node that lost its data tells the leader through a rejected append
// (raft: Config::rejoining), but an idle leader sends only heartbeats, and
// its old match for us makes them ask nothing we lack. So while rejoining,
// propose an empty entry (a no-op when applied) once per election timeout:
// the leader's append of it reaches this node, which rejects it, flagged.
// The same path as a write sent to this node, which the simulator covers.
void Node::nudge_leader_while_rejoining() {
  if (raw_->basic_status().soft_state.lead == raft::kNoNode) return;
  if (++ticks_since_rejoin_nudge_ < election_ticks_) return;
  ticks_since_rejoin_nudge_ = 0;
  (void)raw_->propose("");  // Dropped while no leader: the next tick retries.
}

// A node without a leader for long says so every 30 s: a lone follower's
// log otherwise shows nothing wrong.
void Node::warn_if_leaderless() {
  const raft::RaftStatus st = raw_->basic_status();
  if (st.soft_state.lead != raft::kNoNode || removed_) {
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
      ticks_without_leader_ * options_.heartbeat_ms / 1000, raft::state_name(st.soft_state.state),
      st.hard_state.term, voters);
}

bool Node::on_soft_state(const raft::SoftState& soft) {
  const std::string leader = membership().name_of(soft.lead);
  bool leader_changed = false;
  {
    util::MutexLock lock(mu_);
    if (status_.leader_id != leader) {
      leader_changed = true;
      spdlog::info("leader is now {} (term {})", leader.empty() ? "unknown" : leader,
                   raw_->basic_status().hard_state.term);
      events_.record("leader", "leader is now " + (leader.empty() ? "unknown" : leader) +
                                   " (term " +
                                   std::to_string(raw_->basic_status().hard_state.term) + ")");
      readiness_.on_leader_change();  // Confirm again under the new leader.
      node_metrics().leader_changes.inc();
      reads_->on_leader_change();
    }
    node_metrics().has_leader.set(leader.empty() ? 0 : 1);
    node_metrics().is_leader.set(soft.state == raft::StateType::kLeader ? 1 : 0);
    status_.leader_id = leader;
    status_.role = std::string(raft::state_name(soft.state));
    role_changed_.notify_all();
  }
  changes_->on_soft_state(soft.lead, soft.state == raft::StateType::kLeader);
  return leader_changed;
}

// One Ready: the driver persists, sends and applies (ready_driver.h);
// then read states, advance() and what follows it.
void Node::handle_ready(raft::Ready& rd) {
  const bool leader_changed = rd.soft_state && on_soft_state(*rd.soft_state);
  const char* failed = "";
  if (auto s = driver_->handle(rd, &failed); !s.is_ok()) fatal(failed, s);
  if (leader_changed) applier_->fail_proposed();
  if (auto s = snapshotter_->maybe_start(applier_->applied_entry_bytes()); !s.is_ok()) {
    fatal("starting a snapshot", s);
  }
  for (const auto& rs : rd.read_states) on_read_state(rs);
  raw_->advance();
  after_advance();
}

void Node::on_read_state(const raft::ReadState& rs) {
  if (rs.context.rfind("ready:", 0) == 0) {
    readiness_.on_answer(rs.index, tick_count_);
    return;
  }
  (void)reads_->on_read_state(rs);  // Unknown: a round asked again since.
}

void Node::after_advance() {
  const raft::RaftStatus st = raw_->basic_status();
  if (rejoining_ && !st.rejoining) finish_rejoining();
  bool caught_up = false;
  {
    util::MutexLock lock(mu_);
    const raft::HardState& hs = st.hard_state;
    status_.term = hs.term;
    status_.commit_index = hs.commit;
    status_.applied_index = store_->applied_index();
    caught_up = !catch_up_peers_.empty();
    NodeMetrics& m = node_metrics();
    m.committed.set(static_cast<double>(hs.commit));
    m.applied.set(static_cast<double>(status_.applied_index));
    m.pending.set(static_cast<double>(pending_writes_.count()));
  }
  update_readiness();
  // Peers kept from before a snapshot are dropped once caught up.
  if (caught_up && ready_) end_snapshot_catch_up();
}

void Node::update_readiness() {
  bool leader_known = false;
  {
    util::MutexLock lock(mu_);
    leader_known = !status_.leader_id.empty();
  }
  ready_ = readiness_.evaluate(leader_known, store_->applied_index(), tick_count_);
}

void Node::apply_committed(const std::vector<raft::Entry>& entries) {
  const util::Status s = applier_->apply(entries, [this](const raft::Entry& e) {
    apply_conf_change(e);
    return util::Status::ok();
  });
  if (!s.is_ok()) fatal("apply failed", s);
  if (!entries.empty()) applied_term_ = std::max(applied_term_, entries.back().term);
  std::vector<kv::LeaseChange> lease_changes;
  store_->take_lease_changes(&lease_changes);
  lessor_.on_applied(lease_changes, turn_now_);
}

void Node::fail_everything(const util::Status& s) {
  Inbox rest;
  {
    util::MutexLock lock(mu_);
    std::swap(rest, inbox_);
  }
  for (auto& w : rest.writes) w.done(s, {});
  pending_writes_.release(rest.writes.size());
  for (auto& r : rest.reads) r.done(s, {});
  for (auto& c : rest.changes) c.done(s, {});
  for (auto& m : rest.moves) m.done(s, {});
  changes_->fail_all(s);
  applier_->fail_all(s);
  reads_->fail_all(s);
}

void Node::drain_wal() {
  const char* failed = "";
  if (auto s = driver_->drain(&failed); !s.is_ok()) fatal(failed, s);
}

void Node::fatal(const std::string& what, const util::Status& s) {
  // The disk may be in an unknown state: never retry and continue
  // (fsyncgate). Stop the process; recovery replays the WAL.
  spdlog::critical("{}: {}; stopping", what, s.to_string());
  spdlog::shutdown();
  std::_Exit(1);
}

}  // namespace dkv::node
