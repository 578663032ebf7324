#include "sim.h"

#include <algorithm>
#include <deque>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <vector>

#include "etcd_model.h"
#include "kv/command.h"
#include "kv/lease.h"
#include "kv/mvcc_request.h"
#include "raft/raw_node.h"
#include "raft/storage.h"
#include "rng.h"
#include "store_oracle.h"

namespace dkv::sim {

using raft::ConfChange;
using raft::ConfChangeType;
using raft::ConfState;
using raft::Entry;
using raft::EntryType;
using raft::Index;
using raft::Message;
using raft::MessageType;
using raft::NodeId;
using raft::Ready;
using raft::StateType;
using raft::Term;

namespace {

constexpr int kElectionTicks = 10;
constexpr int kHeartbeatTicks = 2;
// Liveness bound after healing: 60 election timeouts, plus one tick per
// entry the most lagging node must catch up on (a seed whose write rate
// exceeded its replication capacity leaves a backlog; catching up is
// bounded, not instant).
constexpr int kLivenessTicks = 60 * kElectionTicks;

struct Failure {
  std::string what;
};

// The keys the clients write and read: two prefixes, for DeleteRange of a prefix.
const char* const kKeys[] = {"k0", "k1", "k2", "k3", "p/0", "p/1", "p/2", "p/3"};
constexpr int kKeyCount = 8;

// A log entry carries a short handle, "k<d>=v<n>" for client write n (or
// "liveness=<tick>" for the liveness probe), sized like the register
// writes the simulator began with: the raft schedules of every seed (message
// batching by bytes included) stay what they were, and the core sees the
// same traffic. The command itself (an encoded kv::Command) is looked up by
// n when the entry is applied; every node applies the same.
std::uint64_t write_number(const std::string& data) {
  const auto v = data.find("=v");
  return v == std::string::npos ? 0 : std::stoull(data.substr(v + 2));
}

struct ClientRead {
  std::string key;
  Index min_index = 0;  // Highest index applied anywhere when the read began.
};

struct Node {
  NodeId id = 0;
  bool up = false;
  bool removed = false;  // Applied its own removal: stopped for good.
  ConfState initial_conf;
  std::unique_ptr<raft::MemoryStorage> disk;  // Survives crashes.
  bool rejoining = false;                     // On disk: lost its log (Config::rejoining).
  // The disks it lost, kept while it is rejoining: what each incarnation
  // acknowledged before its loss counts toward commits made after it, until
  // the leader hears of the loss. Also the disk of an incarnation that the
  // leader saw catch up but that was wiped before it heard so: its acks
  // still in flight count (they name a nonce the leader knows).
  std::vector<std::unique_ptr<raft::MemoryStorage>> lost_disks;
  std::unique_ptr<raft::RawNode> raft;
  std::uint64_t rng_state = 0;
  // Volatile: lost on crash. The state machine: etcd's data model with its
  // revisions (etcd_model.h), carried by snapshots.
  EtcdModel model;
  Index applied = 0;
  ConfState conf;
  std::optional<Ready> fsyncing;  // Ready whose persistence is under way.
  // A leader's persist_async Readies on their way to disk, in order; each
  // reaches `disk` (and is reported) at done_at, or is lost in a crash.
  struct AsyncWrite {
    std::vector<Entry> entries;
    std::optional<raft::HardState> hard_state;
    bool must_sync = false;
    std::uint64_t done_at = 0;
  };
  std::deque<AsyncWrite> async_writes;
  // A hard state written without fsync (Ready::must_sync false: only the
  // commit index moved); it reaches `disk` with the next fsync.
  std::optional<raft::HardState> unsynced_hard_state;
  std::uint64_t fsync_done_at = 0;
  std::map<std::string, Index> read_points;  // Read context -> read index.
  Index last_commit = 0;
  Term last_term = 0;
  NodeId last_vote = 0;
  Index last_applied = 0;
  std::size_t last_voters = 0;  // Voters in force at the previous check.
  StateType last_state = StateType::kFollower;
};

class Sim {
 public:
  explicit Sim(const Options& o)
      : o_(o),
        rng_(o.seed ^ 0x5eed5eed5eedULL),
        workload_rng_(o.seed ^ 0x3c3c3c3c3c3cULL),
        oracle_(o.model_canary) {}
  Result run();

 private:
  // World.
  void start_node(Node& n);
  void crash(Node& n);
  bool wipe(Node& n);
  void step_faults();
  void step_clients();
  std::string client_write(const Node& n);
  std::string lease_write(const Node& n, const std::string& key, const std::string& value);
  void partition();
  void membership();
  void snapshot(Node& n);
  // Network.
  void send(const Message& m);
  void deliver_due();
  bool blocked(NodeId from, NodeId to) const { return cut_.count({from, to}) > 0; }
  // Nodes.
  void process(Node& n);
  void persist_and_apply(Node& n, Ready& rd);
  void apply_and_advance(Node& n, Ready& rd);
  void queue_async_write(Node& n, Ready& rd);
  void finish_async_writes(Node& n, std::uint64_t until);
  void apply(Node& n, const Entry& e);
  void first_apply(const Entry& e);
  void serve_reads(Node& n);
  // Invariants.
  void check(Node& n);
  void check_entries(Node& n, const std::vector<Entry>& ents);
  void check_commit_durable(Node& n);
  void check_deltas(Node& n);
  void fail(const std::string& what);
  void trace(const std::string& s) {
    if (o_.trace) std::cerr << "t=" << now_ << " " << s << "\n";
  }
  Node* leader();
  std::vector<Node*> up_nodes();
  void run_liveness();

  Options o_;
  Rng rng_;
  // The shape of each write (client_write): rng_ draws what it drew for
  // "k=v" writes, so the schedule of a seed stays what it was.
  Rng workload_rng_;
  std::uint64_t now_ = 0;  // Substeps.
  std::uint64_t seq_ = 0;
  std::map<NodeId, Node> nodes_;
  NodeId next_id_ = 0;
  std::map<std::pair<std::uint64_t, std::uint64_t>, Message> net_;
  std::set<std::pair<NodeId, NodeId>> cut_;
  std::map<std::pair<NodeId, NodeId>, std::uint64_t> link_last_;  // ordered_links
  bool faults_ = true;
  std::uint64_t writes_ = 0;
  std::uint64_t reads_ = 0;
  std::map<std::string, ClientRead> pending_reads_;
  // Global history for the invariants.
  std::map<Term, NodeId> leaders_;                   // Election safety.
  std::map<std::pair<NodeId, Term>, NodeId> votes_;  // (voter, term) -> candidate.
  std::map<std::pair<Index, Term>, std::pair<std::string, Term>> seen_;  // Log matching.
  std::vector<Entry> applied_log_;                                       // Index i at [i-1].
  std::map<std::string, std::vector<std::pair<Index, std::string>>> history_;
  std::map<std::string, ModelKey> last_seen_;           // Each key as history_ last noted it.
  std::map<std::uint64_t, std::string> commands_;       // Client write n -> its encoded command.
  std::vector<std::unique_ptr<ParsedCommand>> parsed_;  // Index i at [i - 1]; null: no command.
  StoreOracle oracle_;  // kv::Store and the reference model over the committed log.
  Result result_;
};

void Sim::fail(const std::string& what) { throw Failure{what}; }

std::vector<Node*> Sim::up_nodes() {
  std::vector<Node*> out;
  for (auto& [id, n] : nodes_) {
    if (n.up) out.push_back(&n);
  }
  return out;
}

Node* Sim::leader() {
  Node* best = nullptr;
  for (Node* n : up_nodes()) {
    if (n->raft->raft().state() != StateType::kLeader) continue;
    if (best == nullptr || n->raft->raft().term() > best->raft->raft().term()) best = n;
  }
  return best;
}

void Sim::start_node(Node& n) {
  raft::Config c;
  c.id = n.id;
  c.election_ticks = kElectionTicks;
  c.heartbeat_ticks = kHeartbeatTicks;
  // The first member leads first (DKV_CLUSTER order); only at bootstrap.
  c.initial_election_ticks = now_ == 0 ? (n.id == 1 ? kElectionTicks : 3 * kElectionTicks) : 0;
  c.max_msg_bytes = o_.max_msg_bytes;
  c.max_inflight_msgs = o_.max_inflight;
  c.max_inflight_bytes = o_.max_inflight_bytes;
  c.max_uncommitted_bytes = o_.max_uncommitted_bytes;
  c.pre_vote = o_.pre_vote;
  c.check_quorum = o_.check_quorum;
  c.max_read_rounds_in_flight = o_.max_read_rounds_in_flight;
  c.read_rounds_to_quorum = o_.read_rounds_to_quorum;
  c.count_read_requester = o_.count_read_requester;
  c.leader_persists_async = o_.leader_persists_async;
  c.canaries = o_.canaries;
  c.rejoining = n.rejoining;
  std::uint64_t* state = &n.rng_state;
  c.rng = [state]() {
    std::uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  // Restore the state machine from the durable snapshot.
  const raft::Snapshot snap = n.disk->snapshot();
  n.model =
      snap.empty() ? EtcdModel(o_.model_canary) : EtcdModel::decode(snap.data, o_.model_canary);
  n.applied = snap.metadata.index;
  n.conf = snap.empty() ? n.initial_conf : snap.metadata.conf_state;
  n.disk->set_conf_state(n.conf);
  c.applied = n.applied;
  n.raft = std::make_unique<raft::RawNode>(c, *n.disk);
  n.fsyncing.reset();
  n.async_writes.clear();
  n.read_points.clear();
  n.last_commit = n.raft->raft().log().committed();
  n.last_term = n.raft->raft().term();
  n.last_vote = n.raft->raft().vote();
  n.last_applied = n.applied;
  n.last_state = StateType::kFollower;
  n.up = true;
  trace("start " + std::to_string(n.id) + (n.rejoining ? " (rejoining)" : ""));
}

// The node's disk is lost. It restarts empty under the same id, as the node
// does with a wiped DKV_DB_PATH: it asks the members, and if the cluster has
// committed something and lists it, it starts from that configuration,
// rejoining. Returns false (no wipe) otherwise.
bool Sim::wipe(Node& n) {
  const Node* l = leader();
  if (l == nullptr || l->raft->raft().log().committed() == 0) return false;
  // Nor during a membership change (the README asks for none meanwhile): the
  // last one must be applied by the leader and durably known committed by
  // every other member (a restart must not bring back the configuration
  // before it, in which a removed node, gone for good, still votes).
  const Index conf_index = l->raft->raft().pending_conf_index();
  if (conf_index > l->raft->raft().log().applied()) return false;
  for (auto& [id, x] : nodes_) {
    if (id == n.id || x.removed) continue;
    const Index durable = std::max(x.disk->hard_state().commit, x.disk->snapshot().metadata.index);
    if (durable < conf_index) return false;
  }
  const ConfState cs = l->raft->raft().tracker().conf_state();
  const bool listed = std::count(cs.voters.begin(), cs.voters.end(), n.id) > 0 ||
                      std::count(cs.learners.begin(), cs.learners.end(), n.id) > 0;
  if (!listed) return false;
  // The README's precondition: the others have a leader and a majority of
  // the voters are up with their logs (a node that lost its log neither
  // votes nor counts until it caught up).
  std::size_t intact = 0;
  for (NodeId v : cs.voters) {
    const Node& x = nodes_[v];
    intact += v != n.id && x.up && !x.rejoining ? 1 : 0;
  }
  if (intact <= cs.voters.size() / 2) return false;
  n.lost_disks.push_back(std::move(n.disk));
  n.disk = std::make_unique<raft::MemoryStorage>();
  n.initial_conf = cs;
  n.rejoining = true;
  ++result_.wipes;
  trace("wipe " + std::to_string(n.id) + " (configuration from " + std::to_string(l->id) + ")");
  return true;
}

void Sim::crash(Node& n) {
  trace("crash " + std::to_string(n.id) + (n.fsyncing ? " (losing an unfinished fsync)" : "") +
        (n.async_writes.empty() ? "" : " (losing unfinished asynchronous writes)"));
  n.up = false;
  n.raft.reset();
  n.fsyncing.reset();
  n.async_writes.clear();
  n.unsynced_hard_state.reset();
  n.model = EtcdModel(o_.model_canary);
  n.read_points.clear();
  ++result_.crashes;
}

// ---- Network -------------------------------------------------------------

void Sim::send(const Message& m) {
  if (m.type == MessageType::kVoteResp && !m.reject) {
    // Figure 2: at most one vote per voter per term, even across crashes.
    auto [it, inserted] = votes_.emplace(std::make_pair(m.from, m.term), m.to);
    if (!inserted && it->second != m.to) {
      fail("vote safety: node " + std::to_string(m.from) + " voted for " +
           std::to_string(it->second) + " and " + std::to_string(m.to) + " in term " +
           std::to_string(m.term));
    }
  }
  if (o_.trace) {
    trace("send " + std::to_string(m.from) + "->" + std::to_string(m.to) + " " +
          std::string(raft::message_type_name(m.type)) + " term=" + std::to_string(m.term) +
          " idx=" + std::to_string(m.index) + " ents=" + std::to_string(m.entries.size()) +
          " commit=" + std::to_string(m.commit) + (m.reject ? " reject" : ""));
  }
  const bool lost = blocked(m.from, m.to) || (faults_ && rng_.percent(o_.drop_pct));
  if (lost) {
    if (m.type == MessageType::kSnap) {
      auto it = nodes_.find(m.from);
      if (it != nodes_.end() && it->second.up) it->second.raft->report_snapshot(m.to, false);
    }
    return;
  }
  const int copies = faults_ && rng_.percent(o_.dup_pct) ? 2 : 1;
  for (int i = 0; i < copies; ++i) {
    const std::uint64_t at =
        now_ + 1 + rng_.below(static_cast<std::uint64_t>(o_.max_delay_substeps));
    net_.emplace(std::make_pair(at, seq_++), m);
  }
}

void Sim::deliver_due() {
  while (!net_.empty() && net_.begin()->first.first <= now_) {
    Message m = std::move(net_.begin()->second);
    net_.erase(net_.begin());
    auto it = nodes_.find(m.to);
    const bool ok = it != nodes_.end() && it->second.up && !blocked(m.from, m.to);
    if (m.type == MessageType::kSnap) {
      auto from = nodes_.find(m.from);
      if (from != nodes_.end() && from->second.up) from->second.raft->report_snapshot(m.to, ok);
      if (ok) ++result_.snapshots_sent;
    }
    if (!ok) continue;
    (void)it->second.raft->step(m);
  }
}

// ---- Nodes -----------------------------------------------------------------

void Sim::process(Node& n) {
  if (!n.up) return;
  if (n.fsyncing) {
    if (now_ < n.fsync_done_at) return;
    Ready rd = std::move(*n.fsyncing);
    n.fsyncing.reset();
    persist_and_apply(n, rd);
    if (!n.up) return;
  }
  finish_async_writes(n, now_);
  if (!n.raft->has_ready()) return;
  Ready rd = n.raft->ready();
  if (rd.soft_state)
    trace("node " + std::to_string(n.id) + " is " +
          std::string(raft::state_name(rd.soft_state->state)) +
          " lead=" + std::to_string(rd.soft_state->lead));
  // Thesis 10.2.1: these may leave before (in parallel with) the fsync.
  for (const Message& m : rd.messages) send(m);
  if (rd.persist_async) {
    queue_async_write(n, rd);
    return;
  }
  // The disk sees every write in Ready order: the queued ones first.
  finish_async_writes(n, std::numeric_limits<std::uint64_t>::max());
  if (!rd.must_sync) {
    persist_and_apply(n, rd);
    return;
  }
  n.fsyncing = std::move(rd);
  n.fsync_done_at = now_ + rng_.below(static_cast<std::uint64_t>(o_.max_fsync_substeps) + 1);
  if (n.fsync_done_at == now_) {
    Ready done = std::move(*n.fsyncing);
    n.fsyncing.reset();
    persist_and_apply(n, done);
  }
}

// A persist_async Ready: its writes join the queue, the rest happens now.
void Sim::queue_async_write(Node& n, Ready& rd) {
  if (!rd.entries.empty() || rd.hard_state) {
    check_entries(n, rd.entries);
    const std::uint64_t after = n.async_writes.empty() ? now_ : n.async_writes.back().done_at;
    const std::uint64_t took = rng_.below(static_cast<std::uint64_t>(o_.max_fsync_substeps) + 1);
    n.async_writes.push_back({.entries = std::move(rd.entries),
                              .hard_state = rd.hard_state,
                              .must_sync = rd.must_sync,
                              .done_at = std::max(after, now_ + took)});
  }
  apply_and_advance(n, rd);
}

// The queued writes done by `until` reach the disk and are reported.
void Sim::finish_async_writes(Node& n, std::uint64_t until) {
  while (!n.async_writes.empty() && n.async_writes.front().done_at <= until) {
    Node::AsyncWrite w = std::move(n.async_writes.front());
    n.async_writes.pop_front();
    if (!n.disk->append(w.entries).is_ok()) fail("could not persist entries");
    if (w.hard_state) n.unsynced_hard_state = *w.hard_state;
    if (w.must_sync && n.unsynced_hard_state) {
      n.disk->set_hard_state(*n.unsynced_hard_state);
      n.unsynced_hard_state.reset();
    }
    if (!w.entries.empty()) n.raft->report_persisted(w.entries.back().index, w.entries.back().term);
  }
}

void Sim::persist_and_apply(Node& n, Ready& rd) {
  // The node persists that it caught up (a crash before this keeps it
  // rejoining: the safe side).
  if (n.rejoining && !n.raft->raft().rejoining()) {
    n.rejoining = false;
    n.lost_disks.clear();
  }
  if (!rd.snapshot.empty()) {
    if (!n.disk->apply_snapshot(rd.snapshot).is_ok()) fail("could not persist a snapshot");
    n.model = EtcdModel::decode(rd.snapshot.data, o_.model_canary);
    n.applied = rd.snapshot.metadata.index;
    n.conf = rd.snapshot.metadata.conf_state;
    trace("node " + std::to_string(n.id) + " installed snapshot at " + std::to_string(n.applied));
  }
  check_entries(n, rd.entries);
  if (!n.disk->append(rd.entries).is_ok()) fail("could not persist entries");
  if (rd.hard_state) n.unsynced_hard_state = *rd.hard_state;
  if (rd.must_sync && n.unsynced_hard_state) {
    n.disk->set_hard_state(*n.unsynced_hard_state);
    n.unsynced_hard_state.reset();
  }
  for (const Message& m : rd.messages_after_persist) send(m);
  apply_and_advance(n, rd);
}

void Sim::apply_and_advance(Node& n, Ready& rd) {
  for (const Entry& e : rd.committed_entries) {
    apply(n, e);
    if (!n.up) return;  // Applied its own removal: stopped.
  }
  for (const raft::ReadState& rs : rd.read_states) n.read_points[rs.context] = rs.index;
  n.raft->advance();
  serve_reads(n);
}

void Sim::apply(Node& n, const Entry& e) {
  if (e.index != n.applied + 1) {
    fail("entries applied out of order: node " + std::to_string(n.id) + " applied " +
         std::to_string(n.applied) + ", next " + std::to_string(e.index));
  }
  // State machine safety: every node applies the same entry at an index.
  if (e.index <= applied_log_.size()) {
    const Entry& first = applied_log_[e.index - 1];
    if (first.term != e.term || first.data != e.data) {
      fail("state machine safety: node " + std::to_string(n.id) + " applied a different entry at " +
           std::to_string(e.index));
    }
  } else {
    if (e.index != applied_log_.size() + 1) fail("global applied log has a gap");
    applied_log_.push_back(e);
    ++result_.committed;
    first_apply(e);
  }
  n.applied = e.index;
  if (e.type == EntryType::kConfChange) {
    const auto cc = ConfChange::decode(e.data);
    if (!cc) fail("bad conf change encoding");
    n.conf = n.raft->apply_conf_change(*cc);
    if (e.index == applied_log_.size()) ++result_.conf_changes;
    trace("node " + std::to_string(n.id) + " applied conf change at " + std::to_string(e.index));
    if (cc->type == ConfChangeType::kRemoveNode && cc->node_id == n.id) {
      // Removed: it shuts down at the next tick, after sending what it
      // has left (a removed leader's TimeoutNow hand-off).
      n.removed = true;
    }
    return;
  }
  if (e.data.empty()) return;  // A leader's no-op.
  // The entry is the one first applied at this index (checked above): its
  // command was parsed then.
  (void)n.model.apply(*parsed_.at(e.index - 1), /*responses=*/false);
  // State determinism: every node reaches the same keys (create and mod
  // revision, version, value) and revision at an index, whether it applied
  // every entry or installed a snapshot on the way.
  if (n.model.hash() != oracle_.hash_at(e.index)) {
    const bool latest = e.index == oracle_.applied();
    fail("models differ: node " + std::to_string(n.id) + " after index " + std::to_string(e.index) +
         " has\n" + n.model.digest() +
         (latest ? "the reference has\n" + oracle_.model().digest() : "(the reference moved on)"));
  }
}

// The first application of a committed entry anywhere: kv::Store and the
// reference model apply it and must agree; reads' history notes what each
// key looks like after it.
void Sim::first_apply(const Entry& e) {
  const bool data = e.type != EntryType::kConfChange && !e.data.empty();
  kv::Command command;
  if (data && e.data.rfind("liveness=", 0) == 0) {
    command = {kv::Op::kPut, "liveness", e.data.substr(9)};
  } else if (data) {
    const auto it = commands_.find(write_number(e.data));
    if (it == commands_.end()) fail("an entry with no command: " + e.data);
    if (!kv::decode_command(it->second, &command).is_ok()) fail("a command that does not decode");
    command.term = e.term;  // As node::Applier sets it (lease revokes compare it).
  }
  parsed_.push_back(data ? std::make_unique<ParsedCommand>(parse_command(command)) : nullptr);
  const std::string why = oracle_.apply(e.index, parsed_.back().get());
  if (!why.empty()) fail(why);
  if (!data) return;
  const auto& keys = oracle_.model().keys();
  for (const char* key : kKeys) {
    const auto it = keys.find(key);
    const ModelKey now = it == keys.end() ? ModelKey{} : it->second;
    ModelKey& last = last_seen_[key];
    if (now == last) continue;
    last = now;
    history_[key].push_back({e.index, oracle_.model().describe_key(key)});
  }
}

// A read is served once the node applied its read index; linearizable if
// the read index covers every write applied anywhere before the read began.
void Sim::serve_reads(Node& n) {
  for (auto it = n.read_points.begin(); it != n.read_points.end();) {
    const auto& [ctx, index] = *it;
    if (n.applied < index) {
      ++it;
      continue;
    }
    auto pr = pending_reads_.find(ctx);
    if (pr != pending_reads_.end()) {
      const ClientRead& r = pr->second;
      if (index < r.min_index) {
        fail("linearizability: read " + ctx + " at node " + std::to_string(n.id) +
             " got read index " + std::to_string(index) + " < " + std::to_string(r.min_index) +
             " already applied when it began");
      }
      // The value must be the one at the node's applied index.
      std::string want;
      for (const auto& [i, v] : history_[r.key]) {
        if (i <= n.applied) want = v;
      }
      // Value, create and mod revision and version alike.
      const std::string have = n.model.describe_key(r.key);
      if (have != want) {
        fail("read " + ctx + " of " + r.key + " returned '" + have + "', not '" + want +
             "' as of index " + std::to_string(n.applied));
      }
      ++result_.reads_checked;
      pending_reads_.erase(pr);
    }
    it = n.read_points.erase(it);
  }
}

// ---- Invariants -------------------------------------------------------------------

void Sim::check_entries(Node& n, const std::vector<Entry>& ents) {
  constexpr Term kUnknown = ~Term{0};
  Term prev = 0;
  if (!ents.empty() && ents.front().index > 1 &&
      !n.disk->term(ents.front().index - 1, &prev).is_ok()) {
    prev = kUnknown;  // What the new entries follow is not on disk.
  }
  for (const Entry& e : ents) {
    // Log matching (§5.3): an (index, term) pair names one entry, and the
    // same predecessor term, on every node.
    auto [it, inserted] =
        seen_.emplace(std::make_pair(e.index, e.term), std::make_pair(e.data, prev));
    if (inserted && prev == kUnknown) it->second.second = kUnknown;
    const bool prev_differs =
        prev != kUnknown && it->second.second != kUnknown && it->second.second != prev;
    if (!inserted && it->second.second == kUnknown) it->second.second = prev;
    if (!inserted && (it->second.first != e.data || prev_differs)) {
      fail("log matching: node " + std::to_string(n.id) + " differs at index " +
           std::to_string(e.index) + " term " + std::to_string(e.term));
    }
    prev = e.term;
    // No committed entry is ever replaced on disk. (A deposed leader may
    // still write its own, uncommitted entry at an index committed
    // elsewhere; what must never happen is losing the committed one.)
    Term old = 0;
    if (e.index <= applied_log_.size() && e.index <= n.disk->last_index() &&
        n.disk->term(e.index, &old).is_ok() && old == applied_log_[e.index - 1].term &&
        e.term != old) {
      fail("durability: node " + std::to_string(n.id) + " overwrote committed entry " +
           std::to_string(e.index) + " on disk");
    }
  }
}

// Every entry a leader commits is on the disks of a majority of its voters.
// A node that lost its disk counts with the disk it lost until it caught up:
// the leader may count its earlier acks until it hears of the loss (safety
// then rests on the rejoining node not voting, checked by the other
// invariants).
void Sim::check_commit_durable(Node& n) {
  const raft::Raft& r = n.raft->raft();
  const Index c = r.log().committed();
  if (r.state() != StateType::kLeader || c <= n.last_commit) return;
  const auto t = r.log().term(c);
  const auto& voters = r.tracker().conf_state().voters;
  std::size_t copies = 0;
  for (NodeId v : voters) {
    auto it = nodes_.find(v);
    if (it == nodes_.end()) continue;
    auto holds = [&](const raft::MemoryStorage& d) {
      Term dt = 0;
      if (d.snapshot().metadata.index >= c) return true;
      return d.term(c, &dt).is_ok() && t && dt == *t;
    };
    const Node& v_node = it->second;
    bool held = holds(*v_node.disk);
    for (const auto& lost : v_node.lost_disks) held = held || holds(*lost);
    if (held) ++copies;
  }
  // The commit may have happened under the configuration in force before
  // this step (a conf change applied in the same step changes the count).
  const std::size_t need =
      std::min(voters.size(), n.last_voters == 0 ? voters.size() : n.last_voters) / 2;
  if (copies <= need) {
    fail("commit durability: leader " + std::to_string(n.id) + " committed " + std::to_string(c) +
         " held on " + std::to_string(copies) + " of " + std::to_string(voters.size()) + " disks");
  }
}

// Deltas while a node is up (LogCabin's RaftConsensusInvariants): the term
// never decreases, the vote changes within a term only from none, and
// commit and applied never move back.
void Sim::check_deltas(Node& n) {
  const raft::Raft& r = n.raft->raft();
  if (r.term() < n.last_term) fail("node " + std::to_string(n.id) + ": term went back");
  if (r.term() == n.last_term && n.last_vote != raft::kNoNode && r.vote() != n.last_vote) {
    fail("node " + std::to_string(n.id) + ": vote changed within term " + std::to_string(r.term()));
  }
  if (r.log().committed() < n.last_commit)
    fail("node " + std::to_string(n.id) + ": commit went back");
  if (n.applied < n.last_applied) fail("node " + std::to_string(n.id) + ": applied went back");
  if (r.log().applied() > r.log().committed())
    fail("node " + std::to_string(n.id) + ": applied > commit");
  n.last_term = r.term();
  n.last_vote = r.vote();
  n.last_applied = n.applied;
}

void Sim::check(Node& n) {
  if (!n.up) return;
  const raft::Raft& r = n.raft->raft();
  check_deltas(n);
  check_commit_durable(n);
  n.last_commit = r.log().committed();
  n.last_voters = r.tracker().conf_state().voters.size();
  if (r.state() == StateType::kLeader && n.last_state != StateType::kLeader) {
    ++result_.elections;
    // Election safety: one leader per term.
    auto [it, inserted] = leaders_.emplace(r.term(), n.id);
    if (!inserted && it->second != n.id) {
      fail("election safety: " + std::to_string(it->second) + " and " + std::to_string(n.id) +
           " both led term " + std::to_string(r.term()));
    }
    // Leader completeness: the new leader holds every applied entry.
    const Index top = applied_log_.size();
    if (top >= r.log().first_index() && r.log().term_or_zero(top) != applied_log_[top - 1].term) {
      fail("leader completeness: leader " + std::to_string(n.id) + " of term " +
           std::to_string(r.term()) + " lacks committed entry " + std::to_string(top));
    }
    if (top > r.log().last_index()) {
      fail("leader completeness: leader " + std::to_string(n.id) + " log ends before " +
           std::to_string(top));
    }
    trace("leader " + std::to_string(n.id) + " term " + std::to_string(r.term()));
  }
  n.last_state = r.state();
}

// ---- Faults and clients ---------------------------------------------------------------

void Sim::partition() {
  std::vector<NodeId> ids;
  for (auto& [id, n] : nodes_) {
    if (!n.removed) ids.push_back(id);
  }
  if (ids.size() < 2) return;
  cut_.clear();
  const auto kind = rng_.below(3);
  if (kind == 0) {
    // Symmetric split into two random sides.
    std::set<NodeId> side;
    for (NodeId id : ids) {
      if (rng_.percent(50)) side.insert(id);
    }
    for (NodeId a : ids) {
      for (NodeId b : ids) {
        if (side.count(a) != side.count(b)) cut_.insert({a, b});
      }
    }
    trace("partition: symmetric");
  } else if (kind == 1) {
    // Asymmetric: some links drop one direction only.
    for (NodeId a : ids) {
      for (NodeId b : ids) {
        if (a != b && rng_.percent(30)) cut_.insert({a, b});
      }
    }
    trace("partition: asymmetric");
  } else {
    // Leader isolation (both directions, or only its outgoing links).
    Node* l = leader();
    if (l == nullptr) return;
    const bool one_way = rng_.percent(30);
    for (NodeId b : ids) {
      if (b == l->id) continue;
      cut_.insert({l->id, b});
      if (!one_way) cut_.insert({b, l->id});
    }
    trace("partition: isolate leader " + std::to_string(l->id));
  }
}

void Sim::snapshot(Node& n) {
  const Index snap_index = n.disk->snapshot().metadata.index;
  if (n.applied <= snap_index + 5) return;
  if (n.applied > n.disk->last_index()) return;
  if (!n.disk->create_snapshot(n.applied, n.conf, n.model.encode()).is_ok()) {
    fail("snapshot failed");
  }
  const Index keep = rng_.below(4);
  if (n.applied > keep + n.disk->first_index()) (void)n.disk->compact(n.applied - keep);
  trace("node " + std::to_string(n.id) + " snapshot+compact at " + std::to_string(n.applied));
}

void Sim::membership() {
  Node* l = leader();
  if (l == nullptr) return;
  // As the README asks: no membership change while a member rejoins.
  for (auto& [id, n] : nodes_) {
    if (n.rejoining) return;
  }
  const ConfState cs = l->raft->raft().tracker().conf_state();
  ConfChange cc;
  if (!cs.learners.empty()) {
    cc = {ConfChangeType::kAddNode, cs.learners[rng_.below(cs.learners.size())], ""};
  } else if (static_cast<int>(cs.voters.size()) > o_.nodes) {
    cc = {ConfChangeType::kRemoveNode, cs.voters[rng_.below(cs.voters.size())], ""};
  } else {
    if (next_id_ > static_cast<NodeId>(o_.nodes) + 6) return;  // Bounded growth.
    cc = {ConfChangeType::kAddLearner, ++next_id_, ""};
  }
  const auto st = l->raft->propose_conf_change(cc);
  trace("propose conf change type=" + std::to_string(static_cast<int>(cc.type)) +
        " node=" + std::to_string(cc.node_id) + (st.is_ok() ? "" : " refused"));
  if (!st.is_ok() || cc.type != ConfChangeType::kAddLearner) return;
  // The new member starts empty, with the configuration it joins.
  Node& n = nodes_[cc.node_id];
  n.id = cc.node_id;
  n.initial_conf = cs;
  n.disk = std::make_unique<raft::MemoryStorage>();
  n.rng_state = o_.seed * 31 + n.id;
  start_node(n);
}

void Sim::step_faults() {
  for (auto& [id, n] : nodes_) {
    if (n.removed) {
      if (n.up) crash(n);
      continue;
    }
    if (n.up) {
      int p = o_.crash_permille;
      if (n.raft->raft().state() == StateType::kLeader) p += o_.leader_crash_bias;
      if (rng_.permille(p)) crash(n);
    } else if (rng_.permille(o_.restart_permille)) {
      if (rng_.percent(o_.wipe_pct)) (void)wipe(n);
      start_node(n);
    }
  }
  if (!cut_.empty() && rng_.permille(o_.heal_permille)) {
    cut_.clear();
    trace("heal");
  }
  if (rng_.permille(o_.partition_permille)) partition();
  if (o_.membership_permille > 0 && rng_.permille(o_.membership_permille)) membership();
  if (rng_.permille(o_.transfer_permille)) {
    if (Node* l = leader()) {
      const auto voters = l->raft->raft().tracker().conf_state().voters;
      const NodeId to = voters[rng_.below(voters.size())];
      l->raft->transfer_leader(to);
      trace("transfer leadership " + std::to_string(l->id) + " -> " + std::to_string(to));
    }
  }
  if (rng_.permille(o_.snapshot_permille)) {
    auto ups = up_nodes();
    if (!ups.empty()) snapshot(*ups[rng_.below(ups.size())]);
  }
}

void Sim::step_clients() {
  auto ups = up_nodes();
  if (ups.empty()) return;
  if (rng_.permille(o_.write_permille)) {
    Node& n = *ups[rng_.below(ups.size())];
    const std::string data = "k" + std::to_string(rng_.below(4)) + "=v" + std::to_string(++writes_);
    commands_[writes_] = client_write(n);
    const auto st = n.raft->propose(data);
    trace("write " + data + " at " + std::to_string(n.id) + (st.is_ok() ? "" : " refused"));
  }
  if (rng_.permille(o_.read_permille)) {
    Node* n = ups[rng_.below(ups.size())];
    if (rng_.percent(o_.leader_read_bias)) {
      for (Node* u : ups) {
        if (u->raft->raft().state() == StateType::kLeader) n = u;
      }
    }
    const std::string ctx = "r" + std::to_string(++reads_);
    pending_reads_[ctx] = ClientRead{kKeys[rng_.below(kKeyCount)], applied_log_.size()};
    n->raft->read_index(ctx);
    trace("read " + ctx + " at " + std::to_string(n->id));
  }
}

// A client's write, as the node would propose it: /v0 put and delete, or an
// etcd Put, DeleteRange of a prefix, or Txn. The txns compare against what
// the client last read from node `n` (maybe stale, so both branches run):
// CAS "If(mod_revision(k) == r) Then(Put) Else(Range)", and a compare of
// value or version guarding a prefix delete and a put, else a prefix range.
std::string Sim::client_write(const Node& n) {
  const std::string key = kKeys[workload_rng_.below(kKeyCount)];
  const std::string value = "v" + std::to_string(writes_);
  const std::string prefix = workload_rng_.percent(50) ? "p/" : "k";
  const std::string prefix_end = prefix == "p/" ? "p0" : "l";
  const auto seen = n.model.keys().find(key);
  const ModelKey read = seen == n.model.keys().end() ? ModelKey{} : seen->second;
  if (!workload_rng_.percent(o_.etcd_write_pct)) {
    if (workload_rng_.percent(75)) return kv::encode_command({kv::Op::kPut, key, value});
    return kv::encode_command({kv::Op::kDelete, key, ""});
  }
  if (workload_rng_.percent(o_.etcd_write_pct / 4 + 1)) return lease_write(n, key, value);
  const auto kind = workload_rng_.below(100);
  if (kind < 25) {
    etcdserverpb::PutRequest p;
    p.set_key(key);
    p.set_value(value);
    p.set_prev_kv(workload_rng_.percent(50));
    return kv::encode_command(kv::etcd_command(p));
  }
  if (kind < 40) {
    etcdserverpb::DeleteRangeRequest d;
    d.set_key(prefix);
    d.set_range_end(prefix_end);
    d.set_prev_kv(workload_rng_.percent(50));
    return kv::encode_command(kv::etcd_command(d));
  }
  etcdserverpb::TxnRequest t;
  etcdserverpb::Compare* c = t.add_compare();
  c->set_key(key);
  if (kind < 80) {
    c->set_target(etcdserverpb::Compare::MOD);
    c->set_mod_revision(read.mod_revision);
    auto* put = t.add_success()->mutable_request_put();
    put->set_key(key);
    put->set_value(value);
    t.add_failure()->mutable_request_range()->set_key(key);
    return kv::encode_command(kv::etcd_command(t));
  }
  if (workload_rng_.percent(50)) {
    c->set_target(etcdserverpb::Compare::VALUE);
    c->set_value(read.value);
  } else {
    c->set_target(etcdserverpb::Compare::VERSION);
    c->set_result(etcdserverpb::Compare::GREATER);
    c->set_version(static_cast<std::int64_t>(workload_rng_.below(3)));
  }
  auto* del = t.add_success()->mutable_request_delete_range();
  del->set_key(prefix);
  del->set_range_end(prefix_end);
  // A key outside the deleted prefix (etcd refuses a branch that writes a key twice).
  auto* put = t.add_success()->mutable_request_put();
  put->set_key((prefix == "p/" ? "k" : "p/") + std::to_string(workload_rng_.below(4)));
  put->set_value(value);
  auto* range = t.add_failure()->mutable_request_range();
  range->set_key(prefix);
  range->set_range_end(prefix_end);
  range->set_limit(static_cast<std::int64_t>(workload_rng_.below(3)));
  return kv::encode_command(kv::etcd_command(t));
}

// Leases (kv/lease.h), ids 1-3: a grant (of an id that may exist: refused),
// a put attached to one (refused if it is gone), a client's revoke, and the
// lessor's expiry revoke as the node proposing it would tag it: with its
// own term, so that a revoke a deposed leader proposed and another node's
// leader committed in a later term is ignored by every replica.
std::string Sim::lease_write(const Node& n, const std::string& key, const std::string& value) {
  const auto id = static_cast<std::int64_t>(1 + workload_rng_.below(3));
  const auto kind = workload_rng_.below(100);
  if (kind < 25) {
    etcdserverpb::LeaseGrantRequest g;
    g.set_id(id);
    g.set_ttl(static_cast<std::int64_t>(2 + workload_rng_.below(10)));
    return kv::encode_command(kv::lease_grant_command(g));
  }
  if (kind < 60) {
    etcdserverpb::PutRequest p;
    p.set_key(key);
    p.set_value(value);
    p.set_lease(id);
    return kv::encode_command(kv::etcd_command(p));
  }
  if (kind < 70) {
    return kv::encode_command(kv::lease_checkpoint_command({{id, 1 + workload_rng_.below(5)}}));
  }
  if (kind < 80) return kv::encode_command(kv::lease_revoke_command(id, 0));
  const std::uint64_t term = n.raft->raft().term();
  // A deposed leader's revoke, carried on by the next leader, or this node's own.
  if (kind < 90 && term > 1) return kv::encode_command(kv::lease_revoke_command(id, term - 1));
  return kv::encode_command(kv::lease_revoke_command(id, term));
}

// After healing: a leader emerges, a new write commits on every live member,
// and then a linearizable read completes.
void Sim::run_liveness() {
  faults_ = false;
  cut_.clear();
  for (auto& [id, n] : nodes_) {
    if (!n.up && !n.removed) start_node(n);
  }
  std::string probe;
  std::string read_ctx;
  Index probe_index = 0;
  Index backlog = 0;
  for (auto& [id, n] : nodes_) {
    if (!n.removed)
      backlog =
          std::max(backlog, applied_log_.size() - std::min<Index>(n.applied, applied_log_.size()));
  }
  const int bound = kLivenessTicks + static_cast<int>(backlog);
  for (int tick = 0; tick < bound; ++tick) {
    for (int s = 0; s < o_.substeps_per_tick; ++s) {
      ++now_;
      deliver_due();
      for (auto& [id, n] : nodes_) process(n);
      for (auto& [id, n] : nodes_) check(n);
    }
    for (auto& [id, n] : nodes_) {
      if (n.up) n.raft->tick();
    }
    Node* l = leader();
    if (l == nullptr) continue;
    if (probe.empty() || tick % (2 * kElectionTicks) == 0) {
      probe = "liveness=" + std::to_string(tick);
      (void)l->raft->propose(probe);
    }
    // Done when some write of this phase is applied by every live member.
    for (Index i = probe_index + 1; i <= applied_log_.size(); ++i) {
      if (applied_log_[i - 1].data.rfind("liveness=", 0) == 0) probe_index = i;
    }
    if (probe_index == 0) continue;
    // Members only: a node removed while down never learns it (it stays a
    // harmless bystander, kept quiet by PreVote / the vote lease).
    const ConfState cs = l->raft->raft().tracker().conf_state();
    bool all = true;
    for (auto& [id, n] : nodes_) {
      const bool member = std::count(cs.voters.begin(), cs.voters.end(), id) > 0 ||
                          std::count(cs.learners.begin(), cs.learners.end(), id) > 0;
      if (member && n.up && n.applied < probe_index) all = false;
    }
    if (!all) continue;
    // Then a linearizable read at some member completes too.
    if (!read_ctx.empty() && pending_reads_.count(read_ctx) == 0) return;
    if (read_ctx.empty() || tick % (2 * kElectionTicks) == 0) {
      std::vector<Node*> members;
      for (auto& [id, n] : nodes_) {
        const bool member = std::count(cs.voters.begin(), cs.voters.end(), id) > 0;
        if (member && n.up) members.push_back(&n);
      }
      read_ctx = "liveness-read-" + std::to_string(tick);
      pending_reads_[read_ctx] = ClientRead{"k0", applied_log_.size()};
      members[rng_.below(members.size())]->raft->read_index(read_ctx);
    }
  }
  std::string detail;
  if (Node* l = leader()) {
    detail = " (leader " + std::to_string(l->id) + ":";
    for (auto& [id, pr] : l->raft->raft().tracker().progress()) {
      detail += " " + std::to_string(id) + "=" + std::string(raft::progress_state_name(pr.state)) +
                "/m" + std::to_string(pr.match) + "/n" + std::to_string(pr.next) +
                (pr.is_paused() ? "/paused" : "") + "/if" + std::to_string(pr.inflights.count()) +
                (pr.rejoin_target != 0 ? "/rejoin" + std::to_string(pr.rejoin_target) : "");
    }
    detail += " commit " + std::to_string(l->raft->raft().log().committed()) + ")";
  }
  std::string rejoining;
  for (auto& [id, n] : nodes_) {
    if (n.rejoining) rejoining += " " + std::to_string(id);
  }
  if (!rejoining.empty()) detail += " (rejoining:" + rejoining + ")";
  fail("liveness: no write committed on every live node, or no read completed, within " +
       std::to_string(bound) + " ticks after healing" + detail);
}

Result Sim::run() {
  for (int i = 1; i <= o_.nodes; ++i) {
    Node& n = nodes_[static_cast<NodeId>(i)];
    n.id = static_cast<NodeId>(i);
    for (int j = 1; j <= o_.nodes; ++j) n.initial_conf.voters.push_back(static_cast<NodeId>(j));
    n.disk = std::make_unique<raft::MemoryStorage>();
    n.rng_state = o_.seed * 31 + n.id;
  }
  next_id_ = static_cast<NodeId>(o_.nodes);
  for (auto& [id, n] : nodes_) start_node(n);
  try {
    for (int tick = 0; tick < o_.ticks; ++tick) {
      step_faults();
      step_clients();
      for (int s = 0; s < o_.substeps_per_tick; ++s) {
        ++now_;
        deliver_due();
        for (auto& [id, n] : nodes_) process(n);
        for (auto& [id, n] : nodes_) check(n);
      }
      for (auto& [id, n] : nodes_) {
        // Clocks drift: a node occasionally misses a tick.
        if (n.up && !rng_.percent(3)) n.raft->tick();
      }
    }
    run_liveness();
    const std::string why = oracle_.flush();
    if (!why.empty()) fail(why);
  } catch (const Failure& f) {
    result_.ok = false;
    result_.failure = f.what;
  }
  return result_;
}

}  // namespace

Options derive_options(std::uint64_t seed, const std::string& canary) {
  Rng r(seed);
  Options o;
  o.seed = seed;
  const int sizes[] = {1, 3, 3, 5, 5};
  o.nodes = sizes[r.below(5)];
  o.ticks = 500 + static_cast<int>(r.below(2000));
  o.max_delay_substeps = 2 + static_cast<int>(r.below(20));
  o.max_fsync_substeps = static_cast<int>(r.below(10));
  o.ordered_links = r.percent(50);
  o.max_msg_bytes = 64 + r.below(512);
  o.max_inflight = 1 + r.below(8);
  o.drop_pct = static_cast<int>(r.below(15));
  o.dup_pct = static_cast<int>(r.below(8));
  o.crash_permille = static_cast<int>(r.below(12));
  o.partition_permille = static_cast<int>(r.below(25));
  o.heal_permille = 20 + static_cast<int>(r.below(60));
  o.write_permille = 100 + static_cast<int>(r.below(600));
  o.read_permille = 50 + static_cast<int>(r.below(400));
  o.snapshot_permille = static_cast<int>(r.below(40));
  o.membership_permille = o.nodes >= 3 && r.percent(40) ? 10 + static_cast<int>(r.below(40)) : 0;
  o.max_inflight_bytes = r.percent(30) ? 64 + r.below(2048) : 0;
  o.max_uncommitted_bytes = r.percent(30) ? 32 + r.below(1024) : 0;
  o.transfer_permille = r.percent(50) ? static_cast<int>(r.below(30)) : 0;
  o.pre_vote = r.percent(80);
  o.check_quorum = o.pre_vote ? r.percent(80) : true;
  o.wipe_pct = o.nodes >= 3 && r.percent(40) ? 10 + static_cast<int>(r.below(50)) : 0;
  // From its own stream: the draws above and the canaries' below are unchanged.
  o.etcd_write_pct = 10 + static_cast<int>(Rng(seed ^ 0xe7cdULL).below(50));
  o.max_read_rounds_in_flight = Rng(seed ^ 0x4eadULL).percent(50) ? 1 : 0;
  o.read_rounds_to_quorum = Rng(seed ^ 0x9e0dULL).percent(75);
  o.count_read_requester = Rng(seed ^ 0xc0aeULL).percent(75);
  o.leader_persists_async = Rng(seed ^ 0xa51cULL).percent(50);
  if (canary == "commit_old_term") {
    o.canaries.commit_old_term_by_counting = true;
    o.nodes = 5;
    o.max_msg_bytes = 1;  // One entry per append: acks can stop short of the no-op.
    o.max_inflight = 1;
    o.crash_permille = 30;
    o.leader_crash_bias = 150;
    o.restart_permille = 300;
    o.partition_permille = 30;
    o.drop_pct = 20;
    o.write_permille = 900;
    o.ticks = 1000;
  } else if (canary == "forget_vote") {
    o.canaries.forget_vote = true;
    o.nodes = 3 + 2 * static_cast<int>(r.below(2));
    o.crash_permille = 40;
    o.restart_permille = 1000;
    o.max_delay_substeps = 20;
    o.pre_vote = false;
    o.check_quorum = false;
    o.max_fsync_substeps = 0;
  } else if (canary == "read_without_heartbeat") {
    o.canaries.read_index_without_heartbeat = true;
    o.nodes = 3 + 2 * static_cast<int>(r.below(2));
    o.partition_permille = 60;
    o.leader_read_bias = 80;
    o.read_permille = 600;
    o.write_permille = 600;
  } else if (canary == "read_requester_is_quorum") {
    o.canaries.read_requester_is_quorum = true;
    o.count_read_requester = true;
    o.nodes = 5;
    o.partition_permille = 60;
    o.leader_read_bias = 0;  // Reads at followers, forwarded.
    o.read_permille = 600;
    o.write_permille = 600;
    o.max_delay_substeps = 20;  // Requests that arrive after a new term began.
  } else if (canary == "count_leader_before_persist") {
    o.canaries.count_leader_before_persist = true;
    o.nodes = 3 + 2 * static_cast<int>(r.below(2));
    o.max_fsync_substeps = 10 + static_cast<int>(r.below(10));  // Slow leader disks.
    o.leader_crash_bias = 80;
    o.restart_permille = 300;
    o.write_permille = 800;
  } else if (canary == "vote_while_rejoining") {
    o.canaries.vote_while_rejoining = true;
    o.nodes = 3 + 2 * static_cast<int>(r.below(2));
    o.wipe_pct = 100;
    o.crash_permille = 30;
    o.restart_permille = 500;
    o.pre_vote = false;
    o.check_quorum = false;
  } else if (canary == "delete_nothing_bumps_revision") {
    o.model_canary = ModelCanary::kDeleteNothingBumpsRevision;
    o.write_permille = 800;
    o.etcd_write_pct = 80;
  } else if (canary == "skip_conf_change_fix") {
    o.canaries.skip_conf_change_fix = true;
    o.nodes = 3 + 2 * static_cast<int>(r.below(2));
    o.membership_permille = 200;
    o.leader_crash_bias = 40;
    o.restart_permille = 200;
    o.partition_permille = 40;
  }
  return o;
}

void print_options(std::ostream& out, const Options& o) {
  out << "seed=" << o.seed << " nodes=" << o.nodes << " ticks=" << o.ticks
      << " delay<=" << o.max_delay_substeps << (o.ordered_links ? " fifo" : " reorder")
      << " fsync<=" << o.max_fsync_substeps << " msg_bytes<=" << o.max_msg_bytes
      << " inflight<=" << o.max_inflight << "/" << o.max_inflight_bytes << "B"
      << " uncommitted<=" << o.max_uncommitted_bytes << "B"
      << " drop=" << o.drop_pct << "% dup=" << o.dup_pct << "% crash=" << o.crash_permille
      << "‰ partition=" << o.partition_permille << "‰ heal=" << o.heal_permille
      << "‰ writes=" << o.write_permille << "‰ reads=" << o.read_permille
      << "‰ snapshots=" << o.snapshot_permille << "‰ membership=" << o.membership_permille
      << "‰ transfers=" << o.transfer_permille << "‰ wipes=" << o.wipe_pct
      << "% etcd_writes=" << o.etcd_write_pct << "% pre_vote=" << o.pre_vote
      << " check_quorum=" << o.check_quorum << " read_rounds<=" << o.max_read_rounds_in_flight
      << " read_rounds_to_quorum=" << o.read_rounds_to_quorum
      << " count_read_requester=" << o.count_read_requester
      << " leader_persists_async=" << o.leader_persists_async;
  const auto& c = o.canaries;
  if (c.commit_old_term_by_counting) out << " canary=commit_old_term";
  if (c.forget_vote) out << " canary=forget_vote";
  if (c.read_index_without_heartbeat) out << " canary=read_without_heartbeat";
  if (c.read_requester_is_quorum) out << " canary=read_requester_is_quorum";
  if (c.skip_conf_change_fix) out << " canary=skip_conf_change_fix";
  if (c.count_leader_before_persist) out << " canary=count_leader_before_persist";
  if (c.vote_while_rejoining) out << " canary=vote_while_rejoining";
  if (o.model_canary == ModelCanary::kDeleteNothingBumpsRevision) {
    out << " canary=delete_nothing_bumps_revision";
  }
}

Result run(const Options& options) { return Sim(options).run(); }

}  // namespace dkv::sim
