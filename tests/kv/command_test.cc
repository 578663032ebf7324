#include "kv/command.h"

#include <gtest/gtest.h>

namespace dkv::kv {
namespace {

TEST(CommandTest, PutRoundTrips) {
  const Command put{Op::kPut, "hello", std::string("wor\0ld", 6)};
  Command out;
  ASSERT_TRUE(decode_command(encode_command(put), &out).is_ok());
  EXPECT_EQ(out, put);
}

TEST(CommandTest, DeleteRoundTrips) {
  const Command del{Op::kDelete, std::string(511, 'k'), ""};
  Command out;
  ASSERT_TRUE(decode_command(encode_command(del), &out).is_ok());
  EXPECT_EQ(out, del);
}

TEST(CommandTest, EmptyValueRoundTrips) {
  const Command put{Op::kPut, "k", ""};
  Command out;
  ASSERT_TRUE(decode_command(encode_command(put), &out).is_ok());
  EXPECT_EQ(out, put);
}

TEST(CommandTest, EtcdRequestRoundTrips) {
  const Command etcd{Op::kEtcd, "", std::string("\x01\x0a\x01k", 4)};
  Command out;
  ASSERT_TRUE(decode_command(encode_command(etcd), &out).is_ok());
  EXPECT_EQ(out, etcd);
  // An etcd command has no key and always a payload.
  EXPECT_FALSE(decode_command(std::string("\x03\x01kx", 4), &out).is_ok());
  EXPECT_FALSE(decode_command(std::string("\x03\x00", 2), &out).is_ok());
}

TEST(CommandTest, MalformedInputIsAnErrorNotACrash) {
  Command out;
  EXPECT_FALSE(decode_command("", &out).is_ok());
  EXPECT_FALSE(decode_command("\x09", &out).is_ok());  // Unknown op.
  EXPECT_FALSE(decode_command("\x01", &out).is_ok());  // No key length.
  EXPECT_FALSE(decode_command("\x01\x05"
                              "ab",
                              &out)
                   .is_ok());                                  // Key longer than data.
  EXPECT_FALSE(decode_command("\x01\xff\xff", &out).is_ok());  // Unterminated varint.
  EXPECT_FALSE(decode_command("\x02\x01"
                              "kv",
                              &out)
                   .is_ok());  // Delete with a value.
}

TEST(CommandTest, EveryTruncationOfAValidEncodingIsHandled) {
  const std::string full = encode_command({Op::kPut, "key", "value"});
  for (std::size_t n = 0; n < full.size(); ++n) {
    Command out;
    // Short prefixes may decode (as a shorter value) or fail, but never crash.
    (void)decode_command(std::string_view(full).substr(0, n), &out);
  }
}

}  // namespace
}  // namespace dkv::kv
