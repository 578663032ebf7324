// RawNode: the public face of the raft core, in the spirit of etcd-io/raft's
// RawNode. The caller drives it: tick() on a timer, step(msg) for every
// message from a peer, propose()/read_index()/... for local requests; then,
// whenever has_ready(), takes a Ready, does the I/O it asks for, and calls
// advance() (once per Ready, after that I/O).
//
// Persistence contract (thesis §10.2.1, asynchronous local persistence):
//   1. Ready::messages may be sent AT ONCE, in parallel with the fsync of
//      Ready::hard_state/entries/snapshot: they are the leader's appends and
//      heartbeats, pre-votes and forwarded requests, none of which promises
//      anything about this node's durable state. (A Ready that changes the
//      term or vote puts every message in messages_after_persist.)
//   2. Persist hard_state, entries (replacing any stored suffix from
//      entries.front().index on) and snapshot, atomically, in one fsync.
//   3. Then send Ready::messages_after_persist (votes, append and heartbeat
//      acks: promises about durable state).
//   4. Apply committed_entries in order (after step 2: they may include
//      entries of this very Ready). Configuration changes among them are
//      applied with apply_conf_change().
//   5. advance(): reports "persisted up to the last entry of this Ready" to
//      the core and marks committed_entries applied. Only now does a leader
//      count itself toward the quorum for those entries.
//
// Asynchronous persistence (Config::leader_persists_async; a leader's
// Readies, Ready::persist_async): steps 2 and 3 leave the loop. The node
// queues the Ready's hard_state and entries for a writer that persists
// batches in order, applies committed_entries at once (they are all durable
// here already) and calls advance(), which then reports no persistence; the
// loop goes on with the next Ready while the disk syncs. When a batch is
// durable, and the storage shows its entries, the node calls
// report_persisted(last index, its term); only then does the leader count
// itself for them and apply them. A Ready that is not persist_async (a new
// term or vote, a snapshot, a follower's, a message that vouches for disk)
// runs steps 1-5 as above, after the writer has finished every queued batch
// (the node reports those, at any point before or after this Ready's
// advance()), so that the disk sees every write in Ready order.
//
// Starting (the node's side):
//   - New cluster: an empty MemoryStorage with set_conf_state({voters = the
//     ids of DKV_CLUSTER}); Config::initial_election_ticks = election_ticks
//     on the first member and about 3x that on the others.
//   - Restart: rebuild the MemoryStorage from disk (apply_snapshot(latest),
//     append the WAL's entries, set_hard_state), set_conf_state(membership
//     as of Config::applied), Config::applied = the state machine's applied
//     index. Entries after it come back as committed_entries.
//   - Joining member (added by a conf change): an empty log and the
//     configuration it joins (the one before its own addition).
//
// Loop (one raft thread):
//   for each timer tick: tick();  for each peer message: step(m);
//   while (has_ready()) {
//     Ready rd = ready();
//     send(rd.messages);                             // may precede the fsync
//     wal.save(rd.hard_state, rd.entries, rd.snapshot); wal.fsync();
//     storage.apply_snapshot / append / set_hard_state;  // mirror in memory
//     send(rd.messages_after_persist);
//     apply(rd.committed_entries); serve reads whose ReadState index <= applied;
//     advance();
//   }
// Requests that cannot complete (a proposal dropped by a leader change, a
// read whose leader stepped down) are not reported: waiters time out.
//
// No I/O, clocks, threads or global randomness (see Config::rng).
// Threading: not thread-safe; only the raft thread.
// Lifetime: `storage` must outlive the RawNode.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "raft/progress.h"
#include "raft/raft.h"
#include "raft/storage.h"
#include "raft/types.h"
#include "util/status.h"

namespace dkv::raft {

struct Ready {
  // Set when leader or role changed since the last Ready. Volatile: never
  // persisted; for logs, metrics and routing requests to the leader.
  std::optional<SoftState> soft_state;
  // Set when term, vote or commit changed. MUST be persisted (with entries and
  // snapshot, atomically) before messages_after_persist are sent.
  std::optional<HardState> hard_state;
  // Completed ReadIndex requests, in request order. A read with a given
  // context may be served once the applied index reaches its index.
  std::vector<ReadState> read_states;
  // New log entries. MUST be persisted before messages_after_persist are
  // sent. Contiguous; an existing stored suffix from entries.front().index on
  // is replaced by them.
  std::vector<Entry> entries;
  // A snapshot from the leader (empty() if none). MUST be persisted before
  // messages_after_persist, and the state machine restored from it.
  Snapshot snapshot;
  // Entries to apply to the state machine, in order, after this Ready's
  // hard_state/entries/snapshot are persisted. Each one exactly once.
  std::vector<Entry> committed_entries;
  // May be sent immediately, before or while persisting (thesis §10.2.1).
  std::vector<Message> messages;
  // MUST be sent only after this Ready's hard_state/entries/snapshot are
  // durable: they vouch for that durable state (votes, acks).
  std::vector<Message> messages_after_persist;

  // Persist hard_state and entries asynchronously, then report_persisted()
  // (see the contract above); messages_after_persist is then empty,
  // snapshot empty, and committed_entries all durable on this node.
  bool persist_async = false;

  // Set when the persisted state must be fsynced before messages_after_persist
  // leave: new entries, a snapshot, or a new term or vote. A hard_state that
  // only moved the commit index may be written without fsync (etcd's
  // MustSync): a commit index lost in a crash is learned again, and the
  // entries it covers are durable already.
  bool must_sync = false;

  bool must_persist() const { return hard_state || !entries.empty() || !snapshot.empty(); }
};

// What a leader knows of one member's replication (its Progress), for the
// node's policy: choosing whom to hand leadership to, checking a membership
// change. The quorum rules themselves stay in the core.
struct PeerStatus {
  Index match = 0;
  ProgressState state = ProgressState::kProbe;
  bool recent_active = false;  // Heard from since the last CheckQuorum.
  bool voter = false;
  // Lost its log and not yet known to have caught up (Progress::
  // rejoin_target, rejoin_flagged): it must not lead, its acks do not count.
  bool rejoining = false;
};

// Whether a leader would take a configuration change now (one change at a
// time, and none before a new leader applied an entry of its own term).
enum class ConfChangeGate : std::uint8_t {
  kOpen,              // Leader, nothing pending: a change may be proposed.
  kChangePending,     // An earlier change is not applied yet.
  kFirstEntryOfTerm,  // This new leader's first entry (its no-op) is not applied yet.
  kNotLeader,
};

// A snapshot of the core's state for the node, status pages and tests.
struct RaftStatus {
  NodeId id = kNoNode;
  HardState hard_state;
  SoftState soft_state;
  Index applied = 0;
  Index persisted = 0;
  Index last_index = 0;
  ConfState conf_state;
  // Set until a leader tells this node, which lost its log, it caught up.
  bool rejoining = false;
  ConfChangeGate conf_change_gate = ConfChangeGate::kNotLeader;
  // Leader only (empty elsewhere, and in basic_status()): every member's
  // replication, this node included.
  std::map<NodeId, PeerStatus> progress;
};

class RawNode {
 public:
  RawNode(const Config& config, const Storage& storage);
  RawNode(const RawNode&) = delete;
  RawNode& operator=(const RawNode&) = delete;

  // Advances logical time by one tick (heartbeat_ticks/election_ticks).
  void tick();
  // Starts an election now (PreVote first if enabled).
  void campaign();
  // Proposes a state-machine command. Accepted means appended (leader) or
  // forwarded (follower), not committed. UNAVAILABLE if there is no leader
  // or a leadership transfer is under way.
  util::Status propose(std::string data);
  // Proposes a single-server membership change. FAILED_PRECONDITION while
  // another change (or this leader's first entry) is not yet applied.
  util::Status propose_conf_change(const ConfChange& cc);
  // Feeds a message from a peer. Local-only message types are refused.
  util::Status step(const Message& m);
  // Requests a linearizable read point; the answer arrives as a ReadState
  // with the same context (which must be unique and non-empty).
  void read_index(std::string context);
  // Asks the leader to hand leadership to `to` (thesis §3.10).
  void transfer_leader(NodeId to);
  // Applies a committed kConfChange entry; returns the new membership,
  // which the caller persists with the applied state.
  ConfState apply_conf_change(const ConfChange& cc);
  void report_unreachable(NodeId id);
  void report_snapshot(NodeId id, bool ok);

  bool has_ready() const;
  // Takes the pending Ready. Not again until advance().
  Ready ready();
  // The last Ready was handled: persisted (and the Storage given to the
  // constructor already shows its entries and snapshot), sent, applied.
  // Reports persistence to the core (RaftLog::stable_to), which is when a
  // leader starts counting its own copy of those entries; for a
  // persist_async Ready, only that it was handed out and applied.
  void advance();
  // A persist_async Ready's entries through (index, term) are durable, and
  // the Storage shows them: the core may count and apply them. In Ready
  // order; also while a Ready is outstanding. Ignored if the log was
  // rewritten from index on since.
  void report_persisted(Index index, Term term);

  // The core's state, with the leader's progress of every member.
  RaftStatus status() const;
  // The same without `progress` (no allocation per member): for every Ready.
  RaftStatus basic_status() const;
  const Raft& raft() const { return *raft_; }
  Raft& raft_for_test() { return *raft_; }

 private:
  // Whether the next Ready would be persist_async.
  bool next_ready_async() const;
  // Committed entries past it wait (not yet durable here).
  Index apply_limit() const;

  std::unique_ptr<Raft> raft_;
  SoftState prev_soft_;
  HardState prev_hard_;
  bool ready_outstanding_ = false;
  // What the outstanding Ready holds, for advance().
  std::optional<Entry> ready_last_entry_;  // Index and term only.
  Index ready_snapshot_index_ = 0;
  Index ready_applied_to_ = 0;
};

}  // namespace dkv::raft
