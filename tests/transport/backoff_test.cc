// A peer's reconnect delays (transport/backoff.h): jittered in [d/2, d],
// doubling from the initial delay, capped at the maximum.
#include "transport/backoff.h"

#include <gtest/gtest.h>

namespace dkv::transport {
namespace {

TEST(Backoff, DoublesWithJitterUpToTheCap) {
  Backoff backoff(50, 1000, /*seed=*/7);
  const std::int64_t expected_max[] = {50, 100, 200, 400, 800, 1000, 1000};
  for (int failures = 1; failures <= 7; ++failures) {
    const std::int64_t d = expected_max[failures - 1];
    for (int i = 0; i < 50; ++i) {
      const std::int64_t got = backoff.delay(failures).count();
      EXPECT_GE(got, d / 2) << "failures " << failures;
      EXPECT_LE(got, d) << "failures " << failures;
    }
  }
}

TEST(Backoff, ManyFailuresStayAtTheCap) {
  Backoff backoff(50, 1000, /*seed=*/1);
  for (int failures : {30, 64, 1000}) {
    const std::int64_t got = backoff.delay(failures).count();
    EXPECT_GE(got, 500);
    EXPECT_LE(got, 1000);
  }
}

}  // namespace
}  // namespace dkv::transport
