// Command: one state-machine operation (put or delete of a key, or an etcd
// v3 request) and its binary encoding, which is what a Raft log entry
// carries. The encoding is ours and versioned by its first byte (the op):
//   op (1 byte) | varint key length | key bytes | value bytes (not delete)
// kEtcd has an empty key and its value is kv/mvcc_request.h's payload;
// kSetFeatureLevel has an empty key and its value is one varint, the level
// (kv/feature_level.h).
// Decoding untrusted bytes never crashes: a malformed encoding is an error.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "util/status.h"

namespace dkv::kv {

enum class Op : std::uint8_t {
  kPut = 1,
  kDelete = 2,
  kEtcd = 3,  // An etcd v3 write request (kv/mvcc_request.h).
  // The cluster's feature level rises (kv/feature_level.h): proposed only
  // by the leader's feature gate (node/feature_gate.h).
  kSetFeatureLevel = 4,
};

struct Command {
  Op op = Op::kPut;
  std::string key;
  std::string value;  // Empty for kDelete; the request payload for kEtcd.
  // Not encoded: the raft term of the entry that carried it, set by the
  // applier (a lease revoke compares it with its proposer's: kv/lease.h).
  std::uint64_t term = 0;

  bool operator==(const Command&) const = default;
};

std::string encode_command(const Command& command);
util::Status decode_command(std::string_view data, Command* out);

}  // namespace dkv::kv
