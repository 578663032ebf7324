// RateLimiter: lets one event per key through every `interval` and counts
// the ones it holds back, so that a problem that repeats (a misconfigured
// peer reconnecting twice a second) logs one line per interval, with how
// many were suppressed, instead of a flood. Time is passed in (no clock
// reads here), so tests drive it. At most `keys_max` keys are remembered;
// past that, keys idle for an interval are forgotten (a forgotten key's
// next event passes at once).
// Threading: thread-safe (one mutex).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "util/mutex.h"
#include "util/thread_annotations.h"

namespace dkv::util {

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  explicit RateLimiter(Clock::duration interval, std::size_t keys_max = 1024)
      : interval_(interval), keys_max_(keys_max) {}
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  // True if the event under `key` at `now` should be reported; then
  // *suppressed is how many under that key were held back since the last
  // one that was (0 otherwise). False: held back and counted.
  bool allow(const std::string& key, Clock::time_point now, std::uint64_t* suppressed);

 private:
  struct Entry {
    Clock::time_point last_allowed;
    std::uint64_t suppressed = 0;
  };
  void forget_idle(Clock::time_point now) DKV_REQUIRES(mu_);

  const Clock::duration interval_;
  const std::size_t keys_max_;
  Mutex mu_;
  std::map<std::string, Entry> entries_ DKV_GUARDED_BY(mu_);
};

}  // namespace dkv::util
