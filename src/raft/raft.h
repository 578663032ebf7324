// Raft: the consensus state machine (Raft paper; Ongaro's thesis). It owns
// the term, vote, role, log view, replication progress and ReadIndex queue;
// it consumes ticks and messages and produces messages, log entries and a
// hard state for RawNode to hand out in a Ready. Use it through RawNode.
// Must not do I/O, read clocks, start threads or use global randomness: the
// random election timeout comes from Config::rng.
// Threading: not thread-safe; only the raft thread.
// Lifetime: the Storage passed in must outlive the Raft.
//
// Membership (thesis §4) is changed one server at a time. As in etcd, a
// change takes effect when the application applies the committed entry
// (apply_conf_change), not when it is appended; safety rests on (1) one
// change at a time: none is proposed until the previous one is applied,
// (2) the 2015 fix: a new leader proposes none until an entry of its own
// term is applied, (3) no campaign while a committed change is unapplied.
// Adjacent configurations then differ by one voter, so their majorities
// overlap. A leader whose log holds its own removal stops counting itself
// (§4.2.2); when it applies the removal it hands off with TimeoutNow and
// steps down.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "raft/events.h"
#include "raft/progress.h"
#include "raft/raft_log.h"
#include "raft/storage.h"
#include "raft/types.h"
#include "util/status.h"

namespace dkv::raft {

// Test-only switches that each break one Raft rule, so that tests can show
// the simulator catches the breakage. All default to off; production code
// must never set them.
struct TestCanaries {
  // Commit an entry of an older term by counting replicas (breaks §5.4.2 /
  // Figure 8).
  bool commit_old_term_by_counting = false;
  // Report the vote as kNoNode in Ready::hard_state, so it is never
  // persisted (breaks §5.2 / Figure 2's "persist votedFor").
  bool forget_vote = false;
  // Answer ReadIndex at once, without the heartbeat round that confirms
  // leadership (breaks thesis §6.4).
  bool read_index_without_heartbeat = false;
  // Answer a forwarded ReadIndex request at once even where its sender and
  // the leader are not a quorum (5 voters: breaks Config::
  // count_read_requester's argument, which needs the two to be a quorum).
  bool read_requester_is_quorum = false;
  // Let a new leader propose a configuration change before an entry of its
  // own term commits (breaks the fix in Ongaro's 2015 raft-dev note).
  bool skip_conf_change_fix = false;
  // Count the leader's own copy of an entry as soon as it is appended, not
  // once persisted (breaks thesis §10.2.1 with asynchronous persistence).
  bool count_leader_before_persist = false;
  // Let a node that lost its log (Config::rejoining) vote and campaign at
  // once, as if it still had its log and its vote (breaks §5.2's "vote at
  // most once per term" and §5.4's leader completeness).
  bool vote_while_rejoining = false;
};

// Timing is in ticks; the node maps them to wall time. Suggested: one tick
// per DKV_HEARTBEAT_MS (100 ms), election_ticks = DKV_ELECTION_MS / tick
// (1000 ms -> 10): a dead leader is replaced within 1-2 s (timeout random in
// [1 s, 2 s), plus a PreVote and a vote round trip) on a LAN.
struct Config {
  NodeId id = kNoNode;  // This node; must be non-zero.
  // A follower that hears no leader for a random [election_ticks,
  // 2*election_ticks) ticks starts an election (§5.2).
  int election_ticks = 10;
  // A leader sends heartbeats every heartbeat_ticks (< election_ticks).
  int heartbeat_ticks = 1;
  // If > 0, the first election timeout after start is random in
  // [initial_election_ticks, initial_election_ticks + election_ticks). The
  // node gives the first member of DKV_CLUSTER election_ticks and the others
  // a multiple, so that the first member leads first.
  int initial_election_ticks = 0;
  // Last applied index the state machine already holds (restart). It was
  // committed, so the commit index starts at least there.
  Index applied = 0;
  // Upper bound on the entries' bytes in one MsgApp (the transport's limit
  // minus headroom). At least one entry is always sent, so the node must
  // bound a single entry (key + value) below this; snapshots (MsgSnap) are
  // not bounded by it and are streamed by the transport.
  std::uint64_t max_msg_bytes = 1 << 20;
  // Leader: refuse proposals (RESOURCE_EXHAUSTED) while the uncommitted tail
  // of its log exceeds this many bytes (0 = unlimited), so a leader cut off
  // from its followers does not grow its log without bound.
  std::uint64_t max_uncommitted_bytes = 0;
  // Upper bound on committed entries' bytes handed out in one Ready.
  std::uint64_t max_committed_bytes_per_ready = 64 << 20;
  // In-flight MsgApp window per follower (kReplicate), by count and bytes
  // (0 bytes = unlimited).
  std::size_t max_inflight_msgs = 256;
  std::uint64_t max_inflight_bytes = 0;
  bool pre_vote = true;      // Thesis §9.6.
  bool check_quorum = true;  // Thesis §6.2 (also enables the vote lease of §4.2.3).
  // Followers reject proposals instead of forwarding them to the leader.
  bool disable_proposal_forwarding = false;
  // Leader: ReadIndex heartbeat rounds in flight at once; 0 = no limit (a
  // round for every Ready with new requests). 1 is etcd's coalescing: a
  // request arriving while a round is in flight waits for the next, sent
  // when that round is answered or at the next heartbeat tick. Measured on
  // a 3-node loopback cluster (issue 17) it saved ~15% of rounds and cost
  // ~15% of closed-loop get throughput, so dkv keeps 0.
  int max_read_rounds_in_flight = 0;
  // Leader: a read round sent on a Ready goes to the fewest voters that
  // make a quorum with the leader, those that acked the newest rounds
  // first, instead of to every member; the heartbeat tick resends a round
  // still unanswered to all (a chosen voter that went quiet costs at most a
  // heartbeat interval). In a 3-node cluster a round is one heartbeat and
  // one ack instead of two of each (issue 17: a get's cost is mostly its
  // round's messages). Safety is unchanged: any quorum's acks to heartbeats
  // sent after a request confirm it.
  bool read_rounds_to_quorum = true;
  // Leader: a follower's forwarded ReadIndex request counts as that
  // follower's ack of a round (read_index.cc says why it is safe), so where
  // the leader and the requester make a quorum (3 voters) the request is
  // answered at once, with no heartbeat round: a follower's linearizable
  // read costs the leader a request and an answer instead of a round too.
  bool count_read_requester = true;
  // This node lost its log and vote (a wiped data directory restarted under
  // the same name, so the same id) and the cluster has made progress. Its
  // old acks may have counted toward commits and it may have voted in a term
  // it no longer knows. Until a leader tells it that it caught up, it does
  // not vote, pre-vote or campaign, and flags its MsgAppResp (context
  // "rejoining:<nonce>", a nonce drawn from rng at construction, so each
  // start is a new incarnation) so that the leader stops counting its stale
  // match; only a MsgApp naming that nonce ("rejoined:<nonce>") ends it. The
  // node persists the flag until rejoining() turns false.
  bool rejoining = false;
  // A leader's Readies persist asynchronously (Ready::persist_async, in
  // raw_node.h): it goes on stepping messages and handing out Readies while
  // its disk syncs earlier entries, and counts its own copy of them, and
  // applies them, only once the node reports them durable. A follower's,
  // and any Ready that changes the term or vote, carries a snapshot or
  // holds a message that vouches for disk, stays synchronous.
  bool leader_persists_async = false;
  // The only source of randomness. Must be set.
  std::function<std::uint64_t()> rng;
  // Optional: told of elections, votes, rejected appends, snapshots and
  // leadership transfers (events.h), on the thread that steps the core.
  std::function<void(const Event&)> on_event;
  TestCanaries canaries;  // Test only.
};

// Checks a Config built from user input (ticks from DKV_HEARTBEAT_MS and
// DKV_ELECTION_MS, limits). INVALID_ARGUMENT names the bad field.
util::Status validate_config(const Config& c);

enum class StateType : std::uint8_t { kFollower, kPreCandidate, kCandidate, kLeader };
std::string_view state_name(StateType s);

// Volatile state, reported when it changes (never persisted).
struct SoftState {
  NodeId lead = kNoNode;
  StateType state = StateType::kFollower;
  bool operator==(const SoftState&) const = default;
};

// A completed ReadIndex request (thesis §6.4): once applied >= index, a read
// issued with `context` may be served from the local state machine.
struct ReadState {
  Index index = 0;
  std::string context;
  bool operator==(const ReadState&) const = default;
};

class Raft {
 public:
  Raft(const Config& config, const Storage& storage);
  Raft(const Raft&) = delete;
  Raft& operator=(const Raft&) = delete;

  void tick();
  // Feeds one message (local or from a peer). Errors are for proposals that
  // cannot be accepted (no leader, transfer in flight, conf change pending).
  util::Status step(const Message& m);
  // The node persisted everything up to (index, term) (thesis §10.2.1).
  void on_persisted(Index index, Term term);
  void on_snapshot_persisted(Index index);
  // Apply a committed configuration change; returns the new ConfState.
  ConfState apply_conf_change(const ConfChange& cc);

  // Accessors for RawNode and tests.
  NodeId id() const { return id_; }
  Term term() const { return term_; }
  NodeId vote() const { return vote_; }
  NodeId lead() const { return lead_; }
  StateType state() const { return state_; }
  HardState hard_state() const { return {term_, vote_, log_.committed()}; }
  SoftState soft_state() const { return {lead_, state_}; }
  RaftLog& log() { return log_; }
  const RaftLog& log() const { return log_; }
  ProgressTracker& tracker() { return tracker_; }
  const ProgressTracker& tracker() const { return tracker_; }
  NodeId lead_transferee() const { return lead_transferee_; }
  // Leader: a configuration change may be proposed only once the log is
  // applied up to this index (one change at a time, and the 2015 fix).
  Index pending_conf_index() const { return pending_conf_index_; }
  const Config& config() const { return config_; }
  int randomized_election_timeout() const { return randomized_election_timeout_; }
  // Config::rejoining, until a leader said this node caught up.
  bool rejoining() const { return rejoining_; }

  // Batching: proposals and commit changes only mark that followers need
  // appends, and ReadIndex requests that a heartbeat round is due;
  // RawNode::ready() flushes them once, so many proposals between two
  // Readys share one MsgApp per follower (bounded by max_msg_bytes) and many
  // reads share one heartbeat round (thesis §6.4). A request never joins a
  // round already sent. With Config::max_read_rounds_in_flight reached,
  // requests (local or forwarded) wait and share the next round, sent once
  // a round is answered (or at the next heartbeat tick, which also retries
  // a round whose messages were lost).
  bool has_unsent() const { return pending_bcast_ || pending_read_round_; }
  void flush();

  // Output queues, drained by RawNode::ready().
  std::vector<Message>& msgs() { return msgs_; }
  std::vector<Message>& msgs_after_persist() { return msgs_after_persist_; }
  const std::vector<Message>& msgs_after_persist() const { return msgs_after_persist_; }
  std::vector<ReadState>& read_states() { return read_states_; }

 private:
  // Roles (§5.2). Each transition is asserted.
  void become_follower(Term term, NodeId lead);
  void become_pre_candidate();
  void become_candidate();
  void become_leader();
  void reset(Term term);
  void reset_randomized_election_timeout(int base_ticks);

  void tick_election();
  void tick_heartbeat();
  bool promotable() const;
  void hup(bool transfer);
  void campaign(bool pre, bool transfer);
  VoteResult poll(NodeId from, bool granted);

  // step() helpers.
  util::Status step_inner(const Message& m);
  bool step_term(const Message& m);  // false: drop m.
  void step_vote(const Message& m);
  util::Status step_leader(const Message& m);
  util::Status step_candidate(const Message& m);
  util::Status step_follower(const Message& m);
  util::Status propose(const Message& m);
  void leader_app_resp(const Message& m, Progress& pr);
  void leader_heartbeat_resp(const Message& m, Progress& pr);
  // A peer that lost its log (flagged MsgAppResp): returns false if m must
  // be dropped as stale.
  bool leader_rejoin_resp(const Message& m, Progress& pr);
  void start_rejoin(NodeId peer, Progress& pr, std::uint64_t nonce);
  std::string rejoined_context(const Progress& pr) const;
  void finish_rejoins();
  void leader_transfer(const Message& m);

  // Returns true if the append was accepted (the log matches through it).
  bool handle_append(const Message& m);
  std::string app_resp_context() const;
  void handle_heartbeat(const Message& m);
  void handle_snapshot(const Message& m);
  bool restore(const Snapshot& snap);

  // Leader replication.
  void append_entries(std::vector<Entry> ents);
  bool maybe_send_append(NodeId to, bool send_if_empty);
  bool send_snapshot(NodeId to, Progress& pr);
  void send_append(NodeId to) { maybe_send_append(to, true); }
  void bcast_append();
  void bcast_heartbeat(const std::string& context);
  void send_heartbeat(NodeId to, const std::string& context);
  void send_timeout_now(NodeId to);
  void hand_off_leadership();
  bool maybe_commit();
  void reduce_uncommitted(Index committed_before);
  void update_self_progress();
  bool committed_entry_in_current_term() const;
  bool removes_self(const Entry& e) const;
  Index unapplied_start() const;

  // ReadIndex (thesis §6.4).
  void read_index(const Message& m);
  void respond_read(const Message& req, Index index);
  void release_pending_reads();
  // Sends the newest round (a new one if requests arrived since): to every
  // member if `to_all`, else to read_round_targets().
  void send_read_round(bool to_all);
  // Config::read_rounds_to_quorum: the voters, the leader aside, that make a
  // quorum with it, by the newest round each acked (then by id); every
  // other member if no such set exists.
  std::vector<NodeId> read_round_targets() const;
  // Config::count_read_requester: the forwarded request `m` with its
  // sender and this leader alone make a quorum that confirms it.
  bool requester_confirms(const Message& m) const;
  bool may_start_read_round() const;
  void answer_reads_confirmed_by(const Message& ack);

  void send(Message m);
  void report(const Event& e) const {
    if (config_.on_event) config_.on_event(e);
  }
  // Checked after every input; each invariant is also stated at its data.
  void assert_invariants() const;

  struct ReadRequest {
    Message req;
    Index index = 0;        // The commit index when it arrived.
    std::uint64_t seq = 0;  // Arrival order (next_read_seq_).
  };
  // A heartbeat round: its heartbeats carry `id` as their context and were
  // all sent after every request up to `last_seq` arrived, so a quorum of
  // acks confirms leadership for those requests (and no later ones). Ids
  // are the leader's own, never reused: peers' read contexts may collide.
  struct ReadRound {
    std::uint64_t id = 0;
    std::uint64_t last_seq = 0;
    std::vector<NodeId> acks;
  };

  Config config_;
  NodeId id_;
  // Config::rejoining: no votes or campaigns until a leader says this node
  // caught up (persisted by the node, not in the hard state).
  bool rejoining_ = false;
  // Names this incarnation in the flags while rejoining_ (never 0 then).
  std::uint64_t rejoin_nonce_ = 0;
  // Persistent state (Figure 2), handed out via hard_state().
  Term term_ = 0;
  NodeId vote_ = kNoNode;
  RaftLog log_;
  // Volatile state.
  StateType state_ = StateType::kFollower;
  NodeId lead_ = kNoNode;
  ProgressTracker tracker_;
  // Ticks since the last election timeout reset (followers, candidates) or
  // since the last CheckQuorum (leader).
  int election_elapsed_ = 0;
  int heartbeat_elapsed_ = 0;
  int randomized_election_timeout_ = 0;
  // Leader: the member leadership is being transferred to, if any.
  NodeId lead_transferee_ = kNoNode;
  // Leader: index of the latest conf change entry; another may be proposed
  // only once applied >= pending_conf_index_ (one change at a time).
  Index pending_conf_index_ = 0;
  // Leader: its log holds a not yet applied change removing itself. From
  // then on it commits without counting its own copy (thesis §4.2.2), so
  // the change and everything after it reach a majority of the new
  // configuration before it steps down.
  bool removing_self_ = false;
  // Leader: bytes of entries above the commit index that it proposed or
  // inherited (only counted from its own term's proposals; see propose()).
  std::uint64_t uncommitted_bytes_ = 0;
  // Leader: ReadIndex requests awaiting their heartbeat quorum, in order.
  std::deque<ReadRequest> pending_reads_;
  // Leader: read rounds in flight, oldest first (last_seq ascending).
  std::vector<ReadRound> read_rounds_;
  std::uint64_t next_read_seq_ = 1;
  std::uint64_t next_read_round_ = 1;
  // Leader: ReadIndex requests received before an entry of this term committed.
  std::vector<Message> reads_before_commit_;

  bool pending_bcast_ = false;               // Leader: followers may need appends.
  bool pending_read_round_ = false;          // Leader: reads await a heartbeat round.
  std::vector<Message> msgs_;                // May be sent before persisting.
  std::vector<Message> msgs_after_persist_;  // Only after persisting.
  std::vector<ReadState> read_states_;
};

}  // namespace dkv::raft
