// Storage: the read side of the durable Raft log and snapshot, as the core
// sees it (Raft paper §5.3, §7). The core never writes through it; the node
// persists what Ready hands out (to the WAL) and mirrors it into the Storage.
// MemoryStorage is the in-memory implementation used by tests, the simulator
// and the node (which keeps the log in memory and the WAL on disk, as etcd).
// No I/O. Threading: not thread-safe; only the raft thread.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "raft/types.h"
#include "util/status.h"

namespace dkv::raft {

// Error codes Storage methods return (as util::Status codes).
inline constexpr util::Code kCompacted = util::Code::kOutOfRange;  // Index below first_index()-1.
inline constexpr util::Code kUnavailable = util::Code::kUnavailable;  // Index above last_index().

// Only kCompacted and kUnavailable may be returned: an implementation that
// meets a disk error or corruption stops the node itself (the core cannot
// make progress on a log it cannot read, and asserts).
class Storage {
 public:
  virtual ~Storage() = default;
  // The persisted hard state and membership, read once when a RawNode starts.
  virtual std::pair<HardState, ConfState> initial_state() const = 0;
  // Appends to *out the entries [lo, hi), stopping before the total
  // entry_size_bytes() exceeds max_bytes, but always at least one entry if
  // lo < hi. Returns kCompacted if lo < first_index(), kUnavailable if
  // hi > last_index() + 1.
  virtual util::Status entries(Index lo, Index hi, std::uint64_t max_bytes,
                               std::vector<Entry>* out) const = 0;
  // Term of entry i, for i in [first_index()-1, last_index()] (the entry just
  // before first_index() is the latest snapshot's, kept for log matching).
  virtual util::Status term(Index i, Term* out) const = 0;
  // Index of the first entry available through entries(); older ones were
  // compacted into the snapshot.
  virtual Index first_index() const = 0;
  // Index of the last entry; first_index()-1 when the log is empty.
  virtual Index last_index() const = 0;
  // The most recent snapshot (metadata.index == first_index()-1).
  virtual Snapshot snapshot() const = 0;
};

// Storage held in memory. entries_[0] is a dummy standing for the snapshot
// point: its index and term are the snapshot's.
// Invariant: entries_ is never empty.
// Invariant: entries_[k].index == entries_[0].index + k.
class MemoryStorage : public Storage {
 public:
  MemoryStorage();

  std::pair<HardState, ConfState> initial_state() const override;
  util::Status entries(Index lo, Index hi, std::uint64_t max_bytes,
                       std::vector<Entry>* out) const override;
  util::Status term(Index i, Term* out) const override;
  Index first_index() const override;
  Index last_index() const override;
  Snapshot snapshot() const override;

  // Writers, called by whoever persists a Ready.
  void set_hard_state(const HardState& hs) { hard_state_ = hs; }
  const HardState& hard_state() const { return hard_state_; }
  // Sets the membership reported by initial_state() (bootstrap, or after
  // applying a configuration change).
  void set_conf_state(const ConfState& cs) { conf_state_ = cs; }
  // Replaces everything with `snap`. Fails if snap is older than ours.
  util::Status apply_snapshot(const Snapshot& snap);
  // Records a snapshot of the state machine at applied index i (<= last_index).
  util::Status create_snapshot(Index i, const ConfState& cs, std::string data);
  // Discards entries before compact_index (which must be <= last_index()).
  util::Status compact(Index compact_index);
  // Appends entries; entries that overlap ours replace our suffix from the
  // first overlapping index on (the leader overwrote it, §5.3). The first
  // entry's index must be <= last_index()+1. The rvalue form moves them in
  // (the node's Ready path: a copy of each entry's data was ~5% of a raft
  // thread's time under puts).
  util::Status append(const std::vector<Entry>& ents);
  util::Status append(std::vector<Entry>&& ents);

 private:
  HardState hard_state_;
  ConfState conf_state_;
  Snapshot snapshot_;
  std::vector<Entry> entries_;
};

}  // namespace dkv::raft
