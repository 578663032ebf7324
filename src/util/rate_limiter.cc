#include "util/rate_limiter.h"

namespace dkv::util {

bool RateLimiter::allow(const std::string& key, Clock::time_point now, std::uint64_t* suppressed) {
  MutexLock lock(mu_);
  *suppressed = 0;
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    if (entries_.size() >= keys_max_) forget_idle(now);
    if (entries_.size() >= keys_max_) return false;  // Full of busy keys: hold back.
    entries_.emplace(key, Entry{now, 0});
    return true;
  }
  Entry& e = it->second;
  if (now - e.last_allowed < interval_) {
    ++e.suppressed;
    return false;
  }
  *suppressed = e.suppressed;
  e = Entry{now, 0};
  return true;
}

void RateLimiter::forget_idle(Clock::time_point now) {
  std::erase_if(entries_,
                [&](const auto& kv) { return now - kv.second.last_allowed >= interval_; });
}

}  // namespace dkv::util
