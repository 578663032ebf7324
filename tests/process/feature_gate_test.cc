// The mixed-version feature gate (kv/feature_level.h, node/feature_gate.h)
// against a real 2-node cluster. Both nodes start as "older binaries"
// (DKV_TEST_FEATURE_LEVEL=0, a DKV_TEST_HOOKS-only variable: they apply and
// advertise level 0, so the new cluster bootstraps at 0). Node a is then
// upgraded (restarted without the variable): b still advertises 0, so
// etcd's Put and LeaseGrant are refused with etcd's "etcdserver: not
// capable" (UNAVAILABLE) on both nodes, while /v0 puts work. Upgrading b
// lets the leader commit level 2 and the etcd writes succeed (awaited).
// Then a downgrade: b started again as a level-1 binary over level-2 data
// exits 2 with one line saying why.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <thread>

#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "harness.h"

namespace dkv::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace pb = etcdserverpb;

constexpr char kLevelVar[] = "DKV_TEST_FEATURE_LEVEL";

std::shared_ptr<grpc::Channel> channel(std::uint16_t port) {
  return grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                             grpc::InsecureChannelCredentials());
}

grpc::Status etcd_put(std::uint16_t port, const std::string& key) {
  pb::PutRequest req;
  req.set_key(key);
  req.set_value("v");
  pb::PutResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 5s);
  return pb::KV::NewStub(channel(port))->Put(&ctx, req, &resp);
}

grpc::Status lease_grant(std::uint16_t port) {
  pb::LeaseGrantRequest req;
  req.set_ttl(30);
  pb::LeaseGrantResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 5s);
  return pb::Lease::NewStub(channel(port))->LeaseGrant(&ctx, req, &resp);
}

int v0_put(std::uint16_t rest_port) {
  return http("POST", rest_port, "/v0/kv", R"({"key":"djA=","value":"eA=="})").status;
}

void expect_not_capable(const grpc::Status& s, const std::string& what) {
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << what << ": " << s.error_message();
  EXPECT_EQ(s.error_message(), "etcdserver: not capable") << what;
}

// The committed level node i reports ("" would mean 0: proto3 may omit it).
std::string committed_level(LocalCluster& c, int i) {
  const std::string v = c.status_field(i, "committedFeatureLevel");
  return v.empty() ? "0" : v;
}

// Restarts node i (SIGTERM, then start) and waits until it is ready.
void restart(LocalCluster& c, int i) {
  c.process(i).signal(SIGTERM);
  ASSERT_EQ(c.process(i).wait_exit(20s), 0) << c.process(i).log();
  ASSERT_TRUE(c.start(i));
  ASSERT_TRUE(c.wait_ready(i, 30s)) << c.process(i).log();
}

TEST(FeatureGateTest, OlderMemberHoldsEtcdWritesUntilUpgradedAndDowngradeIsRefused) {
  LocalCluster c("feature_gate", 2);
  for (int i : {0, 1}) c.set_env(i, kLevelVar, "0");
  ASSERT_TRUE(c.start_all(30s)) << c.process(0).log();
  ASSERT_GE(c.wait_for_leader({0, 1}, 15s), 0);
  EXPECT_EQ(committed_level(c, 0), "0");

  // Upgrade a; b still runs the "older" binary.
  c.unset_env(0, kLevelVar);
  restart(c, 0);
  ASSERT_GE(c.wait_for_leader({0, 1}, 15s), 0);
  EXPECT_EQ(c.status_field(0, "featureLevel"), "2");
  EXPECT_EQ(c.status_field(1, "featureLevel"), "0");
  // The refusal holds across several of the gate's rounds (1 s apart).
  const auto until = Clock::now() + 2500ms;
  do {
    for (int i : {0, 1}) {
      expect_not_capable(etcd_put(c.rpc_port(i), "k"), "etcd put on " + c.id(i));
      expect_not_capable(lease_grant(c.rpc_port(i)), "lease grant on " + c.id(i));
      EXPECT_EQ(v0_put(c.rest_port(i)), 200) << c.id(i);
    }
    if (::testing::Test::HasFailure()) return;
    std::this_thread::sleep_for(250ms);  // Spacing the checks, not synchronising.
  } while (Clock::now() < until);
  EXPECT_EQ(committed_level(c, 0), "0");

  // Upgrade b: the leader sees both at 2 and commits it.
  c.unset_env(1, kLevelVar);
  restart(c, 1);
  const auto deadline = Clock::now() + 30s;
  bool served = false;
  while (!served && Clock::now() < deadline) {
    served = etcd_put(c.rpc_port(0), "k").ok() && etcd_put(c.rpc_port(1), "k").ok();
    if (!served) std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(served) << c.process(0).log() << c.process(1).log();
  EXPECT_TRUE(lease_grant(c.rpc_port(1)).ok());
  EXPECT_EQ(committed_level(c, 0), "2");
  EXPECT_EQ(committed_level(c, 1), "2");

  // A downgrade: b as a binary that applies level 1 only, over level-2 data.
  c.process(1).signal(SIGTERM);
  ASSERT_EQ(c.process(1).wait_exit(20s), 0) << c.process(1).log();
  ASSERT_TRUE(c.start(1, {{kLevelVar, "1"}}));
  EXPECT_EQ(c.process(1).wait_exit(30s), 2) << c.process(1).log();
  const std::string log = c.process(1).log();
  EXPECT_NE(log.find("feature level 2 (leases), above the 1 (mvcc-requests) this dkv applies: "
                     "a downgrade"),
            std::string::npos)
      << log;
}

}  // namespace
}  // namespace dkv::testing
