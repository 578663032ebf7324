// tests/bench/workload_test.cc
// dkv-bench's workload pieces: key format, key choice, run pacing and stop
// conditions, durations, base64 and percent-encoding. No clocks are waited
// on: the run-control tests use a duration far longer than the test.
#include "workload.h"

#include <gtest/gtest.h>

#include <set>

namespace dkv::bench {
namespace {

TEST(Workload, KeysAreZeroPaddedToKeySize) {
  EXPECT_EQ(format_key(0, 8), "00000000");
  EXPECT_EQ(format_key(42, 8), "00000042");
  EXPECT_EQ(format_key(99999999, 8), "99999999");
  EXPECT_EQ(format_key(7, 1), "7");
}

TEST(Workload, KeysCarryThePrefix) {
  Workload w;
  w.key_prefix = "bench/range/";
  EXPECT_EQ(workload_key(w, 7), "bench/range/00000007");
  w.key_prefix.clear();
  EXPECT_EQ(workload_key(w, 7), "00000007");
}

TEST(Workload, PrefixRangeEndCoversThePrefixOnly) {
  EXPECT_EQ(prefix_range_end("bench/range/"), "bench/range0");
  EXPECT_EQ(prefix_range_end("a\xff"), "b");
  EXPECT_EQ(prefix_range_end("\xff\xff"), std::string(1, '\0'));
  EXPECT_EQ(prefix_range_end(""), std::string(1, '\0'));
  EXPECT_LT(std::string("bench/range/99999999"), prefix_range_end("bench/range/"));
}

TEST(KeyChooser, RangeAndCasModesChooseTheirKind) {
  Workload w;
  w.mode = Mode::kRange;
  EXPECT_EQ(KeyChooser(w, 0).next_kind(), OpKind::kRange);
  w.mode = Mode::kCas;
  EXPECT_EQ(KeyChooser(w, 0).next_kind(), OpKind::kCas);
}

TEST(Workload, KeySpaceMustFitKeySize) {
  Workload w;
  w.key_size_bytes = 3;
  w.key_space = 1000;  // Keys 0..999 fit in 3 digits.
  EXPECT_FALSE(check_key_space(w).has_value());
  w.key_space = 1001;
  EXPECT_TRUE(check_key_space(w).has_value());
  w.key_space = 0;
  EXPECT_TRUE(check_key_space(w).has_value());
}

TEST(Workload, ValueHasSizeAndIsDeterministic) {
  Workload w;
  w.value_size_bytes = 256;
  EXPECT_EQ(make_value(w).size(), 256u);
  EXPECT_EQ(make_value(w), make_value(w));
  w.value_size_bytes = 0;
  EXPECT_EQ(make_value(w), "");
}

TEST(KeyChooser, SequentialFollowsTheRunWideSequence) {
  Workload w;
  w.sequential_keys = true;
  w.key_space = 10;
  KeyChooser c(w, 3);
  EXPECT_EQ(c.next_key_index(0), 0u);
  EXPECT_EQ(c.next_key_index(9), 9u);
  EXPECT_EQ(c.next_key_index(10), 0u);
  EXPECT_EQ(c.next_key_index(23), 3u);
}

TEST(KeyChooser, RandomStaysInKeySpaceAndDependsOnSeedAndClient) {
  Workload w;
  w.key_space = 100;
  KeyChooser a(w, 0), b(w, 0), other_client(w, 1);
  std::set<std::uint64_t> seen;
  bool differs = false;
  for (std::uint64_t i = 0; i < 2000; i++) {
    const std::uint64_t k = a.next_key_index(i);
    ASSERT_LT(k, 100u);
    seen.insert(k);
    ASSERT_EQ(b.next_key_index(i), k);  // Same seed and client: same keys.
    differs |= other_client.next_key_index(i) != k;
  }
  EXPECT_EQ(seen.size(), 100u);
  EXPECT_TRUE(differs);
}

TEST(KeyChooser, ReadRatioChoosesKinds) {
  Workload w;
  w.read_ratio = 0;
  KeyChooser puts(w, 0);
  for (int i = 0; i < 100; i++) ASSERT_EQ(puts.next_kind(), OpKind::kPut);
  w.read_ratio = 1;
  KeyChooser gets(w, 0);
  for (int i = 0; i < 100; i++) ASSERT_EQ(gets.next_kind(), OpKind::kGet);
  w.read_ratio = 0.9;
  KeyChooser mixed(w, 0);
  int reads = 0;
  for (int i = 0; i < 10000; i++) reads += mixed.next_kind() == OpKind::kGet;
  EXPECT_GT(reads, 8800);
  EXPECT_LT(reads, 9200);
}

TEST(RunControl, StopsAtTotal) {
  RunControl c(3, std::chrono::hours(1), 0);
  c.start();
  EXPECT_EQ(c.claim()->seq, 0u);
  EXPECT_EQ(c.claim()->seq, 1u);
  EXPECT_EQ(c.claim()->seq, 2u);
  EXPECT_FALSE(c.claim().has_value());
  EXPECT_TRUE(c.stopped());
  EXPECT_FALSE(c.claim().has_value());
}

TEST(RunControl, StopsAtDeadline) {
  RunControl c(0, std::chrono::nanoseconds(0), 0);
  c.start();
  EXPECT_FALSE(c.claim().has_value());
}

TEST(RunControl, StopEndsTheRun) {
  RunControl c(0, std::chrono::hours(1), 0);
  c.start();
  EXPECT_TRUE(c.claim().has_value());
  c.stop();
  EXPECT_FALSE(c.claim().has_value());
}

TEST(RunControl, RateSchedulesSendTimes) {
  RunControl c(0, std::chrono::hours(1), 1000);  // One per millisecond.
  c.start();
  for (int i = 0; i < 5; i++) {
    const auto slot = c.claim();
    ASSERT_TRUE(slot.has_value());
    EXPECT_EQ(slot->send_at - c.start_time(), std::chrono::milliseconds(i));
  }
}

TEST(RunControl, RateStopsWhenTheNextSlotIsPastTheDeadline) {
  RunControl c(0, std::chrono::hours(1), 1.0 / 7200);  // One per 2 hours.
  c.start();
  EXPECT_TRUE(c.claim().has_value());   // At the start.
  EXPECT_FALSE(c.claim().has_value());  // 2 h later: after the deadline.
}

TEST(Durations, Parse) {
  EXPECT_EQ(*parse_duration("10s"), std::chrono::seconds(10));
  EXPECT_EQ(*parse_duration("250ms"), std::chrono::milliseconds(250));
  EXPECT_EQ(*parse_duration("2m"), std::chrono::minutes(2));
  EXPECT_EQ(*parse_duration("1.5s"), std::chrono::milliseconds(1500));
  EXPECT_EQ(*parse_duration("500us"), std::chrono::microseconds(500));
  EXPECT_FALSE(parse_duration("10").has_value());
  EXPECT_FALSE(parse_duration("s").has_value());
  EXPECT_FALSE(parse_duration("-1s").has_value());
  EXPECT_FALSE(parse_duration("10 s").has_value());
}

TEST(Encoding, Base64MatchesRfc4648Vectors) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64_encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_encode("hello"), "aGVsbG8=");
  EXPECT_EQ(base64_encode(std::string("\xfb\xff", 2)), "+/8=");
}

TEST(Encoding, PercentEncodeEscapesReservedBytes) {
  EXPECT_EQ(percent_encode("abc-._~09"), "abc-._~09");
  EXPECT_EQ(percent_encode("+/8="), "%2B%2F8%3D");
  EXPECT_EQ(percent_encode(std::string("\xff", 1)), "%FF");
}

}  // namespace
}  // namespace dkv::bench
