// Base-128 varints (protobuf's encoding of unsigned integers), for the small
// binary formats we write by hand: kv commands and snapshot images.
// Decoding untrusted bytes never reads past the input.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace dkv::util {

inline void put_varint(std::string* out, std::uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

// Consumes a varint from the front of *in; false if it is missing or longer
// than 64 bits allow.
inline bool get_varint(std::string_view* in, std::uint64_t* v) {
  std::uint64_t result = 0;
  for (int shift = 0; shift < 64 && !in->empty(); shift += 7) {
    const auto byte = static_cast<std::uint8_t>(in->front());
    in->remove_prefix(1);
    result |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *v = result;
      return true;
    }
  }
  return false;
}

}  // namespace dkv::util
