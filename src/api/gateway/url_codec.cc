#include "api/gateway/url_codec.h"

#include <array>
#include <cstdint>

namespace dkv::api::gateway {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Maps a byte to its 6-bit value in either base64 alphabet, or -1.
constexpr std::array<int8_t, 256> make_base64_table() {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int i = 0; i < 26; ++i) t['A' + i] = static_cast<int8_t>(i);
  for (int i = 0; i < 26; ++i) t['a' + i] = static_cast<int8_t>(26 + i);
  for (int i = 0; i < 10; ++i) t['0' + i] = static_cast<int8_t>(52 + i);
  t['+'] = 62;
  t['-'] = 62;
  t['/'] = 63;
  t['_'] = 63;
  return t;
}
constexpr std::array<int8_t, 256> kBase64Table = make_base64_table();

constexpr char kBase64Alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

}  // namespace

std::optional<std::string> percent_decode(std::string_view in, bool plus_as_space) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '+' && plus_as_space) {
      out.push_back(' ');
      continue;
    }
    if (c != '%') {
      out.push_back(c);
      continue;
    }
    if (i + 2 >= in.size()) return std::nullopt;  // Truncated escape.
    const int hi = hex_value(in[i + 1]);
    const int lo = hex_value(in[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view in) {
  // Padding, if any, must complete the last quantum: total length % 4 == 0
  // and at most two '=' at the very end.
  size_t data_len = in.size();
  while (data_len > 0 && in[data_len - 1] == '=') --data_len;
  const size_t pad = in.size() - data_len;
  if (pad > 2) return std::nullopt;
  if (pad > 0 && in.size() % 4 != 0) return std::nullopt;
  if (data_len % 4 == 1) return std::nullopt;  // 6 bits cannot make a byte.

  std::string out;
  out.reserve(data_len * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < data_len; ++i) {
    const int v = kBase64Table[static_cast<unsigned char>(in[i])];
    if (v < 0) return std::nullopt;  // Also rejects '=' before the end.
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

std::string base64_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const uint32_t n = (static_cast<uint8_t>(in[i]) << 16) |
                       (static_cast<uint8_t>(in[i + 1]) << 8) | static_cast<uint8_t>(in[i + 2]);
    out.push_back(kBase64Alphabet[(n >> 18) & 63]);
    out.push_back(kBase64Alphabet[(n >> 12) & 63]);
    out.push_back(kBase64Alphabet[(n >> 6) & 63]);
    out.push_back(kBase64Alphabet[n & 63]);
  }
  const size_t rest = in.size() - i;
  if (rest == 0) return out;
  uint32_t n = static_cast<uint8_t>(in[i]) << 16;
  if (rest == 2) n |= static_cast<uint8_t>(in[i + 1]) << 8;
  out.push_back(kBase64Alphabet[(n >> 18) & 63]);
  out.push_back(kBase64Alphabet[(n >> 12) & 63]);
  out.push_back(rest == 2 ? kBase64Alphabet[(n >> 6) & 63] : '=');
  out.push_back('=');
  return out;
}

std::optional<std::vector<QueryParam>> parse_query(std::string_view query) {
  std::vector<QueryParam> out;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    auto key = percent_decode(item.substr(0, eq), /*plus_as_space=*/true);
    auto value =
        percent_decode(eq == std::string_view::npos ? std::string_view() : item.substr(eq + 1),
                       /*plus_as_space=*/true);
    if (!key || !value) return std::nullopt;
    out.push_back({std::move(*key), std::move(*value)});
  }
  return out;
}

std::optional<std::chrono::nanoseconds> parse_grpc_timeout(std::string_view value) {
  // gRPC: TimeoutValue is 1 to 8 ASCII digits.
  if (value.size() < 2 || value.size() > 9) return std::nullopt;
  int64_t n = 0;
  for (char c : value.substr(0, value.size() - 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  int64_t unit_ns = 0;
  switch (value.back()) {
    case 'H':
      unit_ns = 3'600'000'000'000;
      break;
    case 'M':
      unit_ns = 60'000'000'000;
      break;
    case 'S':
      unit_ns = 1'000'000'000;
      break;
    case 'm':
      unit_ns = 1'000'000;
      break;
    case 'u':
      unit_ns = 1'000;
      break;
    case 'n':
      unit_ns = 1;
      break;
    default:
      return std::nullopt;
  }
  // 99999999H does not fit in int64 nanoseconds: saturate at kGrpcTimeoutMax.
  const int64_t max_ns = std::chrono::nanoseconds(kGrpcTimeoutMax).count();
  if (n > max_ns / unit_ns) return kGrpcTimeoutMax;
  return std::chrono::nanoseconds(n * unit_ns);
}

}  // namespace dkv::api::gateway
