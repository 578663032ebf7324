#include "node/lessor.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "kv/mvcc_request.h"

namespace dkv::node {

using std::chrono::milliseconds;
using std::chrono::seconds;

LeaseClock::time_point promoted_deadline(const kv::LeaseInfo& lease, LeaseClock::time_point now,
                                         milliseconds election_timeout) {
  const std::int64_t left = lease.remaining_ttl > 0 ? lease.remaining_ttl : lease.ttl;
  return now + seconds(left) + election_timeout;
}

std::int64_t remaining_seconds(LeaseClock::time_point deadline, LeaseClock::time_point now) {
  if (deadline <= now) return 0;
  const auto left = std::chrono::duration_cast<milliseconds>(deadline - now).count();
  return (left + 999) / 1000;
}

std::vector<std::int64_t> leases_to_revoke(const std::map<std::int64_t, LeaseDeadline>& leases,
                                           LeaseClock::time_point now,
                                           milliseconds election_timeout, std::size_t budget) {
  std::vector<std::pair<LeaseClock::time_point, std::int64_t>> due;
  for (const auto& [id, l] : leases) {
    if (l.deadline > now) continue;
    if (l.revoke_sent != LeaseClock::time_point{} && now - l.revoke_sent < election_timeout) {
      continue;  // Proposed recently: wait for it to apply (or be lost).
    }
    due.emplace_back(l.deadline, id);
  }
  std::sort(due.begin(), due.end());
  std::vector<std::int64_t> out;
  for (std::size_t i = 0; i < due.size() && i < budget; ++i) out.push_back(due[i].second);
  return out;
}

std::vector<std::pair<std::int64_t, std::int64_t>> leases_to_checkpoint(
    const std::map<std::int64_t, LeaseDeadline>& leases, LeaseClock::time_point now,
    milliseconds interval) {
  std::vector<std::pair<std::int64_t, std::int64_t>> out;
  const std::int64_t interval_s = (interval.count() + 999) / 1000;
  for (const auto& [id, l] : leases) {
    if (out.size() >= kCheckpointBatchMax) break;
    if (seconds(l.ttl) <= interval) continue;  // Expires before it would matter.
    const std::int64_t stored = l.stored_remaining > 0 ? l.stored_remaining : l.ttl;
    const std::int64_t left = remaining_seconds(l.deadline, now);
    if (left == 0 || stored - left < interval_s) continue;
    out.emplace_back(id, left);
  }
  return out;
}

void Lessor::promote(LeaseClock::time_point now, std::uint64_t term,
                     const std::vector<kv::LeaseInfo>& stored) {
  leases_.clear();
  for (const kv::LeaseInfo& lease : stored) {
    leases_[lease.id] = LeaseDeadline{lease.ttl,
                                      lease.remaining_ttl,
                                      promoted_deadline(lease, now, options_.election_timeout),
                                      {}};
  }
  primary_term_ = term;
  stale_leases_.clear();
  next_checkpoint_ = now + options_.checkpoint_interval;
  next_scan_ = now;
  revoke_tokens_ = 0;
  tokens_at_ = now;
  spdlog::info("lessor: primary in term {} with {} leases (deadlines extended by {} ms)", term,
               leases_.size(), options_.election_timeout.count());
}

void Lessor::demote() {
  if (primary_term_ == 0) return;
  spdlog::info("lessor: no longer primary (was in term {})", primary_term_);
  if (decide_after_demotion_) {
    stale_term_ = primary_term_;
    stale_leases_ = std::move(leases_);
  }
  primary_term_ = 0;
  leases_.clear();
}

Lessor::Work Lessor::stale_revokes(LeaseClock::time_point now) {
  Work work;
  work.term = stale_term_;
  work.revoke = leases_to_revoke(stale_leases_, now, options_.election_timeout, 1000);
  for (std::int64_t id : work.revoke) stale_leases_[id].revoke_sent = now;
  return work;
}

std::size_t Lessor::take_revoke_budget(LeaseClock::time_point now) {
  const double elapsed_s = std::chrono::duration<double>(now - tokens_at_).count();
  tokens_at_ = now;
  revoke_tokens_ =
      std::min<double>(kRevokesPerSecond, revoke_tokens_ + elapsed_s * kRevokesPerSecond);
  return static_cast<std::size_t>(std::max(revoke_tokens_, 1.0));
}

Lessor::Work Lessor::on_turn(LeaseClock::time_point now, bool leader, std::uint64_t term,
                             bool confirmed, const LoadLeases& load) {
  util::MutexLock lock(mu_);
  if (!leader || (primary_term_ != 0 && primary_term_ != term)) demote();
  if (!leader || !confirmed) return stale_leases_.empty() ? Work{} : stale_revokes(now);
  if (primary_term_ == 0) {
    std::vector<kv::LeaseInfo> stored;
    lock.unlock();  // The store's read must not hold the renewals up.
    util::Status s = load(&stored);
    lock.lock();
    if (!s.is_ok()) {
      spdlog::warn("lessor: cannot list the leases: {}", s.to_string());
      return {};
    }
    promote(now, term, stored);
  }
  if (now < next_scan_) return {};
  next_scan_ = now + kExpiryScanInterval;
  Work work;
  work.term = term;
  work.revoke = leases_to_revoke(leases_, now, options_.election_timeout, take_revoke_budget(now));
  revoke_tokens_ -= static_cast<double>(work.revoke.size());
  for (std::int64_t id : work.revoke) leases_[id].revoke_sent = now;
  if (options_.checkpoint_interval.count() > 0 && now >= next_checkpoint_) {
    next_checkpoint_ = now + options_.checkpoint_interval;
    work.checkpoint = leases_to_checkpoint(leases_, now, options_.checkpoint_interval);
    // Counted as stored from now on: a renewal before the entry applies
    // must clear it after (the clear is proposed later, so applies later).
    for (const auto& [id, remaining] : work.checkpoint) leases_[id].stored_remaining = remaining;
  }
  return work;
}

void Lessor::on_applied(const std::vector<kv::LeaseChange>& changes, LeaseClock::time_point now) {
  if (changes.empty()) return;
  if (observer_) observer_(changes, now);
  util::MutexLock lock(mu_);
  for (const kv::LeaseChange& c : changes) {
    if (c.kind == kv::LeaseChange::Kind::kRevoked) stale_leases_.erase(c.lease.id);
  }
  if (primary_term_ == 0) return;  // Promotion reads the store.
  for (const kv::LeaseChange& c : changes) {
    switch (c.kind) {
      case kv::LeaseChange::Kind::kGranted:
        leases_[c.lease.id] = LeaseDeadline{c.lease.ttl, 0, now + seconds(c.lease.ttl), {}};
        break;
      case kv::LeaseChange::Kind::kRevoked:
        leases_.erase(c.lease.id);
        break;
      case kv::LeaseChange::Kind::kCheckpointed:
        if (auto it = leases_.find(c.lease.id); it != leases_.end()) {
          it->second.stored_remaining = c.lease.remaining_ttl;
        }
        break;
    }
  }
}

Lessor::Renewal Lessor::renew(std::int64_t id, LeaseClock::time_point now) {
  util::MutexLock lock(mu_);
  if (primary_term_ == 0)
    return {util::unavailable("etcdserver: not the leader's lessor"), 0, false};
  auto it = leases_.find(id);
  if (it == leases_.end()) return {util::not_found(kv::etcd_error::kLeaseNotFound), 0, false};
  LeaseDeadline& l = it->second;
  if (l.revoke_sent != LeaseClock::time_point{}) {
    // Its revoke may be committed already: etcd refuses renewing an
    // expired lease the same way.
    return {util::not_found(kv::etcd_error::kLeaseNotFound), 0, false};
  }
  l.deadline = now + seconds(l.ttl);
  return {util::Status::ok(), l.ttl, l.stored_remaining != 0};
}

std::optional<std::int64_t> Lessor::remaining(std::int64_t id, LeaseClock::time_point now) const {
  util::MutexLock lock(mu_);
  if (primary_term_ == 0) return std::nullopt;
  auto it = leases_.find(id);
  if (it == leases_.end()) return std::nullopt;
  return remaining_seconds(it->second.deadline, now);
}

std::uint64_t Lessor::primary_term() const {
  util::MutexLock lock(mu_);
  return primary_term_;
}

}  // namespace dkv::node
