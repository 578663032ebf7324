// How a gRPC callback service hands a unary call to its handler in the
// MethodRegistry (for grpc_server.cc's dkv.v0 services and
// etcd_grpc_services.cc's etcd ones): the call's deadline and metadata
// become a CallContext, the handler's status finishes the call.
// Internal to dkv_grpc_server (it includes gRPC).
// Threading: gRPC's callback threads.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <string>

#include "api/grpc_reply_queue.h"
#include "api/method_registry.h"
#include "util/assert.h"

namespace dkv::api::grpc_dispatch {

// Marks a call one node forwarded to another (CallContext::forwarded).
inline constexpr char kForwardedMetadata[] = "dkv-forwarded";
// etcd's rpctypes.MetadataRequireLeaderKey / MetadataHasLeader.
inline constexpr char kRequireLeaderKey[] = "hasleader";
inline constexpr char kHasLeader[] = "true";

inline grpc::Status to_grpc(const util::Status& s) {
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), s.message());
}

inline CallContext context_of(grpc::CallbackServerContext* ctx) {
  CallContext call;
  const auto deadline = ctx->deadline();  // system_clock; far future when unset.
  const auto now_sys = std::chrono::system_clock::now();
  if (deadline < now_sys + std::chrono::hours(24 * 365)) {
    call.deadline =
        std::chrono::steady_clock::now() +
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(deadline - now_sys);
  }
  const auto& md = ctx->client_metadata();
  call.forwarded = md.find(kForwardedMetadata) != md.end();
  const auto leader = md.find(kRequireLeaderKey);
  call.require_leader = leader != md.end() && leader->second == kHasLeader;
  return call;
}

// Runs the registered handler of `method` and finishes the call with its
// status: at once when the handler answers before it returns, else through
// the reply queue (grpc_reply_queue.h) from the node thread that answers.
template <typename Req, typename Resp>
grpc::ServerUnaryReactor* dispatch(const Method* method, grpc::CallbackServerContext* ctx,
                                   const Req* req, Resp* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  InlineScope inline_answers;
  method->handler(context_of(ctx), *req, resp,
                  [reactor](util::Status s) { finish(reactor, to_grpc(s)); });
  return reactor;
}

// The registered method `name`; registration runs before any service is built.
inline const Method* must_find(const MethodRegistry& registry, const std::string& name) {
  const Method* m = registry.find(name);
  DKV_ASSERT(m != nullptr);
  return m;
}

}  // namespace dkv::api::grpc_dispatch
