// WatchHub: the watchers of this member and the events they get, fed by the
// apply path from this member's own applied history (kv/history.h).
//
// A watcher is "synced" (it gets each committed batch's events from
// publish(), on the apply thread) or "unsynced at next_rev" (the catch-up
// thread, watch_catchup.h, reads hist from next_rev in bounded batches and
// hands the events in with deliver_catchup()). publish() never blocks: it
// offers events to the watcher's sink (a stream's queue, with a memory
// budget); a sink over its budget refuses, and the watcher becomes unsynced
// at the first revision it did not take, so it is no longer buffered.
//
// Invariants (each under mu_, asserted where cheap):
// - a watcher gets the events of its range with revision >= its start
//   revision, in revision order, each once, all events of one revision in
//   one offer (ordered, unique, atomic);
// - no gap between catch-up and publish: an unsynced watcher becomes synced
//   only when its next_rev == published_rev_ + 1, under mu_, so the next
//   publish() is exactly the next revision it needs;
// - every live watcher has next_rev > compact_rev_: whoever moves
//   compact_rev_ (a Compaction applied, a snapshot installed) cancels the
//   watchers at or below it first (with compact_revision), so physical
//   compaction, which runs after publish() on the same thread, never
//   removes history an unsynced watcher still needs (etcd issue 18089);
// - a snapshot (a restored store) moves every synced watcher that is
//   behind the new revision back to unsynced at its next_rev: nothing lost
//   (the image carries hist) and nothing repeated.
// A watcher whose start revision is ahead of this member waits, synced,
// and gets events from that revision on.
//
// Threading: thread-safe (one mutex). Sinks are called under it: they must
// not block or call back into the hub. Lifetime: a sink must outlive its
// watchers (remove() them first).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "etcd/mvcc/mvccpb/kv.pb.h"
#include "kv/history.h"
#include "util/mutex.h"
#include "util/thread_annotations.h"

namespace dkv::node {

using WatcherId = std::uint64_t;
using WatchEvent = std::shared_ptr<const mvccpb::Event>;

// What a watcher asks for, as etcd's WatchCreateRequest.
struct WatchSpec {
  std::string key;
  std::string range_end;            // Empty: `key` alone; "\0": every key >= key.
  std::int64_t start_revision = 0;  // <= 0: from the next revision.
  bool no_put = false;
  bool no_delete = false;
  bool matches(const kv::HistoryEvent& e) const;
};

// Where a watcher's events go. Called under the hub's lock: must not block
// or call the hub.
class WatchSink {
 public:
  virtual ~WatchSink() = default;
  // Events of whole revisions for the watcher the sink registered with
  // `tag`, ascending. `as_of` is the revision the store was at when they
  // were taken (etcd's response header revision: the published revision of
  // a live publish, the current one of a catch-up read). False: over its
  // budget, nothing taken.
  virtual bool offer(std::int64_t tag, std::vector<WatchEvent>&& events, std::int64_t as_of) = 0;
  // The hub cancelled that watcher: its next revision was compacted.
  virtual void compacted(std::int64_t tag, std::int64_t compact_revision) = 0;
  // Called after offers, without the hub's lock, once per publish or
  // catch-up hand-in that gave this sink events: a chance to wake a sender.
  virtual void flush() {}
};

// mvccpb::Event of a hist record.
WatchEvent to_watch_event(const kv::HistoryEvent& e);

// What the catch-up thread works on: one unsynced watcher.
struct CatchupTask {
  WatcherId id = 0;
  std::int64_t from_rev = 0;  // The watcher's next_rev.
  std::int64_t to_rev = 0;    // The last published revision.
  WatchSpec spec;
};

class WatchHub {
 public:
  // `current_revision`, `compact_revision`: the store's, before the first
  // publish().
  WatchHub(std::int64_t current_revision, std::int64_t compact_revision)
      : published_rev_(current_revision), compact_rev_(compact_revision) {}
  WatchHub(const WatchHub&) = delete;
  WatchHub& operator=(const WatchHub&) = delete;

  struct Added {
    WatcherId id = 0;
    // > 0: refused, the start revision was compacted (etcd's
    // compact_revision); no watcher was added.
    std::int64_t compact_revision = 0;
    // The last published revision when it was added (etcd's "created"
    // header revision): with start_revision 0 it gets every later one.
    std::int64_t revision = 0;
  };
  // Registers a watcher; a start revision of 0 registers at the next
  // revision, atomically with publish(). Events may reach `sink` before
  // add() returns (the caller answers "created" first: see the stream).
  // `tag` is handed back to the sink with its events.
  Added add(const WatchSpec& spec, WatchSink* sink, std::int64_t tag);
  // Forgets the watcher (no-op if it is gone). No offer to it after this.
  void remove(WatcherId id);

  // The apply thread, after each commit (kv::Store's history listener).
  void publish(kv::CommittedHistory&& history);

  // The catch-up thread (watch_catchup.h).
  std::vector<CatchupTask> unsynced() const;
  enum class Delivered { kTaken, kSinkFull, kStale };
  // Events read from hist for task (id, from_rev) up to `through`. kStale:
  // the watcher is gone or moved on (nothing done); kSinkFull: retry later.
  Delivered deliver_catchup(WatcherId id, std::int64_t from_rev, std::vector<WatchEvent>&& events,
                            std::int64_t through);
  // The watcher's from_rev is compacted (read_history said so): cancel it.
  void cancel_compacted(WatcherId id, std::int64_t from_rev);
  // Blocks until some watcher may have catch-up work, or `timeout`.
  void wait_for_work(std::chrono::milliseconds timeout);
  // A sink drained its queue: blocked catch-ups may go on.
  void sink_has_room();
  // Wakes wait_for_work() for good (the catch-up thread stops).
  void shut_down();
  bool shutting_down() const;

  // Progress (etcd's RequestProgress): if every watcher in `ids` is
  // synced, *revision gets the last published revision (every event up to
  // it was offered) and true.
  bool all_synced(const std::vector<WatcherId>& ids, std::int64_t* revision) const;
  std::int64_t published_revision() const;
  std::size_t watcher_count() const;
  std::size_t unsynced_count() const;

 private:
  struct Watcher {
    WatchSpec spec;
    WatchSink* sink = nullptr;
    std::int64_t tag = 0;
    std::int64_t next_rev = 0;  // The first revision it has not been offered.
    bool synced = false;
  };
  void publish_locked(kv::CommittedHistory&& h, std::vector<WatchSink*>* to_flush)
      DKV_EXCLUDES(mu_);
  static void flush(std::vector<WatchSink*>& sinks);
  Delivered deliver_locked(WatcherId id, std::int64_t from_rev, std::vector<WatchEvent>&& events,
                           std::int64_t through, WatchSink** offered_to) DKV_EXCLUDES(mu_);
  void cancel_compacted_locked() DKV_REQUIRES(mu_);
  // True if it offered w events.
  bool publish_to(Watcher& w, const kv::CommittedHistory& h, std::vector<WatchEvent>& converted)
      DKV_REQUIRES(mu_);
  void mark_unsynced(Watcher& w) DKV_REQUIRES(mu_);

  mutable util::Mutex mu_;
  util::CondVar work_;
  std::map<WatcherId, Watcher> watchers_ DKV_GUARDED_BY(mu_);
  WatcherId next_id_ DKV_GUARDED_BY(mu_) = 1;
  std::int64_t published_rev_ DKV_GUARDED_BY(mu_);
  std::int64_t compact_rev_ DKV_GUARDED_BY(mu_);
  std::size_t unsynced_ DKV_GUARDED_BY(mu_) = 0;
  bool work_pending_ DKV_GUARDED_BY(mu_) = false;
  bool shut_down_ DKV_GUARDED_BY(mu_) = false;
};

}  // namespace dkv::node
