#include "raft/raft_log.h"

#include <algorithm>
#include <limits>

#include "util/assert.h"

namespace dkv::raft {

namespace {
constexpr std::uint64_t kNoLimit = std::numeric_limits<std::uint64_t>::max();
}  // namespace

RaftLog::RaftLog(const Storage& storage) : storage_(storage) {
  const Index first = storage_.first_index();
  const Index last = storage_.last_index();
  unstable_.offset = last + 1;
  committed_ = first - 1;
  applied_ = first - 1;
  persisted_ = last;
  in_progress_ = last;
}

Index RaftLog::first_index() const {
  if (unstable_.snapshot) return unstable_.snapshot->metadata.index + 1;
  return storage_.first_index();
}

Index RaftLog::last_index() const {
  if (!unstable_.entries.empty()) return unstable_.offset + unstable_.entries.size() - 1;
  if (unstable_.snapshot) return unstable_.snapshot->metadata.index;
  return storage_.last_index();
}

Term RaftLog::last_term() const {
  const auto t = term(last_index());
  DKV_ASSERT(t.has_value());
  return *t;
}

std::optional<Term> RaftLog::term(Index i) const {
  // Unstable first: it overrides storage from offset on.
  if (i >= unstable_.offset) {
    const Index k = i - unstable_.offset;
    if (k < unstable_.entries.size()) return unstable_.entries[k].term;
    return std::nullopt;
  }
  if (unstable_.snapshot && i == unstable_.snapshot->metadata.index) {
    return unstable_.snapshot->metadata.term;
  }
  if (unstable_.snapshot) return std::nullopt;  // Below the incoming snapshot.
  Term t = 0;
  const util::Status st = storage_.term(i, &t);
  if (!st.is_ok()) {
    DKV_ASSERT(st.code() == kCompacted || st.code() == kUnavailable);  // Storage contract.
    return std::nullopt;
  }
  return t;
}

bool RaftLog::match_term(Index i, Term t) const {
  const auto got = term(i);
  return got.has_value() && *got == t;
}

bool RaftLog::is_up_to_date(Index last, Term t) const {
  const Term our = last_term();
  return t > our || (t == our && last >= last_index());
}

std::optional<Index> RaftLog::maybe_append(Index index, Term log_term, Index commit,
                                           const std::vector<Entry>& ents) {
  if (!match_term(index, log_term)) return std::nullopt;
  const Index last_new = index + ents.size();
  const Index conflict = find_conflict(ents);
  if (conflict != 0) {
    // A conflicting entry is never a committed one (§5.4 leader completeness).
    DKV_ASSERT(conflict > committed_);
    const std::vector<Entry> tail(ents.begin() + static_cast<std::ptrdiff_t>(conflict - index - 1),
                                  ents.end());
    append(tail);
  }
  commit_to(std::min(commit, last_new));
  return last_new;
}

Index RaftLog::find_conflict(const std::vector<Entry>& ents) const {
  for (const Entry& e : ents) {
    if (!match_term(e.index, e.term)) return e.index;
  }
  return 0;
}

Index RaftLog::append(const std::vector<Entry>& ents) {
  if (ents.empty()) return last_index();
  DKV_ASSERT(ents.front().index > committed_);
  DKV_ASSERT(ents.front().index <= last_index() + 1);
  truncate_and_append(ents);
  return last_index();
}

void RaftLog::truncate_and_append(const std::vector<Entry>& ents) {
  const Index after = ents.front().index;
  persisted_ = std::min(persisted_, after - 1);
  in_progress_ = std::min(in_progress_, after - 1);
  if (after == unstable_.offset + unstable_.entries.size()) {
    // Directly after the tail.
  } else if (after <= unstable_.offset) {
    // Replaces the whole unstable tail (and maybe part of storage).
    unstable_.offset = after;
    unstable_.entries.clear();
  } else {
    unstable_.entries.resize(after - unstable_.offset);
  }
  unstable_.entries.insert(unstable_.entries.end(), ents.begin(), ents.end());
  DKV_ASSERT(unstable_.entries.front().index == unstable_.offset);
}

std::pair<Index, Term> RaftLog::find_conflict_by_term(Index i, Term t) const {
  for (;; --i) {
    const auto our = term(i);
    if (!our.has_value()) return {i, 0};  // Compacted or missing: stop here.
    if (*our <= t) return {i, *our};
    if (i == 0) return {0, 0};
  }
}

std::optional<std::vector<Entry>> RaftLog::slice(Index lo, Index hi,
                                                 std::uint64_t max_bytes) const {
  DKV_ASSERT(lo <= hi);
  std::vector<Entry> out;
  if (lo == hi) return out;
  if (lo < first_index()) return std::nullopt;
  DKV_ASSERT(hi <= last_index() + 1);
  // Part in storage.
  if (lo < unstable_.offset) {
    const Index stop = std::min(hi, unstable_.offset);
    const util::Status st = storage_.entries(lo, stop, max_bytes, &out);
    if (!st.is_ok()) {
      DKV_ASSERT(st.code() == kCompacted);  // Storage contract; [lo, stop) is below last.
      return std::nullopt;
    }
    if (out.size() < stop - lo) return out;  // Hit the byte limit.
  }
  std::uint64_t size = 0;
  for (const Entry& e : out) size += entry_size_bytes(e);
  for (Index i = std::max(lo, unstable_.offset); i < hi; ++i) {
    const Entry& e = unstable_.entries[i - unstable_.offset];
    size += entry_size_bytes(e);
    if (!out.empty() && size > max_bytes) break;
    out.push_back(e);
  }
  return out;
}

std::optional<std::vector<Entry>> RaftLog::entries_from(Index i, std::uint64_t max_bytes) const {
  if (i > last_index()) return std::vector<Entry>{};
  return slice(i, last_index() + 1, max_bytes);
}

void RaftLog::commit_to(Index i) {
  if (i <= committed_) return;  // Never decreases.
  DKV_ASSERT(i <= last_index());
  committed_ = i;
}

bool RaftLog::maybe_commit(Index max_index, Term t) {
  if (max_index <= committed_) return false;
  if (term_or_zero(max_index) != t) return false;  // §5.4.2, Figure 8.
  commit_to(max_index);
  return true;
}

void RaftLog::applied_to(Index i) {
  if (i == 0) return;
  DKV_ASSERT(i <= committed_);
  DKV_ASSERT(i >= applied_);
  applied_ = i;
}

std::vector<Entry> RaftLog::entries_to_persist() const {
  if (!has_entries_to_persist()) return {};
  const Index from = std::max(in_progress_ + 1, unstable_.offset);
  return {unstable_.entries.begin() + static_cast<std::ptrdiff_t>(from - unstable_.offset),
          unstable_.entries.end()};
}

bool RaftLog::has_next_committed_entries(Index apply_limit) const {
  const Index lo = std::max(applied_ + 1, first_index());
  return std::min(committed_, apply_limit) + 1 > lo;
}

std::vector<Entry> RaftLog::next_committed_entries(std::uint64_t max_bytes,
                                                   Index apply_limit) const {
  const Index lo = std::max(applied_ + 1, first_index());
  const Index hi = std::min(committed_, apply_limit);
  if (hi + 1 <= lo) return {};
  auto ents = slice(lo, hi + 1, max_bytes);
  DKV_ASSERT(ents.has_value());
  return std::move(*ents);
}

void RaftLog::stable_to(Index i, Term t) {
  if (!match_term(i, t)) return;  // The tail was rewritten since the Ready.
  if (i >= unstable_.offset) {
    const Index n = i + 1 - unstable_.offset;
    DKV_ASSERT(n <= unstable_.entries.size());
    unstable_.entries.erase(unstable_.entries.begin(),
                            unstable_.entries.begin() + static_cast<std::ptrdiff_t>(n));
    unstable_.offset = i + 1;
  }
  persisted_ = std::max(persisted_, i);
  in_progress_ = std::max(in_progress_, persisted_);
  DKV_ASSERT(persisted_ <= last_index());
}

void RaftLog::stable_snap_to(Index i) {
  if (!unstable_.snapshot || unstable_.snapshot->metadata.index != i) return;
  unstable_.snapshot.reset();
  persisted_ = std::max(persisted_, i);
  in_progress_ = std::max(in_progress_, persisted_);
}

Snapshot RaftLog::snapshot() const {
  if (unstable_.snapshot) return *unstable_.snapshot;
  return storage_.snapshot();
}

void RaftLog::restore(const Snapshot& snap) {
  const Index i = snap.metadata.index;
  DKV_ASSERT(i > committed_);
  committed_ = i;
  unstable_.offset = i + 1;
  unstable_.entries.clear();
  unstable_.snapshot = snap;
  persisted_ = 0;    // Nothing of the new log is durable until stable_snap_to.
  in_progress_ = i;  // The snapshot goes out in the next Ready, entries after it later.
}

}  // namespace dkv::raft
