// src/cmd/dkv-bench/grpc_kv.h
// GrpcKv: one target's KV API over one gRPC channel, as the gRPC driver uses
// it: an async put, get, prefix range and CAS txn, each completing through a
// callback with the call's status and what the answer said (Answer). dkv's
// dkv.v0.KV is in grpc_kv_dkv.cc, etcd's etcdserverpb.KV (etcd's generated
// stubs, dkv_etcd_grpc_proto) in grpc_kv_etcd.cc. Range and CAS exist only in
// etcd's API, which dkv also serves on its RPC port: the dkv target sends them
// through the etcd code on the same channel, so both targets run the same
// client code for them.
// Threading: the calls may be made from any thread; `done` runs on a gRPC
// thread, or inline when the call fails at once. Each call keeps its own
// request, response and context alive until `done` has run.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "kv_api.h"

namespace dkv::bench {

class GrpcKv {
 public:
  // What an OK answer said; meaningless when the status is not OK.
  struct Answer {
    // get: the key exists (a missing key is an OK status with found ==
    // false, whatever the target's convention); range: at least one key.
    bool found = true;
    std::int64_t kvs = 0;       // range: the keys returned.
    bool else_branch = false;   // cas: the compare failed.
    std::int64_t revision = 0;  // cas: the key's mod_revision after the txn (0: no key).
  };
  using Done = std::function<void(const grpc::Status& status, const Answer& answer)>;
  using Deadline = std::chrono::system_clock::time_point;

  virtual ~GrpcKv() = default;
  virtual void put(std::string key, const std::string& value, Deadline deadline, Done done) = 0;
  virtual void get(std::string key, bool serializable, Deadline deadline, Done done) = 0;
  // The keys in [key, range_end) (etcd's Range with a range_end).
  virtual void range(std::string key, std::string range_end, bool serializable, Deadline deadline,
                     Done done) = 0;
  // Txn If(mod_revision(key) == expected) Then(Put key value) Else(Range key).
  virtual void cas(std::string key, std::int64_t expected, const std::string& value,
                   Deadline deadline, Done done) = 0;
};

std::unique_ptr<GrpcKv> make_dkv_grpc_kv(const std::shared_ptr<grpc::Channel>& channel);
std::unique_ptr<GrpcKv> make_etcd_grpc_kv(const std::shared_ptr<grpc::Channel>& channel);

inline std::unique_ptr<GrpcKv> make_grpc_kv(Target target,
                                            const std::shared_ptr<grpc::Channel>& channel) {
  return target == Target::kEtcd ? make_etcd_grpc_kv(channel) : make_dkv_grpc_kv(channel);
}

}  // namespace dkv::bench
