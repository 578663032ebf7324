// The gRPC faces of etcd's v3 services: each dispatches its calls into the
// handlers registered in the MethodRegistry (etcd_kv_service.h), with the
// callback API (no thread per call). GrpcServer registers them on both of
// its servers, next to dkv.v0.
// Lifetime: `registry` must outlive the service.
#pragma once

#include <memory>

#include "api/method_registry.h"

namespace grpc {
class Service;
}  // namespace grpc

namespace dkv::api {

// etcdserverpb.KV. The registry must hold register_etcd_kv_service's methods.
std::unique_ptr<grpc::Service> make_etcd_kv_grpc_service(const MethodRegistry& registry);

}  // namespace dkv::api
