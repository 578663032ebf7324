// src/cmd/dkv-bench/grpc_kv_dkv.cc
// GrpcKv for dkv's own API (dkv.v0.KV/Put and Get). A get of a missing key
// fails with NOT_FOUND, reported here as OK and not found. Range and CAS go
// through etcd's KV API, which dkv serves on the same port (grpc_kv_etcd.cc).
#include "dkv/v0/kv.grpc.pb.h"
#include "grpc_kv.h"

namespace dkv::bench {
namespace {

template <typename Request, typename Response>
struct Call {
  grpc::ClientContext ctx;
  Request req;
  Response resp;
};

class DkvGrpcKv final : public GrpcKv {
 public:
  explicit DkvGrpcKv(const std::shared_ptr<grpc::Channel>& channel)
      : stub_(v0::KV::NewStub(channel)), etcd_(make_etcd_grpc_kv(channel)) {}

  void put(std::string key, const std::string& value, Deadline deadline, Done done) override {
    auto call = std::make_shared<Call<v0::PutRequest, v0::PutResponse>>();
    call->ctx.set_deadline(deadline);
    call->req.set_key(std::move(key));
    call->req.set_value(value);
    stub_->async()->Put(&call->ctx, &call->req, &call->resp,
                        [call, done = std::move(done)](grpc::Status s) { done(s, Answer{}); });
  }

  void get(std::string key, bool serializable, Deadline deadline, Done done) override {
    auto call = std::make_shared<Call<v0::GetRequest, v0::GetResponse>>();
    call->ctx.set_deadline(deadline);
    call->req.set_key(std::move(key));
    call->req.set_serializable(serializable);
    stub_->async()->Get(&call->ctx, &call->req, &call->resp,
                        [call, done = std::move(done)](grpc::Status s) {
                          Answer a;
                          if (s.error_code() == grpc::StatusCode::NOT_FOUND) {
                            a.found = false;
                            done(grpc::Status::OK, a);
                          } else {
                            done(s, a);
                          }
                        });
  }

  void range(std::string key, std::string range_end, bool serializable, Deadline deadline,
             Done done) override {
    etcd_->range(std::move(key), std::move(range_end), serializable, deadline, std::move(done));
  }

  void cas(std::string key, std::int64_t expected, const std::string& value, Deadline deadline,
           Done done) override {
    etcd_->cas(std::move(key), expected, value, deadline, std::move(done));
  }

 private:
  std::unique_ptr<v0::KV::Stub> stub_;
  std::unique_ptr<GrpcKv> etcd_;  // Range and CAS, on the same channel.
};

}  // namespace

std::unique_ptr<GrpcKv> make_dkv_grpc_kv(const std::shared_ptr<grpc::Channel>& channel) {
  return std::make_unique<DkvGrpcKv>(channel);
}

}  // namespace dkv::bench
