// Snapshot files of a node's state machine: the kv::Store image (kv/store.h)
// in a wal::SnapshotWriter file under DKV_DB_PATH/snap, named by the last log
// index (and term) it covers. Used to compact the log (written by a
// background thread), to install a leader's snapshot (received into the snap
// dir by the transport, snapshot_transfer.h), and at start to rebuild the
// store. Snapshots live only in these files: the raft core's Snapshot holds
// metadata, its data stays empty, and nothing here holds a whole image in
// memory.
// Each takes the file system the files live on (the node's: NodeOptions::
// wal_fs, or the real one).
// Threading: plain functions; the caller serialises those on one file.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "kv/store.h"
#include "util/status.h"
#include "wal/format.h"
#include "wal/snapshot_file.h"

namespace dkv::node {

// Streams the store image `view` is pinned at into the snapshot file for
// `marker` (temp file, fsync, rename, directory fsync), with `membership` in
// its metadata. Memory: O(one chunk), whatever the store's size. Sets
// *image_bytes to the image's size.
util::Status write_snapshot_file(wal::FileSystem& fs, const std::string& db_path,
                                 wal::SnapshotMarker marker, const std::string& membership,
                                 const kv::Store& store, const kv::Store::ReadView& view,
                                 std::uint64_t* image_bytes);

// Opens the snapshot file for `marker` and checks its header (its marker
// must be `marker`); the reader then verifies each chunk as it is read.
util::Status open_snapshot_file(wal::FileSystem& fs, const std::string& db_path,
                                wal::SnapshotMarker marker,
                                std::unique_ptr<wal::SnapshotReader>* reader);

// Restores `store` from `reader` (fresh from open_snapshot_file), streaming:
// memory O(one chunk). DATA_LOSS if the file is damaged or its image is not
// at the reader's marker index.
util::Status restore_store(kv::Store& store, wal::SnapshotReader& reader);

// Removes snapshot files older than `marker`.
util::Status remove_old_snapshot_files(wal::FileSystem& fs, const std::string& db_path,
                                       wal::SnapshotMarker marker);

// Removes temporary files of snapshots a crash interrupted. At start only:
// later a background snapshot may be writing one.
util::Status remove_snapshot_leftovers(wal::FileSystem& fs, const std::string& db_path);

}  // namespace dkv::node
