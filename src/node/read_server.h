// ReadServer: serves linearizable reads off the raft thread. The raft
// thread posts batches whose read index is applied (ReadPath::
// take_servable); one read thread reads them from the store and answers
// them, so LMDB reads and client callbacks never delay the Ready loop.
// Invariant: every posted read is answered exactly once, before stop()
// returns (what is queued at stop is still served: its index is applied).
// With a Background (background.h) there is no read thread: each post()
// hands its batches to the Background as one task, which serves them when
// its owner runs it (the node simulator, at a time of its choosing).
// Threading: post() and stop() from any thread; reads are served on the
// read thread. Lifetime: `state` (and `background`) must outlive the
// ReadServer (stop() joins) and, with a Background, the tasks it was given.
#pragma once

#include <thread>
#include <vector>

#include "node/background.h"
#include "node/read_path.h"
#include "util/mutex.h"
#include "util/thread_annotations.h"

namespace dkv::node {

class ReadServer {
 public:
  explicit ReadServer(const StateReader& state, Background* background = nullptr);
  ~ReadServer();
  ReadServer(const ReadServer&) = delete;
  ReadServer& operator=(const ReadServer&) = delete;

  void post(std::vector<ServableReads> batches);
  // Serves what is queued, then joins the read thread. Idempotent.
  void stop();

 private:
  void run();

  const StateReader& state_;
  Background* const background_;  // Null: thread_ serves.
  util::Mutex mu_;
  util::CondVar cv_;
  std::vector<ServableReads> queue_ DKV_GUARDED_BY(mu_);
  bool stopping_ DKV_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace dkv::node
