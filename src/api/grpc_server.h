// GrpcServer: the public gRPC endpoint. Serves dkv.v0.KV and dkv.v0.Cluster,
// and etcd's etcdserverpb.KV (etcd_grpc_services.h), by dispatching into the
// MethodRegistry (callback API: no thread per call),
// dkv.v0.Maintenance (a stream, outside the registry: snapshot_service.h),
// plus server reflection and the standard grpc.health.v1.Health service,
// whose status follows the node's readiness (set_serving).
//
// It listens on host:port itself, or (listen = false) has no port of its
// own and serves the connections given to adopt(): the node's RPC port is
// a transport::PortListener shared with the raft message streams.
//
// Peer admission (transport/admission.h): two gRPC servers stand behind
// the one port. gRPC adopts a connection from its fd with insecure
// credentials and cannot tell its source address to the services
// (ServerContext::peer() says "fd:N"), so the listener decides at accept
// time: connections from a member's address go to the peer server, which
// also serves peer_services (the transport's snapshots and Join); all
// others to the client server, which serves stranger_services (the same
// methods refusing) instead. Both serve the public services. A connection
// stays where it was adopted, also if its member is removed later.
//
// This is the only file that includes gRPC headers besides the generated code.
// Lifetime: `registry` must outlive the server.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "api/method_registry.h"
#include "api/snapshot_service.h"

namespace grpc {
class Channel;
class Service;
class ServerBuilder;
}  // namespace grpc

namespace dkv::api {

struct GrpcServerOptions {
  // false: no listening port; connections come through adopt().
  bool listen = true;
  std::string host = "0.0.0.0";
  std::uint16_t port = 0;
  // Largest request: etcd's --max-request-bytes (1.5 MiB, kv::
  // kRequestBytesMax) plus its gRPC overhead allowance (512 KiB), as etcd
  // sets it; also fits /v0's 1 MiB value with key and framing.
  int message_bytes_max = 2 * 1024 * 1024;
  // Largest response: unlimited as etcd's (a Range may answer many keys).
  int send_message_bytes_max = std::numeric_limits<int>::max();
  // Served next to KV and Cluster to members' connections only (and on the
  // listening port): the node's internal services
  // (transport::Transport::service()). Borrowed: each must outlive the server.
  std::vector<grpc::Service*> peer_services;
  // Served instead to every other connection
  // (transport::Transport::stranger_service()). Borrowed likewise.
  std::vector<grpc::Service*> stranger_services;
  // Runs on the builder after the settings above, before it starts; e.g.
  // transport::Transport::configure_server (peers' message size and
  // keepalive ping policy).
  std::function<void(grpc::ServerBuilder&)> configure_builder;
  // Makes more public services (e.g. etcd's Watch: etcd_watch_service.h),
  // called once per server side: a service serves one server.
  std::function<std::vector<std::unique_ptr<grpc::Service>>()> make_services;
  // When set, dkv.v0.Maintenance/Snapshot streams the images it opens
  // (api/snapshot_service.h); else that service is not offered.
  OpenSnapshot open_snapshot;
};

// Forwards a call of the Cluster service to the node at `address` over gRPC
// (for api::ServiceOptions::forward), marked so that it is not forwarded
// again. Channels are cached per address, made by `make_channel` (e.g.
// transport::make_peer_channel, for peer TLS), or plain if it is unset.
using Forwarder = std::function<void(
    const std::string& address, const std::string& full_method, const CallContext& ctx,
    const google::protobuf::Message& request, google::protobuf::Message* response, UnaryDone done)>;
using ChannelMaker = std::function<std::shared_ptr<grpc::Channel>(const std::string& address)>;
Forwarder make_grpc_forwarder(ChannelMaker make_channel = nullptr);

class GrpcServer {
 public:
  // Binds and starts serving; non-OK if the port cannot be bound.
  static util::Status start(const MethodRegistry& registry, const GrpcServerOptions& options,
                            std::unique_ptr<GrpcServer>* out);
  ~GrpcServer();

  // Serves the accepted connection `fd` (owned from now on; made
  // non-blocking here if it is not)
  // as if it had come to a listening port of this server: on the peer
  // server if `from_member`, else the client server. Must not race with
  // shutdown(): stop what calls it first.
  void adopt(int fd, bool from_member);

  // Health status for grpc.health.v1.Health (overall and per service).
  void set_serving(bool serving);
  // Stops accepting calls; calls still running at `deadline` are cancelled
  // (clients see UNAVAILABLE/CANCELLED). Returns when all calls are done.
  void shutdown(std::chrono::system_clock::time_point deadline);

 private:
  struct Impl;
  explicit GrpcServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace dkv::api
