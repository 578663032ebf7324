#include "transport/notifier.h"

#include "util/thread_name.h"

namespace dkv::transport {

Notifier::Notifier(const TransportCallbacks& cb)
    : cb_(cb), thread_([this] {
        util::set_thread_name("transport-note");
        run();
      }) {}

Notifier::~Notifier() {
  {
    util::MutexLock lk(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

void Notifier::unreachable(raft::NodeId id) {
  {
    util::MutexLock lk(mu_);
    if (!unreachable_pending_.insert(id).second) return;  // Already pending.
    events_.push_back({id, false, false});
  }
  cv_.notify_one();
}

void Notifier::snapshot_status(raft::NodeId id, bool ok) {
  {
    util::MutexLock lk(mu_);
    events_.push_back({id, true, ok});
  }
  cv_.notify_one();
}

void Notifier::run() {
  util::MutexLock lk(mu_);
  while (true) {
    while (!stopping_ && events_.empty()) cv_.wait(mu_);
    if (stopping_) return;
    const Event e = events_.front();
    events_.pop_front();
    if (!e.snapshot) unreachable_pending_.erase(e.id);
    lk.unlock();
    if (e.snapshot && cb_.on_snapshot_status) cb_.on_snapshot_status(e.id, e.ok);
    if (!e.snapshot && cb_.on_unreachable) cb_.on_unreachable(e.id);
    lk.lock();
  }
}

}  // namespace dkv::transport
