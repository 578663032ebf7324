#include "node/store_flusher.h"

#include <chrono>

namespace dkv::node {

StoreFlusher::StoreFlusher(const kv::Store& store, bool threaded) : store_(store) {
  if (threaded) thread_ = std::thread([this] { loop(); });
}

StoreFlusher::~StoreFlusher() {
  {
    util::MutexLock lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

bool StoreFlusher::ready_to_sync() {
  if (!thread_.joinable()) return true;
  util::MutexLock lock(mu_);
  if (!in_flight_) {
    in_flight_ = true;
    requested_ = true;
    finished_ = false;
    cv_.notify_one();
    return false;
  }
  if (!finished_) return false;
  in_flight_ = false;
  return true;
}

util::Status StoreFlusher::take_error() {
  util::MutexLock lock(mu_);
  util::Status s = error_;
  error_ = util::Status::ok();
  return s;
}

// Each pass writes what was dirtied during the one before, so passes get
// shorter; stop once one is short (or after a few, under a heavy load).
util::Status StoreFlusher::write_back_until_small() {
  constexpr int kMaxPasses = 3;
  constexpr auto kShortPass = std::chrono::milliseconds(2);
  for (int pass = 0; pass < kMaxPasses; ++pass) {
    const auto start = std::chrono::steady_clock::now();
    if (auto s = store_.write_back(); !s.is_ok()) return s;
    if (std::chrono::steady_clock::now() - start < kShortPass) break;
  }
  return util::Status::ok();
}

void StoreFlusher::loop() {
  for (;;) {
    {
      util::MutexLock lock(mu_);
      while (!stopping_ && !requested_) cv_.wait(mu_);
      if (stopping_) return;
      requested_ = false;
    }
    util::Status s = write_back_until_small();
    util::MutexLock lock(mu_);
    if (!s.is_ok() && error_.is_ok()) error_ = s;
    finished_ = true;
  }
}

}  // namespace dkv::node
