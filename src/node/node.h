// Node: one dkv node, and the facade api/ and cmd/dkv use. It owns the raft
// core (raft::RawNode over a MemoryStorage), the WAL (wal::Log), the state
// machine (kv::Store), the inbox of work for the raft thread and that
// thread, and the parts the thread drives, each with its own header:
//   ReadyDriver  (ready_driver.h) one Ready in the contract's order: send,
//                persist (one fdatasync), send acks, apply; a leader's
//                persistence goes to the WalWriter (wal_writer.h) thread;
//   Applier      (applier.h) the store's write side and the write waiters;
//   ReadPath     (read_path.h) ReadIndex batches and their waiters, served
//                on the read thread (read_server.h);
//   Snapshotter  (snapshotter.h) compaction and leaders' snapshots;
//   Readiness    (readiness.h) what /readyz reports;
//   membership   (node_membership.cc) conf changes, leader moves, waiters;
//   recover()    (recovery.h) opening the data directory.
// Writes are proposed from any node (a follower's proposal is forwarded by
// the core); the proposer's waiter completes when it applies the entry with
// the request id it proposed. Linearizable reads use ReadIndex, batched.
//
// Membership (issue 9): a change is proposed on the leader, after the checks
// of membership_checks.h, as a raft ConfChange whose context is the member's
// "name@host:port"; every node applies it when it applies the entry: the
// core's configuration, the persisted Membership (in the same LMDB
// transaction as the applied index), and the transport's peers (through
// on_membership). A node that applies its own removal stops serving.
//
// Threading: the public methods are thread-safe and never block on I/O; they
// queue work for the raft thread. Callbacks run on the raft thread (or the
// caller's, for refusals and serializable reads) and must not block.
// Lifetime: stop() (or the destructor) fails whatever is pending with
// UNAVAILABLE and joins the raft thread; `send` must stay callable until then.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "kv/command.h"
#include "kv/feature_level.h"
#include "kv/store.h"
#include "node/applier.h"
#include "node/auto_compactor.h"
#include "node/background.h"
#include "node/config.h"
#include "node/event_log.h"
#include "node/lessor.h"
#include "node/membership.h"
#include "node/membership_changes.h"
#include "node/membership_checks.h"
#include "node/read_path.h"
#include "node/read_server.h"
#include "node/readiness.h"
#include "node/ready_driver.h"
#include "node/snapshotter.h"
#include "node/store_flusher.h"
#include "node/wal_writer.h"
#include "node/watch_catchup.h"
#include "node/watch_hub.h"
#include "raft/types.h"
#include "util/mutex.h"
#include "util/status.h"
#include "util/thread_annotations.h"

namespace dkv::raft {
class MemoryStorage;
class RawNode;
struct Ready;
struct ReadState;
struct SoftState;
}  // namespace dkv::raft
namespace dkv::wal {
class FileSystem;
class Log;
}  // namespace dkv::wal

namespace dkv::node {

struct NodeOptions {
  std::string node_id;
  // DKV_CLUSTER: the membership a new data directory starts with.
  std::vector<MemberAddress> members;
  std::string db_path;
  std::uint64_t quota_bytes = 2ull << 30;
  std::uint32_t heartbeat_ms = 100;
  std::uint32_t election_ms = 1000;
  // DKV_SNAPSHOT_ENTRIES: applied entries between snapshots (log compaction).
  // etcd's default: a snapshot dumps the whole store, so taking one every
  // 10,000 entries of a 50 MiB store wrote ~5 KiB per 300-byte put.
  std::uint64_t snapshot_entries = 100'000;
  // DKV_SNAPSHOT_BYTES: applied entry bytes that trigger a snapshot sooner,
  // so that the in-memory log stays bounded with large values (100,000
  // entries of 1 MiB would not fit).
  std::uint64_t snapshot_bytes = 64 << 20;
  // Entries kept in the log behind a snapshot, so a follower a little behind
  // catches up from the log rather than by a whole snapshot (etcd: 5000).
  std::uint64_t snapshot_catchup_entries = 5'000;
  // DKV_AUTO_COMPACTION_*: when the leader proposes compactions.
  AutoCompactionOptions auto_compaction;
  // How often the leader checkpoints leases' remaining TTLs (lessor.h).
  std::chrono::milliseconds lease_checkpoint_interval{5000};
  // Writes queued and not yet applied; beyond this, RESOURCE_EXHAUSTED.
  std::size_t pending_writes_max = 100'000;
  // How often LMDB's commits are fsynced (after the flusher's write-back).
  // The WAL is the durable record, so this only bounds what a machine crash
  // makes the node rebuild; but each sync write-protects every page it
  // wrote back, and the next change of each faults (MDB_WRITEMAP,
  // kv/store.cc): a sync a second cost more CPU per put than a sync every
  // 10 s (docs/performance.md, session 11), and each sync's write-back and
  // the fault storm after it cut the put rate for 3-5 s (session 15). 30 s
  // is the kernel's own expiry of dirty pages (vm.dirty_expire_centisecs),
  // which writes the map back that often anyway; a shorter interval only
  // adds storms.
  std::chrono::milliseconds store_sync_interval{30'000};
  // TEST ONLY (DKV_TEST_STALE_READS): linearizable reads read locally.
  bool test_stale_reads = false;
  // TEST ONLY, honoured only in a DKV_TEST_HOOKS build (node/config.h):
  // DKV_TEST_FAILPOINTS (wal/failpoints.h) and DKV_TEST_ACK_BEFORE_PERSIST.
  std::string test_failpoints;
  bool test_ack_before_persist = false;
  // The file system of the WAL and of the snapshot files; null: the real
  // one. open() sets it when a test hook above needs a wrapper (kept here so
  // it outlives the WAL); the node simulator passes a MemFileSystem.
  std::shared_ptr<wal::FileSystem> wal_fs;
  // WAL segment size; 0: the WAL's default (wal/format.h). The node
  // simulator's MemFileSystem copies a whole file per fsync: small ones.
  std::uint64_t wal_segment_bytes = 0;
  // Sends raft messages to peers; must not block. Unset for one node.
  std::function<void(std::vector<raft::Message>)> send;
  // DKV_CLUSTER_STATE=existing: a NEW data directory joins the cluster with
  // this id (hex) and membership (encoded; it must hold this node), fetched
  // from a member by cmd/dkv, instead of bootstrapping from `members`.
  struct Join {
    std::string cluster_id;
    std::string membership;
  };
  std::optional<Join> join;
  // A NEW data directory whose node lost its earlier one (cmd/dkv asked the
  // members: discover_rejoin) or that joins with DKV_CLUSTER_STATE=existing:
  // raft starts with Config::rejoining (no votes until a leader caught it
  // up). Persisted as the file `rejoining` in db_path until then.
  bool rejoining = false;
  // DKV_FORCE_NEW_CLUSTER: disaster recovery. Applies the whole log and
  // compacts it under a snapshot whose membership is this node alone
  // (force_new_cluster.h), so that it leads by itself and members added
  // again never replay the old configuration.
  bool force_new_cluster = false;
  // Called on the raft thread whenever the applied membership changed (a
  // conf change applied, a snapshot installed); must not block.
  std::function<void(const Membership&)> on_membership;
  // The node simulator's seam (background.h); null: the node's own threads.
  // Borrowed: must outlive the Node.
  Background* background = nullptr;
  // Seeds the raft core's election timer and the request ids; 0: random.
  std::uint64_t seed = 0;
  // Tests: the kernel's boot id as the store sees it (kv::StoreOptions::
  // boot_id; a new one is a machine crash); empty: the real one.
  std::string boot_id;
  // TEST ONLY, honoured only in a DKV_TEST_HOOKS build (background.h).
  NodeCanaries test_canaries;
  // The highest feature level this node applies and advertises
  // (kv/feature_level.h); lowered only by DKV_TEST_FEATURE_LEVEL in a
  // DKV_TEST_HOOKS build, to play an older binary.
  kv::FeatureLevel feature_level_supported = kv::kFeatureLevelSupported;
};

struct NodeStatus {
  std::string node_id;
  std::string leader_id;
  std::uint64_t term = 0;
  std::string role;
  std::uint64_t commit_index = 0;
  std::uint64_t applied_index = 0;
  std::vector<MemberAddress> members;    // Voters, then learners.
  std::vector<std::string> learner_ids;  // Which of `members` are learners.
  bool removed = false;                  // This node was removed from the cluster.
  bool rejoining = false;                // Lost its data; catching up (Config::rejoining).
};

class Node {
 public:
  using WriteDone = std::function<void(util::Status, kv::ApplyResult)>;
  using ReadDone = std::function<void(util::Status, std::string value)>;
  using MembersDone = node::MembersDone;
  using LeaderDone = node::LeaderDone;

  // Opens the WAL and the store under options.db_path (bootstrapping a new
  // directory from options.members), and starts the raft thread.
  // FAILED_PRECONDITION: the directory belongs to another node or cluster.
  static util::Status open(NodeOptions options, std::unique_ptr<Node>* out);
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Proposes a put or delete (already validated by the caller). `done` gets
  // OK once the command is committed and applied here; UNAVAILABLE if that
  // did not happen by `deadline` (no leader or no quorum: the write may still
  // commit later); RESOURCE_EXHAUSTED over the quota or with too many writes
  // pending; UNAVAILABLE once stopping.
  void write(kv::Command command, Deadline deadline, WriteDone done);

  // Reads a key. Linearizable (ReadIndex, then wait until applied) unless
  // `serializable`, which reads the local state machine at once.
  void read(std::string key, bool serializable, Deadline deadline, ReadDone done);

  // A read of the state machine as a callback (etcd's Range, a read-only
  // Txn): `fn` reads the store in its own read transaction and writes its
  // answer where it captured; its status goes to `done`. Linearizable: `fn`
  // runs on the read thread once this node applied the read index (ReadIndex
  // as read()); `serializable`: at once on the caller's thread. When the
  // read fails (deadline: UNAVAILABLE, stopping, removed) `fn` never runs.
  using StoreReadFn = std::function<util::Status(const kv::Store& store)>;
  using StoreReadDone = std::function<void(util::Status)>;
  void read_store(StoreReadFn fn, bool serializable, Deadline deadline, StoreReadDone done);
  // The raft term this node is at (etcd's ResponseHeader.raft_term).
  std::uint64_t term() const;
  // A leader is known (etcd's "hasleader" check).
  bool has_leader() const;

  // The membership, linearizably: a ReadIndex round through the leader,
  // then the membership as applied at (or after) that index.
  void list_members(Deadline deadline, MembersDone done);
  // Leader only (UNAVAILABLE elsewhere: the API forwards to the leader).
  // Checks the request (membership_checks.h), proposes it and calls `done`
  // with the new membership once the change is applied here. A second
  // change while one is pending: FAILED_PRECONDITION. UNAVAILABLE if not
  // applied by `deadline` (it may still be applied later).
  void change_membership(ChangeRequest request, Deadline deadline, MembersDone done);
  // Leader only. Hands leadership to voter `id` (thesis §3.10) and calls
  // `done` once it leads (or UNAVAILABLE at `deadline`). NOT_FOUND for an
  // unknown member, FAILED_PRECONDITION for a learner.
  void move_leader(std::string id, Deadline deadline, LeaderDone done);
  // Leader only, before it is removed (`request` removes this node): checks
  // the removal (membership_checks.h) and hands leadership to the most
  // caught-up recently active voter, so that the new leader removes this
  // node with no election timeout. `done` gets OK and the new leader's name
  // once it leads; OK and this node's own name if there is no such voter
  // (the caller then proposes the removal here, as a leader that commits
  // its own removal hands off in the core); a refusal as change_membership.
  void hand_off_before_removal(ChangeRequest request, Deadline deadline, LeaderDone done);

  // Feeds a raft message from a peer (from the transport's threads).
  void receive(raft::Message message);
  // Feeds several, in order, with one lock and one wake-up of the raft thread.
  void receive(std::vector<raft::Message> messages);
  // The transport could not reach a peer / finished sending it a snapshot.
  void report_unreachable(raft::NodeId peer);
  void report_snapshot(raft::NodeId peer, bool ok);

  NodeStatus status() const;
  // The membership as applied (names, addresses, raft ids).
  Membership membership() const;
  // Whom the transport must talk to: the applied members, and while this
  // node catches up after installing a snapshot, also the members it knew
  // before that the snapshot does not list (see catch_up_peers_).
  std::vector<MemberAddress> peer_members() const;
  const EventLog& events() const { return events_; }  // Recent leader/membership/snapshot events.
  raft::NodeId raft_id() const { return raft_id_; }
  // The id of the cluster this data directory was bootstrapped into.
  std::uint64_t cluster_id() const { return cluster_id_; }
  // Bytes of the state machine in use (dkv.v0.Cluster/Status).
  std::uint64_t db_size_bytes() const { return store_->used_bytes(); }
  // The store's current revision (etcd's header revision), as of its last commit.
  std::int64_t current_revision() const { return store_->current_revision(); }
  // The feature gate (kv/feature_level.h, node/feature_gate.h): the level
  // committed, as applied here (write() refuses what needs more), and the
  // level this node applies (what its Status advertises).
  kv::FeatureLevel feature_level() const { return store_->feature_level(); }
  kv::FeatureLevel feature_level_supported() const { return options_.feature_level_supported; }
  // The raised alarms (etcd's Maintenance.Alarm; node_alarms.cc), as
  // applied here. Raised and cleared by writing kv::etcd_command(AlarmRequest).
  util::Status alarms(etcdserverpb::AlarmResponse* out) const { return store_->alarms(out); }
  // A backup's image (dkv.v0.Maintenance/Snapshot, `dkvctl snapshot save`):
  // a reader of the store image at the applied index, read on the caller's
  // thread, never the raft thread's. Not a snapshot file (snapshotter.h
  // names the kinds apart). The reader must not outlive this Node.
  util::Status open_backup_image(std::size_t chunk_bytes,
                                 std::unique_ptr<kv::Store::ImageReader>* reader) const {
    return store_->open_image_reader(chunk_bytes, reader);
  }
  // The leader's lease deadlines (lessor.h); its renew() and remaining()
  // are thread-safe, the rest is driven by the raft thread (node_lessor.cc).
  Lessor& lessor() { return lessor_; }
  // This member's watchers, fed from its applied history (watch_hub.h).
  WatchHub& watch_hub() { return *watch_hub_; }
  // /readyz: a known, recently confirmed leader and applied not lagging
  // (readiness.h has the exact definition).
  bool ready() const;
  // True once this node applied its own removal: it serves nothing more
  // (until it applies a change that adds it back under the same name).
  bool removed() const { return removed_.load(); }
  // True while the applied membership lists this node as a learner.
  bool is_learner() const { return learner_.load(); }
  // Another member says this node was removed (a node removed while down
  // or cut off never gets the entry that removes it): stop serving.
  void mark_removed(const std::string& why);

  // If this node leads a cluster of several voters, hands leadership to the
  // most caught-up follower (TimeoutNow, thesis §3.10) and waits until it has
  // stepped down or `timeout` passed. Used on SIGTERM, so that a planned
  // restart costs no election timeout. Returns true if it no longer leads.
  bool transfer_leadership(std::chrono::milliseconds timeout);

  // Stops the raft thread; what is pending fails with UNAVAILABLE.
  void stop();

  // With NodeOptions::background only (no raft thread): one turn of the
  // raft thread at `now`, as run() takes it: the inbox, a tick if one is
  // due, every Ready, the reads now servable (handed to the Background).
  void step(std::chrono::steady_clock::time_point now);

 private:
  // Work handed to the raft thread.
  struct Inbox {
    std::vector<PendingWrite> writes;
    std::vector<PendingRead> reads;
    std::vector<raft::Message> messages;
    std::vector<raft::NodeId> unreachable;
    std::vector<std::pair<raft::NodeId, bool>> snapshot_status;
    std::vector<PendingChange> changes;
    std::vector<PendingMove> moves;
    bool transfer_leadership = false;
    // A background snapshot finished (its file is durable) or failed.
    std::optional<SnapshotDone> snapshot_done;
    // The WalWriter made batches durable (ReadyDriver::land takes them).
    bool wal_written = false;
    bool empty() const {
      return writes.empty() && reads.empty() && messages.empty() && unreachable.empty() &&
             snapshot_status.empty() && changes.empty() && moves.empty() && !transfer_leadership &&
             !snapshot_done && !wal_written;
    }
  };

  Node(NodeOptions options, std::unique_ptr<kv::Store> store, std::unique_ptr<wal::Log> log,
       std::unique_ptr<raft::MemoryStorage> storage, Membership membership);
  // Queues `item` on the inbox list `queue` and wakes the raft thread;
  // false (item untouched) once stopping.
  template <typename T>
  bool enqueue(std::vector<T> Inbox::*queue, T& item);
  util::Status start_raft(raft::Index applied);
  // The WalWriter, whose finished batches wake the raft thread.
  void start_wal_writer();
  void run();
  // After the last turn: fails what is pending, stops the read server.
  void finish_raft_thread();
  // One turn of the raft thread: the inbox, a tick if `tick` (at `now`),
  // every Ready, then the reads now servable. No waiting and no clock of its
  // own: the seam where a simulator drives a node with simulated time.
  void turn(Inbox* inbox, bool tick, std::chrono::steady_clock::time_point now);
  void process_inbox(Inbox* inbox);
  void on_tick(std::chrono::steady_clock::time_point now);
  void handle_ready(raft::Ready& rd);
  // A new leader or role: status, metrics, waiters that depend on the
  // leader. True if the leader changed.
  bool on_soft_state(const raft::SoftState& soft);
  void on_read_state(const raft::ReadState& rs);
  // After advance(): the rejoin marker, status, readiness, catch-up peers.
  void after_advance();
  // A leader's snapshot (Ready::snapshot): the Snapshotter installs it; the
  // membership it brings, with the peers to keep while catching up.
  void install_snapshot(const raft::Snapshot& snapshot);
  void apply_committed(const std::vector<raft::Entry>& entries);
  void apply_conf_change(const raft::Entry& entry);
  // Records a new applied membership (raft thread): membership_, the
  // removed ids, on_membership, and whether this node was removed.
  void set_membership(Membership m);
  // Ends the catch-up after a snapshot (see catch_up_peers_), once ready.
  void end_snapshot_catch_up();
  void expire_requests(std::chrono::steady_clock::time_point now);
  // Fsyncs LMDB every store_sync_interval, after the flusher's write-back.
  void sync_store(std::chrono::steady_clock::time_point now);
  // A leader proposes a CompactionRequest when auto-compaction says so.
  void propose_auto_compaction(std::chrono::steady_clock::time_point now);
  // The lessor's turn: promotion, demotion, expiry revokes, checkpoints
  // (node_lessor.cc).
  void run_lessor(std::chrono::steady_clock::time_point now);
  void nudge_leader_while_rejoining();
  // The core says this node, which lost its log, caught up: drop the marker.
  void finish_rejoining();
  void warn_if_leaderless();
  // Recomputes ready_ (raft thread).
  void update_readiness();
  void fail_everything(const util::Status& s);
  // The quota (node_alarms.cc): a write that adds data is refused
  // (RESOURCE_EXHAUSTED, etcd's "database space exceeded") while a NOSPACE
  // alarm is raised, and raises one when it would take the store past
  // DKV_QUOTA_BYTES. Any thread.
  util::Status admit_space(const kv::Command& command);
  void raise_nospace_alarm();
  [[noreturn]] void fatal(const std::string& what, const util::Status& s);
  // Waits for the WalWriter's batches and lands them: the WAL is then this
  // thread's until the next persist_async Ready.
  void drain_wal();

  const NodeOptions options_;
  const raft::NodeId raft_id_;
  std::uint64_t cluster_id_ = 0;
  const std::unique_ptr<kv::Store> store_;
  // Writes admitted and not answered yet (thread-safe).
  PendingWriteCount pending_writes_;

  // Raft-thread state.
  std::unique_ptr<wal::Log> log_;
  // A leader's WAL writes off this thread (none with NodeOptions::
  // background: the simulator's nodes persist every Ready in line).
  std::unique_ptr<WalWriter> wal_writer_;
  std::unique_ptr<raft::MemoryStorage> storage_;
  std::unique_ptr<raft::RawNode> raw_;
  std::unique_ptr<ReadyDriver> driver_;          // Persist, send, hand off.
  std::unique_ptr<Applier> applier_;             // Store writes, write waiters.
  std::unique_ptr<ReadPath> reads_;              // ReadIndex batches.
  std::unique_ptr<StoreReader> store_reader_;    // The store, for reads.
  std::unique_ptr<ReadServer> read_server_;      // Serves reads off the raft thread.
  std::unique_ptr<Snapshotter> snapshotter_;     // Compaction, leader snapshots.
  std::unique_ptr<MembershipChanges> changes_;   // Conf changes, leader moves (set in start_raft).
  Deadline next_store_sync_{};                   // When on_tick next fsyncs LMDB.
  std::unique_ptr<StoreFlusher> store_flusher_;  // LMDB's write-back, off this thread.
  AutoCompactor auto_compactor_{options_.auto_compaction};  // The leader's Compact proposals.
  Lessor lessor_{LessorOptions{std::chrono::milliseconds(options_.election_ms),
                               options_.lease_checkpoint_interval}};
  std::uint64_t applied_term_ = 0;  // The term of the last applied entry (the lessor's check).
  std::chrono::steady_clock::time_point turn_now_{};  // The current turn's time.
  // Watches: the hub the store's commits feed, and its catch-up thread
  // (none with NodeOptions::background). Declared after store_: gone first.
  std::unique_ptr<WatchHub> watch_hub_;
  std::unique_ptr<WatchCatchup> watch_catchup_;
  // Readiness (readiness.h): ReadIndex rounds of its own ("ready:"
  // context), one per election timeout, tell the index a linearizable read
  // would wait for.
  Readiness readiness_;
  int ticks_since_readiness_check_ = 0;
  std::uint64_t next_readiness_context_ = 1;
  const int election_ticks_;
  int ticks_since_rejoin_nudge_ = 0;  // nudge_leader_while_rejoining.
  // The `rejoining` marker exists (Config::rejoining). Written by the raft
  // thread; status() reads it.
  std::atomic<bool> rejoining_{false};
  // Membership (raft thread).
  std::set<raft::NodeId> removed_ids_;  // Their messages are dropped.
  std::uint64_t tick_count_ = 0;
  std::uint64_t ticks_without_leader_ = 0;  // warn_if_leaderless().

  // Shared with other threads.
  EventLog events_;  // Thread-safe itself.
  mutable util::Mutex mu_;
  util::CondVar cv_;            // Wakes the raft thread: work queued, stopping.
  util::CondVar role_changed_;  // Signalled when status_.role changes.
  Inbox inbox_ DKV_GUARDED_BY(mu_);
  bool stopping_ DKV_GUARDED_BY(mu_) = false;
  Membership membership_ DKV_GUARDED_BY(mu_);
  // A snapshot may be older than members added since (the forced snapshot
  // of DKV_FORCE_NEW_CLUSTER, or one taken before the current leader
  // joined): a joining node that installs it must not drop the leader as a
  // peer, nor its messages as a removed member's. The members it knew
  // before (its join membership) that the snapshot does not list stay peers
  // until it is ready (caught up with a leader); then the applied membership
  // alone counts. Written by the raft thread.
  std::vector<MemberAddress> catch_up_peers_ DKV_GUARDED_BY(mu_);
  NodeStatus status_ DKV_GUARDED_BY(mu_);
  std::atomic<std::uint64_t> next_request_id_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> removed_{false};
  std::atomic<bool> learner_{false};          // is_learner(); written with membership_.
  std::atomic<bool> raising_nospace_{false};  // A NOSPACE alarm is being proposed.
  std::thread raft_thread_;
  // The next tick (step(), with a Background). Raft thread.
  std::chrono::steady_clock::time_point next_tick_{};
};

}  // namespace dkv::node
