// Plain value types shared by the raft core, the WAL and the node: log
// entries and the hard state that must be durable before messages depending
// on it are sent. No behaviour here; the rules live in the core.
#pragma once

#include <cstdint>
#include <string>

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

}  // namespace dkv::raft
