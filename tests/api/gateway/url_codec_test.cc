#include "api/gateway/url_codec.h"

#include <gtest/gtest.h>

namespace dkv::api::gateway {
namespace {

using namespace std::chrono_literals;

TEST(PercentDecode, DecodesEscapesAndKeepsPlusInPaths) {
  EXPECT_EQ(percent_decode("a%2Fb%2fc", false), "a/b/c");
  EXPECT_EQ(percent_decode("a+b", false), "a+b");
  EXPECT_EQ(percent_decode("a+b%20c", true), "a b c");
  EXPECT_EQ(percent_decode("", false), "");
  EXPECT_EQ(percent_decode("%00", false), std::string(1, '\0'));
}

TEST(PercentDecode, RejectsMalformedEscapes) {
  EXPECT_EQ(percent_decode("%", false), std::nullopt);
  EXPECT_EQ(percent_decode("%4", false), std::nullopt);
  EXPECT_EQ(percent_decode("ab%4", false), std::nullopt);
  EXPECT_EQ(percent_decode("%G1", false), std::nullopt);
  EXPECT_EQ(percent_decode("%1G", false), std::nullopt);
}

TEST(Base64Decode, AcceptsStandardAndUrlSafeWithOrWithoutPadding) {
  EXPECT_EQ(base64_decode("aGVsbG8="), "hello");
  EXPECT_EQ(base64_decode("aGVsbG8"), "hello");
  EXPECT_EQ(base64_decode("d29ybGQ="), "world");
  EXPECT_EQ(base64_decode("aGk="), "hi");
  EXPECT_EQ(base64_decode("aGk"), "hi");
  EXPECT_EQ(base64_decode("aA=="), "h");
  EXPECT_EQ(base64_decode("aA"), "h");
  EXPECT_EQ(base64_decode(""), "");
  // 0xfb 0xff 0xbf: "+/+/" in standard base64, "-_-_" in URL-safe.
  const std::string bytes = "\xfb\xff\xbf\xfb\xff\xbf";
  EXPECT_EQ(base64_decode("+/+/+/+/"), bytes);
  EXPECT_EQ(base64_decode("-_-_-_-_"), bytes);
  EXPECT_EQ(base64_decode("/w=="), "\xff");
  EXPECT_EQ(base64_decode("_w"), "\xff");
}

TEST(Base64Decode, RejectsBadInput) {
  EXPECT_EQ(base64_decode("a"), std::nullopt);          // 6 bits.
  EXPECT_EQ(base64_decode("aGVsbG8=="), std::nullopt);  // Bad padding length.
  EXPECT_EQ(base64_decode("aG=k"), std::nullopt);       // Padding in the middle.
  EXPECT_EQ(base64_decode("aGk=="), std::nullopt);
  EXPECT_EQ(base64_decode("aA==="), std::nullopt);
  EXPECT_EQ(base64_decode("aGVs bG8"), std::nullopt);
  EXPECT_EQ(base64_decode("aGVs*bG8"), std::nullopt);
  EXPECT_EQ(base64_decode("===="), std::nullopt);
}

TEST(Base64Encode, RoundTrips) {
  for (std::string s : {"", "h", "hi", "hel", "hello", "\xff\xfe\x00\x01"}) {
    EXPECT_EQ(base64_decode(base64_encode(s)), s);
  }
  EXPECT_EQ(base64_encode("hello"), "aGVsbG8=");
  EXPECT_EQ(base64_encode("\xfb\xff"), "+/8=");
}

TEST(ParseQuery, SplitsAndDecodes) {
  const auto q = parse_query("serializable=true&&k=a%2Bb+c&flag&=x");
  ASSERT_TRUE(q.has_value());
  ASSERT_EQ(q->size(), 4u);
  EXPECT_EQ((*q)[0].key, "serializable");
  EXPECT_EQ((*q)[0].value, "true");
  EXPECT_EQ((*q)[1].key, "k");
  EXPECT_EQ((*q)[1].value, "a+b c");
  EXPECT_EQ((*q)[2].key, "flag");
  EXPECT_EQ((*q)[2].value, "");
  EXPECT_EQ((*q)[3].key, "");
  EXPECT_EQ(parse_query("a=%zz"), std::nullopt);
  EXPECT_TRUE(parse_query("")->empty());
}

TEST(ParseGrpcTimeout, ParsesEveryUnit) {
  EXPECT_EQ(parse_grpc_timeout("5S"), 5s);
  EXPECT_EQ(parse_grpc_timeout("100m"), 100ms);
  EXPECT_EQ(parse_grpc_timeout("2M"), 2min);
  EXPECT_EQ(parse_grpc_timeout("1H"), 1h);
  EXPECT_EQ(parse_grpc_timeout("7u"), 7us);
  EXPECT_EQ(parse_grpc_timeout("9n"), 9ns);
  EXPECT_EQ(parse_grpc_timeout("99999999S"), 99999999s);
  EXPECT_EQ(parse_grpc_timeout("99999999H"), kGrpcTimeoutMax);  // Saturates.
}

TEST(ParseGrpcTimeout, RejectsMalformed) {
  EXPECT_EQ(parse_grpc_timeout(""), std::nullopt);
  EXPECT_EQ(parse_grpc_timeout("S"), std::nullopt);
  EXPECT_EQ(parse_grpc_timeout("5"), std::nullopt);
  EXPECT_EQ(parse_grpc_timeout("5s"), std::nullopt);
  EXPECT_EQ(parse_grpc_timeout("-5S"), std::nullopt);
  EXPECT_EQ(parse_grpc_timeout("123456789S"), std::nullopt);
  EXPECT_EQ(parse_grpc_timeout("1.5S"), std::nullopt);
}

}  // namespace
}  // namespace dkv::api::gateway
