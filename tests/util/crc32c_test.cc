// CRC32C against the standard check values (RFC 3720 B.4, and the "123456789"
// check value of the CRC catalogue), for both implementations.
#include "util/crc32c.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace dkv::util::crc32c {
namespace {

using Fn = std::uint32_t (*)(std::uint32_t, const void*, std::size_t);

void check_vectors(Fn fn) {
  const std::string check = "123456789";
  EXPECT_EQ(fn(0, check.data(), check.size()), 0xe3069283u);
  std::string buf(32, '\0');
  EXPECT_EQ(fn(0, buf.data(), buf.size()), 0x8a9136aau);
  buf.assign(32, '\xff');
  EXPECT_EQ(fn(0, buf.data(), buf.size()), 0x62a8ab43u);
  for (int i = 0; i < 32; ++i) buf[i] = static_cast<char>(i);
  EXPECT_EQ(fn(0, buf.data(), buf.size()), 0x46dd794eu);
  for (int i = 0; i < 32; ++i) buf[i] = static_cast<char>(31 - i);
  EXPECT_EQ(fn(0, buf.data(), buf.size()), 0x113fdb5cu);
  EXPECT_EQ(fn(0, "", 0), 0u);
}

TEST(Crc32c, PortableMatchesStandardValues) { check_vectors(&extend_portable); }

TEST(Crc32c, HardwareMatchesStandardValues) {
  if (!hardware_available()) GTEST_SKIP() << "no SSE4.2";
  check_vectors(&extend_hardware);
}

TEST(Crc32c, ExtendEqualsWholeAndImplementationsAgree) {
  std::mt19937_64 rng(7);
  std::string data(1000, '\0');
  for (char& c : data) c = static_cast<char>(rng());
  const std::uint32_t whole = value(data);
  for (std::size_t split : {0, 1, 7, 8, 9, 500, 999, 1000}) {
    const std::uint32_t a = extend(0, data.data(), split);
    EXPECT_EQ(extend(a, data.data() + split, data.size() - split), whole) << split;
    for (std::size_t len = 0; len < 40; ++len) {
      const std::size_t n = std::min(len, data.size() - split);
      EXPECT_EQ(extend_portable(0, data.data() + split, n), extend(0, data.data() + split, n));
    }
  }
}

TEST(Crc32c, MaskRoundTripsAndDiffers) {
  const std::uint32_t crc = value("foo");
  EXPECT_NE(mask(crc), crc);
  EXPECT_NE(mask(mask(crc)), crc);
  EXPECT_EQ(unmask(mask(crc)), crc);
  EXPECT_EQ(unmask(unmask(mask(mask(crc)))), crc);
}

}  // namespace
}  // namespace dkv::util::crc32c
