// The size limits of the public data model, enforced before anything is
// written. Keys are bounded by LMDB's compile-time maximum key size (511 bytes
// in Debian's liblmdb); values by what fits comfortably in one Raft entry and
// one gRPC/REST message.
#pragma once

#include <cstddef>

namespace dkv::kv {

inline constexpr std::size_t kKeyBytesMin = 1;
inline constexpr std::size_t kKeyBytesMax = 511;
inline constexpr std::size_t kValueBytesMax = 1024 * 1024;  // 1 MiB.

}  // namespace dkv::kv
