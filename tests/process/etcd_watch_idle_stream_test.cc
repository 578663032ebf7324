// Idle etcd streams outlive client keepalive pings (issue 18): etcd clients
// ping every 10 s or so on a channel that holds a Watch and a
// LeaseKeepAlive stream which may stay silent for minutes. gRPC's default
// server policy (one ping per 5 min without data, 2 strikes) would answer
// such pings with GOAWAY "too_many_pings" and break both streams. Here a
// client pings every 200 ms (many strikes' worth) while its two streams sit
// idle, then a write must still arrive on the watch and a renewal still be
// answered, on the same streams.
#include <gtest/gtest.h>

#include <thread>

#include <grpcpp/grpcpp.h>

#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "harness.h"

namespace dkv::testing {
namespace {

using namespace std::chrono_literals;

constexpr int kPingEveryMs = 200;
constexpr auto kIdleFor = 4s;  // 20 ping intervals: the point of the test, not a wait.

// A channel that pings as an eager etcd client would, data or not.
std::shared_ptr<grpc::Channel> pinging_channel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, kPingEveryMs);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20000);  // A loaded machine answers late.
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
#ifdef GRPC_ARG_HTTP2_MIN_SENT_PING_INTERVAL_WITHOUT_DATA_MS
  args.SetInt(GRPC_ARG_HTTP2_MIN_SENT_PING_INTERVAL_WITHOUT_DATA_MS, kPingEveryMs);
#endif
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // Its own connection.
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

TEST(EtcdIdleStreamTest, IdleWatchAndKeepAliveStreamsSurviveClientPings) {
  LocalCluster cluster("etcd_idle_streams", 1);
  ASSERT_TRUE(cluster.start_all(30s)) << cluster.process(0).log();
  ASSERT_GE(cluster.wait_for_leader({0}, 10s), 0);
  const std::string address = "127.0.0.1:" + std::to_string(cluster.rpc_port(0));
  auto pinging = pinging_channel(address);
  // Writes go through another connection: data the server sends on the
  // pinging one would reset its ping strikes.
  auto writer =
      etcdserverpb::KV::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  auto lease = etcdserverpb::Lease::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));

  grpc::ClientContext grant_ctx;
  etcdserverpb::LeaseGrantRequest grant;
  grant.set_ttl(600);
  etcdserverpb::LeaseGrantResponse granted;
  ASSERT_TRUE(lease->LeaseGrant(&grant_ctx, grant, &granted).ok());

  grpc::ClientContext watch_ctx, keep_ctx;
  watch_ctx.set_deadline(std::chrono::system_clock::now() + 60s);
  keep_ctx.set_deadline(std::chrono::system_clock::now() + 60s);
  auto watch = etcdserverpb::Watch::NewStub(pinging)->Watch(&watch_ctx);
  etcdserverpb::WatchRequest create;
  create.mutable_create_request()->set_key("idle/k");
  ASSERT_TRUE(watch->Write(create));
  etcdserverpb::WatchResponse w;
  ASSERT_TRUE(watch->Read(&w));
  ASSERT_TRUE(w.created());
  auto keep = etcdserverpb::Lease::NewStub(pinging)->LeaseKeepAlive(&keep_ctx);
  etcdserverpb::LeaseKeepAliveRequest renew;
  renew.set_id(granted.id());
  etcdserverpb::LeaseKeepAliveResponse renewed;
  ASSERT_TRUE(keep->Write(renew) && keep->Read(&renewed));
  ASSERT_GT(renewed.ttl(), 0);

  // A read pending on the watch, as an etcd client's: the channel then
  // handles ping acks and keeps pinging (with nothing pending a sync client
  // leaves its one ping unacknowledged and sends no more).
  bool watch_read = false;
  std::thread reader([&] { watch_read = watch->Read(&w); });
  std::this_thread::sleep_for(kIdleFor);  // Both streams idle; the channel pings.

  grpc::ClientContext put_ctx;
  etcdserverpb::PutRequest put;
  put.set_key("idle/k");
  put.set_value("after-idle");
  etcdserverpb::PutResponse put_resp;
  const grpc::Status put_status = writer->Put(&put_ctx, put, &put_resp);
  reader.join();
  ASSERT_TRUE(put_status.ok()) << put_status.error_message();
  ASSERT_TRUE(watch_read) << "the idle watch stream was closed: "
                          << watch->Finish().error_message();
  ASSERT_EQ(w.events_size(), 1);
  EXPECT_EQ(w.events(0).kv().value(), "after-idle");
  EXPECT_EQ(w.events(0).kv().mod_revision(), put_resp.header().revision());
  ASSERT_TRUE(keep->Write(renew) && keep->Read(&renewed))
      << "the idle keepalive stream was closed: " << keep->Finish().error_message();
  EXPECT_GT(renewed.ttl(), 0);
  watch_ctx.TryCancel();
  keep_ctx.TryCancel();
}

}  // namespace
}  // namespace dkv::testing
