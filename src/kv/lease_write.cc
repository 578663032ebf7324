// mvcc::Writer's lease entries (kv/lease.h): grant, revoke (the lease's
// keys deleted in one revision, through the same writes as a DeleteRange,
// so that history and watches see them), checkpoint.
#include "kv/lease_table.h"
#include "kv/mvcc_write.h"

namespace dkv::kv::mvcc {

util::Status Writer::apply_lease(EtcdKind kind, std::string_view payload, std::uint64_t entry_term,
                                 bool* parsed, util::Status* refusal) {
  switch (kind) {
    case EtcdKind::kLeaseGrant: {
      etcdserverpb::LeaseGrantRequest r;
      if (!(*parsed = r.ParseFromArray(payload.data(), static_cast<int>(payload.size())))) break;
      return do_lease_grant(r, refusal);
    }
    case EtcdKind::kLeaseRevoke: {
      std::uint64_t proposer_term = 0;
      std::int64_t id = 0;
      if (!(*parsed = decode_lease_revoke(payload, &proposer_term, &id))) break;
      if (proposer_term != 0 && proposer_term != entry_term) {
        // Decided by a leader of another term (kv/lease.h): not this log's.
        *refusal =
            util::Status(util::Code::kFailedPrecondition,
                         "lease revoke proposed in term " + std::to_string(proposer_term) +
                             " committed in term " + std::to_string(entry_term) + ": ignored");
        return util::Status::ok();
      }
      return do_lease_revoke(id, refusal);
    }
    case EtcdKind::kLeaseCheckpoint: {
      etcdserverpb::LeaseCheckpointRequest r;
      if (!(*parsed = r.ParseFromArray(payload.data(), static_cast<int>(payload.size())))) break;
      return do_lease_checkpoint(r);
    }
    default:
      break;
  }
  return util::Status::ok();
}

util::Status Writer::do_lease_grant(const etcdserverpb::LeaseGrantRequest& r,
                                    util::Status* refusal) {
  if (r.id() <= 0) {
    *refusal = util::invalid_argument("etcdserver: lease ID must be positive");
    return util::Status::ok();
  }
  if (r.ttl() > kLeaseTtlMax) {
    *refusal = util::Status(util::Code::kOutOfRange, etcd_error::kLeaseTtlTooLarge);
    return util::Status::ok();
  }
  LeaseInfo existing;
  util::Status s = read_lease(txn_, t_, r.id(), &existing);
  if (s.is_ok()) {
    *refusal = util::Status(util::Code::kFailedPrecondition, etcd_error::kLeaseExists);
    return util::Status::ok();
  }
  if (s.code() != util::Code::kNotFound) return s;
  const LeaseInfo lease{r.id(), r.ttl(), 0};
  if (s = write_lease(txn_, t_, lease); !s.is_ok()) return s;
  lease_changes_.push_back({LeaseChange::Kind::kGranted, lease});
  return util::Status::ok();
}

util::Status Writer::do_lease_revoke(std::int64_t id, util::Status* refusal) {
  LeaseInfo lease;
  util::Status s = read_lease(txn_, t_, id, &lease);
  if (s.code() == util::Code::kNotFound) {
    *refusal = util::not_found(etcd_error::kLeaseNotFound);
    return util::Status::ok();
  }
  if (!s.is_ok()) return s;
  std::vector<std::string> keys;
  if (s = read_lease_keys(txn_, t_, id, &keys); !s.is_ok()) return s;
  for (const std::string& key : keys) {  // All in this request's revision.
    KeyHeader h;
    std::string_view value;
    if (s = get_latest(txn_, t_, key, &h, &value); !s.is_ok()) {
      return {util::Code::kDataLoss, "lease " + std::to_string(id) + " lists a missing key"};
    }
    if (s = remove(key, h); !s.is_ok()) return s;
  }
  if (s = delete_lease(txn_, t_, id); !s.is_ok()) return s;
  lease_changes_.push_back({LeaseChange::Kind::kRevoked, LeaseInfo{id, 0, 0}});
  return util::Status::ok();
}

util::Status Writer::do_lease_checkpoint(const etcdserverpb::LeaseCheckpointRequest& r) {
  for (const auto& cp : r.checkpoints()) {
    LeaseInfo lease;
    util::Status s = read_lease(txn_, t_, cp.id(), &lease);
    if (s.code() == util::Code::kNotFound) continue;  // Revoked since.
    if (!s.is_ok()) return s;
    const std::int64_t remaining = cp.remaining_ttl();
    lease.remaining_ttl = remaining <= 0 || remaining >= lease.ttl ? 0 : remaining;
    if (s = write_lease(txn_, t_, lease); !s.is_ok()) return s;
    lease_changes_.push_back({LeaseChange::Kind::kCheckpointed, lease});
  }
  return util::Status::ok();
}

}  // namespace dkv::kv::mvcc
