// Random requests through the pure pipeline (route lookup, request building,
// JSON) must only ever produce a route or a Status: no crash, no sanitizer
// report. One seed per run of the loop; a failure names it.
#include <gtest/gtest.h>

#include <random>

#include "api/gateway/json_mapping.h"
#include "api/gateway/request_builder.h"
#include "api/gateway/route_table.h"
#include "dkv/v0/kv.pb.h"
#include "test_registry.h"

namespace dkv::api::gateway {
namespace {

std::string random_text(std::mt19937_64& rng, std::string_view alphabet, size_t max_len) {
  std::uniform_int_distribution<size_t> len(0, max_len);
  std::uniform_int_distribution<size_t> pick(0, alphabet.size() - 1);
  std::string out(len(rng), ' ');
  for (char& c : out) c = alphabet[pick(rng)];
  return out;
}

TEST(Robustness, RandomTargetsAndBodiesNeverCrash) {
  MethodRegistry registry;
  testing::add_echo_methods(&registry, {"Echo", "Files", "Frob", "Literal"});
  const auto* kv = v0::PutRequest::descriptor()->file()->FindServiceByName("KV");
  auto noop = [](auto&&...) {};
  registry.add<v0::PutRequest, v0::PutResponse>(kv, "Put", noop);
  registry.add<v0::GetRequest, v0::GetResponse>(kv, "Get", noop);
  RouteTable table;
  ASSERT_TRUE(table.add_registry(registry).is_ok());

  const std::string_view path_chars = "/tvkeychofilsprag0123456789=+-_%2FAZ:?&.*{}\xff";
  const std::string_view query_chars = "=&%+abcdefgilnstuz0123456789._-\xc3\xa9";
  const std::string_view json_chars = "{}[]\":, 0123456789abcdeinstkruvlfyAZ=+/-_.\\\x01\xff";
  const std::string_view prefixes[] = {"/t/echo/", "/v0/kv/key/",      "/t/files/", "/t/things/",
                                       "/v0/kv",   "/t/echo/special/", ""};
  const char* methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
  const std::string_view bodies[] = {R"({"key":"aGVsbG8=","value":"")", R"({"s":"x","nested":{)",
                                     R"(["a")", R"({"i64":"1)", ""};
  const std::string_view good_segments[] = {"aGVsbG8=", "x/7", "a%2Fb", "-_8", "x:frob", "1"};
  const std::string_view good_bodies[] = {R"({"key":"aGVsbG8=","value":""})", R"({"i64":"5"})",
                                          R"(["a"])", "{}", ""};
  int built = 0;
  int rejected = 0;
  for (uint64_t seed = 1; seed <= 3000; ++seed) {
    SCOPED_TRACE("seed=" + std::to_string(seed));
    std::mt19937_64 rng(seed);
    // Half well-formed parts, half noise, so that both outcomes are common.
    const std::string target =
        std::string(prefixes[rng() % std::size(prefixes)]) +
        (rng() % 2 ? std::string(good_segments[rng() % std::size(good_segments)])
                   : random_text(rng, path_chars, 24));
    const std::string body = rng() % 2 ? std::string(good_bodies[rng() % std::size(good_bodies)])
                                       : std::string(bodies[rng() % std::size(bodies)]) +
                                             random_text(rng, json_chars, 40);
    const size_t q = target.find('?');
    const std::string query =
        (q == std::string::npos ? "" : target.substr(q + 1)) + random_text(rng, query_chars, 30);
    RouteMatch m;
    std::vector<std::string> allowed;
    const char* method = rng() % 2 ? "GET" : methods[rng() % std::size(methods)];
    if (table.lookup(method, target.substr(0, q), &m, &allowed) != LookupResult::kFound) {
      continue;
    }
    std::unique_ptr<google::protobuf::Message> req(m.route->method->request_prototype->New());
    const auto st = build_request(*m.route, m.bindings, query, body, req.get());
    if (st.is_ok()) {
      std::string json;
      EXPECT_TRUE(message_to_json(*req, &json).is_ok());
      ++built;
    } else {
      ++rejected;
      EXPECT_EQ(st.code(), util::Code::kInvalidArgument) << st.to_string();
      EXPECT_TRUE(valid_utf8(json_quote(st.message())));
    }
  }
  // The mix reaches both outcomes often (not only 404s).
  EXPECT_GT(built, 100);
  EXPECT_GT(rejected, 100);
}

}  // namespace
}  // namespace dkv::api::gateway
