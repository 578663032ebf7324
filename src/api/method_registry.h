// MethodRegistry: the in-process table of public RPCs, keyed by full method
// name ("dkv.v0.KV/Put"). The gRPC services and the REST gateway both call
// these handlers, so the REST gateway reaches the service implementation
// in-process (no loopback gRPC hop) and a new annotated RPC appears on REST
// without hand-written routing.
//
// Threading: the registry is filled once at start, then read-only (any thread).
// Handlers are asynchronous: they may call `done` on any thread, exactly once.
// Lifetime: the caller keeps `request` and `response` alive until `done` runs.
#pragma once

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "util/status.h"

namespace dkv::api {

// Per-call context handed to a handler.
struct CallContext {
  // The call must finish (successfully or with an error) by this time.
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  // The call was forwarded by another node (to its leader): never forward
  // it again, so that two nodes that each think the other leads cannot loop.
  bool forwarded = false;
  // etcd's clients ask for a leader with the metadata "hasleader: true"
  // (clientv3.WithRequireLeader): refuse with "etcdserver: no leader" when
  // this node knows none.
  bool require_leader = false;
};

using UnaryDone = std::function<void(util::Status)>;
using UnaryHandler =
    std::function<void(const CallContext& ctx, const google::protobuf::Message& request,
                       google::protobuf::Message* response, UnaryDone done)>;

struct Method {
  const google::protobuf::MethodDescriptor* descriptor = nullptr;
  // Default instances of the request and response types (New() makes one).
  const google::protobuf::Message* request_prototype = nullptr;
  const google::protobuf::Message* response_prototype = nullptr;
  UnaryHandler handler;
};

class MethodRegistry {
 public:
  // Registers a handler for RPC `Req -> Resp` of the service named by its
  // descriptor; `method_name` is the short name ("Put").
  template <typename Req, typename Resp>
  void add(const google::protobuf::ServiceDescriptor* service, const std::string& method_name,
           std::function<void(const CallContext&, const Req&, Resp*, UnaryDone)> handler) {
    Method m;
    m.descriptor = service->FindMethodByName(method_name);
    m.request_prototype = &Req::default_instance();
    m.response_prototype = &Resp::default_instance();
    m.handler = [h = std::move(handler)](const CallContext& ctx,
                                         const google::protobuf::Message& req,
                                         google::protobuf::Message* resp, UnaryDone done) {
      h(ctx, static_cast<const Req&>(req), static_cast<Resp*>(resp), std::move(done));
    };
    add_method(std::move(m));
  }

  void add_method(Method method);
  // nullptr when no such method is registered.
  const Method* find(const std::string& full_name) const;
  std::vector<const Method*> all() const;

 private:
  std::map<std::string, Method> methods_;
};

}  // namespace dkv::api
