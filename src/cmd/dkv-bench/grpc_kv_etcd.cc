// src/cmd/dkv-bench/grpc_kv_etcd.cc
// GrpcKv for etcd's v3 API through etcd's own generated stubs: Put, Range of
// one key or of [key, range_end), and the CAS Txn. Ranges are linearizable
// unless `serializable`; a missing key is an OK answer with no kvs. dkv
// serves the same service, so the dkv target uses this code for range and
// cas too.
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "grpc_kv.h"

namespace dkv::bench {
namespace {

template <typename Request, typename Response>
struct Call {
  grpc::ClientContext ctx;
  Request req;
  Response resp;
};

// The key's mod_revision as a CAS txn left it: the txn's own revision when it
// wrote, else what the Else branch's Range read (0 for a missing key).
GrpcKv::Answer cas_answer(const etcdserverpb::TxnResponse& resp) {
  GrpcKv::Answer a;
  a.else_branch = !resp.succeeded();
  if (resp.succeeded()) {
    a.revision = resp.header().revision();
  } else if (resp.responses_size() > 0 && resp.responses(0).response_range().kvs_size() > 0) {
    a.revision = resp.responses(0).response_range().kvs(0).mod_revision();
  }
  return a;
}

class EtcdGrpcKv final : public GrpcKv {
 public:
  explicit EtcdGrpcKv(const std::shared_ptr<grpc::Channel>& channel)
      : stub_(etcdserverpb::KV::NewStub(channel)) {}

  void put(std::string key, const std::string& value, Deadline deadline, Done done) override {
    auto call = std::make_shared<Call<etcdserverpb::PutRequest, etcdserverpb::PutResponse>>();
    call->ctx.set_deadline(deadline);
    call->req.set_key(std::move(key));
    call->req.set_value(value);
    stub_->async()->Put(&call->ctx, &call->req, &call->resp,
                        [call, done = std::move(done)](grpc::Status s) { done(s, Answer{}); });
  }

  void get(std::string key, bool serializable, Deadline deadline, Done done) override {
    range(std::move(key), "", serializable, deadline, std::move(done));
  }

  void range(std::string key, std::string range_end, bool serializable, Deadline deadline,
             Done done) override {
    auto call = std::make_shared<Call<etcdserverpb::RangeRequest, etcdserverpb::RangeResponse>>();
    call->ctx.set_deadline(deadline);
    call->req.set_key(std::move(key));
    call->req.set_range_end(std::move(range_end));
    call->req.set_serializable(serializable);
    stub_->async()->Range(&call->ctx, &call->req, &call->resp,
                          [call, done = std::move(done)](grpc::Status s) {
                            Answer a;
                            a.kvs = call->resp.kvs_size();
                            a.found = a.kvs > 0;
                            done(s, a);
                          });
  }

  void cas(std::string key, std::int64_t expected, const std::string& value, Deadline deadline,
           Done done) override {
    auto call = std::make_shared<Call<etcdserverpb::TxnRequest, etcdserverpb::TxnResponse>>();
    call->ctx.set_deadline(deadline);
    etcdserverpb::Compare* cmp = call->req.add_compare();
    cmp->set_result(etcdserverpb::Compare_CompareResult_EQUAL);
    cmp->set_target(etcdserverpb::Compare_CompareTarget_MOD);
    cmp->set_key(key);
    cmp->set_mod_revision(expected);
    etcdserverpb::PutRequest* put = call->req.add_success()->mutable_request_put();
    put->set_key(key);
    put->set_value(value);
    call->req.add_failure()->mutable_request_range()->set_key(std::move(key));
    stub_->async()->Txn(&call->ctx, &call->req, &call->resp,
                        [call, done = std::move(done)](grpc::Status s) {
                          done(s, s.ok() ? cas_answer(call->resp) : Answer{});
                        });
  }

 private:
  std::unique_ptr<etcdserverpb::KV::Stub> stub_;
};

}  // namespace

std::unique_ptr<GrpcKv> make_etcd_grpc_kv(const std::shared_ptr<grpc::Channel>& channel) {
  return std::make_unique<EtcdGrpcKv>(channel);
}

}  // namespace dkv::bench
