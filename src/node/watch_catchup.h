// WatchCatchup: brings unsynced watchers (watch_hub.h) up to the published
// revision by reading hist, in bounded batches, each in its own LMDB read
// transaction (kv::Store::read_history), on its own thread: the apply path
// never reads history for a watcher.
//
// catch_up_once() is one pass over the unsynced watchers, one batch each
// (pure of threads, for tests); the thread loops it while it makes
// progress and otherwise waits for the hub to signal work (a watcher fell
// behind, a sink drained) or 100 ms.
//
// Threading: catch_up_once() from one thread at a time. Lifetime: the hub
// and `read` must outlive the WatchCatchup; the destructor joins the thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

#include "kv/history.h"
#include "node/watch_hub.h"
#include "util/status.h"

namespace dkv::node {

// kv::Store::read_history.
using HistoryReadFn =
    std::function<util::Status(std::int64_t from_rev, std::int64_t to_rev, std::size_t max_bytes,
                               std::vector<kv::HistoryEvent>* out, std::int64_t* through)>;

// Keys and values read per watcher per batch (whole revisions: one large
// revision may exceed it).
inline constexpr std::size_t kCatchupBatchBytes = 1u << 20;

// One batch for each unsynced watcher. Returns true if any watcher moved
// on (more work may be ready at once).
bool catch_up_once(WatchHub& hub, const HistoryReadFn& read,
                   std::size_t batch_bytes = kCatchupBatchBytes);

class WatchCatchup {
 public:
  WatchCatchup(WatchHub& hub, HistoryReadFn read);
  ~WatchCatchup();
  WatchCatchup(const WatchCatchup&) = delete;
  WatchCatchup& operator=(const WatchCatchup&) = delete;
  // Stops and joins the thread (idempotent).
  void stop();

 private:
  WatchHub& hub_;
  const HistoryReadFn read_;
  std::thread thread_;
};

}  // namespace dkv::node
