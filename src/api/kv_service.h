// The public services' logic, transport-neutral: validates requests against
// the API contract (kv/limits.h) and calls the node. Registered into a
// MethodRegistry that both the gRPC server and the REST gateway dispatch
// through. Bad input is refused here, before anything reaches the node.
//
// Lifetime: `node` must outlive the registry's handlers.
#pragma once

#include <functional>
#include <string>

#include "api/method_registry.h"
#include "node/node.h"

namespace dkv::api {

struct ServiceOptions {
  // Longest a request may wait (DKV_REQUEST_TIMEOUT_MS), whatever its deadline.
  std::chrono::milliseconds request_timeout{5000};
  // Sends a call of the Cluster service on to another node (the leader) at
  // `address` and completes `response` and `done` with its answer. Unset:
  // a non-leader answers leader-only calls with UNAVAILABLE.
  std::function<void(const std::string& address, const std::string& full_method,
                     const CallContext& ctx, const google::protobuf::Message& request,
                     google::protobuf::Message* response, UnaryDone done)>
      forward;
};

// How long a request may wait for the cluster: DKV_REQUEST_TIMEOUT_MS, and
// a little less than the client's deadline (a quarter of what is left, at
// most 250 ms) so that the node's own answer (UNAVAILABLE "no leader or no
// quorum ...") reaches the client before its deadline does: otherwise the
// client only sees DEADLINE_EXCEEDED and never learns why. The raft thread
// fails an expired request at its next tick (DKV_HEARTBEAT_MS, 100 ms by
// default), so the margin must cover a tick and the answer's way back: a
// tenth (100 ms of a 1 s deadline) lost that race under load.
node::Deadline request_deadline(const CallContext& ctx, const ServiceOptions& options);

// Registers dkv.v0.KV (Put, Get, Delete), dkv.v0.Cluster (Status, and
// the membership calls of register_membership_services) and etcd's
// etcdserverpb.KV (etcd_kv_service.h).
void register_services(MethodRegistry* registry, node::Node* node, ServiceOptions options);

// Registers dkv.v0.Cluster's MemberList, MemberAdd, MemberPromote,
// MemberRemove and MoveLeader (cluster_service.cc). The changes run on the
// leader: a follower forwards them (options.forward) to the one it knows.
void register_membership_services(MethodRegistry* registry, node::Node* node,
                                  const ServiceOptions& options);

// INVALID_ARGUMENT unless 1 <= key size <= kKeyBytesMax (exposed for tests).
util::Status validate_key(const std::string& key);
// INVALID_ARGUMENT if value size > kValueBytesMax.
util::Status validate_value(const std::string& value);

}  // namespace dkv::api
