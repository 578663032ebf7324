// src/cmd/dkv-bench/histogram.h
// LatencyHistogram owns the latency distribution of one benchmark client: an
// HdrHistogram-style log-linear histogram of non-negative integer values (the
// bench records nanoseconds). Values below kSubBuckets get one bucket each;
// above, every power of two [2^m, 2^(m+1)) is split into kSubBuckets equal
// buckets, so a bucket is at most 1/kSubBuckets (0.78%) of its values wide and
// a percentile read at the bucket midpoint is within 0.4% of a recorded value.
// Memory is fixed (kBucketCount counters, 32 KiB) whatever the sample count:
// no sorted sample.
// Values above kValueMax are counted in the last bucket (clamped); min, max
// and the sum stay exact.
// Threading: not thread-safe. One writer (one client); merge() after the
// writers are done.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace dkv::bench {

class LatencyHistogram {
 public:
  // 2^kSubBucketBits linear buckets per power of two.
  static constexpr int kSubBucketBits = 7;
  static constexpr std::uint64_t kSubBuckets = std::uint64_t{1} << kSubBucketBits;
  // Largest value with its own bucket: 2^36 - 1 ns, about 68 s.
  static constexpr int kValueBitsMax = 36;
  static constexpr std::uint64_t kValueMax = (std::uint64_t{1} << kValueBitsMax) - 1;
  // kSubBuckets exact buckets, then kSubBuckets per power of two from
  // 2^kSubBucketBits up to 2^(kValueBitsMax - 1).
  static constexpr std::size_t kBucketCount =
      kSubBuckets + (kValueBitsMax - kSubBucketBits) * kSubBuckets;
  static_assert(kBucketCount == 3840);

  LatencyHistogram() = default;

  void record(std::uint64_t value);
  // Adds every value recorded in `other` to this histogram.
  void merge(const LatencyHistogram& other);
  void reset();

  std::uint64_t count() const { return count_; }
  // 0 when empty.
  std::uint64_t min() const { return count_ == 0 ? 0 : min_; }
  std::uint64_t max() const { return max_; }
  double mean() const;
  // The value at or below which `percent` (0..100) of the recorded values
  // lie, read at its bucket's midpoint and clamped to [min(), max()].
  // 0 when empty.
  std::uint64_t percentile(double percent) const;

  // Bucket arithmetic, public for tests.
  static std::size_t bucket_of(std::uint64_t value);
  // Smallest value in bucket `index`.
  static std::uint64_t bucket_lower(std::size_t index);
  // Number of values in bucket `index` (1 for the exact buckets).
  static std::uint64_t bucket_width(std::size_t index);

 private:
  std::array<std::uint64_t, kBucketCount> counts_{};
  std::uint64_t count_ = 0;
  std::uint64_t min_ = UINT64_MAX;
  std::uint64_t max_ = 0;
  // Sum of recorded values (for the mean); 2^64 ns is 584 years.
  std::uint64_t sum_ = 0;
};

}  // namespace dkv::bench
