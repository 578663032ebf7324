// The outbound frame of a message stream: raft messages encoded as one
// raftpb::MessageBatch behind the stream's frame header (tcp_stream.h has
// the wire format), and the size limits a message must fit. Shared by the
// peer's two writers: send()'s direct write (direct_write.h) and the
// sender thread (message_stream_lane.h).
// Threading: pure functions; the caller owns the scratch buffers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dkv/raftpb/raft.pb.h"
#include "raft/types.h"
#include "transport/transport.h"

namespace dkv::transport {

// Headroom for the batch's framing when checking one message against the
// wire limit (message_size_bytes is an estimate).
inline constexpr std::uint64_t kWireHeadroomBytes = 64 * 1024;

// A message of `size` bytes (message_size_bytes) fits one frame.
inline bool fits_wire(std::uint64_t size) {
  return size + kWireHeadroomBytes <= static_cast<std::uint64_t>(kWireMessageBytesMax);
}

// Who sends a peer's frames to whom (every batch's header).
struct FrameHeader {
  std::uint64_t cluster_id = 0;
  raft::NodeId from = raft::kNoNode;
  raft::NodeId to = raft::kNoNode;
};

void fill_header(const FrameHeader& h, raftpb::Header* out);

// Encodes [first, last) (moved from) as one sealed frame into *framed
// (kFrameHeaderBytes, then the MessageBatch). `batch` is scratch space.
void encode_frame(const FrameHeader& h, std::vector<raft::Message>::iterator first,
                  std::vector<raft::Message>::iterator last, raftpb::MessageBatch* batch,
                  std::string* framed);

}  // namespace dkv::transport
