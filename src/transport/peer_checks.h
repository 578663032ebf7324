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

inline util::Status check_cluster(std::uint64_t local_cluster, std::uint64_t cluster) {
  if (cluster == local_cluster) return util::Status::ok();
  return {util::Code::kFailedPrecondition, "cluster id " + std::to_string(cluster) +
                                               " is not this node's " +
                                               std::to_string(local_cluster)};
}

inline util::Status check_addressee(raft::NodeId local_id, raft::NodeId to) {
  if (to == local_id) return util::Status::ok();
  return {util::Code::kFailedPrecondition,
          "addressed to node " + std::to_string(to) + ", this is node " + std::to_string(local_id)};
}

// A batch's or chunk's header: this cluster, this node, the stream's sender.
inline util::Status check_header(std::uint64_t local_cluster, raft::NodeId local_id,
                                 raft::NodeId from, const raftpb::Header& h) {
  util::Status s = check_cluster(local_cluster, h.cluster_id());
  if (!s.is_ok()) return s;
  s = check_addressee(local_id, h.to());
  if (!s.is_ok()) return s;
  if (h.from() != from) {
    return util::invalid_argument("header from " + std::to_string(h.from()) +
                                  " differs from the stream's " + std::to_string(from));
  }
  return util::Status::ok();
}

// A decoded message. Its `from` may differ from the stream's sender: the
// core forwards kTransferLeader with the transferee as `from` (and may
// forward other requests the same way).
inline util::Status check_message(raft::NodeId local_id, raft::NodeId from,
                                  const raft::Message& m) {
  if (m.to != local_id) {
    return util::invalid_argument("message to node " + std::to_string(m.to) + " on the stream " +
                                  std::to_string(from) + "->" + std::to_string(local_id));
  }
  return util::Status::ok();
}

}  // namespace dkv::transport
