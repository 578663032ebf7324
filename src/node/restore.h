// Restoring a cluster from a backup, offline (as etcdutl snapshot restore):
// for each member, a fresh data directory that `dkv` started with the same
// DKV_NODE_ID and DKV_CLUSTER boots from, holding the backup's data.
//
// The backup file (what `dkvctl snapshot save` writes) is a kv::Store image
// (kv/store.h, "DKVSNAP1") followed by its CRC32C, 4 bytes little-endian, as
// etcd appends a hash to its snapshot file. A file that etcdctl's `snapshot
// save` wrote from dkv (image | zeros | image length, u64 LE | SHA-256 of
// all before it; 512 * n + 32 bytes: api/etcd_grpc_services.h) is read too.
//
// A restored data directory holds the image three ways, exactly as a node
// that installed a leader's snapshot would: as the snapshot file
// snap/<index>-1.snap, in LMDB (kv/), and in a new WAL (wal/) whose snapshot
// marker is (index, term 1) and whose hard state commits it. The index is the
// backup's applied index (at least 1). The membership is the given cluster,
// and the cluster id is new (derived from the cluster and the backup's CRC,
// so every member restored from one file agrees on it, and the old cluster's
// nodes cannot talk to the new ones).
//
// Threading: plain functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "node/config.h"
#include "util/status.h"

namespace dkv::node {

inline constexpr std::size_t kBackupTrailerBytes = 4;

// The trailer that follows the image in a backup file.
std::string encode_backup_trailer(std::uint32_t image_crc32c);

struct BackupInfo {
  std::uint64_t applied_index = 0;
  std::string membership;  // The backed-up cluster's, as encoded (DKV_CLUSTER syntax).
  std::uint64_t image_bytes = 0;
  std::uint32_t crc32c = 0;
};

// Reads a backup file into `image` and checks its CRC and header. DATA_LOSS
// if it is damaged; NOT_FOUND / INTERNAL if it cannot be read.
util::Status read_backup_file(const std::string& path, std::string* image, BackupInfo* info);

struct RestoreOptions {
  std::string data_dir;                // Must not exist, or be an empty directory.
  std::string node_id;                 // This member's id; one of `cluster`.
  std::vector<MemberAddress> cluster;  // The new cluster (DKV_CLUSTER of every member).
};

struct RestoreResult {
  std::uint64_t index = 0;  // The snapshot index the node starts from.
  std::string cluster_id;   // Hex.
};

// Builds options.data_dir from `image` (whole, checked by read_backup_file):
// first in a sibling temporary directory, which is then renamed, so an
// interrupted restore leaves no half-made data directory.
// INVALID_ARGUMENT: bad options; FAILED_PRECONDITION: data_dir is in use;
// DATA_LOSS: a malformed image.
util::Status restore_data_dir(const RestoreOptions& options, std::string_view image,
                              RestoreResult* result);

}  // namespace dkv::node
