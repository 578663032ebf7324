// WatchSender: the thread that writes the watch streams' responses
// (WatchSession::pump) when the hub has given them events, and ticks them
// about every 100 ms (progress notifications, the leader check). The hub's
// publish on the apply thread only queues and schedules: it never writes.
// Threading: schedule() and add() from any thread. Lifetime: outlives the
// sessions' streams (the watch service owns it); the destructor joins.
#pragma once

#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "util/mutex.h"
#include "util/status.h"
#include "util/thread_annotations.h"

namespace dkv::api {

class WatchSession;

class WatchSender {
 public:
  explicit WatchSender(std::chrono::milliseconds tick = std::chrono::milliseconds(100));
  ~WatchSender();
  WatchSender(const WatchSender&) = delete;
  WatchSender& operator=(const WatchSender&) = delete;

  // Ticks `session` from now on, while it lives.
  void add(std::weak_ptr<WatchSession> session);
  // Pumps `session` soon.
  void schedule(std::shared_ptr<WatchSession> session);
  // Ends every live session's stream with `status` once its queue is
  // written (the server is stopping).
  void end_all(const util::Status& status);

 private:
  void run();

  const std::chrono::milliseconds tick_;
  util::Mutex mu_;
  util::CondVar wake_;
  std::vector<std::shared_ptr<WatchSession>> ready_ DKV_GUARDED_BY(mu_);
  std::vector<std::weak_ptr<WatchSession>> sessions_ DKV_GUARDED_BY(mu_);
  bool stopping_ DKV_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace dkv::api
