// ServerState and CallTracker: what the Gateway's connections share.
//
// ServerState is owned by Gateway::Impl and outlives every HttpSession (the
// io_contexts, which own the sessions through their pending operations, are
// destroyed first). It is read-only after start() except for its atomics.
//
// CallTracker is shared (shared_ptr) with every handler completion, because a
// handler may call `done` on any thread at any time, even after the Gateway
// is gone. It counts requests in flight and guards posting into the
// io_contexts: Gateway closes it before destroying them, so a
// completion that finds it open may post, and one that finds it closed drops
// its result.
// Threading: all members are thread-safe.
#pragma once

#include <atomic>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "api/gateway/gateway.h"
#include "api/gateway/route_table.h"

#include "util/mutex.h"
#include "util/thread_annotations.h"

namespace dkv::api::gateway {

class CallTracker {
 public:
  // Counts one more request in flight unless `max` are already; false then.
  bool try_acquire(size_t max) {
    if (inflight_.fetch_add(1, std::memory_order_relaxed) >= max) {
      inflight_.fetch_sub(1, std::memory_order_relaxed);
      return false;
    }
    return true;
  }
  void release() { inflight_.fetch_sub(1, std::memory_order_relaxed); }
  size_t inflight() const { return inflight_.load(std::memory_order_relaxed); }

  // Runs `f` (which may post into the io_context) only while open.
  template <typename F>
  void run_if_open(F&& f) {
    util::MutexLock lock(mu_);
    if (open_) f();
  }
  // After this returns, no run_if_open() body runs again.
  void close() {
    util::MutexLock lock(mu_);
    open_ = false;
  }

 private:
  std::atomic<size_t> inflight_{0};
  util::Mutex mu_;
  bool open_ DKV_GUARDED_BY(mu_) = true;
};

struct ServerState {
  ServerState(const MethodRegistry& r, GatewayOptions o) : registry(r), options(std::move(o)) {}

  const MethodRegistry& registry;
  const GatewayOptions options;
  RouteTable routes;                                // Filled in start(), then read-only.
  std::vector<PlainRequestHandler> plain_handlers;  // Indexed by Route::plain_id.
  // Streaming routes: plain routes whose plain_id is a key here.
  std::map<int, StreamHandler> stream_handlers;
  std::shared_ptr<CallTracker> calls = std::make_shared<CallTracker>();
  // Set by stop(): connections finish their current request, then close.
  std::atomic<bool> stopping{false};
  // HttpSessions alive; stop() waits for it to reach 0.
  std::atomic<int> sessions_alive{0};
};

}  // namespace dkv::api::gateway
