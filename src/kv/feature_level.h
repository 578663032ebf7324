// Feature levels: which log entries a member must know how to apply before
// any member may propose them (docs/architecture.md, "Feature gate"). A
// member that decodes an entry kind it does not know stops, so a cluster
// whose members run different versions must not commit one. Levels only
// grow; each names the entry kinds it adds. The gate itself (members
// advertising their level, the leader committing SetFeatureLevel, the
// APIs refusing until then) is not built yet: this is the one list it and
// the entry kinds share.
// Extending: add a level below, raise kFeatureLevelSupported, and map the
// new kinds in required_level() (its switch has no default, so a new
// EtcdKind does not compile until it is mapped).
// Threading: pure functions.
#pragma once

#include <cstdint>

#include "kv/command.h"

namespace dkv::kv {

enum class FeatureLevel : std::uint32_t {
  // /v0's Op::kPut and Op::kDelete: every dkv applies them.
  kNone = 0,
  // Op::kEtcd with etcd's Put, DeleteRange, Txn, Compaction and Alarm.
  kMvccRequests = 1,
  // Leases: EtcdKind::kLeaseGrant, kLeaseRevoke and kLeaseCheckpoint.
  kLeases = 2,
};

// The highest level this binary applies (what it would advertise).
inline constexpr FeatureLevel kFeatureLevelSupported = FeatureLevel::kLeases;

// The level every member must have reached before `command` is proposed;
// a malformed kEtcd payload (no kind byte, an unknown kind) needs a level
// above kFeatureLevelSupported, i.e. is never proposable.
FeatureLevel required_level(const Command& command);

}  // namespace dkv::kv
