// etcd's etcdserverpb.Maintenance unary calls (Status, Alarm, MoveLeader,
// Defragment) over the node, registered into the MethodRegistry (gRPC and
// the /v3 REST routes); Snapshot is a stream and lives with the gRPC glue
// (etcd_grpc_services.h). Also the bodies of etcd's GET /version and
// GET /health.
//
//   - Status: version is EtcdOptions::version (DKV_ETCD_VERSION, default
//     3.4.23, what Debian's etcd-server says), not dkv's own (that stays in
//     /v0/status and the logs); dbSize and dbSizeInUse are the store's
//     used bytes (LMDB reuses freed pages in place: nothing to defragment);
//     leader is the leader's etcd ID (raft id), raftIndex the commit index.
//   - Alarm: GET lists the alarms this node has applied (kv/alarms.h);
//     ACTIVATE and DEACTIVATE are written through the log and answer the
//     alarm they changed. A write past DKV_QUOTA_BYTES raises NOSPACE
//     (node/node_alarms.cc); Status lists alarms in `errors` and /health
//     is false while any is raised, as etcd's.
//   - MoveLeader: to a voter by etcd ID, through dkv.v0.Cluster/MoveLeader
//     (forwarded to the leader: unlike etcd, any member takes it). An
//     unknown ID or a learner: "etcdserver: bad leader transferee".
//   - Defragment: OK, a no-op (LMDB reuses pages; the file never shrinks).
//
// Threading: handlers are stateless. Lifetime: `node` outlives them.
#pragma once

#include <string>

#include "api/etcd_cluster_service.h"
#include "api/method_registry.h"
#include "node/node.h"

namespace dkv::api {

// Registers etcdserverpb.Maintenance's unary calls (after register_services).
void register_etcd_maintenance_service(MethodRegistry* registry, node::Node* node,
                                       const ServiceOptions& options, const EtcdOptions& etcd);

// GET /version: {"etcdserver":"3.4.23","etcdcluster":"3.4.0"} (etcdcluster
// is the version's major.minor.0, as etcd's cluster version). `version` is
// N.N.N (node/config.cc checks DKV_ETCD_VERSION).
std::string etcd_version_json(const std::string& version);
// GET /health as etcd 3.4: {"health":"true"} with 200 when this node knows
// a leader, was not removed and holds no alarm, else {"health":"false"}
// with 503.
struct EtcdHealth {
  unsigned status = 200;
  std::string body;
};
EtcdHealth etcd_health(const node::Node& node);

}  // namespace dkv::api
