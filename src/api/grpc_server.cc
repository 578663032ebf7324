#include "api/grpc_server.h"

#include <absl/synchronization/mutex.h>
#include <fcntl.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/server_posix.h>
#include <unistd.h>

#include "api/etcd_grpc_services.h"
#include "api/grpc_dispatch.h"
#include "dkv/v0/cluster.grpc.pb.h"
#include "dkv/v0/kv.grpc.pb.h"
#include "util/assert.h"

#include <map>
#include <mutex>
#include <thread>

namespace dkv::api {
namespace {

using grpc_dispatch::dispatch;
using grpc_dispatch::kForwardedMetadata;
using grpc_dispatch::must_find;
using grpc_dispatch::to_grpc;

class KvService final : public v0::KV::CallbackService {
 public:
  explicit KvService(const MethodRegistry& r)
      : put_(must_find(r, "dkv.v0.KV/Put")),
        get_(must_find(r, "dkv.v0.KV/Get")),
        delete_(must_find(r, "dkv.v0.KV/Delete")) {}

  grpc::ServerUnaryReactor* Put(grpc::CallbackServerContext* ctx, const v0::PutRequest* req,
                                v0::PutResponse* resp) override {
    return dispatch(put_, ctx, req, resp);
  }
  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* ctx, const v0::GetRequest* req,
                                v0::GetResponse* resp) override {
    return dispatch(get_, ctx, req, resp);
  }
  grpc::ServerUnaryReactor* Delete(grpc::CallbackServerContext* ctx, const v0::DeleteRequest* req,
                                   v0::DeleteResponse* resp) override {
    return dispatch(delete_, ctx, req, resp);
  }

 private:
  const Method* put_;
  const Method* get_;
  const Method* delete_;
};

class ClusterService final : public v0::Cluster::CallbackService {
 public:
  explicit ClusterService(const MethodRegistry& r)
      : status_(must_find(r, "dkv.v0.Cluster/Status")),
        member_list_(must_find(r, "dkv.v0.Cluster/MemberList")),
        member_add_(must_find(r, "dkv.v0.Cluster/MemberAdd")),
        member_promote_(must_find(r, "dkv.v0.Cluster/MemberPromote")),
        member_remove_(must_find(r, "dkv.v0.Cluster/MemberRemove")),
        move_leader_(must_find(r, "dkv.v0.Cluster/MoveLeader")) {}

  grpc::ServerUnaryReactor* Status(grpc::CallbackServerContext* ctx, const v0::StatusRequest* req,
                                   v0::StatusResponse* resp) override {
    return dispatch(status_, ctx, req, resp);
  }
  grpc::ServerUnaryReactor* MemberList(grpc::CallbackServerContext* ctx,
                                       const v0::MemberListRequest* req,
                                       v0::MemberListResponse* resp) override {
    return dispatch(member_list_, ctx, req, resp);
  }
  grpc::ServerUnaryReactor* MemberAdd(grpc::CallbackServerContext* ctx,
                                      const v0::MemberAddRequest* req,
                                      v0::MemberAddResponse* resp) override {
    return dispatch(member_add_, ctx, req, resp);
  }
  grpc::ServerUnaryReactor* MemberPromote(grpc::CallbackServerContext* ctx,
                                          const v0::MemberPromoteRequest* req,
                                          v0::MemberPromoteResponse* resp) override {
    return dispatch(member_promote_, ctx, req, resp);
  }
  grpc::ServerUnaryReactor* MemberRemove(grpc::CallbackServerContext* ctx,
                                         const v0::MemberRemoveRequest* req,
                                         v0::MemberRemoveResponse* resp) override {
    return dispatch(member_remove_, ctx, req, resp);
  }
  grpc::ServerUnaryReactor* MoveLeader(grpc::CallbackServerContext* ctx,
                                       const v0::MoveLeaderRequest* req,
                                       v0::MoveLeaderResponse* resp) override {
    return dispatch(move_leader_, ctx, req, resp);
  }

 private:
  const Method* status_;
  const Method* member_list_;
  const Method* member_add_;
  const Method* member_promote_;
  const Method* member_remove_;
  const Method* move_leader_;
};

// One forwarded call; owns what gRPC uses until it completes.
struct ForwardedCall {
  std::unique_ptr<grpc::GenericStub> stub;
  grpc::ClientContext ctx;
  grpc::ByteBuffer request;
  grpc::ByteBuffer response;
};

}  // namespace

Forwarder make_grpc_forwarder(ChannelMaker make_channel) {
  auto channels = std::make_shared<
      std::pair<std::mutex, std::map<std::string, std::shared_ptr<grpc::Channel>>>>();
  if (!make_channel) {
    make_channel = [](const std::string& address) {
      return grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
    };
  }
  return [channels, make_channel](const std::string& address, const std::string& full_method,
                                  const CallContext& ctx, const google::protobuf::Message& request,
                                  google::protobuf::Message* response, UnaryDone done) {
    std::shared_ptr<grpc::Channel> channel;
    {
      std::lock_guard lock(channels->first);
      auto& c = channels->second[address];
      if (!c) c = make_channel(address);
      channel = c;
    }
    auto call = std::make_shared<ForwardedCall>();
    call->stub = std::make_unique<grpc::GenericStub>(channel);
    const std::string bytes = request.SerializeAsString();
    grpc::Slice slice(bytes);
    call->request = grpc::ByteBuffer(&slice, 1);
    if (ctx.deadline != std::chrono::steady_clock::time_point::max()) {
      call->ctx.set_deadline(std::chrono::system_clock::now() +
                             (ctx.deadline - std::chrono::steady_clock::now()));
    }
    call->ctx.AddMetadata(kForwardedMetadata, "1");
    call->stub->UnaryCall(
        &call->ctx, full_method, grpc::StubOptions(), &call->request, &call->response,
        [call, response, done](grpc::Status s) {
          if (!s.ok()) {
            return done(util::Status(static_cast<util::Code>(s.error_code()), s.error_message()));
          }
          std::vector<grpc::Slice> slices;
          std::string out;
          if (call->response.Dump(&slices).ok()) {
            for (const auto& sl : slices) {
              out.append(reinterpret_cast<const char*>(sl.begin()), sl.size());
            }
          }
          if (!response->ParseFromString(out)) {
            return done(util::Status(util::Code::kInternal, "unreadable answer from the leader"));
          }
          done(util::Status::ok());
        });
  };
}

namespace {

// One gRPC server and the services it owns.
struct ServerSide {
  std::unique_ptr<KvService> kv;
  std::unique_ptr<ClusterService> cluster;
  std::unique_ptr<grpc::Service> maintenance;        // Null without options.open_snapshot.
  std::vector<std::unique_ptr<grpc::Service>> etcd;  // etcd_grpc_services.h
  std::unique_ptr<grpc::Server> server;
};

// Builds and starts one side: the public services, plus `services` (the
// peer or the stranger ones). `listen`: bind options' host:port too.
util::Status start_side(const MethodRegistry& registry, const GrpcServerOptions& options,
                        const std::vector<grpc::Service*>& services, bool listen,
                        ServerSide* side) {
  side->kv = std::make_unique<KvService>(registry);
  side->cluster = std::make_unique<ClusterService>(registry);
  grpc::ServerBuilder builder;
  int bound_port = 0;
  const std::string address = options.host + ":" + std::to_string(options.port);
  if (listen) builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &bound_port);
  // gRPC enables SO_REUSEPORT by default: a second dkv on the same port would
  // silently share it. Refuse instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(options.message_bytes_max);
  builder.SetMaxSendMessageSize(options.send_message_bytes_max);
  builder.RegisterService(side->kv.get());
  builder.RegisterService(side->cluster.get());
  if (options.open_snapshot) {
    side->maintenance = make_snapshot_service(options.open_snapshot);
    builder.RegisterService(side->maintenance.get());
  }
  side->etcd = make_etcd_grpc_services(registry, options.open_snapshot);
  if (options.make_services) {
    for (auto& service : options.make_services()) side->etcd.push_back(std::move(service));
  }
  for (auto& service : side->etcd) builder.RegisterService(service.get());
  for (grpc::Service* service : services) builder.RegisterService(service);
  if (options.configure_builder) options.configure_builder(builder);
  side->server = builder.BuildAndStart();
  if (!side->server || (listen && bound_port == 0)) {
    return util::unavailable("cannot listen for gRPC on " + address);
  }
  return util::Status::ok();
}

}  // namespace

struct GrpcServer::Impl {
  ServerSide clients;  // Connections from no member's address.
  ServerSide peers;    // Members' connections (and the listening port).
};

GrpcServer::GrpcServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

GrpcServer::~GrpcServer() {
  if (impl_->peers.server) shutdown(std::chrono::system_clock::now());
}

util::Status GrpcServer::start(const MethodRegistry& registry, const GrpcServerOptions& options,
                               std::unique_ptr<GrpcServer>* out) {
  // Debian's abseil is built with absl::Mutex's lock-order checking on:
  // every lock of gRPC's mutexes went through a global graph (~2% of gRPC's
  // threads under load, docs/performance.md). dkv's own locks are checked by
  // clang's -Wthread-safety and TSan instead.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  auto impl = std::make_unique<Impl>();
  util::Status s =
      start_side(registry, options, options.peer_services, options.listen, &impl->peers);
  if (s.is_ok())
    s = start_side(registry, options, options.stranger_services, false, &impl->clients);
  if (!s.is_ok()) {
    for (ServerSide* side : {&impl->peers, &impl->clients}) {
      if (side->server) side->server->Shutdown(std::chrono::system_clock::now());
    }
    return s;
  }
  out->reset(new GrpcServer(std::move(impl)));
  (*out)->set_serving(false);
  return util::Status::ok();
}

void GrpcServer::adopt(int fd, bool from_member) {
  grpc::Server* server = (from_member ? impl_->peers : impl_->clients).server.get();
  if (server == nullptr) {
    ::close(fd);
    return;
  }
  // gRPC's endpoint reads until EAGAIN: on a blocking socket its polling
  // thread would sleep in recvmsg once the client is quiet, and with it
  // every read, write and timer that thread was to run (clients waiting
  // for answers saw none until their deadline).
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    ::close(fd);
    return;
  }
  grpc::AddInsecureChannelFromFd(server, fd);
}

void GrpcServer::set_serving(bool serving) {
  for (ServerSide* side : {&impl_->peers, &impl_->clients}) {
    if (!side->server) continue;
    auto* health = side->server->GetHealthCheckService();
    if (health != nullptr) health->SetServingStatus(serving);
  }
}

void GrpcServer::shutdown(std::chrono::system_clock::time_point deadline) {
  if (!impl_->peers.server) return;
  set_serving(false);
  // Both drain in parallel within the same deadline (Shutdown blocks).
  std::thread clients([&] { impl_->clients.server->Shutdown(deadline); });
  impl_->peers.server->Shutdown(deadline);
  clients.join();
  for (ServerSide* side : {&impl_->peers, &impl_->clients}) {
    side->server->Wait();
    side->server.reset();
  }
}

}  // namespace dkv::api
