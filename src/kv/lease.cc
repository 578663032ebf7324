#include "kv/lease.h"

#include "kv/mvcc_request.h"

namespace dkv::kv {
namespace {

Command lease_command(EtcdKind kind, std::string payload) {
  Command c;
  c.op = Op::kEtcd;
  c.value.push_back(static_cast<char>(kind));
  c.value += payload;
  return c;
}

}  // namespace

std::int64_t min_lease_ttl_seconds(std::int64_t election_ms) {
  return (3 * election_ms + 1999) / 2000;  // ceil(1.5 * election_ms / 1000)
}

util::Status prepare_grant(etcdserverpb::LeaseGrantRequest* request, std::int64_t min_ttl_seconds,
                           std::mt19937_64& rng) {
  if (request->ttl() > kLeaseTtlMax) {
    return {util::Code::kOutOfRange, etcd_error::kLeaseTtlTooLarge};
  }
  if (request->id() < 0) return util::invalid_argument("etcdserver: lease ID must be positive");
  if (request->ttl() < min_ttl_seconds) request->set_ttl(min_ttl_seconds);
  while (request->id() == 0) {
    request->set_id(static_cast<std::int64_t>(rng() >> 1));  // Positive, 63 bits.
  }
  return util::Status::ok();
}

Command lease_grant_command(const etcdserverpb::LeaseGrantRequest& request) {
  return lease_command(EtcdKind::kLeaseGrant, request.SerializeAsString());
}

Command lease_revoke_command(std::int64_t id, std::uint64_t proposer_term) {
  std::string payload;
  for (int i = 0; i < 8; ++i)
    payload.push_back(static_cast<char>((proposer_term >> (8 * i)) & 0xff));
  etcdserverpb::LeaseRevokeRequest r;
  r.set_id(id);
  payload += r.SerializeAsString();
  return lease_command(EtcdKind::kLeaseRevoke, std::move(payload));
}

Command lease_checkpoint_command(
    const std::vector<std::pair<std::int64_t, std::int64_t>>& remaining) {
  etcdserverpb::LeaseCheckpointRequest r;
  for (const auto& [id, ttl] : remaining) {
    auto* c = r.add_checkpoints();
    c->set_id(id);
    c->set_remaining_ttl(ttl);
  }
  return lease_command(EtcdKind::kLeaseCheckpoint, r.SerializeAsString());
}

bool decode_lease_revoke(std::string_view payload, std::uint64_t* proposer_term, std::int64_t* id) {
  if (payload.size() < 8) return false;
  std::uint64_t term = 0;
  for (int i = 0; i < 8; ++i) {
    term |= static_cast<std::uint64_t>(static_cast<unsigned char>(payload[i])) << (8 * i);
  }
  payload.remove_prefix(8);
  etcdserverpb::LeaseRevokeRequest r;
  if (!r.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) return false;
  *proposer_term = term;
  *id = r.id();
  return true;
}

}  // namespace dkv::kv
