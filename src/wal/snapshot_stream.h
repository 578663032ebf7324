// The two ends of a snapshot's bytes in flight between nodes: a
// SnapshotSource reads them on the sender, a SnapshotSink takes them on the
// receiver. Interfaces only: the transport streams the chunks
// (transport/snapshot_lane.h, transport.cc), the node implements them over
// its snapshot files (node/snapshot_transfer.h), the transport keeps an
// in-memory sink and source for tests and message-held data. Here, beside
// the snapshot files, so that node/ needs nothing from transport/.
// Threading: one source or sink serves one stream, called from one thread
// at a time (not necessarily the same thread each call).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "raft/types.h"
#include "util/status.h"

namespace dkv::wal {

// Where an incoming snapshot's data goes while it arrives. The transport's
// default keeps it in memory; the node's streams it to a file under its data
// directory and finish() leaves the message with metadata only.
class SnapshotSink {
 public:
  virtual ~SnapshotSink() = default;
  // Appends the next bytes of the data, in order. Non-OK aborts the transfer
  // (the sender sees a failure); the sink is then destroyed.
  virtual util::Status write(std::string_view data) = 0;
  // All the data arrived: complete `msg` (the kSnap message, snapshot data
  // empty) so that it can be delivered to the raft core.
  virtual util::Status finish(raft::Message* msg) = 0;
};

// Where an outgoing snapshot's data comes from, read in chunks on the peer's
// snapshot thread.
class SnapshotSource {
 public:
  virtual ~SnapshotSource() = default;
  // Size of the whole data, announced to the receiver first.
  virtual std::uint64_t total_bytes() const = 0;
  // Sets *data to the next bytes: at most max_bytes, and at least one byte
  // while any remain. Non-OK aborts the transfer (reported as failed).
  virtual util::Status read(std::uint64_t max_bytes, std::string* data) = 0;
};

}  // namespace dkv::wal
