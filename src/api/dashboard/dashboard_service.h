// The dashboard's data route: dkv.dashboard.v0.Dashboard/Cluster
// (GET /dashboard/v0/cluster, proto/dkv/dashboard/v0/dashboard.proto).
// The node that serves the page asks every member for its own
// dkv.v0.Cluster/Status over the member's RPC address (options.forward,
// the same gRPC channels that forward writes to the leader), itself
// in-process, each with a short deadline, and answers when all have
// answered or timed out: a down member shows as unreachable within that
// deadline, and the route needs no leader. Adds this node's recent events
// (node/event_log.h).
// Threading: the handler runs on a gateway I/O thread and returns at once;
// the answers complete on gRPC's threads. Nothing runs on the raft thread.
// Lifetime: `node` and `registry` must outlive the registered handler.
#pragma once

#include <chrono>

#include "api/kv_service.h"
#include "api/method_registry.h"
#include "node/node.h"

namespace dkv::api::dashboard {

struct DashboardOptions {
  // How long each member may take to answer its Status call.
  std::chrono::milliseconds member_deadline{700};
};

// Registers Dashboard/Cluster into `registry`, which must already hold
// dkv.v0.Cluster/Status (register_services) and be the registry the
// gateway serves. `service_options.forward` reaches the other members;
// without it they show as unreachable.
void register_dashboard_service(MethodRegistry* registry, node::Node* node,
                                const ServiceOptions& service_options,
                                DashboardOptions options = {});

}  // namespace dkv::api::dashboard
