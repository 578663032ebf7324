// The ResponseHeader every etcd response carries (cluster_id, member_id,
// revision, raft_term), filled from this node.
// Threading: any thread (Node's accessors are thread-safe).
#pragma once

#include "etcd/etcdserver/etcdserverpb/rpc.pb.h"
#include "node/node.h"

namespace dkv::api {

// Every field but the revision: member_id is this node's raft id (its etcd
// member ID). etcd's Cluster responses carry no revision; KV responses
// carry the one of their own read or write, which the caller sets.
inline void fill_etcd_header(const node::Node& node, etcdserverpb::ResponseHeader* header) {
  header->set_cluster_id(node.cluster_id());
  header->set_member_id(node.raft_id());
  header->set_raft_term(node.term());
}

// And the store's current revision, as etcd's Maintenance responses.
inline void fill_etcd_header_at_current_revision(const node::Node& node,
                                                 etcdserverpb::ResponseHeader* header) {
  fill_etcd_header(node, header);
  header->set_revision(node.current_revision());
}

}  // namespace dkv::api
