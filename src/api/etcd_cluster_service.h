// etcd's etcdserverpb.Cluster service (MemberList, MemberAdd, MemberRemove,
// MemberPromote, MemberUpdate) over dkv's membership, registered into the
// MethodRegistry so that gRPC and the /v3 REST routes share it.
//
// Mapping (README "etcd compatibility"):
//   - a member's etcd ID is its raft id: node::node_id_of(name), FNV-1a 64
//     of its dkv name; stable for the member's life, the same on every node;
//   - peerURLs and clientURLs are both "http://host:port" of its RPC
//     address (dkv serves peers and clients on one port; https with client
//     TLS);
//   - MemberAdd takes exactly one peer URL. The new member's name is the
//     URL's user part if it has one ("http://d@10.0.0.4:7070" names it d),
//     else derived from the address (member_name_for_address()). The node
//     that took the call logs the DKV_* variables to start it with;
//   - MemberUpdate cannot move a member (dkv has no address change):
//     the same URL answers OK, another is refused with FAILED_PRECONDITION.
// The changes go through dkv.v0.Cluster's registered handlers (checks,
// forwarding to the leader, a leader's hand-off before its own removal),
// whose refusals become etcd's errors (etcd_member_error()).
//
// Threading: handlers run on the caller's thread and complete on the
// node's; stateless. Lifetime: `node` and `registry` outlive the handlers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "api/kv_service.h"
#include "api/method_registry.h"
#include "node/membership.h"
#include "node/node.h"

namespace dkv::api {

// What the etcd services say about this server.
struct EtcdOptions {
  std::string version = "3.4.23";  // DKV_ETCD_VERSION: Status.version, GET /version.
  bool client_tls = false;         // URLs are https.
};

// Registers etcdserverpb.Cluster. dkv.v0.Cluster must be registered already
// (register_services): the changes call its handlers.
void register_etcd_cluster_service(MethodRegistry* registry, node::Node* node,
                                   const ServiceOptions& options, const EtcdOptions& etcd);

// Exposed for tests.
// etcd's error for a refusal of dkv's membership calls: "etcdserver: member
// not found", "... Peer URLs already exists", "... re-configuration failed
// due to not enough started members", "... can only promote a learner
// member [which is in sync with leader]", "... no leader", "... request
// timed out"; anything else unchanged.
util::Status etcd_member_error(const util::Status& dkv_refusal);
// The name MemberAdd gives a member at host:port when its URL names none:
// the address with every character a name cannot hold replaced by '-'
// ("127.0.0.1:7070" -> "127.0.0.1-7070"); if that name was used by a removed
// member (dkv refuses re-adding one), "-2", "-3", ... is appended.
std::string member_name_for_address(const node::Membership& m, const std::string& host,
                                    std::uint16_t port);
// Parses MemberAdd's peer URLs into a member (name as above). INVALID_ARGUMENT
// "etcdserver: given member URLs are invalid" unless exactly one
// http(s)://[name@]host:port URL without a path.
util::Status parse_peer_urls(const std::vector<std::string>& urls, const node::Membership& m,
                             node::MemberAddress* out);

}  // namespace dkv::api
