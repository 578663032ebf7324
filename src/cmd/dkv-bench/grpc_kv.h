// src/cmd/dkv-bench/grpc_kv.h
// GrpcKv: one target's KV API over one gRPC channel, as the gRPC driver uses
// it: an async put and an async get, each completing through a callback
// with the call's status and, for a get, whether the key exists. dkv's
// dkv.v0.KV is in grpc_kv_dkv.cc, etcd's etcdserverpb.KV in grpc_kv_etcd.cc
// (from our own minimal proto/etcd_kv.proto).
// Threading: put() and get() may be called from any thread; `done` runs on a
// gRPC thread, or inline when the call fails at once. Each call keeps its own
// request, response and context alive until `done` has run.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "kv_api.h"

namespace dkv::bench {

class GrpcKv {
 public:
  // `found` is meaningful for a get whose status is OK (a missing key is an
  // OK status with found == false, whatever the target's convention).
  using Done = std::function<void(const grpc::Status& status, bool found)>;
  using Deadline = std::chrono::system_clock::time_point;

  virtual ~GrpcKv() = default;
  virtual void put(std::string key, const std::string& value, Deadline deadline, Done done) = 0;
  virtual void get(std::string key, bool serializable, Deadline deadline, Done done) = 0;
};

std::unique_ptr<GrpcKv> make_dkv_grpc_kv(const std::shared_ptr<grpc::Channel>& channel);
std::unique_ptr<GrpcKv> make_etcd_grpc_kv(const std::shared_ptr<grpc::Channel>& channel);

inline std::unique_ptr<GrpcKv> make_grpc_kv(Target target,
                                            const std::shared_ptr<grpc::Channel>& channel) {
  return target == Target::kEtcd ? make_etcd_grpc_kv(channel) : make_dkv_grpc_kv(channel);
}

}  // namespace dkv::bench
