// ReplyBatch: tells the front ends that the running thread is answering
// many requests in one loop (the applier's applied writes, the read path's
// served reads), so that they can hand the answers on together when the
// loop ends instead of one by one (api/grpc_reply_queue.h: one answer is
// sent at once on this thread, several go to gRPC's reply thread with one
// wake-up).
//
// Threading: per thread (thread-local state); batches nest, and the hooks
// run when the outermost one closes, on the thread that opened it.
#pragma once

#include <algorithm>
#include <vector>

namespace dkv::util {

class ReplyBatch {
 public:
  ReplyBatch() { ++depth(); }
  ~ReplyBatch() {
    if (--depth() > 0) return;
    // A hook may open a batch of its own: run a detached list.
    std::vector<void (*)()> run;
    run.swap(hooks());
    for (auto* hook : run) hook();
  }
  ReplyBatch(const ReplyBatch&) = delete;
  ReplyBatch& operator=(const ReplyBatch&) = delete;

  // True when a batch is open on this thread: `at_end` then runs once when
  // it closes, however often it was deferred during it.
  static bool defer_to_end(void (*at_end)()) {
    if (depth() == 0) return false;
    auto& h = hooks();
    if (std::find(h.begin(), h.end(), at_end) == h.end()) h.push_back(at_end);
    return true;
  }

 private:
  static int& depth() {
    thread_local int d = 0;
    return d;
  }
  static std::vector<void (*)()>& hooks() {
    thread_local std::vector<void (*)()> h;
    return h;
  }
};

}  // namespace dkv::util
