// The payload of a normal raft entry written by dkv: the proposer's request
// id (8 bytes, little-endian), then the kv::Command encoding. The request id
// lets the node that proposed an entry find the waiting client call when it
// applies that entry, whichever node led at the time. An empty payload is the
// leader's no-op.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "kv/command.h"
#include "util/status.h"

namespace dkv::node {

std::string encode_entry(std::uint64_t request_id, const kv::Command& command);
util::Status decode_entry(std::string_view data, std::uint64_t* request_id, kv::Command* command);

}  // namespace dkv::node
