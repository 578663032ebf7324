#include "api/dashboard/accept_encoding.h"

#include <gtest/gtest.h>

namespace dkv::api::dashboard {
namespace {

TEST(AcceptEncoding, GzipWhenOffered) {
  EXPECT_TRUE(accepts_gzip("gzip"));
  EXPECT_TRUE(accepts_gzip("gzip, deflate, br, zstd"));  // Chromium's.
  EXPECT_TRUE(accepts_gzip("br;q=1.0, GZIP;q=0.5"));
  EXPECT_TRUE(accepts_gzip("*"));
  EXPECT_TRUE(accepts_gzip(" deflate , gzip ; q=0.1"));
}

TEST(AcceptEncoding, IdentityOtherwise) {
  EXPECT_FALSE(accepts_gzip(""));
  EXPECT_FALSE(accepts_gzip("identity"));
  EXPECT_FALSE(accepts_gzip("br"));
  EXPECT_FALSE(accepts_gzip("gzip;q=0"));
  EXPECT_FALSE(accepts_gzip("gzip;q=0.000"));
  EXPECT_FALSE(accepts_gzip("*, gzip;q=0"));  // The explicit item wins.
  EXPECT_FALSE(accepts_gzip("*;q=0"));
  EXPECT_FALSE(accepts_gzip("x-gzip2"));
}

}  // namespace
}  // namespace dkv::api::dashboard
