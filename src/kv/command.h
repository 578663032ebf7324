// Command: one state-machine operation (put or delete of a key) and its
// binary encoding, which is what a Raft log entry carries. The encoding is
// ours and versioned by its first byte (the op), so it can grow new ops:
//   op (1 byte) | varint key length | key bytes | value bytes (put only)
// Decoding untrusted bytes never crashes: a malformed encoding is an error.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "util/status.h"

namespace dkv::kv {

enum class Op : std::uint8_t {
  kPut = 1,
  kDelete = 2,
};

struct Command {
  Op op = Op::kPut;
  std::string key;
  std::string value;  // Empty for kDelete.

  bool operator==(const Command&) const = default;
};

std::string encode_command(const Command& command);
util::Status decode_command(std::string_view data, Command* out);

}  // namespace dkv::kv
