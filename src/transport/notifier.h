// Notifier: runs the transport's on_unreachable and on_snapshot_status
// callbacks on one thread of its own, in order, so that neither send() (the
// raft thread) nor a peer's threads ever run them. Pending unreachable
// reports are coalesced per peer (one at a time).
// Owns: its queue of reports and its thread. Threading: unreachable() and
// snapshot_status() are thread-safe and never block on the callbacks; the
// destructor joins the thread (reports still queued are dropped).
// Lifetime: the callbacks must outlive the Notifier.
#pragma once

#include <deque>
#include <set>
#include <thread>

#include "raft/types.h"
#include "transport/transport.h"
#include "util/mutex.h"
#include "util/thread_annotations.h"

namespace dkv::transport {

class Notifier {
 public:
  explicit Notifier(const TransportCallbacks& cb);
  ~Notifier();
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  void unreachable(raft::NodeId id);
  void snapshot_status(raft::NodeId id, bool ok);

 private:
  struct Event {
    raft::NodeId id;
    bool snapshot;  // false: unreachable.
    bool ok;
  };

  void run();

  const TransportCallbacks& cb_;
  util::Mutex mu_;
  util::CondVar cv_;
  std::deque<Event> events_ DKV_GUARDED_BY(mu_);
  std::set<raft::NodeId> unreachable_pending_ DKV_GUARDED_BY(mu_);
  bool stopping_ DKV_GUARDED_BY(mu_) = false;
  std::thread thread_;  // Last: starts after the fields above exist.
};

}  // namespace dkv::transport
