// Leases in the MVCC engine (etcd's Lease service, the state-machine half):
// the log entries that grant, revoke and checkpoint a lease, what the
// proposer decides before it proposes them, and what the store reports of
// them. A lease lives in two tables (kv/lease_table.h): `lease` (id -> TTL
// and the last remaining-TTL checkpoint) and `lkeys` (id | key: the keys
// attached to it). Apply never reads a clock: a Grant carries its id and
// clamped TTL, a Revoke carries the term of the leader that proposed it,
// and a Checkpoint carries remaining TTLs measured on the leader's clock.
//
// Entries (kv/mvcc_request.h framing: kind byte | payload):
//   kLeaseGrant      etcdserverpb.LeaseGrantRequest, ID > 0 and TTL as
//                    decided by prepare_grant();
//   kLeaseRevoke     proposer_term (8 bytes, little-endian; 0: a client's
//                    revoke, applied whatever the entry's term) |
//                    etcdserverpb.LeaseRevokeRequest. A revoke whose
//                    proposer_term is not 0 and differs from its entry's
//                    term is ignored (a leader proposed it, then lost its
//                    leadership: the proposal was forwarded to the next
//                    leader, whose clock did not decide it);
//   kLeaseCheckpoint etcdserverpb.LeaseCheckpointRequest: remaining TTLs
//                    (remaining_TTL <= 0 or >= TTL clears the checkpoint:
//                    the lease was renewed).
// Threading: pure functions.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "etcd/etcdserver/etcdserverpb/rpc.pb.h"
#include "kv/command.h"
#include "util/status.h"

namespace dkv::kv {

// etcd's MaxLeaseTTL (lease/lessor.go): 9,000,000,000 s.
inline constexpr std::int64_t kLeaseTtlMax = 9'000'000'000;

namespace etcd_error {
inline constexpr char kLeaseExists[] = "etcdserver: lease already exists";
inline constexpr char kLeaseTtlTooLarge[] = "etcdserver: too large lease TTL";
}  // namespace etcd_error

// One lease as stored. remaining_ttl: the last checkpoint's remaining TTL
// in seconds, 0 if none (the lease has its whole TTL left).
struct LeaseInfo {
  std::int64_t id = 0;
  std::int64_t ttl = 0;
  std::int64_t remaining_ttl = 0;
  bool operator==(const LeaseInfo&) const = default;
};

// What one applied batch did to leases, in order, for the leader's lessor
// (node/lessor.h), which keeps deadlines only in memory.
struct LeaseChange {
  enum class Kind : std::uint8_t { kGranted, kRevoked, kCheckpointed };
  Kind kind = Kind::kGranted;
  LeaseInfo lease;  // For kRevoked only the id.
  bool operator==(const LeaseChange&) const = default;
};

// etcd's minTTL: 1.5 election timeouts, in whole seconds rounded up
// (lease/lessor.go: minLeaseTTL = ceil(3 * electionTicks * tick / 2)).
std::int64_t min_lease_ttl_seconds(std::int64_t election_ms);

// Checks a Grant and fills in what the proposer decides: the TTL clamped to
// at least `min_ttl_seconds`, and an id drawn from `rng` (positive, 63 bits)
// when the client gave 0. Refuses TTL > kLeaseTtlMax (OUT_OF_RANGE, etcd's
// message) and a negative id (INVALID_ARGUMENT).
util::Status prepare_grant(etcdserverpb::LeaseGrantRequest* request, std::int64_t min_ttl_seconds,
                           std::mt19937_64& rng);

Command lease_grant_command(const etcdserverpb::LeaseGrantRequest& request);
// proposer_term 0: a client's revoke.
Command lease_revoke_command(std::int64_t id, std::uint64_t proposer_term);
Command lease_checkpoint_command(
    const std::vector<std::pair<std::int64_t, std::int64_t>>& remaining);

// The payload of a kLeaseRevoke entry (after the kind byte).
bool decode_lease_revoke(std::string_view payload, std::uint64_t* proposer_term, std::int64_t* id);

}  // namespace dkv::kv
