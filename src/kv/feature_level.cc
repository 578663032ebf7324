#include "kv/feature_level.h"

#include <algorithm>

#include "kv/mvcc_request.h"
#include "util/varint.h"

namespace dkv::kv {
namespace {

constexpr FeatureLevel kNever =
    static_cast<FeatureLevel>(static_cast<std::uint32_t>(kFeatureLevelSupported) + 1);

FeatureLevel required_level(EtcdKind kind) {
  switch (kind) {
    case EtcdKind::kPut:
    case EtcdKind::kDeleteRange:
    case EtcdKind::kTxn:
    case EtcdKind::kCompaction:
    case EtcdKind::kAlarm:
      return FeatureLevel::kMvccRequests;
    case EtcdKind::kLeaseGrant:
    case EtcdKind::kLeaseRevoke:
    case EtcdKind::kLeaseCheckpoint:
      return FeatureLevel::kLeases;
  }
  return kNever;  // Not a kind this binary knows.
}

}  // namespace

std::string feature_level_name(FeatureLevel level) {
  switch (level) {
    case FeatureLevel::kNone:
      return "none";
    case FeatureLevel::kMvccRequests:
      return "mvcc-requests";
    case FeatureLevel::kLeases:
      return "leases";
  }
  return "level " + std::to_string(static_cast<std::uint32_t>(level));
}

FeatureLevel required_level(const Command& command) {
  switch (command.op) {
    case Op::kPut:
    case Op::kDelete:
      return FeatureLevel::kNone;
    case Op::kEtcd:
      if (command.value.empty()) return kNever;
      return required_level(static_cast<EtcdKind>(command.value.front()));
    case Op::kSetFeatureLevel: {
      FeatureLevel level = kNever;
      if (!decode_feature_level(command, &level).is_ok()) return kNever;
      return level;
    }
  }
  return kNever;
}

util::Status check_proposal(const Command& command, FeatureLevel committed) {
  if (command.op == Op::kSetFeatureLevel) return util::Status::ok();
  if (required_level(command) <= committed) return util::Status::ok();
  return util::unavailable(kNotCapable);
}

Command set_feature_level_command(FeatureLevel level) {
  Command c;
  c.op = Op::kSetFeatureLevel;
  util::put_varint(&c.value, static_cast<std::uint32_t>(level));
  return c;
}

util::Status decode_feature_level(const Command& command, FeatureLevel* out) {
  if (command.op != Op::kSetFeatureLevel) return util::invalid_argument("not a feature level");
  std::string_view in = command.value;
  std::uint64_t level = 0;
  if (!util::get_varint(&in, &level) || !in.empty() || level > UINT32_MAX) {
    return util::invalid_argument("malformed feature level command");
  }
  *out = static_cast<FeatureLevel>(level);
  return util::Status::ok();
}

FeatureLevel decide_feature_level(FeatureLevel committed,
                                  std::span<const FeatureLevel> advertised) {
  if (advertised.empty()) return committed;  // No member known: nothing to decide.
  const FeatureLevel lowest =
      std::min(*std::min_element(advertised.begin(), advertised.end()), kFeatureLevelSupported);
  return std::max(lowest, committed);
}

}  // namespace dkv::kv
