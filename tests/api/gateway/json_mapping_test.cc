#include "api/gateway/json_mapping.h"

#include <gtest/gtest.h>

#include "dkv/v0/cluster.pb.h"
#include "dkv/v0/kv.pb.h"
#include "gateway_test.pb.h"

namespace dkv::api::gateway {
namespace {

std::string message_to_json(const google::protobuf::Message& m) {
  std::string out;
  const auto st = gateway::message_to_json(m, &out);
  EXPECT_TRUE(st.is_ok()) << st.to_string();
  return out;
}

TEST(JsonMapping, PrintsLowerCamelCaseInt64AsStringAndUnpopulatedFields) {
  v0::StatusResponse status;
  status.set_node_id("a");
  status.set_term(7);
  status.set_commit_index(18446744073709551615ull);
  auto* m = status.add_members();
  m->set_id("a");
  m->set_address("127.0.0.1:7070");
  EXPECT_EQ(
      message_to_json(status),
      R"({"nodeId":"a","leaderId":"","term":"7","role":"","commitIndex":"18446744073709551615",)"
      R"("appliedIndex":"0","members":[{"id":"a","address":"127.0.0.1:7070","isLearner":false}],)"
      R"("dbSizeBytes":"0","version":"","clusterId":"","rejoining":false,)"
      R"("featureLevel":0,"committedFeatureLevel":0})");
}

TEST(JsonMapping, PrintsBytesAsStandardBase64AndEmptyValueAsEmptyString) {
  v0::GetResponse get;
  get.set_key("hello");
  EXPECT_EQ(message_to_json(get), R"({"key":"aGVsbG8=","value":""})");
  get.set_key("\xfb\xff");
  get.set_value("world");
  EXPECT_EQ(message_to_json(get), R"({"key":"+/8=","value":"d29ybGQ="})");
  v0::DeleteResponse del;
  EXPECT_EQ(message_to_json(del), R"({"deleted":"0"})");
  EXPECT_EQ(message_to_json(v0::PutResponse()), "{}");
}

TEST(JsonMapping, ParsesBothNamesIgnoresUnknownFieldsRejectsMalformed) {
  gwtest::EchoRequest req;
  ASSERT_TRUE(
      json_to_message(R"({"snakeCaseName":"a","i64":"5","u64":6,"zzz":1,"nested":{"q":[]}})", &req)
          .is_ok());
  EXPECT_EQ(req.snake_case_name(), "a");
  EXPECT_EQ(req.i64(), 5);
  EXPECT_EQ(req.u64(), 6u);
  req.Clear();
  ASSERT_TRUE(json_to_message(R"({"snake_case_name":"b"})", &req).is_ok());
  EXPECT_EQ(req.snake_case_name(), "b");
  for (std::string_view bad : {"", "{", "nope", R"({"i32":"x"})", R"({"b":"!!"})", "{}{}"}) {
    const auto st = json_to_message(bad, &req);
    EXPECT_EQ(st.code(), util::Code::kInvalidArgument) << bad;
  }
}

TEST(ErrorMapping, MapsEveryCodeLikeGrpcGateway) {
  using util::Code;
  const std::pair<Code, unsigned> expected[] = {
      {Code::kOk, 200},
      {Code::kCancelled, 499},
      {Code::kUnknown, 500},
      {Code::kInvalidArgument, 400},
      {Code::kDeadlineExceeded, 504},
      {Code::kNotFound, 404},
      {Code::kAlreadyExists, 409},
      {Code::kPermissionDenied, 403},
      {static_cast<Code>(16), 401},  // UNAUTHENTICATED.
      {Code::kResourceExhausted, 429},
      {Code::kFailedPrecondition, 400},
      {Code::kAborted, 409},
      {Code::kOutOfRange, 400},
      {Code::kUnimplemented, 501},
      {Code::kInternal, 500},
      {Code::kUnavailable, 503},
      {Code::kDataLoss, 500},
  };
  for (const auto& [code, http] : expected) {
    EXPECT_EQ(http_status_for(code), http) << static_cast<int>(code);
  }
  EXPECT_EQ(http_status_for(static_cast<Code>(99)), 500u);
}

TEST(ErrorMapping, BuildsGrpcGatewayErrorBody) {
  EXPECT_EQ(error_json(util::not_found("key not found")),
            R"({"code":5,"message":"key not found","details":[]})");
  EXPECT_EQ(error_json(util::invalid_argument("bad \"x\"\n\\ \x01")),
            R"({"code":3,"message":"bad \"x\"\n\\ \u0001","details":[]})");
  // Invalid UTF-8 never reaches the body; valid multi-byte text does.
  EXPECT_EQ(json_quote("a\xff"
                       "b\xc3\xa9"),
            "\"a\\ufffdb\xc3\xa9\"");
  EXPECT_TRUE(valid_utf8("h\xc3\xa9llo"));
  EXPECT_FALSE(valid_utf8("\xc0\xaf"));      // Overlong.
  EXPECT_FALSE(valid_utf8("\xed\xa0\x80"));  // Surrogate.
  EXPECT_FALSE(valid_utf8("\xe2\x82"));      // Truncated.
}

}  // namespace
}  // namespace dkv::api::gateway
