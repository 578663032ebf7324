#include "raft/types.h"

namespace dkv::raft {

std::string ConfChange::encode() const {
  std::string out;
  out.reserve(9 + context.size());
  out.push_back(static_cast<char>(type));
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((node_id >> (8 * i)) & 0xff));
  out += context;
  return out;
}

std::optional<ConfChange> ConfChange::decode(std::string_view data) {
  if (data.size() < 9) return std::nullopt;
  const auto t = static_cast<std::uint8_t>(data[0]);
  if (t > static_cast<std::uint8_t>(ConfChangeType::kAddLearner)) return std::nullopt;
  ConfChange cc;
  cc.type = static_cast<ConfChangeType>(t);
  for (int i = 0; i < 8; ++i) {
    cc.node_id |= static_cast<NodeId>(static_cast<std::uint8_t>(data[1 + i])) << (8 * i);
  }
  cc.context = std::string(data.substr(9));
  return cc;
}

std::string_view message_type_name(MessageType t) {
  switch (t) {
    case MessageType::kHup:
      return "MsgHup";
    case MessageType::kBeat:
      return "MsgBeat";
    case MessageType::kProp:
      return "MsgProp";
    case MessageType::kCheckQuorum:
      return "MsgCheckQuorum";
    case MessageType::kUnreachable:
      return "MsgUnreachable";
    case MessageType::kSnapStatus:
      return "MsgSnapStatus";
    case MessageType::kTransferLeader:
      return "MsgTransferLeader";
    case MessageType::kApp:
      return "MsgApp";
    case MessageType::kAppResp:
      return "MsgAppResp";
    case MessageType::kVote:
      return "MsgVote";
    case MessageType::kVoteResp:
      return "MsgVoteResp";
    case MessageType::kPreVote:
      return "MsgPreVote";
    case MessageType::kPreVoteResp:
      return "MsgPreVoteResp";
    case MessageType::kSnap:
      return "MsgSnap";
    case MessageType::kHeartbeat:
      return "MsgHeartbeat";
    case MessageType::kHeartbeatResp:
      return "MsgHeartbeatResp";
    case MessageType::kTimeoutNow:
      return "MsgTimeoutNow";
    case MessageType::kReadIndex:
      return "MsgReadIndex";
    case MessageType::kReadIndexResp:
      return "MsgReadIndexResp";
  }
  return "Msg?";
}

}  // namespace dkv::raft
