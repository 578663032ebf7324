#include "api/grpc_reply_queue.h"

#include <pthread.h>

#include <thread>
#include <utility>
#include <vector>

#include "util/mutex.h"
#include "util/reply_batch.h"
#include "util/thread_annotations.h"

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

  // Takes `replies` (leaves it empty).
  void push(std::vector<Reply>* replies) {
    bool wake = false;
    {
      util::MutexLock lock(mu_);
      if (queue_.empty()) {
        queue_.swap(*replies);
      } else {
        queue_.insert(queue_.end(), std::make_move_iterator(replies->begin()),
                      std::make_move_iterator(replies->end()));
        replies->clear();
      }
      wake = idle_;
      idle_ = false;
    }
    if (wake) wake_.notify_one();
  }

 private:
  [[noreturn]] void run() {
    std::vector<Reply> batch;
    for (;;) {
      {
        util::MutexLock lock(mu_);
        if (queue_.empty()) {
          idle_ = true;
          while (queue_.empty()) wake_.wait(mu_);
        }
        batch.swap(queue_);
      }
      for (Reply& r : batch) r.reactor->Finish(std::move(r.status));
      batch.clear();
    }
  }

  util::Mutex mu_;
  util::CondVar wake_;
  std::vector<Reply> queue_ DKV_GUARDED_BY(mu_);
  bool idle_ DKV_GUARDED_BY(mu_) = false;  // The thread waits (or is about to).
  std::thread thread_;
};

ReplyQueue& reply_queue() {
  static ReplyQueue* queue = new ReplyQueue();  // Never destroyed: its thread runs to exit.
  return *queue;
}

// Answers deferred to the end of this thread's util::ReplyBatch.
thread_local std::vector<Reply> batched;

// At the end of a ReplyBatch: a single answer is sent at once (no hand-off:
// a lone client's latency), several go to the reply thread together.
void flush_batched() {
  if (batched.size() == 1) {
    Reply r = std::move(batched.front());
    batched.clear();
    r.reactor->Finish(std::move(r.status));
    return;
  }
  reply_queue().push(&batched);
}

}  // namespace

InlineScope::InlineScope() : outer_(inside_dispatch) { inside_dispatch = true; }
InlineScope::~InlineScope() { inside_dispatch = outer_; }

void finish(grpc::ServerUnaryReactor* reactor, grpc::Status status) {
  if (inside_dispatch) {
    reactor->Finish(std::move(status));
    return;
  }
  if (util::ReplyBatch::defer_to_end(&flush_batched)) {
    batched.push_back(Reply{reactor, std::move(status)});
    return;
  }
  std::vector<Reply> one{Reply{reactor, std::move(status)}};
  reply_queue().push(&one);
}

}  // namespace dkv::api::grpc_dispatch
