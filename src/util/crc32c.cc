// CRC32C implementations (see crc32c.h): SSE4.2 and slicing-by-8.
#include "util/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace dkv::util::crc32c {
namespace {

constexpr std::uint32_t kPolyReflected = 0x82f63b78u;

// tables[k][b]: CRC contribution of byte b followed by k zero bytes
// (slicing-by-8, as in Intel's and leveldb's portable code).
constexpr std::array<std::array<std::uint32_t, 256>, 8> make_tables() {
  std::array<std::array<std::uint32_t, 256>, 8> t{};
  for (std::uint32_t b = 0; b < 256; ++b) {
    std::uint32_t crc = b;
    for (int i = 0; i < 8; ++i) crc = (crc >> 1) ^ ((crc & 1u) ? kPolyReflected : 0u);
    t[0][b] = crc;
  }
  for (std::uint32_t b = 0; b < 256; ++b) {
    for (int k = 1; k < 8; ++k) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xffu];
  }
  return t;
}

constexpr auto kTables = make_tables();

std::uint64_t load_le64(const unsigned char* p) {
  std::uint64_t v;
  std::memcpy(&v, p, sizeof v);
  static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "slicing-by-8 assumes little endian");
  return v;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) std::uint32_t extend_sse42(std::uint32_t crc,
                                                             const unsigned char* p,
                                                             std::size_t n) {
  std::uint64_t c = ~crc;
  while (n >= 8) {
    c = _mm_crc32_u64(c, load_le64(p));
    p += 8;
    n -= 8;
  }
  auto c32 = static_cast<std::uint32_t>(c);
  while (n > 0) {
    c32 = _mm_crc32_u8(c32, *p++);
    --n;
  }
  return ~c32;
}
#endif

bool detect_hardware() {
#if defined(__x86_64__)
  return __builtin_cpu_supports("sse4.2");
#else
  return false;
#endif
}

}  // namespace

std::uint32_t extend_portable(std::uint32_t crc, const void* data, std::size_t size_bytes) {
  const auto* p = static_cast<const unsigned char*>(data);
  std::size_t n = size_bytes;
  std::uint32_t c = ~crc;
  while (n >= 8) {
    const std::uint64_t v = load_le64(p) ^ c;
    c = kTables[7][v & 0xff] ^ kTables[6][(v >> 8) & 0xff] ^ kTables[5][(v >> 16) & 0xff] ^
        kTables[4][(v >> 24) & 0xff] ^ kTables[3][(v >> 32) & 0xff] ^ kTables[2][(v >> 40) & 0xff] ^
        kTables[1][(v >> 48) & 0xff] ^ kTables[0][v >> 56];
    p += 8;
    n -= 8;
  }
  while (n > 0) {
    c = (c >> 8) ^ kTables[0][(c ^ *p++) & 0xffu];
    --n;
  }
  return ~c;
}

bool hardware_available() {
  static const bool available = detect_hardware();
  return available;
}

std::uint32_t extend_hardware(std::uint32_t crc, const void* data, std::size_t size_bytes) {
#if defined(__x86_64__)
  return extend_sse42(crc, static_cast<const unsigned char*>(data), size_bytes);
#else
  return extend_portable(crc, data, size_bytes);
#endif
}

std::uint32_t extend(std::uint32_t crc, const void* data, std::size_t size_bytes) {
  if (hardware_available()) return extend_hardware(crc, data, size_bytes);
  return extend_portable(crc, data, size_bytes);
}

}  // namespace dkv::util::crc32c
