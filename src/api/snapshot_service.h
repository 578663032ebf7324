// dkv.v0.Maintenance: Snapshot streams a consistent image of the node's state
// machine (kv::Store::ImageReader: one LMDB read transaction, so one applied
// index) in chunks, with the CRC32C of the whole image in the last message.
// The RPC keeps etcd's name, but what it streams is a backup (what `dkvctl
// snapshot save` writes, node/restore.h), read through Node::
// open_backup_image: not a raft snapshot nor a snapshot file
// (node/snapshotter.h names the kinds apart).
// It never touches the raft thread: writes go on meanwhile (LMDB readers
// never block the writer), and only about one chunk is in memory per stream.
// A client that cancels (or disconnects) ends the stream and frees its read
// transaction. gRPC only (a stream has no REST mapping).
//
// Threading: each stream is driven by gRPC's callback threads, one callback
// at a time. Lifetime: `open` must stay callable while the server runs.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>

#include "kv/store.h"
#include "util/status.h"

namespace grpc {
class Service;
}  // namespace grpc

namespace dkv::api {

// Opens a reader of the state machine's image cut into `chunk_bytes` pieces.
using OpenSnapshot =
    std::function<util::Status(std::size_t chunk_bytes, std::unique_ptr<kv::Store::ImageReader>*)>;

struct SnapshotServiceOptions {
  // Bytes of image per message; well under the server's message limit.
  std::size_t chunk_bytes = 256u << 10;
  // Streams at once (each pins an LMDB read transaction, which keeps the
  // pages it sees from being reused); beyond this, RESOURCE_EXHAUSTED.
  int streams_max = 2;
};

std::unique_ptr<grpc::Service> make_snapshot_service(OpenSnapshot open,
                                                     SnapshotServiceOptions options = {});

}  // namespace dkv::api
