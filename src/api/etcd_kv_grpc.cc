#include <grpcpp/grpcpp.h>

#include <chrono>

#include "api/etcd_grpc_services.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "util/assert.h"

namespace dkv::api {
namespace {

namespace pb = etcdserverpb;

// etcd's rpctypes.MetadataRequireLeaderKey / MetadataHasLeader.
constexpr char kRequireLeaderKey[] = "hasleader";
constexpr char kHasLeader[] = "true";

CallContext etcd_context_of(grpc::CallbackServerContext* ctx) {
  CallContext call;
  const auto deadline = ctx->deadline();  // system_clock; far future when unset.
  const auto now_sys = std::chrono::system_clock::now();
  if (deadline < now_sys + std::chrono::hours(24 * 365)) {
    call.deadline =
        std::chrono::steady_clock::now() +
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(deadline - now_sys);
  }
  const auto& md = ctx->client_metadata();
  auto it = md.find(kRequireLeaderKey);
  call.require_leader = it != md.end() && it->second == kHasLeader;
  return call;
}

grpc::ServerUnaryReactor* dispatch(const Method* method, grpc::CallbackServerContext* ctx,
                                   const google::protobuf::Message* req,
                                   google::protobuf::Message* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  method->handler(etcd_context_of(ctx), *req, resp, [reactor](util::Status s) {
    reactor->Finish(grpc::Status(static_cast<grpc::StatusCode>(s.code()), s.message()));
  });
  return reactor;
}

const Method* must_find(const MethodRegistry& registry, const char* name) {
  const Method* m = registry.find(name);
  DKV_ASSERT(m != nullptr);
  return m;
}

class EtcdKvService final : public pb::KV::CallbackService {
 public:
  explicit EtcdKvService(const MethodRegistry& r)
      : range_(must_find(r, "etcdserverpb.KV/Range")),
        put_(must_find(r, "etcdserverpb.KV/Put")),
        delete_range_(must_find(r, "etcdserverpb.KV/DeleteRange")),
        txn_(must_find(r, "etcdserverpb.KV/Txn")),
        compact_(must_find(r, "etcdserverpb.KV/Compact")) {}

  grpc::ServerUnaryReactor* Range(grpc::CallbackServerContext* ctx, const pb::RangeRequest* req,
                                  pb::RangeResponse* resp) override {
    return dispatch(range_, ctx, req, resp);
  }
  grpc::ServerUnaryReactor* Put(grpc::CallbackServerContext* ctx, const pb::PutRequest* req,
                                pb::PutResponse* resp) override {
    return dispatch(put_, ctx, req, resp);
  }
  grpc::ServerUnaryReactor* DeleteRange(grpc::CallbackServerContext* ctx,
                                        const pb::DeleteRangeRequest* req,
                                        pb::DeleteRangeResponse* resp) override {
    return dispatch(delete_range_, ctx, req, resp);
  }
  grpc::ServerUnaryReactor* Txn(grpc::CallbackServerContext* ctx, const pb::TxnRequest* req,
                                pb::TxnResponse* resp) override {
    return dispatch(txn_, ctx, req, resp);
  }
  grpc::ServerUnaryReactor* Compact(grpc::CallbackServerContext* ctx,
                                    const pb::CompactionRequest* req,
                                    pb::CompactionResponse* resp) override {
    return dispatch(compact_, ctx, req, resp);
  }

 private:
  const Method* range_;
  const Method* put_;
  const Method* delete_range_;
  const Method* txn_;
  const Method* compact_;
};

}  // namespace

std::unique_ptr<grpc::Service> make_etcd_kv_grpc_service(const MethodRegistry& registry) {
  return std::make_unique<EtcdKvService>(registry);
}

}  // namespace dkv::api
