#include "api/gateway/request_builder.h"

#include <gtest/gtest.h>

#include "dkv/v0/kv.pb.h"
#include "test_registry.h"

namespace dkv::api::gateway {
namespace {

using dkv::gwtest::EchoRequest;
using testing::add_echo_methods;

// Routes requests through a real RouteTable, then builds the request.
class RequestBuilderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    add_echo_methods(&registry_, {"Echo", "Files", "Frob", "Literal"});
    const auto* kv = v0::PutRequest::descriptor()->file()->FindServiceByName("KV");
    auto noop = [](auto&&...) {};
    registry_.add<v0::PutRequest, v0::PutResponse>(kv, "Put", noop);
    registry_.add<v0::GetRequest, v0::GetResponse>(kv, "Get", noop);
    ASSERT_TRUE(table_.add_registry(registry_).is_ok());
  }

  // Builds `msg` for `http_method target` with `body`; returns the status.
  util::Status build(std::string_view http_method, std::string_view target, std::string_view body,
                     google::protobuf::Message* msg) {
    const size_t q = target.find('?');
    RouteMatch m;
    std::vector<std::string> allowed;
    const auto r = table_.lookup(http_method, target.substr(0, q), &m, &allowed);
    EXPECT_EQ(r, LookupResult::kFound) << target;
    if (r != LookupResult::kFound) return util::not_found("no route");
    EXPECT_EQ(m.route->method->descriptor->input_type(), msg->GetDescriptor());
    const std::string_view query = q == std::string_view::npos ? "" : target.substr(q + 1);
    return build_request(*m.route, m.bindings, query, body, msg);
  }

  MethodRegistry registry_;
  RouteTable table_;
};

TEST_F(RequestBuilderTest, PutTakesTheWholeBodyWhateverTheQuery) {
  v0::PutRequest req;
  ASSERT_TRUE(
      build("POST", "/v0/kv?key=eA==", R"({"key":"aGVsbG8=","value":"d29ybGQ="})", &req).is_ok());
  EXPECT_EQ(req.key(), "hello");
  EXPECT_EQ(req.value(), "world");
}

TEST_F(RequestBuilderTest, BodyAcceptsUrlSafeUnpaddedBase64AndIgnoresUnknownFields) {
  v0::PutRequest req;
  ASSERT_TRUE(
      build("POST", "/v0/kv", R"({"key":"-_8","value":"","extra":{"x":[1,2]}})", &req).is_ok());
  EXPECT_EQ(req.key(), "\xfb\xff");
  EXPECT_EQ(req.value(), "");
}

TEST_F(RequestBuilderTest, EmptyBodyIsAnEmptyObject) {
  v0::PutRequest req;
  EXPECT_TRUE(build("POST", "/v0/kv", "", &req).is_ok());
  EXPECT_TRUE(build("POST", "/v0/kv", " \r\n", &req).is_ok());
  EXPECT_EQ(req.key(), "");
}

TEST_F(RequestBuilderTest, MalformedBodyIsInvalidArgument) {
  v0::PutRequest req;
  for (std::string_view bad :
       {"{", "key=aGVsbG8=", R"({"key":"***"})", R"({"key":5})", "[]", R"({"key":"aGVsbG8="} x)"}) {
    const auto st = build("POST", "/v0/kv", bad, &req);
    EXPECT_EQ(st.code(), util::Code::kInvalidArgument) << bad;
  }
}

TEST_F(RequestBuilderTest, PathKeyTakesEveryBase64Form) {
  for (std::string_view path : {"/v0/kv/key/+%2F8=", "/v0/kv/key/%2B%2F8%3D", "/v0/kv/key/%2B%2F8",
                                "/v0/kv/key/-_8=", "/v0/kv/key/-_8"}) {
    v0::GetRequest req;
    const auto st = build("GET", path, "", &req);
    ASSERT_TRUE(st.is_ok()) << path << ": " << st.to_string();
    EXPECT_EQ(req.key(), "\xfb\xff") << path;
  }
  // An unescaped '/' splits the segment: no route, as in grpc-gateway.
  RouteMatch m;
  std::vector<std::string> allowed;
  EXPECT_EQ(table_.lookup("GET", "/v0/kv/key/+/8=", &m, &allowed), LookupResult::kNotFound);
  v0::GetRequest req;
  ASSERT_TRUE(build("GET", "/v0/kv/key/aGVsbG8=", "", &req).is_ok());
  EXPECT_EQ(req.key(), "hello");
  ASSERT_TRUE(build("GET", "/v0/kv/key/aGVsbG8", "", &req).is_ok());
  EXPECT_EQ(req.key(), "hello");
}

TEST_F(RequestBuilderTest, BadBase64InPathIsInvalidArgument) {
  v0::GetRequest req;
  EXPECT_EQ(build("GET", "/v0/kv/key/a", "", &req).code(), util::Code::kInvalidArgument);
  EXPECT_EQ(build("GET", "/v0/kv/key/a*b=", "", &req).code(), util::Code::kInvalidArgument);
}

TEST_F(RequestBuilderTest, QueryBindsUnboundFieldsOnly) {
  v0::GetRequest req;
  ASSERT_TRUE(
      build("GET", "/v0/kv/key/aGVsbG8=?serializable=true&key=eA==&nope=1", "", &req).is_ok());
  EXPECT_EQ(req.key(), "hello");  // Path-bound: the query cannot override it.
  EXPECT_TRUE(req.serializable());
  req.Clear();
  ASSERT_TRUE(build("GET", "/v0/kv/key/aGVsbG8=?serializable=1", "", &req).is_ok());
  EXPECT_TRUE(req.serializable());
  EXPECT_EQ(build("GET", "/v0/kv/key/aGVsbG8=?serializable=yes", "", &req).code(),
            util::Code::kInvalidArgument);
  EXPECT_EQ(build("GET", "/v0/kv/key/aGVsbG8=?serializable=%zz", "", &req).code(),
            util::Code::kInvalidArgument);
}

TEST_F(RequestBuilderTest, QuerySetsEveryScalarTypeByProtoOrJsonName) {
  EchoRequest req;
  const auto st = build("GET",
                        "/t/echo/a%20b/-9?i32=-5&i64=-9000000000&u32=7&u64=18446744073709551615"
                        "&flag=true&d=1.5&f=2.5&color=RED&tags=x&tags=y+z&nested.name=n"
                        "&nums=1&nums=2&b=aGk&snakeCaseName=j&nested.i64=1",
                        "ignored body", &req);
  ASSERT_TRUE(st.is_ok()) << st.to_string();
  EXPECT_EQ(req.s(), "a b");
  EXPECT_EQ(req.nested().i64(), -9);  // Path-bound; the query's 1 is ignored.
  EXPECT_EQ(req.i32(), -5);
  EXPECT_EQ(req.i64(), -9000000000);
  EXPECT_EQ(req.u32(), 7u);
  EXPECT_EQ(req.u64(), 18446744073709551615ull);
  EXPECT_TRUE(req.flag());
  EXPECT_EQ(req.d(), 1.5);
  EXPECT_EQ(req.f(), 2.5f);
  EXPECT_EQ(req.color(), dkv::gwtest::RED);
  ASSERT_EQ(req.tags_size(), 2);
  EXPECT_EQ(req.tags(1), "y z");
  EXPECT_EQ(req.nested().name(), "n");
  ASSERT_EQ(req.nums_size(), 2);
  EXPECT_EQ(req.b(), "hi");
  EXPECT_EQ(req.snake_case_name(), "j");
}

TEST_F(RequestBuilderTest, BadScalarValuesAreInvalidArgument) {
  for (std::string_view target :
       {"/t/echo/s/x", "/t/echo/s/1?i32=99999999999", "/t/echo/s/1?u32=-1", "/t/echo/s/1?d=abc",
        "/t/echo/s/1?color=BLUE", "/t/echo/s/1?nested=x", "/t/echo/s/1?b=a",
        "/t/echo/s/1?i64=", "/t/echo/%FF/1"}) {
    EchoRequest req;
    EXPECT_EQ(build("GET", target, "", &req).code(), util::Code::kInvalidArgument) << target;
  }
}

TEST_F(RequestBuilderTest, BodyFieldParsesIntoThatFieldOnly) {
  EchoRequest req;
  auto st = build("PUT", "/t/echo/x?i32=3&nested.name=q", R"({"i64":"12","name":"n"})", &req);
  ASSERT_TRUE(st.is_ok()) << st.to_string();
  EXPECT_EQ(req.s(), "x");
  EXPECT_EQ(req.nested().i64(), 12);
  EXPECT_EQ(req.nested().name(), "n");  // Body-bound: the query cannot override it.
  EXPECT_EQ(req.i32(), 3);

  // A body cannot smuggle in other fields through the wrapping.
  req.Clear();
  st = build("PATCH", "/t/echo/x", R"(["a","b"], "i32": 5)", &req);
  EXPECT_EQ(st.code(), util::Code::kInvalidArgument);
  EXPECT_EQ(req.i32(), 0);
  req.Clear();
  st = build("PATCH", "/t/echo/x", R"(["a","b"])", &req);
  ASSERT_TRUE(st.is_ok()) << st.to_string();
  EXPECT_EQ(req.tags_size(), 2);
}

TEST_F(RequestBuilderTest, PathOverridesBodyAndVerbsAndMultiSegments) {
  EchoRequest req;
  ASSERT_TRUE(build("POST", "/t/echo", R"({"s":"body","i64":"5"})", &req).is_ok());
  EXPECT_EQ(req.s(), "body");
  EXPECT_EQ(req.i64(), 5);
  req.Clear();
  ASSERT_TRUE(build("POST", "/t/things/thing%201:frob", "", &req).is_ok());
  EXPECT_EQ(req.s(), "thing 1");
  req.Clear();
  ASSERT_TRUE(build("GET", "/t/files/a/b%2Fc", "", &req).is_ok());
  EXPECT_EQ(req.s(), "a/b/c");
}

}  // namespace
}  // namespace dkv::api::gateway
