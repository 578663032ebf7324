// The gateway's etcd conventions: etcd's messages as etcd's grpc-gateway
// prints them (proto field names, defaults omitted, 64-bit integers as
// strings, bytes as base64), etcd's error body, and /v0 unchanged; then end
// to end on an in-process gateway with fake etcd methods registered (a
// KV-shaped Range and the Cluster's MemberList), whose routes come from
// etcd's own google.api.http annotations.
#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "api/gateway/gateway.h"
#include "api/gateway/json_mapping.h"
#include "dkv/v0/cluster.pb.h"
#include "dkv/v0/kv.pb.h"
#include "etcd/etcdserver/etcdserverpb/rpc.pb.h"

namespace dkv::api::gateway {
namespace {

namespace pb = etcdserverpb;
namespace net = boost::asio;
namespace http = boost::beast::http;

void fill_header(pb::ResponseHeader* h) {
  h->set_cluster_id(15118495548433857066ull);
  h->set_member_id(13668033151171901709ull);
  h->set_revision(8);
  h->set_raft_term(2);
}

// What etcd 3.4.23 answered to POST /v3/kv/range {"key":"Zm9v"}.
pb::RangeResponse etcd_range_response() {
  pb::RangeResponse r;
  fill_header(r.mutable_header());
  auto* kv = r.add_kvs();
  kv->set_key("foo");
  kv->set_create_revision(8);
  kv->set_mod_revision(8);
  kv->set_version(1);
  kv->set_value("bar");
  r.set_count(1);
  return r;
}

TEST(EtcdJsonTest, PrintsEtcdMessagesAsEtcdsGatewayDoes) {
  std::string out;
  ASSERT_TRUE(message_to_json(etcd_range_response(), &out).is_ok());
  EXPECT_EQ(out,
            R"({"header":{"cluster_id":"15118495548433857066","member_id":"13668033151171901709",)"
            R"("revision":"8","raft_term":"2"},"kvs":[{"key":"Zm9v","create_revision":"8",)"
            R"("mod_revision":"8","version":"1","value":"YmFy"}],"count":"1"})");
}

TEST(EtcdJsonTest, KeepsEtcdsOwnFieldNamesAndOmitsDefaults) {
  pb::MemberListResponse r;
  auto* m = r.add_members();
  m->set_id(7383792418829112008ull);
  m->set_name("e1");
  m->add_peerurls("http://127.0.0.1:42380");
  m->add_clienturls("http://127.0.0.1:42379");
  std::string out;
  ASSERT_TRUE(message_to_json(r, &out).is_ok());
  EXPECT_EQ(out,
            R"({"members":[{"ID":"7383792418829112008","name":"e1",)"
            R"("peerURLs":["http://127.0.0.1:42380"],"clientURLs":["http://127.0.0.1:42379"]}]})");

  pb::StatusResponse s;
  s.set_version("3.4.23");
  s.set_dbsize(20480);
  s.set_raftappliedindex(5);
  ASSERT_TRUE(message_to_json(s, &out).is_ok());
  EXPECT_EQ(out, R"({"version":"3.4.23","dbSize":"20480","raftAppliedIndex":"5"})");

  ASSERT_TRUE(message_to_json(pb::AlarmResponse(), &out).is_ok());
  EXPECT_EQ(out, "{}");
}

TEST(EtcdJsonTest, PrintsEnumsByName) {
  pb::AlarmResponse r;
  auto* a = r.add_alarms();
  a->set_memberid(1);
  a->set_alarm(pb::NOSPACE);
  std::string out;
  ASSERT_TRUE(message_to_json(r, &out).is_ok());
  EXPECT_EQ(out, R"({"alarms":[{"memberID":"1","alarm":"NOSPACE"}]})");
}

TEST(EtcdJsonTest, ParsesRequestsWithEitherNameAndIntegersAsStringsOrNumbers) {
  pb::RangeRequest r;
  ASSERT_TRUE(
      json_to_message(R"({"key":"Zm9v","range_end":"Zm9w","limit":"5","keys_only":true})", &r)
          .is_ok());
  EXPECT_EQ(r.key(), "foo");
  EXPECT_EQ(r.range_end(), "fop");
  EXPECT_EQ(r.limit(), 5);
  EXPECT_TRUE(r.keys_only());
  pb::MemberRemoveRequest m;
  ASSERT_TRUE(json_to_message(R"({"ID":12345678901234567890})", &m).is_ok());
  EXPECT_EQ(m.id(), 12345678901234567890ull);
}

TEST(EtcdJsonTest, LeavesV0JsonAsItWas) {
  v0::GetResponse r;
  r.set_key("k");
  std::string out;
  ASSERT_TRUE(message_to_json(r, &out).is_ok());
  EXPECT_EQ(out, R"({"key":"aw==","value":""})");
  v0::StatusResponse s;
  ASSERT_TRUE(message_to_json(s, &out).is_ok());
  EXPECT_NE(out.find(R"("commitIndex":"0")"), std::string::npos) << out;
}

TEST(EtcdJsonTest, WritesEtcdsErrorBody) {
  EXPECT_EQ(etcd_error_json(util::not_found("etcdserver: member not found")),
            R"({"error":"etcdserver: member not found","code":5,)"
            R"("message":"etcdserver: member not found"})");
  EXPECT_EQ(error_json(util::not_found("no member 'x'")),
            R"({"code":5,"message":"no member 'x'","details":[]})");
  EXPECT_TRUE(uses_etcd_json(pb::RangeRequest::descriptor()));
  EXPECT_TRUE(uses_etcd_json(mvccpb::KeyValue::descriptor()));
  EXPECT_FALSE(uses_etcd_json(v0::GetRequest::descriptor()));
}

// A gateway with fake etcd methods and one /v0 method.
class EtcdGatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* kv = pb::RangeRequest::descriptor()->file()->FindServiceByName("KV");
    registry_.add<pb::RangeRequest, pb::RangeResponse>(
        kv, "Range",
        [](const CallContext&, const pb::RangeRequest& req, pb::RangeResponse* resp,
           UnaryDone done) {
          if (req.revision() > 100) {
            return done({util::Code::kOutOfRange,
                         "etcdserver: mvcc: required revision is a future revision"});
          }
          *resp = etcd_range_response();
          done({});
        });
    const auto* cluster = pb::MemberListRequest::descriptor()->file()->FindServiceByName("Cluster");
    registry_.add<pb::MemberListRequest, pb::MemberListResponse>(
        cluster, "MemberList",
        [](const CallContext&, const pb::MemberListRequest&, pb::MemberListResponse* resp,
           UnaryDone done) {
          resp->add_members()->set_name("a");
          done({});
        });
    const auto* v0kv = v0::GetRequest::descriptor()->file()->FindServiceByName("KV");
    registry_.add<v0::GetRequest, v0::GetResponse>(
        v0kv, "Get",
        [](const CallContext&, const v0::GetRequest&, v0::GetResponse*, UnaryDone done) {
          done(util::not_found("key not found"));
        });
    GatewayOptions options;
    options.listen_host = "127.0.0.1";
    gateway_ = std::make_unique<Gateway>(registry_, options);
    ASSERT_TRUE(gateway_->start().is_ok());
  }

  http::response<http::string_body> call(http::verb verb, const std::string& target,
                                         const std::string& body) {
    net::io_context ioc;
    boost::beast::tcp_stream stream(ioc);
    stream.connect(net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), gateway_->port()));
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, "127.0.0.1");
    req.body() = body;
    req.prepare_payload();
    http::write(stream, req);
    boost::beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    return res;
  }

  MethodRegistry registry_;
  std::unique_ptr<Gateway> gateway_;
};

TEST_F(EtcdGatewayTest, ServesEtcdMethodsOnTheirAnnotatedV3Routes) {
  auto res = call(http::verb::post, "/v3/kv/range", R"({"key":"Zm9v"})");
  EXPECT_EQ(res.result_int(), 200u);
  std::string want;
  ASSERT_TRUE(message_to_json(etcd_range_response(), &want).is_ok());
  EXPECT_EQ(res.body(), want);  // PrintsEtcdMessagesAsEtcdsGatewayDoes checks it.

  res = call(http::verb::post, "/v3/cluster/member/list", "{}");
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res.body(), R"({"members":[{"name":"a"}]})");
}

TEST_F(EtcdGatewayTest, AnswersEtcdErrorsWithEtcdsBodyAndV0ErrorsWithItsOwn) {
  auto res = call(http::verb::post, "/v3/kv/range", R"({"key":"Zm9v","revision":"1000"})");
  EXPECT_EQ(res.result_int(), 400u);
  EXPECT_EQ(res.body(),
            R"({"error":"etcdserver: mvcc: required revision is a future revision","code":11,)"
            R"("message":"etcdserver: mvcc: required revision is a future revision"})");

  res = call(http::verb::post, "/v3/kv/range", "{not json");
  EXPECT_EQ(res.result_int(), 400u);
  EXPECT_EQ(res.body().rfind(R"({"error":")", 0), 0u) << res.body();

  res = call(http::verb::get, "/v0/kv/key/azE=", "");
  EXPECT_EQ(res.result_int(), 404u);
  EXPECT_EQ(res.body(), R"({"code":5,"message":"key not found","details":[]})");
}

}  // namespace
}  // namespace dkv::api::gateway
