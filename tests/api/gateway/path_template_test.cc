#include "api/gateway/path_template.h"

#include <gtest/gtest.h>

namespace dkv::api::gateway {
namespace {

PathTemplate parse_ok(std::string_view text) {
  PathTemplate t;
  const auto st = PathTemplate::parse(text, &t);
  EXPECT_TRUE(st.is_ok()) << text << ": " << st.to_string();
  return t;
}

// Matches `path` against `text`; returns "no match" or "f=v;g=w;".
std::string match(std::string_view text, std::string_view path) {
  const PathTemplate t = parse_ok(text);
  const auto split = split_path(path);
  if (!split) return "bad path";
  std::vector<PathBinding> bindings;
  if (!t.match(*split, &bindings)) return "no match";
  std::string out;
  for (const auto& b : bindings) out += b.field_path + "=" + b.value + ";";
  return out;
}

TEST(PathTemplate, ParsesLiteralsVariablesAndVerb) {
  const PathTemplate t = parse_ok("/v1/{name=shelves/*}/books/{book.id}:frob");
  using K = PathTemplate::Segment::Kind;
  ASSERT_EQ(t.segments().size(), 5u);
  EXPECT_EQ(t.segments()[0].kind, K::kLiteral);
  EXPECT_EQ(t.segments()[0].literal, "v1");
  EXPECT_EQ(t.segments()[1].literal, "shelves");
  EXPECT_EQ(t.segments()[2].kind, K::kAny);
  EXPECT_EQ(t.segments()[4].kind, K::kAny);
  ASSERT_EQ(t.variables().size(), 2u);
  EXPECT_EQ(t.variables()[0].field_path, "name");
  EXPECT_EQ(t.variables()[0].first_segment, 1u);
  EXPECT_EQ(t.variables()[0].end_segment, 3u);
  EXPECT_EQ(t.variables()[1].field_path, "book.id");
  EXPECT_EQ(t.verb(), "frob");
}

TEST(PathTemplate, RejectsBadTemplates) {
  PathTemplate t;
  for (std::string_view bad :
       {"", "v0/kv", "/", "/v0//kv", "/v0/{key", "/v0/{}", "/v0/{1key}", "/v0/{a..b}",
        "/v0/{a={b}}", "/v0/**/x", "/v0/{a}/{a}", "/v0/kv:", "/v0/kv}", "/v0/{a=}"}) {
    EXPECT_FALSE(PathTemplate::parse(bad, &t).is_ok()) << bad;
  }
}

TEST(PathTemplate, MatchesLiteralsAndSingleVariables) {
  EXPECT_EQ(match("/v0/kv", "/v0/kv"), "");
  EXPECT_EQ(match("/v0/kv", "/v0/kv/"), "no match");
  EXPECT_EQ(match("/v0/kv", "/v0"), "no match");
  EXPECT_EQ(match("/v0/kv/key/{key}", "/v0/kv/key/aGVsbG8="), "key=aGVsbG8=;");
  EXPECT_EQ(match("/v0/kv/key/{key=*}", "/v0/kv/key/aGVsbG8="), "key=aGVsbG8=;");
  EXPECT_EQ(match("/v0/kv/key/{key}", "/v0/kv/key/"), "no match");  // Empty segment.
  EXPECT_EQ(match("/v0/kv/key/{key}", "/v0/kv/key/a/b"), "no match");
}

TEST(PathTemplate, DecodesPerSegmentSoEscapedSlashStaysInside) {
  EXPECT_EQ(match("/v0/kv/key/{key}", "/v0/kv/key/a%2Fb%2B%3D"), "key=a/b+=;");
  EXPECT_EQ(match("/v0/kv/key/{key}", "/v0/kv/key/a+b"), "key=a+b;");
  EXPECT_EQ(match("/v0/{a}/{b}", "/v0/x%20y/z"), "a=x y;b=z;");
  EXPECT_FALSE(split_path("/v0/%zz").has_value());
  EXPECT_FALSE(split_path("v0").has_value());
  EXPECT_FALSE(split_path("").has_value());
}

TEST(PathTemplate, MatchesMultiSegmentVariables) {
  EXPECT_EQ(match("/files/{path=**}", "/files/a/b%2Fc/d"), "path=a/b/c/d;");
  EXPECT_EQ(match("/files/{path=**}", "/files"), "path=;");
  EXPECT_EQ(match("/v1/{name=shelves/*}/books", "/v1/shelves/s1/books"), "name=shelves/s1;");
  EXPECT_EQ(match("/v1/{name=shelves/*}/books", "/v1/racks/s1/books"), "no match");
  EXPECT_EQ(match("/v1/*/x/**", "/v1/a/x/b/c"), "");
}

TEST(PathTemplate, MatchesVerbs) {
  EXPECT_EQ(match("/t/{s}:frob", "/t/abc:frob"), "s=abc;");
  EXPECT_EQ(match("/t/{s}:frob", "/t/a%3Ab:frob"), "s=a:b;");
  EXPECT_EQ(match("/t/{s}:frob", "/t/abc"), "no match");
  EXPECT_EQ(match("/t/{s}:frob", "/t/abc:other"), "no match");
  EXPECT_EQ(match("/t/{s}", "/t/abc:frob"), "s=abc:frob;");
}

TEST(PathTemplate, OrdersMoreSpecificFirst) {
  const PathTemplate lit = parse_ok("/t/echo/special/{x}");
  const PathTemplate var = parse_ok("/t/echo/{s}/{y}");
  const PathTemplate multi = parse_ok("/t/**");
  EXPECT_TRUE(PathTemplate::more_specific(lit, var));
  EXPECT_FALSE(PathTemplate::more_specific(var, lit));
  EXPECT_TRUE(PathTemplate::more_specific(var, multi));
  EXPECT_FALSE(PathTemplate::more_specific(var, var));
}

}  // namespace
}  // namespace dkv::api::gateway
