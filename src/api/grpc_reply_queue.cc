#include "api/grpc_reply_queue.h"

#include <pthread.h>

#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace dkv::api::grpc_dispatch {
namespace {

thread_local bool inside_dispatch = false;

struct Reply {
  grpc::ServerUnaryReactor* reactor;
  grpc::Status status;
};

class ReplyQueue {
 public:
  ReplyQueue() : thread_([this] { run(); }) {
    pthread_setname_np(thread_.native_handle(), "grpc-reply");
    thread_.detach();
  }

  void push(grpc::ServerUnaryReactor* reactor, grpc::Status status) {
    bool wake = false;
    {
      std::lock_guard lock(mu_);
      queue_.push_back(Reply{reactor, std::move(status)});
      wake = idle_;
      idle_ = false;
    }
    if (wake) cv_.notify_one();
  }

 private:
  [[noreturn]] void run() {
    std::vector<Reply> batch;
    for (;;) {
      {
        std::unique_lock lock(mu_);
        if (queue_.empty()) {
          idle_ = true;
          cv_.wait(lock, [this] { return !queue_.empty(); });
        }
        batch.swap(queue_);
      }
      for (Reply& r : batch) r.reactor->Finish(std::move(r.status));
      batch.clear();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Reply> queue_;  // Guarded by mu_.
  bool idle_ = false;         // Guarded by mu_: the thread waits (or is about to).
  std::thread thread_;
};

ReplyQueue& reply_queue() {
  static ReplyQueue* queue = new ReplyQueue();  // Never destroyed: its thread runs to exit.
  return *queue;
}

}  // namespace

InlineScope::InlineScope() : outer_(inside_dispatch) { inside_dispatch = true; }
InlineScope::~InlineScope() { inside_dispatch = outer_; }

void finish(grpc::ServerUnaryReactor* reactor, grpc::Status status) {
  if (inside_dispatch) {
    reactor->Finish(std::move(status));
    return;
  }
  reply_queue().push(reactor, std::move(status));
}

}  // namespace dkv::api::grpc_dispatch
