#include "transport/backoff.h"

#include <algorithm>

#include "util/assert.h"

namespace dkv::transport {

Backoff::Backoff(int initial_ms, int max_ms, std::uint64_t seed)
    : initial_ms_(initial_ms), max_ms_(max_ms), rng_(seed) {
  DKV_ASSERT(initial_ms_ > 0 && max_ms_ >= initial_ms_);
}

std::chrono::milliseconds Backoff::delay(int failures) {
  DKV_ASSERT(failures >= 1);
  const int shift = std::min(failures - 1, 20);
  const std::int64_t d = std::min<std::int64_t>(std::int64_t{initial_ms_} << shift, max_ms_);
  std::uniform_int_distribution<std::int64_t> jitter(d / 2, d);
  return std::chrono::milliseconds(jitter(rng_));
}

}  // namespace dkv::transport
