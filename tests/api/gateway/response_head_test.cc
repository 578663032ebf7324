// The hand-written response head against Beast's serializer: same bytes for
// every status the gateway sends, every HTTP/x.y version Beast parses, kept
// alive or not, with and without an Allow field.
#include "api/gateway/response_head.h"

#include <gtest/gtest.h>
#include <boost/beast/http.hpp>

#include <sstream>
#include <vector>

namespace dkv::api::gateway {
namespace {

namespace http = boost::beast::http;

std::string beast_bytes(const ResponseHead& h, const std::string& body) {
  http::response<http::string_body> res{static_cast<http::status>(h.status), h.version};
  if (!h.allow.empty()) res.set(http::field::allow, h.allow);
  res.set(http::field::content_type, h.content_type);
  res.body() = body;
  res.keep_alive(h.keep_alive);
  res.prepare_payload();
  std::ostringstream os;
  os << res;
  return os.str();
}

TEST(ResponseHead, WritesWhatBeastWrites) {
  const unsigned statuses[] = {200, 400, 401, 403, 404, 405, 409, 429, 499, 500, 501, 503, 504};
  int cases = 0;
  for (unsigned status : statuses) {
    for (unsigned version : {9u, 10u, 11u, 12u, 20u}) {
      for (bool keep_alive : {false, true}) {
        for (std::string_view allow : {"", "GET, DELETE"}) {
          for (const std::string& body :
               std::vector<std::string>{"", "{}", std::string(1000, 'x')}) {
            ResponseHead h;
            h.status = status;
            h.version = version;
            h.keep_alive = keep_alive;
            h.allow = allow;
            h.content_type = "application/json";
            h.content_length = body.size();
            std::string ours;
            append_response_head(h, &ours);
            EXPECT_EQ(ours + body, beast_bytes(h, body))
                << status << " HTTP/" << version << " keep_alive=" << keep_alive;
            ++cases;
          }
        }
      }
    }
  }
  EXPECT_EQ(cases, 13 * 5 * 2 * 2 * 3);
}

TEST(ResponseHead, KnowsWhichStatusesHaveNoBody) {
  EXPECT_TRUE(has_body(200));
  EXPECT_TRUE(has_body(503));
  EXPECT_FALSE(has_body(100));
  EXPECT_FALSE(has_body(204));
  EXPECT_FALSE(has_body(304));
}

}  // namespace
}  // namespace dkv::api::gateway
