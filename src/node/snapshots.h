// Snapshot files of a node's state machine: the kv::Store image (kv/store.h)
// in a wal::SnapshotWriter file under DKV_DB_PATH/snap, named by the last log
// index (and term) it covers. Used by the raft thread to compact the log and
// to install a leader's snapshot, and at start to rebuild the raft storage.
// Threading: plain functions; the caller serialises them (raft thread).
#pragma once

#include <string>

#include "util/status.h"
#include "wal/format.h"

namespace dkv::node {

// Writes `image` as the snapshot file for `marker` (temp file, fsync, rename,
// directory fsync), with `membership` in its metadata.
util::Status write_snapshot_file(const std::string& db_path, wal::SnapshotMarker marker,
                                 const std::string& membership, const std::string& image);

// Reads and verifies the snapshot file for `marker` into `image`.
util::Status read_snapshot_file(const std::string& db_path, wal::SnapshotMarker marker,
                                std::string* image);

// Removes snapshot files older than `marker`.
util::Status remove_old_snapshot_files(const std::string& db_path, wal::SnapshotMarker marker);

// Removes temporary files of snapshots a crash interrupted. At start only:
// later a background snapshot may be writing one.
util::Status remove_snapshot_leftovers(const std::string& db_path);

}  // namespace dkv::node
