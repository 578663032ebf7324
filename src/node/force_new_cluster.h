// Disaster recovery (DKV_FORCE_NEW_CLUSTER, as etcd's --force-new-cluster):
// turns the data directory of one survivor into that of a cluster of itself
// alone, keeping its data, so that members can then be added again.
//
// The rewrite must be part of the replicated history, or the members added
// later would not derive the same membership as the survivor: a new member
// that received the survivor's old log would replay its old configuration
// changes (an old member added back, with its address). So the survivor
//   1. commits and applies every entry of its log (beyond its commit index
//      too: the old majority may have committed and acknowledged them; etcd
//      instead drops them) to the store, replaying the old configuration
//      changes onto the names only, so that every old member is known;
//   2. records the forced membership (itself the only voter, every other
//      member removed: their names are refused from then on) with the last
//      index N;
//   3. writes a snapshot file at N carrying that membership, records its
//      marker in the WAL with the commit index N, and drops the log up to N.
// No entry at or below N is ever sent again: a new member receives the
// snapshot (the forced membership) and then only entries after N. The raft
// core starts from the snapshot's configuration, which is the persisted
// membership, on every replica and after every restart.
//
// A crash part way: start again with the variable set; every step is done
// again (the store is already at N, the snapshot file is rewritten).
// Threading: plain function, called by Node::open before the raft thread.
#pragma once

#include <string>
#include <vector>

#include "kv/store.h"
#include "node/config.h"
#include "node/membership.h"
#include "util/status.h"
#include "wal/log.h"

namespace dkv::node {

struct ForceNewCluster {
  std::string node_id;  // This node's name.
  std::string db_path;
  // DKV_CLUSTER: this node's address if the persisted membership lacks it.
  std::vector<MemberAddress> configured;
};

// Does the steps above. On entry `store` and `log` are open, the store not
// behind the WAL's snapshot, `recovered` is what log.open() returned and
// `membership` the persisted one. On return `recovered` describes the
// rewritten WAL (its snapshot at N, no entries, commit N) and `membership`
// is the forced one, also the snapshot's (if N > 0).
util::Status force_new_cluster(const ForceNewCluster& options, kv::Store& store, wal::Log& log,
                               wal::Recovered* recovered, Membership* membership);

}  // namespace dkv::node
