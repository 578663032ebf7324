#include "api/gateway/route_table.h"

#include <gtest/gtest.h>

#include "dkv/v0/cluster.pb.h"
#include "dkv/v0/kv.pb.h"
#include "test_registry.h"

namespace dkv::api::gateway {
namespace {

using testing::add_echo_methods;

void add_kv(MethodRegistry* r) {
  const auto* kv = dkv::v0::PutRequest::descriptor()->file()->FindServiceByName("KV");
  auto noop = [](auto&&...) {};
  r->add<v0::PutRequest, v0::PutResponse>(kv, "Put", noop);
  r->add<v0::GetRequest, v0::GetResponse>(kv, "Get", noop);
  r->add<v0::DeleteRequest, v0::DeleteResponse>(kv, "Delete", noop);
  const auto* cluster = dkv::v0::StatusRequest::descriptor()->file()->FindServiceByName("Cluster");
  r->add<v0::StatusRequest, v0::StatusResponse>(cluster, "Status", noop);
}

struct Lookup {
  LookupResult result;
  std::string method;  // Full RPC name, "plain:<id>", or "".
  std::string bindings;
  std::string allowed;
};

Lookup lookup(const RouteTable& table, std::string_view http_method, std::string_view path) {
  RouteMatch m;
  std::vector<std::string> allowed;
  Lookup out;
  out.result = table.lookup(http_method, path, &m, &allowed);
  if (out.result == LookupResult::kFound) {
    out.method = m.route->method != nullptr ? m.route->method->descriptor->full_name()
                                            : "plain:" + std::to_string(m.route->plain_id);
    for (const auto& b : m.bindings) out.bindings += b.field_path + "=" + b.value + ";";
  }
  for (const auto& a : allowed) out.allowed += a + ",";
  return out;
}

TEST(RouteTable, BuildsTheKvAndClusterRoutesFromAnnotations) {
  MethodRegistry registry;
  add_kv(&registry);
  RouteTable table;
  ASSERT_TRUE(table.add_registry(registry).is_ok());
  ASSERT_EQ(table.routes().size(), 4u);

  auto put = lookup(table, "POST", "/v0/kv");
  EXPECT_EQ(put.result, LookupResult::kFound);
  EXPECT_EQ(put.method, "dkv.v0.KV.Put");

  auto get = lookup(table, "GET", "/v0/kv/key/aGVsbG8=");
  EXPECT_EQ(get.result, LookupResult::kFound);
  EXPECT_EQ(get.method, "dkv.v0.KV.Get");
  EXPECT_EQ(get.bindings, "key=aGVsbG8=;");

  auto del = lookup(table, "DELETE", "/v0/kv/key/a%2Fb");
  EXPECT_EQ(del.method, "dkv.v0.KV.Delete");
  EXPECT_EQ(del.bindings, "key=a/b;");

  EXPECT_EQ(lookup(table, "GET", "/v0/status").method, "dkv.v0.Cluster.Status");
}

TEST(RouteTable, SaysNotFoundMethodNotAllowedAndBadPath) {
  MethodRegistry registry;
  add_kv(&registry);
  RouteTable table;
  ASSERT_TRUE(table.add_registry(registry).is_ok());
  EXPECT_EQ(lookup(table, "GET", "/v0/nope").result, LookupResult::kNotFound);
  EXPECT_EQ(lookup(table, "GET", "/v0/kv/key/").result, LookupResult::kNotFound);
  const auto wrong = lookup(table, "PUT", "/v0/kv/key/aGVsbG8=");
  EXPECT_EQ(wrong.result, LookupResult::kMethodNotAllowed);
  EXPECT_EQ(wrong.allowed, "DELETE,GET,");
  EXPECT_EQ(lookup(table, "GET", "/v0/kv").result, LookupResult::kMethodNotAllowed);
  EXPECT_EQ(lookup(table, "GET", "/v0/kv/key/%zz").result, LookupResult::kBadPath);
  EXPECT_EQ(lookup(table, "GET", "*").result, LookupResult::kBadPath);
}

TEST(RouteTable, AddsAdditionalBindingsAndPrefersLiterals) {
  MethodRegistry registry;
  add_echo_methods(&registry, {"Echo", "Files", "Frob", "Literal", "NoRule"});
  RouteTable table;
  ASSERT_TRUE(table.add_registry(registry).is_ok()) << "routes";
  EXPECT_EQ(table.routes().size(), 7u);  // Echo has 4 bindings; NoRule none.

  EXPECT_EQ(lookup(table, "GET", "/t/echo/abc/42").bindings, "s=abc;nested.i64=42;");
  EXPECT_EQ(lookup(table, "POST", "/t/echo").method, "dkv.gwtest.Test.Echo");
  EXPECT_EQ(lookup(table, "PUT", "/t/echo/x").method, "dkv.gwtest.Test.Echo");
  EXPECT_EQ(lookup(table, "PATCH", "/t/echo/x").method, "dkv.gwtest.Test.Echo");
  // "/t/echo/special/{i64}" is more specific than "/t/echo/{s}/{nested.i64}".
  const auto special = lookup(table, "GET", "/t/echo/special/7");
  EXPECT_EQ(special.method, "dkv.gwtest.Test.Literal");
  EXPECT_EQ(special.bindings, "i64=7;");
  EXPECT_EQ(lookup(table, "GET", "/t/files/a/b/c").bindings, "s=a/b/c;");
  EXPECT_EQ(lookup(table, "POST", "/t/things/x:frob").method, "dkv.gwtest.Test.Frob");
}

TEST(RouteTable, RejectsARuleBindingANonScalarField) {
  MethodRegistry registry;
  add_echo_methods(&registry, {"BadVar"});
  RouteTable table;
  const auto st = table.add_registry(registry);
  EXPECT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("BadVar"), std::string::npos) << st.message();
}

TEST(RouteTable, RejectsResponseBody) {
  MethodRegistry registry;
  add_echo_methods(&registry, {"ResponseBody"});
  RouteTable table;
  const auto st = table.add_registry(registry);
  EXPECT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("response_body"), std::string::npos) << st.message();
}

TEST(RouteTable, RoutesPlainPaths) {
  MethodRegistry registry;
  add_kv(&registry);
  RouteTable table;
  ASSERT_TRUE(table.add_registry(registry).is_ok());
  ASSERT_TRUE(table.add_plain("GET", "/livez", 0).is_ok());
  ASSERT_TRUE(table.add_plain("GET", "/readyz", 1).is_ok());
  EXPECT_FALSE(table.add_plain("GET", "livez", 2).is_ok());
  EXPECT_EQ(lookup(table, "GET", "/readyz").method, "plain:1");
  EXPECT_EQ(lookup(table, "POST", "/livez").result, LookupResult::kMethodNotAllowed);
}

}  // namespace
}  // namespace dkv::api::gateway

namespace dkv::api::gateway {
namespace {

// The dashboard's page is served at "/", which no google.api.http template
// can name: a plain route takes it, and it matches "/" alone.
TEST(RouteTable, RoutesTheRootToAPlainRoute) {
  MethodRegistry registry;
  add_kv(&registry);
  RouteTable table;
  ASSERT_TRUE(table.add_registry(registry).is_ok());
  ASSERT_TRUE(table.add_plain("GET", "/", 7).is_ok());
  ASSERT_TRUE(table.add_plain("GET", "/livez", 0).is_ok());
  EXPECT_EQ(lookup(table, "GET", "/").method, "plain:7");
  EXPECT_EQ(lookup(table, "GET", "/livez").method, "plain:0");
  EXPECT_EQ(lookup(table, "GET", "//").result, LookupResult::kNotFound);
  EXPECT_EQ(lookup(table, "GET", "/nope").result, LookupResult::kNotFound);
  EXPECT_EQ(lookup(table, "POST", "/").result, LookupResult::kMethodNotAllowed);
}

}  // namespace
}  // namespace dkv::api::gateway
