#include "util/rate_limiter.h"

#include <gtest/gtest.h>

namespace dkv::util {
namespace {

using namespace std::chrono_literals;

TEST(RateLimiterTest, OnePerIntervalPerKeyWithTheSuppressedCount) {
  RateLimiter limiter(30s);
  const auto t0 = RateLimiter::Clock::time_point{} + 1h;
  std::uint64_t suppressed = 99;
  EXPECT_TRUE(limiter.allow("peer-a:cluster", t0, &suppressed));
  EXPECT_EQ(suppressed, 0u);
  for (int i = 1; i <= 5; ++i) {
    EXPECT_FALSE(limiter.allow("peer-a:cluster", t0 + i * 1s, &suppressed));
  }
  // Another key (another peer or reason) is independent.
  EXPECT_TRUE(limiter.allow("peer-b:cluster", t0 + 2s, &suppressed));
  EXPECT_FALSE(limiter.allow("peer-a:cluster", t0 + 29s, &suppressed));
  EXPECT_TRUE(limiter.allow("peer-a:cluster", t0 + 30s, &suppressed));
  EXPECT_EQ(suppressed, 6u);
  EXPECT_FALSE(limiter.allow("peer-a:cluster", t0 + 31s, &suppressed));
  EXPECT_TRUE(limiter.allow("peer-a:cluster", t0 + 90s, &suppressed));
  EXPECT_EQ(suppressed, 1u);
}

TEST(RateLimiterTest, BoundedKeysForgetIdleOnes) {
  RateLimiter limiter(10s, 2);
  const auto t0 = RateLimiter::Clock::time_point{} + 1h;
  std::uint64_t suppressed = 0;
  EXPECT_TRUE(limiter.allow("a", t0, &suppressed));
  EXPECT_TRUE(limiter.allow("b", t0, &suppressed));
  EXPECT_FALSE(limiter.allow("c", t0 + 1s, &suppressed));  // Full of busy keys.
  EXPECT_TRUE(limiter.allow("c", t0 + 10s, &suppressed));  // a and b are idle now.
}

}  // namespace
}  // namespace dkv::util
