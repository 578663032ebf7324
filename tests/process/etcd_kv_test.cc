// etcd's KV service against a real 3-node dkv cluster, driven by Debian's
// etcdctl 3.4 (/usr/bin/etcdctl, ETCDCTL_API=3) on the nodes' RPC ports:
// put, get with its flags, header revisions (-w json), del --prefix
// --prev-kv, txn scripts whose compares hold and fail, compaction then a get
// below it, a follower's answers, and etcd's errors (empty key, 512-byte
// key, too many txn ops, a duplicate key in a txn, no leader). count_only,
// which etcdctl 3.4 cannot ask for, and the "hasleader" metadata go through
// the generated gRPC stub. Skips if etcdctl is not installed.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <regex>
#include <thread>

#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "etcdctl_runner.h"
#include "harness.h"

namespace dkv::testing {
namespace {

using namespace std::chrono_literals;

// Runs etcdctl against 127.0.0.1:port with `args`, `input` on its stdin.
CommandResult etcdctl(std::uint16_t port, const std::vector<std::string>& args,
                      const std::string& input = "") {
  return run_etcdctl("127.0.0.1:" + std::to_string(port), args, input);
}

// The number after "name": in etcdctl's -w json output (0 if absent).
std::uint64_t json_number(const std::string& json, const std::string& name) {
  std::smatch m;
  if (!std::regex_search(json, m, std::regex("\"" + name + "\":([0-9]+)"))) return 0;
  return std::stoull(m[1].str());
}

std::unique_ptr<etcdserverpb::KV::Stub> kv_stub(std::uint16_t port) {
  return etcdserverpb::KV::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
}

class EtcdKvTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!etcdctl_installed()) GTEST_SKIP() << "etcdctl (Debian's etcd-client) missing";
    cluster_ = std::make_unique<LocalCluster>("etcd_kv", 3);
    ASSERT_TRUE(cluster_->start_all(30s)) << cluster_->process(0).log();
    leader_ = cluster_->wait_for_leader({0, 1, 2}, 10s);
    ASSERT_GE(leader_, 0);
    follower_ = (leader_ + 1) % 3;
  }
  std::uint16_t port(int i) const { return cluster_->rpc_port(i); }
  // A put through etcdctl -w json: the header's revision.
  std::uint64_t put(int node, const std::string& key, const std::string& value) {
    const CommandResult r = etcdctl(port(node), {"put", "-w", "json", key, value});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json_number(r.out, "revision");
  }

  std::unique_ptr<LocalCluster> cluster_;
  int leader_ = -1;
  int follower_ = -1;
};

TEST_F(EtcdKvTest, EtcdctlPutGetDelTxnAndCompaction) {
  const CommandResult ok = etcdctl(port(leader_), {"put", "a", "1"});
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(ok.out, "OK\n");
  const std::uint64_t rev_a =
      json_number(etcdctl(port(leader_), {"get", "-w", "json", "a"}).out, "revision");
  EXPECT_EQ(put(leader_, "b", "2"), rev_a + 1);    // A write's header: the revision it created.
  EXPECT_EQ(put(follower_, "c", "3"), rev_a + 2);  // Through a follower.
  EXPECT_EQ(put(leader_, "ab", "4"), rev_a + 3);
  EXPECT_EQ(put(leader_, "a", "11"), rev_a + 4);

  EXPECT_EQ(etcdctl(port(follower_), {"get", "--prefix", "a"}).out, "a\n11\nab\n4\n");
  EXPECT_EQ(etcdctl(port(leader_), {"get", "--from-key", "b", "--keys-only"}).out, "b\n\nc\n\n");
  EXPECT_EQ(etcdctl(port(leader_), {"get", "--rev=" + std::to_string(rev_a), "a"}).out, "a\n1\n");
  EXPECT_EQ(
      etcdctl(port(leader_), {"get", "--prefix", "a", "--sort-by=CREATE", "--order=DESCEND"}).out,
      "ab\n4\na\n11\n");
  const CommandResult limited =
      etcdctl(port(follower_), {"get", "--prefix", "", "--limit=2", "-w", "json"});
  EXPECT_NE(limited.out.find("\"more\":true"), std::string::npos) << limited.out;
  EXPECT_EQ(json_number(limited.out, "count"), 4u);
  // Full headers: one cluster, each member its own id, the current revision.
  const CommandResult on_leader = etcdctl(port(leader_), {"get", "-w", "json", "a"});
  const CommandResult on_follower = etcdctl(port(follower_), {"get", "-w", "json", "a"});
  EXPECT_EQ(json_number(on_leader.out, "revision"), rev_a + 4);
  EXPECT_EQ(json_number(on_follower.out, "revision"), rev_a + 4);
  EXPECT_NE(json_number(on_leader.out, "cluster_id"), 0u);
  EXPECT_EQ(json_number(on_leader.out, "cluster_id"), json_number(on_follower.out, "cluster_id"));
  EXPECT_NE(json_number(on_leader.out, "member_id"), json_number(on_follower.out, "member_id"));
  EXPECT_GT(json_number(on_follower.out, "raft_term"), 0u);

  EXPECT_EQ(etcdctl(port(follower_), {"del", "--prefix", "--prev-kv", "a"}).out,
            "2\na\n11\nab\n4\n");
  EXPECT_EQ(etcdctl(port(leader_), {"txn"},
                    "value(\"b\") = \"2\"\nmod(\"c\") > \"0\"\n\nput b 22\nget c\n\nput b no\n\n")
                .out,
            "SUCCESS\n\nOK\n\nc\n3\n");
  EXPECT_EQ(
      etcdctl(port(follower_), {"txn"}, "value(\"b\") = \"nope\"\n\nput b x\n\nget b\ndel c\n\n")
          .out,
      "FAILURE\n\nb\n22\n\n1\n");

  const std::uint64_t now = put(leader_, "d", "4");
  const CommandResult compacted = etcdctl(port(follower_), {"compaction", std::to_string(now)});
  EXPECT_EQ(compacted.out, "compacted revision " + std::to_string(now) + "\n") << compacted.err;
  const CommandResult below =
      etcdctl(port(leader_), {"get", "--rev=" + std::to_string(now - 1), "b"});
  EXPECT_NE(below.exit_code, 0);
  EXPECT_NE(below.err.find("Error: etcdserver: mvcc: required revision has been compacted"),
            std::string::npos)
      << below.err;
  EXPECT_EQ(etcdctl(port(leader_), {"get", "--rev=" + std::to_string(now), "d"}).out, "d\n4\n");

  // count_only (etcdctl 3.4 has no flag for it): the total, no kvs.
  etcdserverpb::RangeRequest req;
  req.set_key("b");
  req.set_range_end("e");
  req.set_count_only(true);
  etcdserverpb::RangeResponse resp;
  grpc::ClientContext ctx;
  ASSERT_TRUE(kv_stub(port(follower_))->Range(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.count(), 2);  // b, d.
  EXPECT_EQ(resp.kvs_size(), 0);
  EXPECT_EQ(resp.header().revision(), static_cast<std::int64_t>(now));
}

// etcdctl prints an error as "Error: <message>" on stderr and exits 1.
void expect_error(const CommandResult& r, const std::string& message) {
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("Error: " + message + "\n"), std::string::npos) << r.err;
}

TEST_F(EtcdKvTest, EtcdsErrorsAndNoLeader) {
  expect_error(etcdctl(port(leader_), {"put", "", "v"}), "etcdserver: key is not provided");
  expect_error(etcdctl(port(follower_), {"put", std::string(512, 'k'), "v"}),
               "etcdserver: request is too large");
  std::string many;
  for (int i = 0; i < 129; ++i) many += "put k" + std::to_string(i) + " v\n";
  expect_error(etcdctl(port(leader_), {"txn"}, "\n" + many + "\n\n"),
               "etcdserver: too many operations in txn request");
  expect_error(etcdctl(port(leader_), {"txn"}, "\nput k 1\nput k 2\n\n\n"),
               "etcdserver: duplicate key given in txn request");

  // Alone, the last node has no quorum, then no leader: a put times out
  // as etcd's ("request timed out"), "hasleader" is refused, and a
  // serializable get still answers from the local replica.
  const int last = follower_;
  EXPECT_EQ(etcdctl(port(leader_), {"put", "k0", "v0"}).exit_code, 0);
  EXPECT_EQ(etcdctl(port(last), {"get", "k0"}).out, "k0\nv0\n");  // Applied on `last`.
  for (int i = 0; i < 3; ++i) {
    if (i != last) cluster_->process(i).signal(SIGKILL);
  }
  expect_error(etcdctl(port(last), {"--command-timeout=2s", "put", "k", "v"}),
               "etcdserver: request timed out");
  const auto until = std::chrono::steady_clock::now() + 30s;
  while (!cluster_->status_field(last, "leaderId").empty() &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(50ms);  // Poll until it knows no leader.
  }
  etcdserverpb::RangeRequest req;
  req.set_key("k");
  etcdserverpb::RangeResponse resp;
  grpc::ClientContext ctx;
  ctx.AddMetadata("hasleader", "true");
  const grpc::Status s = kv_stub(port(last))->Range(&ctx, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(s.error_message(), "etcdserver: no leader");
  EXPECT_EQ(etcdctl(port(last), {"get", "--consistency=s", "k0"}).out, "k0\nv0\n");
}

}  // namespace
}  // namespace dkv::testing
