#include "node/read_server.h"

#include <iterator>
#include <memory>

#include "util/assert.h"
#include "util/thread_name.h"

namespace dkv::node {

ReadServer::ReadServer(const StateReader& state, Background* background)
    : state_(state), background_(background) {
  if (background_ != nullptr) return;
  thread_ = std::thread([this] {
    util::set_thread_name("reads");
    run();
  });
}

ReadServer::~ReadServer() { stop(); }

void ReadServer::post(std::vector<ServableReads> batches) {
  if (batches.empty()) return;
  if (background_ != nullptr) {
    // std::function must be copyable; the batches' waiters are not.
    auto work = std::make_shared<std::vector<ServableReads>>(std::move(batches));
    background_->run(Background::Kind::kReads, [work, &state = state_] {
      for (auto& batch : *work) serve_reads(batch, state);
    });
    return;
  }
  {
    util::MutexLock lock(mu_);
    DKV_ASSERT(!stopping_);  // The raft thread stops posting before stop().
    std::move(batches.begin(), batches.end(), std::back_inserter(queue_));
  }
  cv_.notify_one();
}

void ReadServer::stop() {
  {
    util::MutexLock lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void ReadServer::run() {
  for (;;) {
    std::vector<ServableReads> work;
    bool stopping = false;
    {
      util::MutexLock lock(mu_);
      while (!stopping_ && queue_.empty()) cv_.wait(mu_);
      work.swap(queue_);
      stopping = stopping_;
    }
    for (auto& batch : work) serve_reads(batch, state_);
    if (stopping) {
      util::MutexLock lock(mu_);
      if (queue_.empty()) return;
    }
  }
}

}  // namespace dkv::node
