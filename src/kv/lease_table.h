// The lease tables of the MVCC engine (mvcc_format.h: `lease` and `lkeys`)
// inside any LMDB transaction: reading a lease and its keys, and the writes
// the apply path makes (grant, checkpoint, delete, attach and detach keys).
// lkeys is MDB_DUPSORT (id -> user key): an id prefix on the key would
// pass LMDB's 511-byte key limit, which is dkv's user key limit.
// Revoking a lease (deleting its keys in one revision) is mvcc::Writer's,
// which records the deletes like any other. Internal to kv/.
// Threading: as the transaction passed in.
#pragma once

#include <lmdb.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "kv/lease.h"
#include "kv/mvcc_format.h"
#include "util/status.h"

namespace dkv::kv::mvcc {

std::string encode_lease_id(std::int64_t id);
std::string encode_lease_value(const LeaseInfo& lease);
bool decode_lease(std::string_view key, std::string_view value, LeaseInfo* out);

// NOT_FOUND if there is no lease `id`.
util::Status read_lease(MDB_txn* txn, const Tables& t, std::int64_t id, LeaseInfo* out);
// Every lease, by id.
util::Status read_leases(MDB_txn* txn, const Tables& t, std::vector<LeaseInfo>* out);
// The keys attached to lease `id`, in key order.
util::Status read_lease_keys(MDB_txn* txn, const Tables& t, std::int64_t id,
                             std::vector<std::string>* out);

util::Status write_lease(MDB_txn* txn, const Tables& t, const LeaseInfo& lease);
util::Status delete_lease(MDB_txn* txn, const Tables& t, std::int64_t id);
// Moves `key` from lease `from` to lease `to` (0: none) in lkeys.
util::Status move_key_lease(MDB_txn* txn, const Tables& t, std::string_view key, std::int64_t from,
                            std::int64_t to);

}  // namespace dkv::kv::mvcc
