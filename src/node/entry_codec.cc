#include "node/entry_codec.h"

namespace dkv::node {

std::string encode_entry(std::uint64_t request_id, const kv::Command& command) {
  std::string out;
  out.reserve(8 + 6 + command.key.size() + command.value.size());
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((request_id >> (8 * i)) & 0xff));
  out += kv::encode_command(command);
  return out;
}

util::Status decode_entry(std::string_view data, std::uint64_t* request_id, kv::Command* command) {
  if (data.size() < 8) return util::invalid_argument("entry shorter than its request id");
  std::uint64_t id = 0;
  for (int i = 0; i < 8; ++i)
    id |= static_cast<std::uint64_t>(static_cast<unsigned char>(data[i])) << (8 * i);
  *request_id = id;
  return kv::decode_command(data.substr(8), command);
}

}  // namespace dkv::node
