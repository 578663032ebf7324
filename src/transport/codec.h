// Codec: raft::Message (src/raft/types.h) <-> its wire form dkv.raftpb.Message
// (proto/dkv/raftpb/raft.proto). The round trip is exact for every field,
// including an absent vs a present-but-empty snapshot.
//
// Protobuf types are only forward-declared here so that callers need no
// protobuf headers; codec.cc is the only place that knows both forms.
// Threading: pure functions. The && overloads move the byte strings (entry
// data, snapshot data, context) instead of copying them.
#pragma once

#include "raft/types.h"
#include "util/status.h"

namespace dkv::raftpb {
class Message;
}  // namespace dkv::raftpb

namespace dkv::transport {

// Overwrites *out with the wire form of `in`. Never fails: every raft value
// has a wire form.
void encode(const raft::Message& in, raftpb::Message* out);
void encode(raft::Message&& in, raftpb::Message* out);

// Overwrites *out with the message `in` describes. INVALID_ARGUMENT (and *out
// unspecified) if `in` holds a message or entry type raft/types.h does not
// define (a newer or corrupt peer).
util::Status decode(const raftpb::Message& in, raft::Message* out);
util::Status decode(raftpb::Message&& in, raft::Message* out);

// Approximate encoded size of `m`, for queue and batch limits (cheap: no
// encoding; counts payload bytes plus a fixed overhead per field group).
std::uint64_t message_size_bytes(const raft::Message& m);

}  // namespace dkv::transport
