// What the etcd fault workloads (etcd_watch_workload.cc,
// etcd_lease_workload.cc) share: a channel to one member that reconnects
// fast (as clients_etcd.cc's), and which failed calls certainly never
// reached the cluster.
// Threading: pure functions.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

namespace dkv::fault {

inline std::shared_ptr<grpc::Channel> channel_to(const std::string& endpoint) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(endpoint, grpc::InsecureChannelCredentials(), args);
}

// Certainly not applied: refused before it reached the cluster.
inline bool refused(const grpc::Status& s) {
  const auto c = s.error_code();
  return c == grpc::StatusCode::INVALID_ARGUMENT || c == grpc::StatusCode::UNIMPLEMENTED ||
         c == grpc::StatusCode::RESOURCE_EXHAUSTED ||
         (c == grpc::StatusCode::UNAVAILABLE &&
          s.error_message().find("failed to connect to all addresses") != std::string::npos);
}

}  // namespace dkv::fault
