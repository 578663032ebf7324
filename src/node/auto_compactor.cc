#include "node/auto_compactor.h"

#include <algorithm>

namespace dkv::node {

AutoCompactor::AutoCompactor(AutoCompactionOptions options)
    : options_(options), base_interval_(options.retention_period) {}

void AutoCompactor::start(Clock::time_point now, std::int64_t current_rev) {
  started_ = true;
  last_success_ = now;
  const bool by_revision = options_.mode == AutoCompactionOptions::Mode::kRevision;
  next_check_ = now + (by_revision ? options_.revision_check_interval : sample_interval());
  if (!by_revision) revs_.push_back(current_rev);  // The first iteration's top.
}

std::chrono::milliseconds AutoCompactor::compact_interval() const {
  return std::min<std::chrono::milliseconds>(options_.retention_period, std::chrono::hours(1));
}

std::chrono::milliseconds AutoCompactor::sample_interval() const {
  return std::max<std::chrono::milliseconds>(compact_interval() / 10, std::chrono::milliseconds(1));
}

std::int64_t AutoCompactor::on_tick(Clock::time_point now, bool leader, std::int64_t current_rev,
                                    std::int64_t compact_rev) {
  if (!options_.enabled()) return 0;
  if (!started_) start(now, current_rev);
  if (options_.mode == AutoCompactionOptions::Mode::kRevision) {
    return revision_tick(now, leader, current_rev, compact_rev);
  }
  return periodic_tick(now, leader, current_rev, compact_rev);
}

// etcd's Revision.Run: every interval, current - retention unless that is
// not above what is compacted already. dkv also proposes sooner once a
// tenth of the retention is compactable and no proposal is in flight, so
// that a fast writer's history stays near the retention.
std::int64_t AutoCompactor::revision_tick(Clock::time_point now, bool leader,
                                          std::int64_t current_rev, std::int64_t compact_rev) {
  const bool due_by_time = now >= next_check_;
  if (due_by_time) next_check_ = now + options_.revision_check_interval;
  const std::int64_t rev = current_rev - options_.retention_revisions;
  if (!leader || rev <= 0 || rev <= compact_rev) return 0;
  const bool in_flight = last_proposed_ > compact_rev;
  const bool due_by_backlog =
      !in_flight &&
      rev - compact_rev >= std::max<std::int64_t>(1, options_.retention_revisions / 10);
  if (!due_by_time && !due_by_backlog) return 0;
  last_proposed_ = rev;
  return rev;
}

// etcd's Periodic.Run, one loop iteration per sample interval: the loop
// samples the revision at its top, waits, then (if leading and a base
// interval passed since the last compaction) compacts to the oldest
// sample, one retention period old.
std::int64_t AutoCompactor::periodic_tick(Clock::time_point now, bool leader,
                                          std::int64_t current_rev, std::int64_t compact_rev) {
  const auto retentions =
      static_cast<std::size_t>(options_.retention_period / sample_interval()) + 1;
  if (now < next_check_) return 0;
  next_check_ = now + sample_interval();
  std::int64_t rev = 0;
  if (leader && now - last_success_ >= base_interval_) {
    if (base_interval_ == options_.retention_period) base_interval_ = compact_interval();
    // A revision already compacted counts as done (etcd: ErrCompacted).
    if (revs_.front() > compact_rev) rev = revs_.front();
    last_success_ = now;
  }
  revs_.push_back(current_rev);  // The next iteration's top.
  if (revs_.size() > retentions) revs_.pop_front();
  return rev;
}

}  // namespace dkv::node
