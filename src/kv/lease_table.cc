#include "kv/lease_table.h"

#include "kv/mvcc_request.h"

namespace dkv::kv::mvcc {
namespace {

util::Status lmdb_error(const char* what, int rc) {
  const auto code = rc == MDB_MAP_FULL ? util::Code::kResourceExhausted : util::Code::kInternal;
  return {code, std::string(what) + ": " + mdb_strerror(rc)};
}

void put_le64(std::string* out, std::int64_t v) {
  const auto u = static_cast<std::uint64_t>(v);
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((u >> (8 * i)) & 0xff));
}

std::int64_t get_le64(const char* p) {
  std::uint64_t u = 0;
  for (int i = 0; i < 8; ++i) {
    u |= static_cast<std::uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  }
  return static_cast<std::int64_t>(u);
}

std::int64_t get_be64(std::string_view p) {
  std::uint64_t u = 0;
  for (int i = 0; i < 8; ++i) u = (u << 8) | static_cast<unsigned char>(p[i]);
  return static_cast<std::int64_t>(u);
}

}  // namespace

std::string encode_lease_id(std::int64_t id) {
  std::string out;
  const auto u = static_cast<std::uint64_t>(id);
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((u >> (8 * i)) & 0xff));
  return out;
}

std::string encode_lease_value(const LeaseInfo& lease) {
  std::string out;
  put_le64(&out, lease.ttl);
  put_le64(&out, lease.remaining_ttl);
  return out;
}

bool decode_lease(std::string_view key, std::string_view value, LeaseInfo* out) {
  if (key.size() != 8 || value.size() != 16) return false;
  *out = {get_be64(key), get_le64(value.data()), get_le64(value.data() + 8)};
  return true;
}

util::Status read_lease(MDB_txn* txn, const Tables& t, std::int64_t id, LeaseInfo* out) {
  if (id <= 0) return util::not_found(etcd_error::kLeaseNotFound);
  const std::string key = encode_lease_id(id);
  MDB_val k = as_val(key);
  MDB_val v;
  const int rc = mdb_get(txn, t.lease, &k, &v);
  if (rc == MDB_NOTFOUND) return util::not_found(etcd_error::kLeaseNotFound);
  if (rc != 0) return lmdb_error("lease get", rc);
  if (!decode_lease(key, as_view(v), out)) return {util::Code::kDataLoss, "corrupt lease"};
  return util::Status::ok();
}

util::Status read_leases(MDB_txn* txn, const Tables& t, std::vector<LeaseInfo>* out) {
  out->clear();
  MDB_cursor* c = nullptr;
  int rc = mdb_cursor_open(txn, t.lease, &c);
  if (rc != 0) return lmdb_error("lease cursor", rc);
  MDB_val k;
  MDB_val v;
  util::Status s;
  for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    LeaseInfo lease;
    if (!decode_lease(as_view(k), as_view(v), &lease)) {
      s = {util::Code::kDataLoss, "corrupt lease"};
      break;
    }
    out->push_back(lease);
  }
  mdb_cursor_close(c);
  if (!s.is_ok()) return s;
  if (rc != MDB_NOTFOUND) return lmdb_error("lease scan", rc);
  return util::Status::ok();
}

util::Status read_lease_keys(MDB_txn* txn, const Tables& t, std::int64_t id,
                             std::vector<std::string>* out) {
  out->clear();
  const std::string lease_key = encode_lease_id(id);
  MDB_cursor* c = nullptr;
  int rc = mdb_cursor_open(txn, t.lkeys, &c);
  if (rc != 0) return lmdb_error("lkeys cursor", rc);
  MDB_val k = as_val(lease_key);
  MDB_val v;
  for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_KEY); rc == 0;
       rc = mdb_cursor_get(c, &k, &v, MDB_NEXT_DUP)) {
    out->emplace_back(as_view(v));
  }
  mdb_cursor_close(c);
  if (rc != 0 && rc != MDB_NOTFOUND) return lmdb_error("lkeys scan", rc);
  return util::Status::ok();
}

util::Status write_lease(MDB_txn* txn, const Tables& t, const LeaseInfo& lease) {
  const std::string key = encode_lease_id(lease.id);
  const std::string value = encode_lease_value(lease);
  MDB_val k = as_val(key);
  MDB_val v = as_val(value);
  if (const int rc = mdb_put(txn, t.lease, &k, &v, 0); rc != 0) return lmdb_error("lease put", rc);
  return util::Status::ok();
}

util::Status delete_lease(MDB_txn* txn, const Tables& t, std::int64_t id) {
  const std::string key = encode_lease_id(id);
  MDB_val k = as_val(key);
  const int rc = mdb_del(txn, t.lease, &k, nullptr);
  if (rc != 0 && rc != MDB_NOTFOUND) return lmdb_error("lease del", rc);
  return util::Status::ok();
}

util::Status move_key_lease(MDB_txn* txn, const Tables& t, std::string_view key, std::int64_t from,
                            std::int64_t to) {
  if (from == to) return util::Status::ok();
  if (from != 0) {
    const std::string id = encode_lease_id(from);
    MDB_val k = as_val(id);
    MDB_val v = as_val(key);
    const int rc = mdb_del(txn, t.lkeys, &k, &v);
    if (rc != 0 && rc != MDB_NOTFOUND) return lmdb_error("lkeys del", rc);
  }
  if (to != 0) {
    const std::string id = encode_lease_id(to);
    MDB_val k = as_val(id);
    MDB_val v = as_val(key);
    if (const int rc = mdb_put(txn, t.lkeys, &k, &v, 0); rc != 0) {
      return lmdb_error("lkeys put", rc);
    }
  }
  return util::Status::ok();
}

}  // namespace dkv::kv::mvcc
