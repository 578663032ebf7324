#include "kv/command.h"

#include "util/varint.h"

namespace dkv::kv {
using util::get_varint;
using util::put_varint;

std::string encode_command(const Command& command) {
  std::string out;
  out.reserve(1 + 5 + command.key.size() + command.value.size());
  out.push_back(static_cast<char>(command.op));
  put_varint(&out, command.key.size());
  out += command.key;
  if (command.op != Op::kDelete) out += command.value;
  return out;
}

util::Status decode_command(std::string_view data, Command* out) {
  if (data.empty()) return util::invalid_argument("empty command");
  const auto op = static_cast<Op>(data.front());
  data.remove_prefix(1);
  if (op != Op::kPut && op != Op::kDelete && op != Op::kEtcd && op != Op::kSetFeatureLevel)
    return util::invalid_argument("unknown command op");
  std::uint64_t key_len = 0;
  if (!get_varint(&data, &key_len) || key_len > data.size()) {
    return util::invalid_argument("malformed command key length");
  }
  out->op = op;
  out->key.assign(data.substr(0, key_len));
  data.remove_prefix(key_len);
  if (op == Op::kDelete && !data.empty()) return util::invalid_argument("delete with a value");
  if (op == Op::kEtcd && (key_len != 0 || data.empty())) {
    return util::invalid_argument("malformed etcd request command");
  }
  if (op == Op::kSetFeatureLevel) {
    std::uint64_t level = 0;
    std::string_view rest = data;
    if (key_len != 0 || !get_varint(&rest, &level) || !rest.empty() || level > UINT32_MAX) {
      return util::invalid_argument("malformed feature level command");
    }
  }
  out->value.assign(data);
  return util::Status::ok();
}

}  // namespace dkv::kv
