// Applier: the write side of the state machine. It owns
//   - the store's write path: committed entries go to kv::Store::apply in
//     batches, one LMDB transaction each, that also record the applied index
//     (a configuration change is handed to the caller in its place);
//   - the write waiters: writes parked until a leader is known, then
//     proposed and waiting by request id until their entry is applied;
//   - the release of their place in PendingWriteCount.
// It reads nothing of Raft beyond entries, and never blocks on a client.
//
// Invariants (asserted):
//   - a waiter completes exactly once (Once), and every waiter completes
//     (applied, failed, expired or failed at stop);
//   - a waiter completes OK only once the store's applied index reaches its
//     entry's index;
//   - the pending-write count never goes negative (PendingWriteCount).
//
// Threading: PendingWriteCount is thread-safe (client threads admit, the
// raft thread releases). Applier is not: the raft thread only.
// Lifetime: `store` and `pending` must outlive the Applier.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "kv/command.h"
#include "kv/store.h"
#include "node/once.h"
#include "raft/types.h"
#include "util/mutex.h"
#include "util/status.h"
#include "util/thread_annotations.h"

namespace dkv::node {

using Deadline = std::chrono::steady_clock::time_point;
using WriteCompletion = Once<util::Status, kv::ApplyResult>;

// A client's write, from admission until it is applied or fails.
struct PendingWrite {
  std::uint64_t request_id = 0;
  std::string data;  // The entry's payload: request id + command (entry_codec.h).
  Deadline deadline;
  WriteCompletion done;
};

// Writes admitted and not yet answered (queued, parked or proposed), bounded
// by DKV_... pending_writes_max: beyond it a write is refused at once.
// Invariant: 0 <= count() <= max (asserted on every release).
class PendingWriteCount {
 public:
  explicit PendingWriteCount(std::size_t max) : max_(max) {}
  // Counts one more write; false (nothing counted) at the limit.
  bool try_add();
  // `n` writes were answered. Asserts that they had been counted.
  void release(std::size_t n);
  std::size_t count() const;

 private:
  const std::size_t max_;
  mutable util::Mutex mu_;
  std::size_t count_ DKV_GUARDED_BY(mu_) = 0;
};

class Applier {
 public:
  // Applies one committed kConfChange entry (the core's configuration and
  // the membership the store records with the entry's index): the caller's.
  using ConfChangeFn = std::function<util::Status(const raft::Entry& entry)>;
  // Proposes an entry payload to the raft core (RawNode::propose).
  using ProposeFn = std::function<util::Status(const std::string& data)>;

  // `canary_waiter_before_apply`: TEST ONLY (NodeCanaries): breaks the
  // rule that a waiter completes only once its entry is applied.
  Applier(kv::Store& store, PendingWriteCount& pending, bool canary_waiter_before_apply = false)
      : store_(store), pending_(pending), canary_waiter_before_apply_(canary_waiter_before_apply) {}
  Applier(const Applier&) = delete;
  Applier& operator=(const Applier&) = delete;

  // A write taken from the inbox: waits here until propose_parked().
  void park(PendingWrite write) { parked_.push_back(std::move(write)); }
  bool has_parked() const { return !parked_.empty(); }
  // Proposes the parked writes. Refused with UNAVAILABLE (no leader yet):
  // they stay parked until their deadline; any other refusal fails them.
  void propose_parked(const ProposeFn& propose);

  // Applies committed entries in order, each exactly once (entries at or
  // below the applied index are skipped: a snapshot covered them), and
  // completes the waiters of the writes among them. A non-OK status (the
  // store failed, an entry does not decode, `conf_change` failed) leaves
  // the store at the last good batch: the caller stops the process.
  util::Status apply(const std::vector<raft::Entry>& entries, const ConfChangeFn& conf_change);
  raft::Index applied_index() const { return store_.applied_index(); }
  // Bytes of entry payload applied since the Applier was made; the
  // snapshotter compares it with its value at the last snapshot.
  std::uint64_t applied_entry_bytes() const { return applied_entry_bytes_; }

  // The leader changed: proposed writes may have died with it; fail them
  // now (UNAVAILABLE: they may still apply) so clients retry at once.
  void fail_proposed();
  // Fails (UNAVAILABLE) writes, parked or proposed, past their deadline.
  void expire(Deadline now);
  // Fails every waiter with `s` (the node stops).
  void fail_all(const util::Status& s);

  // Physical compaction, between Readies rather than inside an apply batch:
  // one bounded kv::Store::compact_step when the store has history to
  // remove (compaction_pending()). A non-OK status is a store failure.
  util::Status compact_history();
  bool compaction_pending() const { return store_.compaction_pending(); }

  std::size_t parked_count() const { return parked_.size(); }
  std::size_t proposed_count() const { return proposed_.size(); }

 private:
  // Applies `commands` (of the entries `indexes`, with `request_ids`) with
  // applied index `through` in one transaction and completes their waiters.
  util::Status flush(raft::Index through);

  kv::Store& store_;
  PendingWriteCount& pending_;
  const bool canary_waiter_before_apply_;
  std::vector<PendingWrite> parked_;                // Waiting for a leader.
  std::map<std::uint64_t, PendingWrite> proposed_;  // By request id.
  std::uint64_t applied_entry_bytes_ = 0;
  // The batch being gathered by apply(); empty between calls.
  std::vector<kv::Command> commands_;
  std::vector<std::uint64_t> request_ids_;
  std::vector<raft::Index> indexes_;
};

}  // namespace dkv::node
