// etcd's v3 Lease service (etcdserverpb.Lease), transport-neutral: handlers
// in the MethodRegistry for LeaseGrant, LeaseRevoke, LeaseTimeToLive,
// LeaseLeases, and one renewal of LeaseKeepAlive (the gRPC stream in
// etcd_grpc_services.cc calls it once per request it reads).
//   Grant: the proposer (any member) checks the TTL, clamps it to at least
//     1.5 election timeouts and draws the id if the client gave 0
//     (kv::prepare_grant); the entry carries both.
//   Revoke: an entry (proposer_term 0), answered once applied here.
//   KeepAlive renewal: not replicated. The leader renews it in its Lessor
//     (node/lessor.h) after a ReadIndex round confirms its leadership
//     (Node::read_store), and first clears a stored checkpoint (an entry)
//     so that a later leader cannot resume it from a stale remaining TTL.
//     Any other member forwards the renewal to the leader as ONE unary call
//     of /etcdserverpb.Lease/LeaseKeepAlive (the forwarder's channel; gRPC
//     frames a unary call as a one-message stream, so the leader's stream
//     handler answers it and finishes): no per-client stream to keep in
//     step across leader changes, and the follower's client stream survives
//     them. An unknown lease answers TTL 0, as etcd.
//   TimeToLive: on the leader (its Lessor knows the remaining time), with
//     the keys read in the same linearizable read; forwarded elsewhere. An
//     unknown lease answers TTL -1, as etcd.
//   Leases: a linearizable read of the lease table on any member.
// Threading: handlers run on the caller's thread and answer on the raft,
// read, gRPC or caller's thread. Lifetime: `node` must outlive them.
#pragma once

#include "api/kv_service.h"
#include "api/method_registry.h"
#include "node/node.h"

namespace dkv::api {

void register_etcd_lease_service(MethodRegistry* registry, node::Node* node,
                                 const ServiceOptions& options);

// Whether this node may propose lease entries now (kv/lease.h: kinds 6-8,
// which a member built before them refuses, stopping): the feature gate's
// check (kv::check_proposal, which Node::write also applies to every
// write) against the committed level, asked before any work so that Grant
// draws no id for nothing. Refused: UNAVAILABLE "etcdserver: not capable",
// which clients retry. The Lessor proposes revokes and checkpoints only for
// leases a Grant created.
util::Status lease_entries_allowed(const node::Node& node);

}  // namespace dkv::api
