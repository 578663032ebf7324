// src/cmd/dkv-bench/grpc_kv_etcd.cc
// GrpcKv for etcd's v3 API (etcdserverpb.KV/Put and Range, one key, no
// range_end). Range is linearizable unless `serializable`; a missing key is
// an OK answer with no kvs.
#include "etcd_kv.grpc.pb.h"
#include "grpc_kv.h"

namespace dkv::bench {
namespace {

template <typename Request, typename Response>
struct Call {
  grpc::ClientContext ctx;
  Request req;
  Response resp;
};

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
                        [call, done = std::move(done)](grpc::Status s) { done(s, true); });
  }

  void get(std::string key, bool serializable, Deadline deadline, Done done) override {
    auto call = std::make_shared<Call<etcdserverpb::RangeRequest, etcdserverpb::RangeResponse>>();
    call->ctx.set_deadline(deadline);
    call->req.set_key(std::move(key));
    call->req.set_serializable(serializable);
    stub_->async()->Range(
        &call->ctx, &call->req, &call->resp,
        [call, done = std::move(done)](grpc::Status s) { done(s, call->resp.kvs_size() > 0); });
  }

 private:
  std::unique_ptr<etcdserverpb::KV::Stub> stub_;
};

}  // namespace

std::unique_ptr<GrpcKv> make_etcd_grpc_kv(const std::shared_ptr<grpc::Channel>& channel) {
  return std::make_unique<EtcdGrpcKv>(channel);
}

}  // namespace dkv::bench
