#include "grpc_noop_styles.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

#include "dkv/v0/kv.grpc.pb.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"

namespace dkv::bench {
namespace {

// The settings every style shares (grpc_server.cc's, without its services).
void configure(const NoopStyleOptions& options, grpc::ServerBuilder* b, int* bound_port) {
  if (!options.bare) {
    grpc::EnableDefaultHealthCheckService(true);
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  }
  b->AddListeningPort(options.address, grpc::InsecureServerCredentials(), bound_port);
  b->AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  b->SetMaxReceiveMessageSize(2 * 1024 * 1024);
  if (options.configure_builder) options.configure_builder(*b);
}

class SyncKv final : public v0::KV::Service {
  grpc::Status Put(grpc::ServerContext*, const v0::PutRequest*, v0::PutResponse*) override {
    return grpc::Status::OK;
  }
  grpc::Status Get(grpc::ServerContext*, const v0::GetRequest*, v0::GetResponse*) override {
    return grpc::Status::OK;
  }
  grpc::Status Delete(grpc::ServerContext*, const v0::DeleteRequest*,
                      v0::DeleteResponse*) override {
    return grpc::Status::OK;
  }
};

class SyncEtcdKv final : public etcdserverpb::KV::Service {
  grpc::Status Range(grpc::ServerContext*, const etcdserverpb::RangeRequest*,
                     etcdserverpb::RangeResponse*) override {
    return grpc::Status::OK;
  }
  grpc::Status Put(grpc::ServerContext*, const etcdserverpb::PutRequest*,
                   etcdserverpb::PutResponse*) override {
    return grpc::Status::OK;
  }
};

class CallbackKv final : public v0::KV::CallbackService {
  grpc::ServerUnaryReactor* Put(grpc::CallbackServerContext* ctx, const v0::PutRequest*,
                                v0::PutResponse*) override {
    return finish_ok(ctx);
  }
  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* ctx, const v0::GetRequest*,
                                v0::GetResponse*) override {
    return finish_ok(ctx);
  }
  grpc::ServerUnaryReactor* Delete(grpc::CallbackServerContext* ctx, const v0::DeleteRequest*,
                                   v0::DeleteResponse*) override {
    return finish_ok(ctx);
  }
  static grpc::ServerUnaryReactor* finish_ok(grpc::CallbackServerContext* ctx) {
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

class CallbackEtcdKv final : public etcdserverpb::KV::CallbackService {
  grpc::ServerUnaryReactor* Range(grpc::CallbackServerContext* ctx,
                                  const etcdserverpb::RangeRequest*,
                                  etcdserverpb::RangeResponse*) override {
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  grpc::ServerUnaryReactor* Put(grpc::CallbackServerContext* ctx, const etcdserverpb::PutRequest*,
                                etcdserverpb::PutResponse*) override {
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

// One completion-queue event's handler.
class Tag {
 public:
  virtual ~Tag() = default;
  virtual void proceed(bool ok) = 0;
};

template <typename Service, typename Req, typename Resp>
using RequestFn = void (Service::*)(grpc::ServerContext*, Req*,
                                    grpc::ServerAsyncResponseWriter<Resp>*, grpc::CompletionQueue*,
                                    grpc::ServerCompletionQueue*, void*);

// One call of the classic async pattern: requested, answered, deleted.
template <typename Service, typename Req, typename Resp>
class AsyncCall final : public Tag {
 public:
  AsyncCall(Service* service, RequestFn<Service, Req, Resp> request,
            grpc::ServerCompletionQueue* cq)
      : service_(service), request_(request), cq_(cq), responder_(&ctx_) {
    (service_->*request_)(&ctx_, &req_, &responder_, cq_, cq_, this);
  }

  void proceed(bool ok) override {
    if (finishing_ || !ok) {
      delete this;
      return;
    }
    new AsyncCall(service_, request_, cq_);  // The next call of this method.
    finishing_ = true;
    responder_.Finish(resp_, grpc::Status::OK, this);
  }

 private:
  Service* service_;
  RequestFn<Service, Req, Resp> request_;
  grpc::ServerCompletionQueue* cq_;
  grpc::ServerContext ctx_;
  Req req_;
  Resp resp_;
  grpc::ServerAsyncResponseWriter<Resp> responder_;
  bool finishing_ = false;
};

using AsyncKv = v0::KV::WithAsyncMethod_Put<v0::KV::WithAsyncMethod_Get<v0::KV::Service>>;
using AsyncEtcdKv = etcdserverpb::KV::WithAsyncMethod_Range<
    etcdserverpb::KV::WithAsyncMethod_Put<etcdserverpb::KV::Service>>;

void request_calls(AsyncKv* kv, AsyncEtcdKv* etcd, grpc::ServerCompletionQueue* cq, int slots) {
  for (int i = 0; i < slots; ++i) {
    new AsyncCall<AsyncKv, v0::PutRequest, v0::PutResponse>(kv, &AsyncKv::RequestPut, cq);
    new AsyncCall<AsyncKv, v0::GetRequest, v0::GetResponse>(kv, &AsyncKv::RequestGet, cq);
    new AsyncCall<AsyncEtcdKv, etcdserverpb::RangeRequest, etcdserverpb::RangeResponse>(
        etcd, &AsyncEtcdKv::RequestRange, cq);
    new AsyncCall<AsyncEtcdKv, etcdserverpb::PutRequest, etcdserverpb::PutResponse>(
        etcd, &AsyncEtcdKv::RequestPut, cq);
  }
}

}  // namespace

bool serve_callback(const NoopStyleOptions& options, const std::function<void()>& wait) {
  grpc::ServerBuilder builder;
  int bound_port = 0;
  configure(options, &builder, &bound_port);
  CallbackKv kv;
  CallbackEtcdKv etcd;
  builder.RegisterService(&kv);
  builder.RegisterService(&etcd);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || bound_port == 0) return false;
  wait();
  server->Shutdown(std::chrono::system_clock::now());
  return true;
}

bool serve_sync(const NoopStyleOptions& options, const std::function<void()>& wait) {
  grpc::ServerBuilder builder;
  int bound_port = 0;
  configure(options, &builder, &bound_port);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::NUM_CQS, options.cqs);
  SyncKv kv;
  SyncEtcdKv etcd;
  builder.RegisterService(&kv);
  builder.RegisterService(&etcd);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || bound_port == 0) return false;
  std::printf("grpc_noop_server: %d completion queues\n", options.cqs);
  wait();
  server->Shutdown(std::chrono::system_clock::now());
  return true;
}

bool serve_async(const NoopStyleOptions& options, const std::function<void()>& wait) {
  grpc::ServerBuilder builder;
  int bound_port = 0;
  configure(options, &builder, &bound_port);
  AsyncKv kv;
  AsyncEtcdKv etcd;
  builder.RegisterService(&kv);
  builder.RegisterService(&etcd);
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> cqs;
  for (int i = 0; i < options.cqs; ++i) cqs.push_back(builder.AddCompletionQueue());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || bound_port == 0) return false;
  std::vector<std::thread> pollers;
  for (auto& cq : cqs) {
    request_calls(&kv, &etcd, cq.get(), options.slots);
    pollers.emplace_back([cq = cq.get()] {
      void* tag = nullptr;
      bool ok = false;
      while (cq->Next(&tag, &ok)) static_cast<Tag*>(tag)->proceed(ok);
    });
  }
  std::printf("grpc_noop_server: %d completion queues, %d calls requested per method\n",
              options.cqs, options.slots);
  wait();
  server->Shutdown(std::chrono::system_clock::now());
  for (auto& cq : cqs) cq->Shutdown();
  for (auto& t : pollers) t.join();
  return true;
}

}  // namespace dkv::bench
