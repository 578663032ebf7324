// etcd's Watch service (etcdserverpb.Watch/Watch, a bidi stream) on the
// public gRPC port: one WatchSession (etcd_watch_session.h) per stream, its
// responses written by one shared WatchSender thread. "hasleader" metadata:
// a stream opened without a leader fails with "etcdserver: no leader".
// Threading: gRPC's callback threads. Lifetime: `node` must outlive the
// services (the gRPC server is shut down before the node stops).
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "api/etcd_watch_session.h"
#include "node/node.h"

namespace grpc {
class Service;
}  // namespace grpc

namespace dkv::api {

struct EtcdWatchServices {
  // Makes the Watch service, once per gRPC server side (a service serves
  // one server); all share one WatchSender.
  std::function<std::vector<std::unique_ptr<grpc::Service>>()> make;
  // Ends every open watch stream ("etcdserver: server stopped", which etcd
  // clients retry elsewhere): call before the gRPC server's shutdown, which
  // would otherwise wait for them until its deadline.
  std::function<void()> end_streams;
};
EtcdWatchServices etcd_watch_services(node::Node* node, const WatchOptions& options);

}  // namespace dkv::api
