// Leader-side bookkeeping of each peer's replication (flow control) and the
// quorum arithmetic over the current configuration: Progress per peer with
// its probe / replicate / snapshot state and in-flight window, and
// ProgressTracker for commit indexes, votes and CheckQuorum activity.
// Modeled on etcd-io/raft's tracker/ package; our own code. No I/O.
// Threading: not thread-safe; only the raft thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string_view>
#include <vector>

#include "raft/types.h"

namespace dkv::raft {

// The window of MsgApp sent to one follower and not yet acknowledged,
// bounded by a count and by bytes (0 bytes = no byte limit).
// Invariant: entries_.size() <= max_count_.
class Inflights {
 public:
  Inflights(std::size_t max_count, std::uint64_t max_bytes)
      : max_count_(max_count), max_bytes_(max_bytes) {}
  // Records a MsgApp whose last entry is `last_index`. Must not be full().
  void add(Index last_index, std::uint64_t bytes);
  // Frees every message whose last index is <= index (they were acked).
  void free_le(Index index);
  // Frees the oldest message (a heartbeat answer suggests it was lost).
  void free_first_one();
  void reset();
  bool full() const;
  std::size_t count() const { return entries_.size(); }
  std::uint64_t bytes() const { return bytes_; }

 private:
  struct Item {
    Index last_index;
    std::uint64_t bytes;
  };
  std::size_t max_count_;
  std::uint64_t max_bytes_;
  std::deque<Item> entries_;  // Ascending last_index.
  std::uint64_t bytes_ = 0;
};

enum class ProgressState : std::uint8_t {
  kProbe,      // One MsgApp per heartbeat interval until the match is found.
  kReplicate,  // Optimistic pipelining: next advances as we send.
  kSnapshot,   // A snapshot is in flight; nothing else is sent.
};
std::string_view progress_state_name(ProgressState s);

// What the leader knows of one peer's log (Figure 2's nextIndex/matchIndex).
// Invariant: match < next.
struct Progress {
  Progress(Index next_index, std::size_t max_inflight, std::uint64_t max_inflight_bytes)
      : next(next_index), inflights(max_inflight, max_inflight_bytes) {}

  Index match = 0;
  Index next = 1;
  ProgressState state = ProgressState::kProbe;
  Index pending_snapshot = 0;  // kSnapshot: index of the snapshot in flight.
  bool recent_active = false;  // Heard from since the last CheckQuorum.
  bool probe_sent = false;     // kProbe: a MsgApp is out; wait for answer/heartbeat.
  bool is_learner = false;
  // The peer lost its log (a wiped data directory restarted under the same
  // name) and said so with a flagged MsgAppResp, which names the incarnation
  // (the nonce it drew when it started). Until its match reaches this index
  // (an entry the leader appended on learning it, committed by the others),
  // its acks do not count toward commit or ReadIndex quorums, and unflagged
  // answers from it are stale (sent before it lost its log). 0: not rejoining.
  Index rejoin_target = 0;
  // The incarnation being rejoined (rejoin_target != 0) or that caught up in
  // this term (then every MsgApp tells it so: context "rejoined:<nonce>").
  // A flagged answer naming another incarnation is a new loss. 0: none.
  std::uint64_t rejoin_nonce = 0;
  // Its last MsgAppResp was flagged: it does not know yet that it caught up
  // (so it would not campaign if asked to take over leadership).
  bool rejoin_flagged = false;
  // Leader: the newest ReadIndex round (its id) this peer acked; the
  // freshest responders get the next round (Raft::read_round_targets).
  std::uint64_t last_read_ack_round = 0;
  Inflights inflights;

  void become_probe();
  void become_replicate();
  void become_snapshot(Index snapshot_index);
  // An ack for index n arrived. Returns false if it was stale.
  bool maybe_update(Index n);
  // A rejection of the MsgApp at `rejected` arrived with the follower's hint.
  // Returns false if it was stale.
  bool maybe_decr_to(Index rejected, Index match_hint);
  // Records that entries up to last were sent (pipelining in kReplicate).
  void sent_entries(Index last, std::size_t count, std::uint64_t bytes);
  bool is_paused() const;
};

enum class VoteResult : std::uint8_t { kPending, kWon, kLost };

// Progress of every member, keyed by id, plus votes of the current election.
class ProgressTracker {
 public:
  ProgressTracker(std::size_t max_inflight, std::uint64_t max_inflight_bytes)
      : max_inflight_(max_inflight), max_inflight_bytes_(max_inflight_bytes) {}

  const ConfState& conf_state() const { return conf_; }
  // Replaces the configuration; keeps progress of members that stay, creates
  // progress (next = next_index) for new ones.
  void set_conf_state(const ConfState& cs, Index next_index);
  bool is_voter(NodeId id) const;
  bool is_learner(NodeId id) const;
  bool is_single_voter(NodeId id) const;

  Progress* get(NodeId id);
  const Progress* get(NodeId id) const;
  std::map<NodeId, Progress>& progress() { return progress_; }
  const std::map<NodeId, Progress>& progress() const { return progress_; }
  // Resets every progress for a new leader (§5.3: next = leader's last + 1).
  void reset_all(Index next_index);

  // Highest index replicated (match) on a majority of voters. A voter
  // named `not_counted` counts as holding nothing (a leader removing itself),
  // and so does a rejoining one (Progress::rejoin_target).
  Index committed_index(NodeId not_counted = kNoNode) const;
  // CheckQuorum (thesis §6.2): a majority of voters were recently active.
  bool quorum_active() const;
  // Votes: record and tally (§5.2).
  void record_vote(NodeId id, bool granted);
  VoteResult tally_votes() const;
  void reset_votes() { votes_.clear(); }
  // Majority of voters among `acks` (used by ReadIndex). A rejoining voter
  // (Progress::rejoin_target) does not count: it may have forgotten a term.
  bool has_quorum(const std::vector<NodeId>& acks) const;

 private:
  std::size_t max_inflight_;
  std::uint64_t max_inflight_bytes_;
  ConfState conf_;
  std::map<NodeId, Progress> progress_;
  std::map<NodeId, bool> votes_;
};

}  // namespace dkv::raft
