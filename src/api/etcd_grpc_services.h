// The gRPC side of etcd's KV, Cluster and Maintenance services: thin
// CallbackServices that dispatch each unary call into the MethodRegistry
// (etcd_kv_service.h, etcd_cluster_service.h, etcd_maintenance_service.h),
// with etcd's "hasleader" metadata in CallContext::require_leader; and
// Maintenance.Snapshot, a stream of the store image (a backup, as
// dkv.v0.Maintenance/Snapshot sends: api/snapshot_service.h) and one last
// message: zeros to the next multiple of 512 bytes ending with the image's
// length (8 bytes, little-endian), then the SHA-256 of everything before
// it, as etcd's server appends one. etcdctl (3.4 too) accepts a file only
// if size % 512 == 32; 3.5's tools check the hash. `etcdctl snapshot save`
// writes that file; etcd's `snapshot restore` cannot read it (it is not a
// bolt database): dkvctl's `snapshot restore` can (node/restore.h).
//
// Threading: gRPC's callback threads. Lifetime: `registry` and `open` must
// outlive the services.
#pragma once

#include <memory>
#include <vector>

#include "api/method_registry.h"
#include "api/snapshot_service.h"

namespace grpc {
class Service;
}  // namespace grpc

namespace dkv::api {

// The etcd services whose methods `registry` holds (none if it holds none:
// a registry without them, as in unit tests, gets no etcd service). Without
// `open`, Snapshot answers UNIMPLEMENTED.
std::vector<std::unique_ptr<grpc::Service>> make_etcd_grpc_services(const MethodRegistry& registry,
                                                                    OpenSnapshot open);

}  // namespace dkv::api
