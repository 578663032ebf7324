// CRC32C (Castagnoli, the iSCSI/ext4 polynomial 0x1EDC6F41, reflected
// 0x82F63B78) over byte strings, plus leveldb-style masking for CRCs that are
// stored next to the data they cover. Debian ships no C/C++ CRC32C library
// (only a Python one), so this is ours: SSE4.2's crc32 instruction when the CPU
// has it (checked once at run time), slicing-by-8 tables otherwise; both are
// tested against the RFC 3720 check values.
// Threading: pure functions, safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace dkv::util::crc32c {

// Returns the CRC32C of `data` appended to a string whose CRC32C is `crc`
// (extend(0, ...) starts a new one). Uses the fastest implementation here.
std::uint32_t extend(std::uint32_t crc, const void* data, std::size_t size_bytes);

inline std::uint32_t value(std::string_view data) { return extend(0, data.data(), data.size()); }

// The portable table implementation and the SSE4.2 one, for tests and the
// benchmark. extend_hardware() requires hardware_available().
std::uint32_t extend_portable(std::uint32_t crc, const void* data, std::size_t size_bytes);
std::uint32_t extend_hardware(std::uint32_t crc, const void* data, std::size_t size_bytes);
bool hardware_available();

// A CRC computed over data that itself contains CRCs is weak; like leveldb, we
// store masked CRCs (rotate right 15, add a constant).
inline constexpr std::uint32_t kMaskDelta = 0xa282ead8u;

inline constexpr std::uint32_t mask(std::uint32_t crc) {
  return ((crc >> 15) | (crc << 17)) + kMaskDelta;
}

inline constexpr std::uint32_t unmask(std::uint32_t masked_crc) {
  const std::uint32_t rot = masked_crc - kMaskDelta;
  return (rot >> 17) | (rot << 15);
}

static_assert(unmask(mask(0x12345678u)) == 0x12345678u);

}  // namespace dkv::util::crc32c
