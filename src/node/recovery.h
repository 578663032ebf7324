// Recovery: opening a node's data directory (DKV_DB_PATH) at start, one
// function per phase, in this order:
//   1. open the WAL (wal/log.h; a torn last record is cut);
//   2. open the store (kv/store.h; LMDB may have lost unsynced commits);
//   3. bring the store up to the latest snapshot file if it is behind it
//      (or verify that file, which peers may be sent);
//   4. load the membership: persisted, or bootstrapped from DKV_CLUSTER /
//      the cluster joined;
//   5. check that the store is not ahead of the WAL;
//   6. DKV_FORCE_NEW_CLUSTER, if asked (force_new_cluster.h);
//   7. rebuild the raft core's MemoryStorage: snapshot metadata, the WAL's
//      entries, the hard state.
// Entries after the store's applied index come back from the raft core as
// committed entries, and the Node applies them again.
// Threading: plain functions, before the raft thread starts.
#pragma once

#include <memory>

#include "kv/store.h"
#include "node/membership.h"
#include "node/node.h"
#include "raft/storage.h"
#include "util/status.h"
#include "wal/log.h"

namespace dkv::node {

// What recover() hands to the Node.
struct RecoveredState {
  std::unique_ptr<kv::Store> store;
  std::unique_ptr<wal::Log> log;
  std::unique_ptr<raft::MemoryStorage> storage;
  Membership membership;
};

// Opens options.db_path (phases 1-7 above). FAILED_PRECONDITION: the
// directory belongs to another node or cluster, or this node's address
// moved; DATA_LOSS: damaged files.
util::Status recover(const NodeOptions& options, RecoveredState* out);

// The file system of the node's WAL and snapshot files: options.wal_fs, or
// the real one.
wal::FileSystem& files_of(const NodeOptions& options);

}  // namespace dkv::node
