#include "node/applier.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "node/entry_codec.h"
#include "node/node_metrics.h"
#include "util/assert.h"
#include "util/reply_batch.h"

namespace dkv::node {

bool PendingWriteCount::try_add() {
  util::MutexLock lock(mu_);
  if (count_ >= max_) return false;
  ++count_;
  return true;
}

void PendingWriteCount::release(std::size_t n) {
  util::MutexLock lock(mu_);
  DKV_ASSERT(n <= count_);  // Pending writes never go negative.
  count_ -= n;
}

std::size_t PendingWriteCount::count() const {
  util::MutexLock lock(mu_);
  return count_;
}

void Applier::propose_parked(const ProposeFn& propose) {
  std::vector<PendingWrite> still_parked;
  std::size_t refused = 0;
  for (auto& w : parked_) {
    util::Status s = propose(w.data);
    if (s.is_ok() && canary_waiter_before_apply_) {
      w.done(util::Status::ok(), {});  // The canary: answered before applied.
      ++refused;                       // Released below, as answered.
    } else if (s.is_ok()) {
      const std::uint64_t id = w.request_id;
      const bool inserted = proposed_.emplace(id, std::move(w)).second;
      DKV_ASSERT(inserted);  // Request ids are unique.
    } else if (s.code() == util::Code::kUnavailable) {
      still_parked.push_back(std::move(w));
    } else {
      ++refused;
      w.done(std::move(s), {});
    }
  }
  parked_ = std::move(still_parked);
  if (refused > 0) pending_.release(refused);
}

util::Status Applier::apply(const std::vector<raft::Entry>& entries,
                            const ConfChangeFn& conf_change) {
  DKV_ASSERT(commands_.empty());
  const raft::Index applied = store_.applied_index();
  for (const auto& e : entries) {
    if (e.index <= applied) continue;  // Already in the store (a snapshot covered it).
    applied_entry_bytes_ += e.data.size();
    if (e.type == raft::EntryType::kConfChange) {
      // The commands before it first: the change's own transaction records
      // the new membership with the change's index.
      if (auto s = flush(e.index - 1); !s.is_ok()) return s;
      if (auto s = conf_change(e); !s.is_ok()) return s;
      continue;
    }
    if (e.data.empty()) continue;  // A new leader's no-op.
    std::uint64_t id = 0;
    kv::Command c;
    if (auto s = decode_entry(e.data, &id, &c); !s.is_ok()) {
      // Every replica applies the same log: a bad entry is our bug.
      return util::Status(
          s.code(), "undecodable committed entry " + std::to_string(e.index) + ": " + s.message());
    }
    c.term = e.term;  // Lease revokes compare it (kv/lease.h).
    commands_.push_back(std::move(c));
    request_ids_.push_back(id);
    indexes_.push_back(e.index);
  }
  if (entries.empty()) return util::Status::ok();
  return flush(entries.back().index);
}

util::Status Applier::flush(raft::Index through) {
  if (through <= store_.applied_index()) {
    DKV_ASSERT(commands_.empty());  // Only entries above applied are gathered.
    return util::Status::ok();
  }
  std::vector<kv::ApplyResult> results;
  const auto apply_start = std::chrono::steady_clock::now();
  util::Status s = store_.apply(commands_, through, &results);
  commands_.clear();
  if (!s.is_ok()) {
    request_ids_.clear();
    indexes_.clear();
    return s;
  }
  node_metrics().apply.observe(seconds_since(apply_start));
  node_metrics().db_size.set(static_cast<double>(store_.used_bytes()));
  node_metrics().current_revision.set(static_cast<double>(store_.current_revision()));
  node_metrics().compact_revision.set(static_cast<double>(store_.compact_revision()));
  DKV_ASSERT(results.size() == request_ids_.size());
  DKV_ASSERT(store_.applied_index() == through);
  std::size_t completed = 0;
  util::ReplyBatch replies;  // The front ends send these answers together.
  for (std::size_t i = 0; i < results.size(); ++i) {
    auto it = proposed_.find(request_ids_[i]);
    if (it == proposed_.end()) continue;  // Another node's write, or one failed early.
    // A waiter never completes before its entry is applied.
    DKV_ASSERT(indexes_[i] <= store_.applied_index());
    it->second.done(util::Status::ok(), results[i]);
    proposed_.erase(it);
    ++completed;
  }
  if (completed > 0) pending_.release(completed);
  request_ids_.clear();
  indexes_.clear();
  return util::Status::ok();
}

util::Status Applier::compact_history() {
  if (!store_.compaction_pending()) return util::Status::ok();
  bool more = false;
  util::Status s = store_.compact_step(&more);
  if (s.code() != util::Code::kResourceExhausted) return s;
  // The map is at the quota: the history stays until the next compaction
  // (puts are refused meanwhile, before they are proposed).
  spdlog::warn("physical compaction stopped: {}", s.to_string());
  return util::Status::ok();
}

void Applier::fail_proposed() {
  if (proposed_.empty()) return;
  const std::size_t n = proposed_.size();
  for (auto& [id, w] : proposed_) {
    w.done(util::unavailable("the leader changed before the write was applied; it may or may "
                             "not take effect"),
           {});
  }
  proposed_.clear();
  node_metrics().failed.inc(n);
  pending_.release(n);
}

void Applier::expire(Deadline now) {
  std::size_t expired = 0;
  auto expire_one = [&](PendingWrite& w) {
    ++expired;
    // The outcome is unknown to the client (the entry may still commit),
    // which UNAVAILABLE conveys.
    w.done(util::unavailable("no leader or no quorum within the request timeout"), {});
  };
  for (auto it = proposed_.begin(); it != proposed_.end();) {
    if (now > it->second.deadline) {
      expire_one(it->second);
      it = proposed_.erase(it);
    } else {
      ++it;
    }
  }
  std::erase_if(parked_, [&](PendingWrite& w) {
    if (now <= w.deadline) return false;
    expire_one(w);
    return true;
  });
  if (expired > 0) {
    node_metrics().failed.inc(expired);
    pending_.release(expired);
  }
}

void Applier::fail_all(const util::Status& s) {
  const std::size_t n = parked_.size() + proposed_.size();
  for (auto& w : parked_) w.done(s, {});
  for (auto& [id, w] : proposed_) w.done(s, {});
  parked_.clear();
  proposed_.clear();
  pending_.release(n);
}

}  // namespace dkv::node
