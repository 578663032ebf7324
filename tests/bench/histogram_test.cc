// tests/bench/histogram_test.cc
// LatencyHistogram: value -> bucket arithmetic, percentile accuracy within
// 1% against an exact sorted reference, merge, clamping, empty histograms.
#include "histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace dkv::bench {
namespace {

using H = LatencyHistogram;

TEST(HistogramBuckets, SmallValuesAreExact) {
  for (std::uint64_t v = 0; v < H::kSubBuckets; v++) {
    EXPECT_EQ(H::bucket_of(v), v);
    EXPECT_EQ(H::bucket_lower(v), v);
    EXPECT_EQ(H::bucket_width(v), 1u);
  }
}

TEST(HistogramBuckets, PowerOfTwoBoundaries) {
  // 128..255 still have width 1; 256 starts buckets of width 2.
  EXPECT_EQ(H::bucket_of(128), 128u);
  EXPECT_EQ(H::bucket_of(255), 255u);
  EXPECT_EQ(H::bucket_of(256), 256u);
  EXPECT_EQ(H::bucket_of(257), 256u);
  EXPECT_EQ(H::bucket_of(258), 257u);
  EXPECT_EQ(H::bucket_width(256), 2u);
  EXPECT_EQ(H::bucket_lower(257), 258u);
  EXPECT_EQ(H::bucket_of(H::kValueMax), H::kBucketCount - 1);
  EXPECT_EQ(H::bucket_of(H::kValueMax + 1), H::kBucketCount - 1);  // Clamped.
  EXPECT_EQ(H::bucket_of(UINT64_MAX), H::kBucketCount - 1);
}

TEST(HistogramBuckets, EveryBucketContainsItsValuesAndIsNarrow) {
  for (std::size_t i = 0; i < H::kBucketCount; i++) {
    const std::uint64_t lower = H::bucket_lower(i);
    const std::uint64_t upper = lower + H::bucket_width(i) - 1;
    ASSERT_EQ(H::bucket_of(lower), i);
    ASSERT_EQ(H::bucket_of(upper), i);
    // Contiguous: the next bucket starts right after this one.
    if (i + 1 < H::kBucketCount) {
      ASSERT_EQ(H::bucket_lower(i + 1), upper + 1);
    }
    // Width at most 1/kSubBuckets of the lower bound (0.78%).
    if (lower >= H::kSubBuckets) {
      ASSERT_LE(H::bucket_width(i) * H::kSubBuckets, lower);
    }
  }
  EXPECT_EQ(H::bucket_lower(H::kBucketCount - 1) + H::bucket_width(H::kBucketCount - 1) - 1,
            H::kValueMax);
}

TEST(HistogramBuckets, MonotonicOverRandomValues) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 100000; i++) {
    const std::uint64_t a = rng() >> (rng() % 64);
    const std::uint64_t b = rng() >> (rng() % 64);
    if (a <= b) {
      ASSERT_LE(H::bucket_of(a), H::bucket_of(b)) << a << " " << b;
    } else {
      ASSERT_GE(H::bucket_of(a), H::bucket_of(b)) << a << " " << b;
    }
  }
}

TEST(Histogram, EmptyReportsZeros) {
  H h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.mean(), 0);
  EXPECT_EQ(h.percentile(50), 0u);
  EXPECT_EQ(h.percentile(100), 0u);
}

TEST(Histogram, SingleValueIsExact) {
  H h;
  h.record(123456789);
  EXPECT_EQ(h.count(), 1u);
  EXPECT_EQ(h.min(), 123456789u);
  EXPECT_EQ(h.max(), 123456789u);
  // Clamped to [min, max], so exact.
  EXPECT_EQ(h.percentile(0), 123456789u);
  EXPECT_EQ(h.percentile(50), 123456789u);
  EXPECT_EQ(h.percentile(100), 123456789u);
}

// The exact p-th percentile (nearest rank) of a sorted sample.
std::uint64_t exact_percentile(const std::vector<std::uint64_t>& sorted, double p) {
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  rank = std::max<std::size_t>(rank, 1);
  return sorted[rank - 1];
}

void expect_within_one_percent(const std::vector<std::uint64_t>& values) {
  H h;
  for (std::uint64_t v : values) h.record(v);
  std::vector<std::uint64_t> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  for (double p : {0.0, 1.0, 10.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
    const double exact = static_cast<double>(exact_percentile(sorted, p));
    const double got = static_cast<double>(h.percentile(p));
    EXPECT_LE(std::abs(got - exact), 0.01 * exact + 1) << "p" << p << " exact " << exact;
  }
  EXPECT_EQ(h.max(), sorted.back());
  EXPECT_EQ(h.min(), sorted.front());
}

TEST(Histogram, PercentilesWithinOnePercentUniform) {
  std::vector<std::uint64_t> values;
  for (std::uint64_t v = 1; v <= 1000000; v += 7) values.push_back(v);
  expect_within_one_percent(values);
}

TEST(Histogram, PercentilesWithinOnePercentLogNormalLatencies) {
  // Latency-like: a body around 2 ms (in ns) and a long tail.
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> dist(std::log(2e6), 0.8);
  std::vector<std::uint64_t> values;
  for (int i = 0; i < 200000; i++) values.push_back(static_cast<std::uint64_t>(dist(rng)));
  expect_within_one_percent(values);
}

TEST(Histogram, MeanIsExact) {
  H h;
  h.record(1000);
  h.record(3000);
  h.record(1000000);
  EXPECT_DOUBLE_EQ(h.mean(), 1004000.0 / 3);
}

TEST(Histogram, MergeEqualsRecordingEverythingInOne) {
  std::mt19937_64 rng(3);
  H a, b, all;
  for (int i = 0; i < 50000; i++) {
    const std::uint64_t v = rng() % 50'000'000;
    (i % 3 == 0 ? a : b).record(v);
    all.record(v);
  }
  H merged;
  merged.merge(a);
  merged.merge(b);
  EXPECT_EQ(merged.count(), all.count());
  EXPECT_EQ(merged.min(), all.min());
  EXPECT_EQ(merged.max(), all.max());
  EXPECT_DOUBLE_EQ(merged.mean(), all.mean());
  for (double p : {1.0, 50.0, 90.0, 99.0, 99.9, 100.0}) {
    EXPECT_EQ(merged.percentile(p), all.percentile(p)) << p;
  }
}

TEST(Histogram, MergeWithEmptyKeepsMin) {
  H a, empty;
  a.record(500);
  a.merge(empty);
  EXPECT_EQ(a.min(), 500u);
  empty.merge(a);
  EXPECT_EQ(empty.min(), 500u);
  EXPECT_EQ(empty.count(), 1u);
}

TEST(Histogram, HugeValuesAreClampedButMaxIsExact) {
  H h;
  h.record(H::kValueMax * 4);
  h.record(10);
  EXPECT_EQ(h.max(), H::kValueMax * 4);
  // The top value sits in the last bucket; its percentile is at least that
  // bucket's lower bound.
  EXPECT_GE(h.percentile(100), H::bucket_lower(H::kBucketCount - 1));
}

TEST(Histogram, ResetForgetsEverything) {
  H h;
  h.record(5);
  h.reset();
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.percentile(50), 0u);
  EXPECT_EQ(h.min(), 0u);
}

}  // namespace
}  // namespace dkv::bench
