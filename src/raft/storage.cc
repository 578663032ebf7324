#include "raft/storage.h"

#include "util/assert.h"

namespace dkv::raft {

MemoryStorage::MemoryStorage() : entries_(1) {}

std::pair<HardState, ConfState> MemoryStorage::initial_state() const {
  return {hard_state_, conf_state_};
}

Index MemoryStorage::first_index() const { return entries_[0].index + 1; }

Index MemoryStorage::last_index() const { return entries_[0].index + entries_.size() - 1; }

util::Status MemoryStorage::entries(Index lo, Index hi, std::uint64_t max_bytes,
                                    std::vector<Entry>* out) const {
  DKV_ASSERT(lo <= hi);
  const Index offset = entries_[0].index;
  if (lo <= offset) return {kCompacted, "requested index is compacted"};
  if (hi > last_index() + 1) return {kUnavailable, "requested entry is beyond the last index"};
  std::uint64_t size = 0;
  for (Index i = lo; i < hi; ++i) {
    const Entry& e = entries_[i - offset];
    size += entry_size_bytes(e);
    if (i > lo && size > max_bytes) break;  // Always at least one entry.
    out->push_back(e);
  }
  return {};
}

util::Status MemoryStorage::term(Index i, Term* out) const {
  const Index offset = entries_[0].index;
  if (i < offset) return {kCompacted, "requested index is compacted"};
  if (i - offset >= entries_.size())
    return {kUnavailable, "requested entry is beyond the last index"};
  *out = entries_[i - offset].term;
  return {};
}

Snapshot MemoryStorage::snapshot() const { return snapshot_; }

util::Status MemoryStorage::apply_snapshot(const Snapshot& snap) {
  if (snap.metadata.index <= snapshot_.metadata.index && !snapshot_.empty()) {
    return {util::Code::kFailedPrecondition, "snapshot is out of date"};
  }
  snapshot_ = snap;
  conf_state_ = snap.metadata.conf_state;
  entries_.assign(1, Entry{snap.metadata.term, snap.metadata.index, EntryType::kNormal, {}});
  if (hard_state_.commit < snap.metadata.index) hard_state_.commit = snap.metadata.index;
  if (hard_state_.term < snap.metadata.term) hard_state_.term = snap.metadata.term;
  return {};
}

util::Status MemoryStorage::create_snapshot(Index i, const ConfState& cs, std::string data) {
  if (i <= snapshot_.metadata.index && !snapshot_.empty()) {
    return {util::Code::kFailedPrecondition, "snapshot is out of date"};
  }
  DKV_ASSERT(i <= last_index());
  DKV_ASSERT(i >= entries_[0].index);
  snapshot_.metadata.index = i;
  snapshot_.metadata.term = entries_[i - entries_[0].index].term;
  snapshot_.metadata.conf_state = cs;
  snapshot_.data = std::move(data);
  return {};
}

util::Status MemoryStorage::compact(Index compact_index) {
  const Index offset = entries_[0].index;
  if (compact_index <= offset) return {kCompacted, "already compacted"};
  DKV_ASSERT(compact_index <= last_index());
  const std::size_t k = compact_index - offset;
  // The entry at compact_index becomes the dummy; its data is no longer needed.
  entries_.erase(entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(k));
  entries_[0].data.clear();
  entries_[0].type = EntryType::kNormal;
  DKV_ASSERT(entries_[0].index == compact_index);
  return {};
}

util::Status MemoryStorage::append(const std::vector<Entry>& ents) {
  std::vector<Entry> copy = ents;
  return append(std::move(copy));
}

util::Status MemoryStorage::append(std::vector<Entry>&& ents) {
  if (ents.empty()) return {};
  const Index first = first_index();
  const Index last_new = ents.back().index;
  if (last_new < first) return {};  // Everything is already compacted.
  DKV_ASSERT(ents.front().index <= last_index() + 1);
  // Skip the part of ents that is already compacted.
  std::size_t skip = ents.front().index < first ? first - ents.front().index : 0;
  const Index start = ents[skip].index;
  entries_.resize(start - entries_[0].index);  // Drop our conflicting suffix.
  for (std::size_t k = skip; k < ents.size(); ++k) {
    DKV_ASSERT(ents[k].index == entries_[0].index + entries_.size());
    entries_.push_back(std::move(ents[k]));
  }
  return {};
}

}  // namespace dkv::raft
