// etcd's v3 KV service (etcdserverpb.KV: Range, Put, DeleteRange, Txn,
// Compact), transport-neutral: handlers in the MethodRegistry that the gRPC
// server (etcd_grpc_services.h) and the REST gateway dispatch through.
// Requests are checked as etcd's v3rpc layer does (kv/mvcc_request.h), then:
//   writes (Put, DeleteRange, a writing Txn, Compact) are proposed as
//     kv::Op::kEtcd commands (Node::write; a follower's go to the leader as
//     raft proposals) and answered with the applied EtcdResult;
//   Range and a read-only Txn skip the log (Node::read_store): linearizable
//     by ReadIndex, served on the read thread, or serializable at once.
// On a learner, everything but a serializable Range is refused as etcd
// does ("etcdserver: rpc not supported for learner", UNAVAILABLE).
// Every answer carries a full ResponseHeader: cluster_id (Node::cluster_id),
// member_id (this member's raft id: FNV-1a of its name, stable across
// restarts and a wiped member's rejoin), revision (a write's: the revision
// it created) and raft_term. Every error is etcd's (api/etcd_errors.h).
//
// Threading: handlers run on the caller's thread and answer on the raft,
// read or caller's thread. Lifetime: `node` must outlive the handlers.
#pragma once

#include "api/kv_service.h"
#include "api/method_registry.h"
#include "node/node.h"

namespace etcdserverpb {
class ResponseHeader;
class TxnRequest;
}  // namespace etcdserverpb

namespace dkv::api {

void register_etcd_kv_service(MethodRegistry* registry, node::Node* node,
                              const ServiceOptions& options);

// etcd's isTxnSerializable: a read-only txn whose every top-level op is a
// serializable Range (also: a txn with no ops) needs no ReadIndex.
bool is_serializable_txn(const etcdserverpb::TxnRequest& request);

}  // namespace dkv::api
