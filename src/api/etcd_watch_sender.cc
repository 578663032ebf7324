#include "api/etcd_watch_sender.h"

#include <utility>

#include "api/etcd_watch_session.h"
#include "util/thread_name.h"

namespace dkv::api {

WatchSender::WatchSender(std::chrono::milliseconds tick) : tick_(tick) {
  thread_ = std::thread([this] {
    util::set_thread_name("watch-send");
    run();
  });
}

WatchSender::~WatchSender() {
  {
    util::MutexLock lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void WatchSender::add(std::weak_ptr<WatchSession> session) {
  util::MutexLock lock(mu_);
  sessions_.push_back(std::move(session));
}

void WatchSender::schedule(std::shared_ptr<WatchSession> session) {
  {
    util::MutexLock lock(mu_);
    ready_.push_back(std::move(session));
  }
  wake_.notify_one();
}

void WatchSender::end_all(const util::Status& status) {
  std::vector<std::shared_ptr<WatchSession>> live;
  {
    util::MutexLock lock(mu_);
    for (const auto& w : sessions_) {
      if (auto s = w.lock()) live.push_back(std::move(s));
    }
  }
  for (auto& s : live) s->end(status);
}

void WatchSender::run() {
  auto next_tick = std::chrono::steady_clock::now() + tick_;
  for (;;) {
    std::vector<std::shared_ptr<WatchSession>> ready;
    std::vector<std::shared_ptr<WatchSession>> ticked;
    {
      util::MutexLock lock(mu_);
      while (!stopping_ && ready_.empty() && std::chrono::steady_clock::now() < next_tick) {
        wake_.wait_until(mu_, next_tick);
      }
      if (stopping_) return;
      ready.swap(ready_);
      if (std::chrono::steady_clock::now() >= next_tick) {
        next_tick = std::chrono::steady_clock::now() + tick_;
        std::erase_if(sessions_, [&](const std::weak_ptr<WatchSession>& w) {
          auto s = w.lock();
          if (s == nullptr) return true;
          ticked.push_back(std::move(s));
          return false;
        });
      }
    }
    const auto now = std::chrono::steady_clock::now();
    for (auto& s : ticked) s->tick(now);
    for (auto& s : ready) s->pump();
    for (auto& s : ticked) s->pump();
  }
}

}  // namespace dkv::api
