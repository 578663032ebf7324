// Idle etcd streams outlive client keepalive pings (issue 18): etcd's Go
// clients ping on a quiet connection every keepalive time (etcdctl's
// --keepalive-time, 2 s by default; clientv3's DialKeepAliveTime, often
// 10 s), while its Watch and LeaseKeepAlive streams may stay silent for
// minutes. gRPC's default server policy (pings without data at most every
// 5 min, GRPC_ARG_HTTP2_MAX_PING_STRIKES 2) answers the third such ping
// with GOAWAY "too_many_pings", which ends both streams.
//
// The test speaks HTTP/2 itself (raw_h2_client.h), so that it decides when
// each PING goes, whatever gRPC C++'s client keepalive logic would do (its
// timers, minimum interval, backoff after a GOAWAY), and counts the acks:
// one connection carries both streams and a PING every 200 ms, 20 in all (a
// Go client's pings, only faster); then a write must still arrive on the
// watch and a renewal still be answered, on the same streams.
// Checked both ways: against dkv built with the default policy's values it
// fails ("GOAWAY after 4 pings: error 11: too_many_pings"). Note that
// MAX_PING_STRIKES 0 (dkv's, transport.cc) switches enforcement off: a
// server with a 5 min minimum interval but 0 strikes never sends GOAWAY,
// which is why an earlier "strict" check of this test passed.
#include <gtest/gtest.h>

#include <grpcpp/grpcpp.h>

#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "harness.h"
#include "raw_h2_client.h"

namespace dkv::testing {
namespace {

using namespace std::chrono_literals;

constexpr auto kPingEvery = 200ms;
constexpr int kPings = 20;
constexpr auto kAnswerWithin = 20s;  // A loaded machine answers late.

TEST(EtcdIdleStreamTest, IdleWatchAndKeepAliveStreamsSurviveClientPings) {
  LocalCluster cluster("etcd_idle_streams", 1);
  ASSERT_TRUE(cluster.start_all(30s)) << cluster.process(0).log();
  ASSERT_GE(cluster.wait_for_leader({0}, 10s), 0);
  const std::string address = "127.0.0.1:" + std::to_string(cluster.rpc_port(0));
  // Writes and the grant go through another connection: data the server
  // sends on the pinging one would reset its ping strikes.
  auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  auto writer = etcdserverpb::KV::NewStub(channel);
  grpc::ClientContext grant_ctx;
  etcdserverpb::LeaseGrantRequest grant;
  grant.set_ttl(600);
  etcdserverpb::LeaseGrantResponse granted;
  ASSERT_TRUE(etcdserverpb::Lease::NewStub(channel)->LeaseGrant(&grant_ctx, grant, &granted).ok());

  RawH2Client client;
  ASSERT_TRUE(client.connect(cluster.rpc_port(0)));
  const std::uint32_t watch = client.open_grpc_stream("/etcdserverpb.Watch/Watch");
  etcdserverpb::WatchRequest create;
  create.mutable_create_request()->set_key("idle/k");
  ASSERT_TRUE(client.send_message(watch, create.SerializeAsString()));
  std::string bytes;
  ASSERT_TRUE(client.next_message(watch, &bytes, kAnswerWithin)) << client.goaway_reason();
  etcdserverpb::WatchResponse w;
  ASSERT_TRUE(w.ParseFromString(bytes) && w.created());
  const std::uint32_t keep = client.open_grpc_stream("/etcdserverpb.Lease/LeaseKeepAlive");
  etcdserverpb::LeaseKeepAliveRequest renew;
  renew.set_id(granted.id());
  etcdserverpb::LeaseKeepAliveResponse renewed;
  ASSERT_TRUE(client.send_message(keep, renew.SerializeAsString()));
  ASSERT_TRUE(client.next_message(keep, &bytes, kAnswerWithin) && renewed.ParseFromString(bytes));
  ASSERT_GT(renewed.ttl(), 0);

  // Both streams idle; the connection pings, and answers the server's
  // SETTINGS and PINGs in between.
  for (int i = 0; i < kPings && !client.goaway() && !client.closed(); ++i) {
    ASSERT_TRUE(client.ping());
    client.pump(kPingEvery);
  }
  ASSERT_FALSE(client.goaway()) << "GOAWAY after " << client.pings_sent()
                                << " pings: " << client.goaway_reason();
  ASSERT_FALSE(client.closed()) << "connection closed after " << client.pings_sent() << " pings";
  // The pings arrived (the server acknowledged them), not just left.
  EXPECT_GE(client.ping_acks(), kPings - 2);

  grpc::ClientContext put_ctx;
  etcdserverpb::PutRequest put;
  put.set_key("idle/k");
  put.set_value("after-idle");
  etcdserverpb::PutResponse put_resp;
  const grpc::Status put_status = writer->Put(&put_ctx, put, &put_resp);
  ASSERT_TRUE(put_status.ok()) << put_status.error_message();
  ASSERT_TRUE(client.next_message(watch, &bytes, kAnswerWithin))
      << "the idle watch stream ended; GOAWAY: " << client.goaway_reason();
  ASSERT_TRUE(w.ParseFromString(bytes));
  ASSERT_EQ(w.events_size(), 1);
  EXPECT_EQ(w.events(0).kv().value(), "after-idle");
  EXPECT_EQ(w.events(0).kv().mod_revision(), put_resp.header().revision());
  ASSERT_TRUE(client.send_message(keep, renew.SerializeAsString()));
  ASSERT_TRUE(client.next_message(keep, &bytes, kAnswerWithin))
      << "the idle keepalive stream ended; GOAWAY: " << client.goaway_reason();
  ASSERT_TRUE(renewed.ParseFromString(bytes));
  EXPECT_GT(renewed.ttl(), 0);
}

}  // namespace
}  // namespace dkv::testing
