// etcd's KV service (api/etcd_kv_service.h) through the MethodRegistry, on
// one real single-member Node in a temporary directory: headers, the
// revision of writes, reads that skip the log, etcd's limits and errors.
// The gRPC face and real clients: tests/process/etcd_kv_test.cc.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <string>
#include <thread>

#include "api/etcd_errors.h"
#include "api/etcd_kv_service.h"
#include "etcd/etcdserver/etcdserverpb/rpc.pb.h"
#include "kv/mvcc_request.h"
#include "node/membership.h"

namespace dkv::api {
namespace {

namespace pb = etcdserverpb;

TEST(EtcdErrorsTest, NodeErrorsBecomeEtcds) {
  auto of = [](util::Status s) { return etcd_error_of(s); };
  const util::Status timeout = of(util::unavailable("no leader or no quorum within the timeout"));
  EXPECT_EQ(timeout.code(), util::Code::kUnavailable);
  EXPECT_EQ(timeout.message(), "etcdserver: request timed out");
  EXPECT_EQ(of(util::unavailable("node is shutting down")).message(), "etcdserver: server stopped");
  const util::Status space = of(util::resource_exhausted("database space exceeded"));
  EXPECT_EQ(space.code(), util::Code::kResourceExhausted);
  EXPECT_EQ(space.message(), "etcdserver: mvcc: database space exceeded");
  EXPECT_EQ(of(util::resource_exhausted("too many writes in flight")).message(),
            "etcdserver: too many requests");
  const util::Status compacted = kv::compacted_error();
  EXPECT_EQ(of(compacted).message(), compacted.message());  // etcd's own: unchanged.
  EXPECT_EQ(of(compacted).code(), util::Code::kOutOfRange);
  EXPECT_TRUE(of(util::Status::ok()).is_ok());
}

TEST(EtcdTxnTest, SerializableOnlyWhenEveryOpIsASerializableRange) {
  pb::TxnRequest txn;
  EXPECT_TRUE(is_serializable_txn(txn));  // No ops at all.
  auto* range = txn.add_success()->mutable_request_range();
  range->set_key("k");
  EXPECT_FALSE(is_serializable_txn(txn));
  range->set_serializable(true);
  EXPECT_TRUE(is_serializable_txn(txn));
  txn.add_failure()->mutable_request_range()->set_key("k");
  EXPECT_FALSE(is_serializable_txn(txn));
}

class EtcdKvServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("etcd_kv_service_test." + std::to_string(::getpid()) + "." +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    node::NodeOptions options;
    options.node_id = "a";
    options.members = {{"a", "127.0.0.1", 1}};
    options.db_path = dir_.string();
    options.heartbeat_ms = 10;
    options.election_ms = 100;
    ASSERT_TRUE(node::Node::open(std::move(options), &node_).is_ok());
    ServiceOptions service;
    service.request_timeout = std::chrono::seconds(10);
    register_services(&registry_, node_.get(), service);
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!node_->has_leader() && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));  // Poll for the leader.
    }
    ASSERT_TRUE(node_->has_leader());
  }
  void TearDown() override {
    node_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Calls etcdserverpb.KV/<method> and waits for its answer.
  template <typename Req, typename Resp>
  util::Status call(const std::string& method, const Req& req, Resp* resp) {
    const Method* m = registry_.find("etcdserverpb.KV/" + method);
    EXPECT_NE(m, nullptr);
    std::promise<util::Status> answered;
    m->handler(CallContext{}, req, resp, [&](util::Status s) { answered.set_value(s); });
    return answered.get_future().get();
  }
  util::Status put(const std::string& key, const std::string& value, pb::PutResponse* resp) {
    pb::PutRequest req;
    req.set_key(key);
    req.set_value(value);
    return call("Put", req, resp);
  }

  std::filesystem::path dir_;
  std::unique_ptr<node::Node> node_;
  MethodRegistry registry_;
};

TEST_F(EtcdKvServiceTest, WritesAnswerWithTheRevisionTheyCreatedInAFullHeader) {
  pb::PutResponse first;
  ASSERT_TRUE(put("k", "v1", &first).is_ok());
  pb::PutResponse second;
  ASSERT_TRUE(put("k", "v2", &second).is_ok());
  EXPECT_EQ(second.header().revision(), first.header().revision() + 1);
  EXPECT_EQ(second.header().cluster_id(), node_->cluster_id());
  EXPECT_NE(second.header().cluster_id(), 0u);
  EXPECT_EQ(second.header().member_id(), node::node_id_of("a"));
  EXPECT_GT(second.header().raft_term(), 0u);

  for (bool serializable : {false, true}) {
    pb::RangeRequest range;
    range.set_key("k");
    range.set_serializable(serializable);
    pb::RangeResponse got;
    ASSERT_TRUE(call("Range", range, &got).is_ok());
    ASSERT_EQ(got.kvs_size(), 1);
    EXPECT_EQ(got.kvs(0).value(), "v2");
    EXPECT_EQ(got.kvs(0).version(), 2);
    EXPECT_EQ(got.header().revision(), second.header().revision());
    EXPECT_EQ(got.header().member_id(), node::node_id_of("a"));
    EXPECT_EQ(got.header().raft_term(), second.header().raft_term());
  }
}

TEST_F(EtcdKvServiceTest, AReadOnlyTxnCreatesNoRevisionAndAWritingOneDoes) {
  pb::PutResponse put_resp;
  ASSERT_TRUE(put("k", "v", &put_resp).is_ok());
  const std::int64_t rev = put_resp.header().revision();

  pb::TxnRequest read_only;
  auto* cmp = read_only.add_compare();
  cmp->set_key("k");
  cmp->set_target(pb::Compare::VALUE);
  cmp->set_result(pb::Compare::EQUAL);
  cmp->set_value("v");
  read_only.add_success()->mutable_request_range()->set_key("k");
  pb::TxnResponse got;
  ASSERT_TRUE(call("Txn", read_only, &got).is_ok());
  EXPECT_TRUE(got.succeeded());
  EXPECT_EQ(got.header().revision(), rev);
  ASSERT_EQ(got.responses_size(), 1);
  EXPECT_EQ(got.responses(0).response_range().kvs(0).value(), "v");

  pb::TxnRequest cas = read_only;
  cas.clear_success();
  auto* p = cas.add_success()->mutable_request_put();
  p->set_key("k");
  p->set_value("w");
  pb::TxnResponse wrote;
  ASSERT_TRUE(call("Txn", cas, &wrote).is_ok());
  EXPECT_TRUE(wrote.succeeded());
  EXPECT_EQ(wrote.header().revision(), rev + 1);
  pb::TxnResponse failed;
  ASSERT_TRUE(call("Txn", cas, &failed).is_ok());  // value is "w" now.
  EXPECT_FALSE(failed.succeeded());
  EXPECT_EQ(failed.header().revision(), rev + 1);
}

TEST_F(EtcdKvServiceTest, RefusesWithEtcdsErrors) {
  pb::PutResponse resp;
  const util::Status empty = put("", "v", &resp);
  EXPECT_EQ(empty.code(), util::Code::kInvalidArgument);
  EXPECT_EQ(empty.message(), "etcdserver: key is not provided");
  const util::Status long_key = put(std::string(512, 'k'), "v", &resp);
  EXPECT_EQ(long_key.code(), util::Code::kInvalidArgument);
  EXPECT_EQ(long_key.message(), "etcdserver: request is too large");
  EXPECT_TRUE(put(std::string(511, 'k'), "v", &resp).is_ok());
  // etcd bounds the request (1.5 MiB), not the value: more than /v0's 1 MiB fits.
  EXPECT_TRUE(put("big", std::string(kv::kRequestBytesMax - 100, 'v'), &resp).is_ok());
  const util::Status too_big = put("big", std::string(kv::kRequestBytesMax, 'v'), &resp);
  EXPECT_EQ(too_big.code(), util::Code::kInvalidArgument);
  EXPECT_EQ(too_big.message(), "etcdserver: request is too large");

  pb::TxnRequest txn;
  for (int i = 0; i < kv::kTxnOpsMax + 1; ++i) {
    auto* p = txn.add_success()->mutable_request_put();
    p->set_key("k" + std::to_string(i));
  }
  pb::TxnResponse txn_resp;
  EXPECT_EQ(call("Txn", txn, &txn_resp).message(),
            "etcdserver: too many operations in txn request");
  txn.mutable_success()->DeleteSubrange(2, kv::kTxnOpsMax - 1);
  txn.mutable_success(1)->mutable_request_put()->set_key("k0");
  EXPECT_EQ(call("Txn", txn, &txn_resp).message(),
            "etcdserver: duplicate key given in txn request");
}

TEST_F(EtcdKvServiceTest, CompactionRefusesOlderReadsWithEtcdsMessage) {
  pb::PutResponse first;
  ASSERT_TRUE(put("k", "v1", &first).is_ok());
  pb::PutResponse second;
  ASSERT_TRUE(put("k", "v2", &second).is_ok());
  pb::CompactionRequest compact;
  compact.set_revision(second.header().revision());
  compact.set_physical(true);
  pb::CompactionResponse compacted;
  ASSERT_TRUE(call("Compact", compact, &compacted).is_ok());
  EXPECT_EQ(compacted.header().member_id(), node::node_id_of("a"));
  EXPECT_EQ(call("Compact", compact, &compacted).message(),
            "etcdserver: mvcc: required revision has been compacted");
  pb::RangeRequest old;
  old.set_key("k");
  old.set_revision(first.header().revision());
  pb::RangeResponse got;
  const util::Status s = call("Range", old, &got);
  EXPECT_EQ(s.code(), util::Code::kOutOfRange);
  EXPECT_EQ(s.message(), "etcdserver: mvcc: required revision has been compacted");
}

}  // namespace
}  // namespace dkv::api
