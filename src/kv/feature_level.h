// Feature levels: which log entries a member must know how to apply before
// any member may propose them (docs/architecture.md, "Feature gate"). A
// member that decodes an entry kind it does not know stops, so a cluster
// whose members run different versions must not commit one. Levels only
// grow; each names the entry kinds it adds. The gate:
//   - each member advertises the highest level it applies (dkv.v0's
//     StatusResponse.feature_level; a member built before the gate answers
//     0 by construction);
//   - the leader (node/feature_gate.h) commits Op::kSetFeatureLevel(n)
//     once every member advertises >= n (decide_feature_level below);
//   - the committed level lives in the store's meta (kv/store.h) and only
//     grows; a proposal needing more is refused (check_proposal below).
// Extending: add a level below, raise kFeatureLevelSupported, and map the
// new kinds in required_level() (its switch has no default, so a new
// EtcdKind does not compile until it is mapped).
// Threading: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "kv/command.h"
#include "util/status.h"

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

// etcd's rpctypes.ErrGRPCNotCapable (UNAVAILABLE): the refusal of a
// request the cluster's committed level does not allow yet.
inline constexpr char kNotCapable[] = "etcdserver: not capable";

// "none", "mvcc-requests", "leases"; "level N" beyond those.
std::string feature_level_name(FeatureLevel level);

// The level every member must have reached before `command` is proposed;
// a malformed kEtcd payload (no kind byte, an unknown kind) needs a level
// above kFeatureLevelSupported, i.e. is never proposable. For
// kSetFeatureLevel(n): n (every member must apply level n's entries).
FeatureLevel required_level(const Command& command);

// The one check before a proposal (Node::write): OK if
// required_level(command) <= `committed`, else UNAVAILABLE kNotCapable,
// which clients retry. Op::kSetFeatureLevel is the gate's own proposal,
// made only once every member advertised its level
// (decide_feature_level): it is not held to the committed level.
util::Status check_proposal(const Command& command, FeatureLevel committed);

// Op::kSetFeatureLevel's command, and its level back (INVALID_ARGUMENT for
// another op or a malformed value).
Command set_feature_level_command(FeatureLevel level);
util::Status decode_feature_level(const Command& command, FeatureLevel* out);

// The leader's decision: the level to propose, given the committed one
// and what every member (voters and learners, the leader included)
// advertised (a member that did not answer counts as kNone). Returns
// the lowest advertised level, capped at kFeatureLevelSupported, when it
// is above `committed`; `committed` otherwise (nothing to propose). The
// level never goes down.
FeatureLevel decide_feature_level(FeatureLevel committed, std::span<const FeatureLevel> advertised);

}  // namespace dkv::kv
