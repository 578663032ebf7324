#include "api/gateway/response_head.h"

#include <charconv>
#include <ostream>  // boost::string_view (in Beast's status.hpp) needs it.

#include <boost/beast/http/status.hpp>

#include "util/assert.h"

namespace dkv::api::gateway {

namespace http = boost::beast::http;

bool has_body(unsigned status) { return status >= 200 && status != 204 && status != 304; }

void append_response_head(const ResponseHead& h, std::string* out) {
  DKV_ASSERT(has_body(h.status));
  DKV_ASSERT(h.status <= 999);
  DKV_ASSERT(h.version <= 99);  // One digit each side of the dot, as parsed.
  const char version[] = {'H', 'T',
                          'T', 'P',
                          '/', static_cast<char>('0' + h.version / 10),
                          '.', static_cast<char>('0' + h.version % 10),
                          ' '};
  out->append(version, sizeof(version));
  char digits[3] = {static_cast<char>('0' + h.status / 100),
                    static_cast<char>('0' + h.status / 10 % 10),
                    static_cast<char>('0' + h.status % 10)};
  out->append(digits, 3);
  out->push_back(' ');
  // Beast's reason phrase for the code ("<unknown-status>" for 499).
  const auto reason = http::obsolete_reason(static_cast<http::status>(h.status));
  out->append(reason.data(), reason.size());
  out->append("\r\n");
  if (!h.allow.empty()) {
    out->append("Allow: ");
    out->append(h.allow);
    out->append("\r\n");
  }
  out->append("Content-Type: ");
  out->append(h.content_type);
  out->append("\r\n");
  // keep_alive(): HTTP/1.1 is persistent unless it says close, HTTP/1.0 is
  // not unless it says keep-alive.
  if (h.version >= 11 && !h.keep_alive) out->append("Connection: close\r\n");
  if (h.version < 11 && h.keep_alive) out->append("Connection: keep-alive\r\n");
  out->append("Content-Length: ");
  char length[24];
  const auto [end, ec] = std::to_chars(length, length + sizeof(length), h.content_length);
  out->append(length, end);
  out->append("\r\n\r\n");
}

}  // namespace dkv::api::gateway
