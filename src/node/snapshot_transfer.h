// The node's ends of a snapshot transfer (the transport streams the
// chunks): snapshots go from file to file and are never whole in memory.
//   open_snapshot_source  (leader) the raw bytes of the snapshot file the
//                         kSnap's index and term name, read a chunk at a
//                         time. Its records keep their CRCs, so the
//                         receiver checks the data end to end.
//   make_snapshot_sink    (follower) writes the chunks to a temporary file
//                         in the snap dir; finish() fdatasyncs it, verifies
//                         every record and the trailer (and that it is the
//                         snapshot the message names), renames it to its
//                         final name and fsyncs the directory. Only then is
//                         the kSnap (metadata only) handed to the raft core,
//                         which may install it (Node::install_snapshot reads
//                         the file). A damaged or truncated transfer fails:
//                         the sender reports it, the core retries later.
// Threading: a source or sink serves one stream on one thread at a time;
// several may run at once (temporary names are unique in the process).
// Lifetime: db_path is copied.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "node/background.h"
#include "raft/types.h"
#include "util/status.h"
#include "wal/file.h"
#include "wal/snapshot_stream.h"

namespace dkv::node {

// `fs`: where the node's snapshot files live (NodeOptions::wal_fs).
util::Status open_snapshot_source(const std::string& db_path, const raft::Message& msg,
                                  std::unique_ptr<wal::SnapshotSource>* out,
                                  wal::FileSystem& fs = wal::posix_file_system());

// Null (after logging why) if the temporary file cannot be created.
// `canaries`: TEST ONLY (background.h), honoured in DKV_TEST_HOOKS builds.
std::unique_ptr<wal::SnapshotSink> make_snapshot_sink(
    const std::string& db_path, const raft::Message& header, std::uint64_t total_bytes,
    wal::FileSystem& fs = wal::posix_file_system(), const NodeCanaries& canaries = {});

}  // namespace dkv::node
