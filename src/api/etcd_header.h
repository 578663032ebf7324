// fill_etcd_header: the ResponseHeader every etcd response carries
// (cluster_id, member_id, revision, raft_term), from this node.
// Threading: any thread (Node's accessors are thread-safe).
#pragma once

#include "etcd/etcdserver/etcdserverpb/rpc.pb.h"
#include "node/node.h"

namespace dkv::api {

// member_id is this node's raft id (its etcd member ID), revision the
// store's current revision.
inline void fill_etcd_header(const node::Node& node, etcdserverpb::ResponseHeader* header) {
  header->set_cluster_id(node.cluster_id());
  header->set_member_id(node.raft_id());
  header->set_revision(node.current_revision());
  header->set_raft_term(node.status().term);
}

}  // namespace dkv::api
