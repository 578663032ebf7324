#include "raft/progress.h"

#include <algorithm>
#include <functional>

#include "util/assert.h"

namespace dkv::raft {

void Inflights::add(Index last_index, std::uint64_t bytes) {
  DKV_ASSERT(!full());
  DKV_ASSERT(entries_.empty() || entries_.back().last_index <= last_index);
  entries_.push_back({last_index, bytes});
  bytes_ += bytes;
}

void Inflights::free_le(Index index) {
  while (!entries_.empty() && entries_.front().last_index <= index) {
    bytes_ -= entries_.front().bytes;
    entries_.pop_front();
  }
}

void Inflights::free_first_one() {
  if (entries_.empty()) return;
  bytes_ -= entries_.front().bytes;
  entries_.pop_front();
}

void Inflights::reset() {
  entries_.clear();
  bytes_ = 0;
}

bool Inflights::full() const {
  if (entries_.size() >= max_count_) return true;
  return max_bytes_ != 0 && bytes_ >= max_bytes_;
}

std::string_view progress_state_name(ProgressState s) {
  switch (s) {
    case ProgressState::kProbe:
      return "probe";
    case ProgressState::kReplicate:
      return "replicate";
    case ProgressState::kSnapshot:
      return "snapshot";
  }
  return "?";
}

void Progress::become_probe() {
  // After a snapshot, resume right after it (or after match if further).
  if (state == ProgressState::kSnapshot) {
    next = std::max(match + 1, pending_snapshot + 1);
  } else {
    next = match + 1;
  }
  state = ProgressState::kProbe;
  pending_snapshot = 0;
  probe_sent = false;
  inflights.reset();
}

void Progress::become_replicate() {
  state = ProgressState::kReplicate;
  next = match + 1;
  pending_snapshot = 0;
  probe_sent = false;
  inflights.reset();
}

void Progress::become_snapshot(Index snapshot_index) {
  state = ProgressState::kSnapshot;
  pending_snapshot = snapshot_index;
  probe_sent = false;
  inflights.reset();
}

bool Progress::maybe_update(Index n) {
  bool updated = false;
  if (match < n) {
    match = n;
    updated = true;
    probe_sent = false;
  }
  next = std::max(next, n + 1);
  DKV_ASSERT(match < next);
  return updated;
}

bool Progress::maybe_decr_to(Index rejected, Index match_hint) {
  if (state == ProgressState::kReplicate) {
    // Stale if the rejected index is at or below what we know matches.
    if (rejected <= match) return false;
    next = match + 1;  // Fall back to probing right after match.
    return true;
  }
  // Probe: only the rejection of our latest probe (next - 1) counts.
  if (next == 0 || next - 1 != rejected) return false;
  next = std::max(std::min(rejected, match_hint + 1), match + 1);
  probe_sent = false;
  DKV_ASSERT(match < next);
  return true;
}

void Progress::sent_entries(Index last, std::size_t count, std::uint64_t bytes) {
  switch (state) {
    case ProgressState::kReplicate:
      if (count > 0) {
        next = last + 1;
        inflights.add(last, bytes);
      }
      break;
    case ProgressState::kProbe:
      probe_sent = true;
      break;
    case ProgressState::kSnapshot:
      DKV_ASSERT(false);  // Nothing is sent while a snapshot is in flight.
  }
}

bool Progress::is_paused() const {
  switch (state) {
    case ProgressState::kProbe:
      return probe_sent;
    case ProgressState::kReplicate:
      return inflights.full();
    case ProgressState::kSnapshot:
      return true;
  }
  return true;
}

void ProgressTracker::set_conf_state(const ConfState& cs, Index next_index) {
  conf_ = cs;
  std::sort(conf_.voters.begin(), conf_.voters.end());
  std::sort(conf_.learners.begin(), conf_.learners.end());
  std::map<NodeId, Progress> next;
  auto keep = [&](NodeId id, bool learner) {
    auto it = progress_.find(id);
    if (it != progress_.end()) {
      it->second.is_learner = learner;
      next.emplace(id, it->second);
    } else {
      Progress pr(next_index, max_inflight_, max_inflight_bytes_);
      pr.is_learner = learner;
      pr.recent_active = true;  // Give a new member one CheckQuorum period.
      next.emplace(id, pr);
    }
  };
  for (NodeId id : conf_.voters) keep(id, false);
  for (NodeId id : conf_.learners) {
    DKV_ASSERT(!is_voter(id));  // Voters and learners are disjoint.
    keep(id, true);
  }
  progress_ = std::move(next);
}

bool ProgressTracker::is_voter(NodeId id) const {
  return std::binary_search(conf_.voters.begin(), conf_.voters.end(), id);
}

bool ProgressTracker::is_learner(NodeId id) const {
  return std::binary_search(conf_.learners.begin(), conf_.learners.end(), id);
}

bool ProgressTracker::is_single_voter(NodeId id) const {
  return conf_.voters.size() == 1 && conf_.voters[0] == id;
}

Progress* ProgressTracker::get(NodeId id) {
  auto it = progress_.find(id);
  return it == progress_.end() ? nullptr : &it->second;
}

const Progress* ProgressTracker::get(NodeId id) const {
  auto it = progress_.find(id);
  return it == progress_.end() ? nullptr : &it->second;
}

void ProgressTracker::reset_all(Index next_index) {
  for (auto& [id, pr] : progress_) {
    const bool learner = pr.is_learner;
    pr = Progress(next_index, max_inflight_, max_inflight_bytes_);
    pr.is_learner = learner;
  }
}

Index ProgressTracker::committed_index(NodeId not_counted) const {
  if (conf_.voters.empty()) return 0;
  std::vector<Index> matches;
  matches.reserve(conf_.voters.size());
  for (NodeId id : conf_.voters) {
    const Progress& pr = progress_.at(id);
    const bool counted = id != not_counted && pr.rejoin_target == 0;
    matches.push_back(counted ? pr.match : 0);
  }
  std::sort(matches.begin(), matches.end(), std::greater<>());
  // The (n/2+1)-th largest match is held by a majority.
  return matches[matches.size() / 2];
}

bool ProgressTracker::quorum_active() const {
  std::size_t active = 0;
  for (NodeId id : conf_.voters) active += progress_.at(id).recent_active ? 1 : 0;
  return active >= majority(conf_.voters.size());
}

void ProgressTracker::record_vote(NodeId id, bool granted) { votes_.emplace(id, granted); }

VoteResult ProgressTracker::tally_votes() const {
  std::size_t granted = 0;
  std::size_t rejected = 0;
  for (NodeId id : conf_.voters) {
    auto it = votes_.find(id);
    if (it == votes_.end()) continue;
    (it->second ? granted : rejected)++;
  }
  const std::size_t q = majority(conf_.voters.size());
  if (granted >= q) return VoteResult::kWon;
  if (rejected >= q) return VoteResult::kLost;
  return VoteResult::kPending;
}

bool ProgressTracker::has_quorum(const std::vector<NodeId>& acks) const {
  std::size_t n = 0;
  for (NodeId id : acks) {
    const Progress* pr = get(id);
    n += is_voter(id) && pr != nullptr && pr->rejoin_target == 0 ? 1 : 0;
  }
  return n >= majority(conf_.voters.size());
}

}  // namespace dkv::raft
