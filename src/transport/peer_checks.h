// Checks of what a peer sends against the stream it came on, shared by the
// message streams (tcp_stream.cc) and the snapshot streams (transport.cc).
// Threading: pure functions.
#pragma once

#include <cstdint>
#include <string>

#include "dkv/raftpb/raft.pb.h"
#include "raft/types.h"
#include "util/status.h"

namespace dkv::transport {

// Ids in hex, 16 digits, as /v0/status prints the cluster id.
inline std::string hex_id(std::uint64_t id) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, id >>= 4) out[static_cast<std::size_t>(i)] = kDigits[id & 15];
  return out;
}

inline util::Status check_cluster(std::uint64_t local_cluster, std::uint64_t cluster) {
  if (cluster == local_cluster) return util::Status::ok();
  return {util::Code::kFailedPrecondition,
          "cluster id " + hex_id(cluster) + " is not this node's " + hex_id(local_cluster)};
}

inline util::Status check_addressee(raft::NodeId local_id, raft::NodeId to) {
  if (to == local_id) return util::Status::ok();
  return {util::Code::kFailedPrecondition,
          "addressed to node " + hex_id(to) + ", this is node " + hex_id(local_id)};
}

// A batch's or chunk's header: this cluster, this node, the stream's sender.
inline util::Status check_header(std::uint64_t local_cluster, raft::NodeId local_id,
                                 raft::NodeId from, const raftpb::Header& h) {
  util::Status s = check_cluster(local_cluster, h.cluster_id());
  if (!s.is_ok()) return s;
  s = check_addressee(local_id, h.to());
  if (!s.is_ok()) return s;
  if (h.from() != from) {
    return util::invalid_argument("header from " + hex_id(h.from()) +
                                  " differs from the stream's " + hex_id(from));
  }
  return util::Status::ok();
}

// A decoded message. Its `from` may differ from the stream's sender: the
// core forwards kTransferLeader with the transferee as `from` (and may
// forward other requests the same way).
inline util::Status check_message(raft::NodeId local_id, raft::NodeId from,
                                  const raft::Message& m) {
  if (m.to != local_id) {
    return util::invalid_argument("message to node " + hex_id(m.to) + " on the stream " +
                                  hex_id(from) + "->" + hex_id(local_id));
  }
  return util::Status::ok();
}

}  // namespace dkv::transport
