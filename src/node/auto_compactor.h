// AutoCompactor: decides when the leader proposes an etcd CompactionRequest
// (DKV_AUTO_COMPACTION_MODE / DKV_AUTO_COMPACTION_RETENTION), following
// etcd's v3compactor (etcdserver/api/v3compactor/{revision,periodic}.go):
//   - revision: every check interval, compact to current - retention (if
//     above the compact revision). etcd checks every 5 minutes; dkv checks
//     every 100 ms by default, and sooner (on any call) once a tenth of the
//     retention is compactable with no proposal in flight: its physical
//     compaction is incremental and cheap, and /v0 overwrites need the
//     history bounded;
//   - periodic: sample the current revision every retention/10 (at most
//     6 minutes); once the first whole retention period has passed, and
//     then every min(retention, 1 h), compact to the revision sampled a
//     retention ago.
// Only a leader proposes (etcd pauses its compactor on followers; periodic
// mode keeps sampling meanwhile). The decision uses the node's clock; the
// entry carries the revision, so apply stays deterministic.
// Threading: not thread-safe; the raft thread only. No I/O: on_tick()
// returns the revision to propose, the caller proposes it.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>

namespace dkv::node {

struct AutoCompactionOptions {
  enum class Mode { kRevision, kPeriodic };
  Mode mode = Mode::kRevision;
  // Revision mode: revisions kept behind the current one (0: off).
  std::int64_t retention_revisions = 1000;
  // Periodic mode: the history kept, as a duration (0: off).
  std::chrono::milliseconds retention_period{0};
  // Revision mode: how often to check (etcd: 5 minutes).
  std::chrono::milliseconds revision_check_interval{100};

  bool enabled() const {
    return mode == Mode::kRevision ? retention_revisions > 0 : retention_period.count() > 0;
  }
};

class AutoCompactor {
 public:
  using Clock = std::chrono::steady_clock;

  explicit AutoCompactor(AutoCompactionOptions options);

  // Called on every raft turn with the node's state; the first call starts the
  // clock (etcd: the compactor's Run). Returns the revision to compact to
  // (the caller proposes a CompactionRequest for it), or 0.
  std::int64_t on_tick(Clock::time_point now, bool leader, std::int64_t current_rev,
                       std::int64_t compact_rev);

  // Periodic mode's intervals (etcd's getRetryInterval/getCompactInterval).
  std::chrono::milliseconds sample_interval() const;
  std::chrono::milliseconds compact_interval() const;

 private:
  std::int64_t revision_tick(Clock::time_point now, bool leader, std::int64_t current_rev,
                             std::int64_t compact_rev);
  std::int64_t periodic_tick(Clock::time_point now, bool leader, std::int64_t current_rev,
                             std::int64_t compact_rev);

  void start(Clock::time_point now, std::int64_t current_rev);

  const AutoCompactionOptions options_;
  bool started_ = false;
  Clock::time_point next_check_;
  // Periodic mode: revisions sampled every sample_interval(), oldest first;
  // front() is the revision of one retention period ago.
  std::deque<std::int64_t> revs_;
  std::int64_t last_proposed_ = 0;  // Revision mode.
  Clock::time_point last_success_;
  std::chrono::milliseconds base_interval_;
};

}  // namespace dkv::node
