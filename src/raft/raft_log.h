// RaftLog owns the core's view of the replicated log: the durable part
// (read through Storage) plus an unstable tail of entries, and possibly an
// incoming snapshot, not yet handed to the node for persistence; and the
// commit, apply and persisted positions over it (Raft paper §5.3).
// No I/O: the node persists what Ready hands out, then calls stable_to().
// Threading: not thread-safe; only the raft thread, via RawNode.
// Lifetime: `storage` must outlive this RaftLog.
#pragma once

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "raft/storage.h"
#include "raft/types.h"

namespace dkv::raft {

// The tail of the log that the node has not persisted yet: entries handed
// out in a Ready whose persistence is still under way (in progress), then
// entries not handed out yet.
// Invariant: if snapshot is set, offset == snapshot->metadata.index + 1.
// Invariant: entries[k].index == offset + k.
struct Unstable {
  std::optional<Snapshot> snapshot;
  std::vector<Entry> entries;
  Index offset = 0;
};

class RaftLog {
 public:
  explicit RaftLog(const Storage& storage);
  RaftLog(const RaftLog&) = delete;
  RaftLog& operator=(const RaftLog&) = delete;

  Index first_index() const;
  Index last_index() const;
  Term last_term() const;
  // Term of entry i; nullopt if compacted or beyond the last index.
  std::optional<Term> term(Index i) const;
  // Term of entry i, or 0 if unknown.
  Term term_or_zero(Index i) const { return term(i).value_or(0); }
  bool match_term(Index i, Term t) const;
  // §5.4.1: a candidate's log (last index/term) is at least as up-to-date.
  bool is_up_to_date(Index last, Term t) const;

  // Follower: appends ents after (index, log_term) if that entry matches,
  // truncating any conflicting suffix (§5.3), and moves commit up to
  // min(commit, last new index). Returns the last new index, or nullopt if
  // (index, log_term) does not match.
  std::optional<Index> maybe_append(Index index, Term log_term, Index commit,
                                    const std::vector<Entry>& ents);
  // Appends ents, which must start at most at last_index()+1; any suffix
  // from ents.front().index on is replaced. Returns the new last index.
  Index append(const std::vector<Entry>& ents);
  // Fast backtracking (thesis §5.4.2 note; etcd's findConflictByTerm): the
  // largest index <= i whose term is <= t, and its term.
  std::pair<Index, Term> find_conflict_by_term(Index i, Term t) const;

  // Entries [lo, hi) bounded by max_bytes (at least one); nullopt if any is compacted.
  std::optional<std::vector<Entry>> slice(Index lo, Index hi, std::uint64_t max_bytes) const;
  // Entries from i to the end, bounded by max_bytes.
  std::optional<std::vector<Entry>> entries_from(Index i, std::uint64_t max_bytes) const;

  Index committed() const { return committed_; }
  Index applied() const { return applied_; }
  // Highest index known durable on this node and still part of our log.
  Index persisted() const { return persisted_; }
  void commit_to(Index i);
  // Leader: commits max_index if its entry has term t (§5.4.2). True if moved.
  bool maybe_commit(Index max_index, Term t);
  void applied_to(Index i);

  // Ready support.
  const std::vector<Entry>& unstable_entries() const { return unstable_.entries; }
  const std::optional<Snapshot>& unstable_snapshot() const { return unstable_.snapshot; }
  // Unstable entries not yet handed out in a Ready, and handing them out:
  // they stay unstable (readable here) until stable_to().
  bool has_entries_to_persist() const { return last_index() > in_progress_; }
  std::vector<Entry> entries_to_persist() const;
  void mark_in_progress() { in_progress_ = last_index(); }
  // Committed entries after applied(), up to apply_limit (those not yet
  // durable here stay out of a Ready that persists asynchronously).
  bool has_next_committed_entries(Index apply_limit) const;
  std::vector<Entry> next_committed_entries(std::uint64_t max_bytes, Index apply_limit) const;
  // The node persisted entries through (i, t): drop them from the unstable
  // tail (unless the tail was rewritten since) and advance persisted().
  void stable_to(Index i, Term t);
  void stable_snap_to(Index i);

  // The latest snapshot (unstable first, else storage's).
  Snapshot snapshot() const;
  // Follower: replaces the log with `snap` (§7).
  void restore(const Snapshot& snap);

 private:
  void truncate_and_append(const std::vector<Entry>& ents);
  // First index in ents whose term conflicts with ours, or 0 if none.
  Index find_conflict(const std::vector<Entry>& ents) const;

  const Storage& storage_;
  Unstable unstable_;
  // Invariant: applied_ <= committed_ (asserted on every move).
  // Invariant: committed_ <= last_index().
  Index committed_ = 0;
  Index applied_ = 0;
  // Invariant: persisted_ <= last_index().
  Index persisted_ = 0;
  // Entries through here were handed out in a Ready (persisted or on their
  // way). Invariant: persisted_ <= in_progress_ <= last_index().
  Index in_progress_ = 0;
};

}  // namespace dkv::raft
