// Plain value types shared by the raft core, the WAL, the transport and the
// node: log entries, the hard state that must be durable before messages
// depending on it are sent, snapshots, configurations and messages. No
// behaviour here beyond (de)coding a ConfChange; the rules live in the core.
// Threading: plain values, no sharing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dkv::raft {

using Index = std::uint64_t;   // Position in the log; 0 means "none".
using Term = std::uint64_t;    // Election term; 0 means "none".
using NodeId = std::uint64_t;  // Raft member id; 0 means "none".

inline constexpr NodeId kNoNode = 0;

enum class EntryType : std::uint8_t {
  kNormal = 0,      // A state-machine command (or an empty no-op on election).
  kConfChange = 1,  // A membership change; data is its encoding.
};

struct Entry {
  Term term = 0;
  Index index = 0;
  EntryType type = EntryType::kNormal;
  std::string data;

  bool operator==(const Entry&) const = default;
};

// What a node must persist before sending messages that depend on it (Raft
// paper Figure 2: currentTerm, votedFor; commit is persisted to speed restart).
struct HardState {
  Term term = 0;
  NodeId vote = kNoNode;
  Index commit = 0;

  bool operator==(const HardState&) const = default;
  bool empty() const { return term == 0 && vote == kNoNode && commit == 0; }
};

// The membership in force. Voters count toward quorums and may lead;
// learners only receive the log (thesis §4.2.1). Both lists are sorted and
// disjoint.
struct ConfState {
  std::vector<NodeId> voters;
  std::vector<NodeId> learners;

  bool operator==(const ConfState&) const = default;
};

// How many of `voters` make a quorum: the one majority rule, used by the
// core's commit, vote, ReadIndex and CheckQuorum counts and by the node's
// membership policy for a proposed configuration.
constexpr std::size_t majority(std::size_t voters) { return voters / 2 + 1; }

struct SnapshotMetadata {
  Index index = 0;       // Last log index the snapshot covers.
  Term term = 0;         // Term of that entry.
  ConfState conf_state;  // Membership as of `index`.

  bool operator==(const SnapshotMetadata&) const = default;
};

// A state-machine image up to metadata.index (thesis §5.1). `data` is opaque
// to the core.
struct Snapshot {
  std::string data;
  SnapshotMetadata metadata;

  bool operator==(const Snapshot&) const = default;
  bool empty() const { return metadata.index == 0; }
};

// A single-server membership change (thesis §4.1), carried in an entry of
// type kConfChange and taking effect when the application applies it.
enum class ConfChangeType : std::uint8_t {
  kAddNode = 0,     // Add a voter, or promote a learner to voter.
  kRemoveNode = 1,  // Remove a voter or a learner.
  kAddLearner = 2,  // Add a non-voting learner.
};

struct ConfChange {
  ConfChangeType type = ConfChangeType::kAddNode;
  NodeId node_id = kNoNode;
  std::string context;  // Opaque to the core (e.g. the new node's address).

  bool operator==(const ConfChange&) const = default;
  // Layout: type (1 byte), node_id (8 bytes little-endian), context.
  std::string encode() const;
  // Returns nullopt if `data` is not a valid encoding.
  static std::optional<ConfChange> decode(std::string_view data);
};

enum class MessageType : std::uint8_t {
  // Local only: never sent on the wire.
  kHup = 0,             // Start an election (timeout or campaign()).
  kBeat = 1,            // Leader: send heartbeats.
  kProp = 2,            // Propose entries (forwarded to the leader if allowed).
  kCheckQuorum = 3,     // Leader: check it heard from a quorum recently.
  kUnreachable = 4,     // The transport could not reach `from`.
  kSnapStatus = 5,      // The transport finished sending a snapshot (reject=failed).
  kTransferLeader = 6,  // Ask the leader to hand leadership to `from`.
  // On the wire.
  kApp = 10,      // AppendEntries (§5.3).
  kAppResp = 11,  // Its answer; reject carries a hint (§5.3, thesis §5.4.2 fast backtracking).
  kVote = 12,     // RequestVote (§5.2).
  kVoteResp = 13,
  kPreVote = 14,  // PreVote (thesis §9.6): would you vote for me at term+1?
  kPreVoteResp = 15,
  kSnap = 16,           // InstallSnapshot (§7).
  kHeartbeat = 17,      // Empty append carrying commit and ReadIndex context.
  kHeartbeatResp = 18,  // reject: from a node that lost its log; confirms nothing.
  kTimeoutNow = 19,     // Leadership transfer: campaign now (thesis §3.10).
  kReadIndex = 20,      // ReadIndex request (thesis §6.4), local or forwarded.
  kReadIndexResp = 21,  // Leader's answer to a forwarded ReadIndex.
};

std::string_view message_type_name(MessageType t);

// One message between cores. Plain fields; the transport maps them to its
// wire format. Fields unused by a type are left at their defaults.
struct Message {
  MessageType type = MessageType::kHup;
  NodeId to = kNoNode;
  NodeId from = kNoNode;
  Term term = 0;      // Sender's term; 0 for local messages and kProp.
  Term log_term = 0;  // kApp: term of entry `index`; kVote: last log term;
                      // rejected kAppResp: term at reject_hint; kReadIndex
                      // forwarded by a follower: its term when it sent it.
  Index index = 0;    // kApp: index before `entries`; kAppResp: last matching
                      // index; kVote: last log index; kReadIndexResp: read index.
  std::vector<Entry> entries;
  Index commit = 0;  // kApp/kHeartbeat: leader's commit.
  bool reject = false;
  Index reject_hint = 0;             // Rejected kAppResp: follower's guess of the match.
  std::optional<Snapshot> snapshot;  // kSnap only.
  std::string context;               // kHeartbeat(Resp)/kReadIndex(Resp): read request id;
                                     // kVote/kPreVote: "transfer" when forced by TimeoutNow;
                                     // kAppResp: "rejoining" from a node that lost its log;
                                     // kApp: "rejoined" once that node caught up.

  bool operator==(const Message&) const = default;
};

// Approximate wire size of an entry, used for batching limits.
inline std::uint64_t entry_size_bytes(const Entry& e) { return e.data.size() + 24; }

}  // namespace dkv::raft
