// The no-op server of grpc_noop_server.cc in gRPC C++'s three API styles,
// without the MethodRegistry or dkv's other services, to compare their cost per
// call: dkv.v0.KV (Put, Get, Delete) and etcdserverpb.KV (Range, Put)
// answering OK at once, with dkv's server settings (message sizes, the
// transport's ping policy, no SO_REUSEPORT, health and reflection).
//   callback: CallbackService, Finish on gRPC's thread in the method.
//   sync:  grpc::Service subclasses; gRPC's own thread pool runs them.
//   async: the completion-queue API: `cqs` server completion queues, one
//          polling thread each, `slots` calls requested per method and queue.
// Threading: serve_*() blocks the caller in `wait` (e.g. a sigwait), then
// shuts the server down and joins its threads.
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <string>

namespace dkv::bench {

struct NoopStyleOptions {
  std::string address;  // host:port
  int cqs = 2;          // async: completion queues (= polling threads); sync: NUM_CQS.
  int slots = 8;        // async: requested calls per method and queue.
  // No health or reflection service: the health service runs on the
  // callback API, whose polling threads then share the transport's work.
  bool bare = false;
  std::function<void(grpc::ServerBuilder&)> configure_builder;
};

// Serves until `wait` returns; false if the address cannot be bound.
bool serve_callback(const NoopStyleOptions& options, const std::function<void()>& wait);
bool serve_sync(const NoopStyleOptions& options, const std::function<void()>& wait);
bool serve_async(const NoopStyleOptions& options, const std::function<void()>& wait);

}  // namespace dkv::bench
