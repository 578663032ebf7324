#include "node/watch_catchup.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <utility>

#include "util/thread_name.h"

namespace dkv::node {
namespace {

// Reads one batch for `task` and hands it to the hub. True if it moved on.
bool catch_up_task(WatchHub& hub, const HistoryReadFn& read, const CatchupTask& task,
                   std::size_t batch_bytes) {
  std::vector<kv::HistoryEvent> read_events;
  std::int64_t through = 0;
  util::Status s = read(task.from_rev, task.to_rev, batch_bytes, &read_events, &through);
  if (s.code() == util::Code::kOutOfRange) {
    hub.cancel_compacted(task.id, task.from_rev);
    return true;
  }
  if (!s.is_ok()) {
    // The store is restoring a snapshot, or failed: try again later.
    spdlog::debug("watch catch-up from revision {}: {}", task.from_rev, s.to_string());
    return false;
  }
  std::vector<WatchEvent> events;
  for (const kv::HistoryEvent& e : read_events) {
    if (task.spec.matches(e)) events.push_back(to_watch_event(e));
  }
  return hub.deliver_catchup(task.id, task.from_rev, std::move(events), through) ==
         WatchHub::Delivered::kTaken;
}

}  // namespace

bool catch_up_once(WatchHub& hub, const HistoryReadFn& read, std::size_t batch_bytes) {
  bool moved = false;
  for (const CatchupTask& task : hub.unsynced()) {
    if (catch_up_task(hub, read, task, batch_bytes)) moved = true;
  }
  return moved;
}

WatchCatchup::WatchCatchup(WatchHub& hub, HistoryReadFn read) : hub_(hub), read_(std::move(read)) {
  thread_ = std::thread([this] {
    util::set_thread_name("watch-catchup");
    while (!hub_.shutting_down()) {
      if (catch_up_once(hub_, read_)) continue;
      hub_.wait_for_work(std::chrono::milliseconds(100));
    }
  });
}

WatchCatchup::~WatchCatchup() { stop(); }

void WatchCatchup::stop() {
  hub_.shut_down();
  if (thread_.joinable()) thread_.join();
}

}  // namespace dkv::node
