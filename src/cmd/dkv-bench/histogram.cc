// src/cmd/dkv-bench/histogram.cc
// Log-linear bucket arithmetic and percentile walk of LatencyHistogram.
#include "histogram.h"

#include <algorithm>
#include <bit>
#include <cassert>
#include <cmath>

namespace dkv::bench {

std::size_t LatencyHistogram::bucket_of(std::uint64_t value) {
  value = std::min(value, kValueMax);
  if (value < kSubBuckets) return static_cast<std::size_t>(value);  // Exact.
  // value in [2^magnitude, 2^(magnitude+1)), magnitude >= kSubBucketBits.
  const int magnitude = std::bit_width(value) - 1;
  const int shift = magnitude - kSubBucketBits;
  // The top kSubBucketBits + 1 bits; the leading one is implied by the group.
  const std::uint64_t sub = (value >> shift) - kSubBuckets;
  assert(sub < kSubBuckets);
  const std::size_t index = kSubBuckets + static_cast<std::size_t>(shift) * kSubBuckets + sub;
  assert(index < kBucketCount);
  return index;
}

std::uint64_t LatencyHistogram::bucket_lower(std::size_t index) {
  assert(index < kBucketCount);
  if (index < kSubBuckets) return index;
  const std::size_t shift = (index - kSubBuckets) / kSubBuckets;
  const std::uint64_t sub = (index - kSubBuckets) % kSubBuckets;
  return (kSubBuckets + sub) << shift;
}

std::uint64_t LatencyHistogram::bucket_width(std::size_t index) {
  assert(index < kBucketCount);
  if (index < kSubBuckets) return 1;
  const std::size_t shift = (index - kSubBuckets) / kSubBuckets;
  return std::uint64_t{1} << shift;
}

void LatencyHistogram::record(std::uint64_t value) {
  counts_[bucket_of(value)]++;
  count_++;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
  sum_ += value;
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  for (std::size_t i = 0; i < kBucketCount; i++) counts_[i] += other.counts_[i];
  count_ += other.count_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
}

void LatencyHistogram::reset() { *this = LatencyHistogram(); }

double LatencyHistogram::mean() const {
  if (count_ == 0) return 0;
  return static_cast<double>(sum_) / static_cast<double>(count_);
}

std::uint64_t LatencyHistogram::percentile(double percent) const {
  if (count_ == 0) return 0;
  percent = std::clamp(percent, 0.0, 100.0);
  // The rank (1-based) of the value asked for; at least the first.
  const auto rank = std::max<std::uint64_t>(
      1, static_cast<std::uint64_t>(std::ceil(percent / 100.0 * static_cast<double>(count_))));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < kBucketCount; i++) {
    seen += counts_[i];
    if (seen < rank) continue;
    const std::uint64_t mid = bucket_lower(i) + (bucket_width(i) - 1) / 2;
    return std::clamp(mid, min(), max_);
  }
  return max_;  // Unreachable: the counts sum to count_.
}

}  // namespace dkv::bench
