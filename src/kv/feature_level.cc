#include "kv/feature_level.h"

#include "kv/mvcc_request.h"

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

FeatureLevel required_level(const Command& command) {
  switch (command.op) {
    case Op::kPut:
    case Op::kDelete:
      return FeatureLevel::kNone;
    case Op::kEtcd:
      if (command.value.empty()) return kNever;
      return required_level(static_cast<EtcdKind>(command.value.front()));
  }
  return kNever;
}

}  // namespace dkv::kv
