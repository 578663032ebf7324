// url_codec: the small text codecs of the REST gateway: percent-decoding of
// path segments and query strings, base64 in both alphabets (a bytes field in a
// URL), and grpc-gateway's Grpc-Timeout header. Pure functions, no I/O.
// Threading: stateless, callable from any thread.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dkv::api::gateway {

// Percent-decodes `in` (RFC 3986). With `plus_as_space` a '+' becomes ' ', as
// in application/x-www-form-urlencoded query strings; in a path '+' stays '+'.
// Returns nullopt on a malformed escape ("%G1", a trailing "%4").
std::optional<std::string> percent_decode(std::string_view in, bool plus_as_space);

// Decodes base64 in the standard ('+', '/') or the URL-safe ('-', '_')
// alphabet, with or without '=' padding, as grpc-gateway accepts a bytes field
// in a URL. Returns nullopt on a character outside both alphabets, misplaced
// padding, or an impossible length.
std::optional<std::string> base64_decode(std::string_view in);

// Encodes `in` as standard, padded base64 (what the JSON mapping emits).
std::string base64_encode(std::string_view in);

struct QueryParam {
  std::string key;    // Decoded.
  std::string value;  // Decoded; empty for "?flag".
};

// Splits a query string ("a=1&b=x%20y", without the '?') into decoded pairs,
// skipping empty items. Returns nullopt on a malformed escape.
std::optional<std::vector<QueryParam>> parse_query(std::string_view query);

// Parses a Grpc-Timeout header value: at most 8 digits and a unit, one of
// H (hours), M (minutes), S (seconds), m (millis), u (micros), n (nanos), as
// grpc-gateway and the gRPC wire protocol define it ("5S", "100m").
// Longer timeouts saturate at kGrpcTimeoutMax. Returns nullopt if malformed.
inline constexpr std::chrono::nanoseconds kGrpcTimeoutMax = std::chrono::hours(100'000);
std::optional<std::chrono::nanoseconds> parse_grpc_timeout(std::string_view value);

}  // namespace dkv::api::gateway
