#include "kv/mvcc_hash.h"

#include <set>
#include <string>

#include "etcd/mvcc/mvccpb/kv.pb.h"
#include "kv/mvcc_chain.h"
#include "kv/mvcc_request.h"
#include "util/crc32c.h"

namespace dkv::kv::mvcc {
namespace {

util::Status lmdb_error(const char* what, int rc) {
  return {util::Code::kInternal, std::string(what) + ": " + mdb_strerror(rc)};
}

void put_be64(std::string* out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}

// etcd's revToBytes, with markTombstone's 't'.
std::string etcd_rev_bytes(Revision rev, EventType type) {
  std::string out;
  put_be64(&out, static_cast<std::uint64_t>(rev.main));
  out.push_back('_');
  put_be64(&out, static_cast<std::uint64_t>(rev.sub));
  if (type == EventType::kDelete) out.push_back('t');
  return out;
}

std::string etcd_value_bytes(const HistRecord& rec) {
  mvccpb::KeyValue kv;
  kv.set_key(rec.key.data(), rec.key.size());
  if (rec.type == EventType::kPut) {
    kv.set_create_revision(rec.header.create_revision);
    kv.set_mod_revision(rec.header.mod_revision);
    kv.set_version(rec.header.version);
    kv.set_value(rec.value.data(), rec.value.size());
    kv.set_lease(rec.header.lease);
  }
  return kv.SerializeAsString();
}

// etcd's keep set at `rev`: each key's newest record at or below it, if
// that record is a PUT.
util::Status keep_set(MDB_txn* txn, const Tables& t, std::int64_t rev, std::set<Revision>* keep) {
  MDB_cursor* hist = nullptr;
  if (const int rc = mdb_cursor_open(txn, t.hist, &hist); rc != 0) return lmdb_error("hist", rc);
  util::Status walk;
  util::Status s = for_each_head(txn, t, key_range("", std::string(1, '\0')), [&](const Head& h) {
    Revision at;
    HistRecord rec;
    bool found = false;
    walk = newest_at_or_below(hist, h.key, h.main, rev, &at, &rec, &found);
    if (found && rec.type == EventType::kPut) keep->insert(at);
    return walk.is_ok();
  });
  mdb_cursor_close(hist);
  return s.is_ok() ? walk : s;
}

}  // namespace

util::Status hash_kv(MDB_txn* txn, const Tables& t, const Revs& revs, std::int64_t rev,
                     std::uint32_t* hash) {
  if (rev > 0 && rev <= revs.compact) return compacted_error();
  if (rev > revs.current) return future_rev_error();
  if (rev == 0) rev = revs.current;
  std::set<Revision> keep;
  if (auto s = keep_set(txn, t, rev, &keep); !s.is_ok()) return s;
  MDB_cursor* hist = nullptr;
  if (const int rc = mdb_cursor_open(txn, t.hist, &hist); rc != 0) return lmdb_error("hist", rc);
  // Two running CRCs: with etcd's keep set, and with every record at or
  // below the compacted revision (used when the keep set is empty).
  std::uint32_t with_keep = util::crc32c::extend(0, "key", 3);
  std::uint32_t with_all = with_keep;
  const bool keep_empty = keep.empty();
  util::Status s;
  MDB_val k;
  MDB_val v;
  for (int rc = mdb_cursor_get(hist, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(hist, &k, &v, MDB_NEXT)) {
    Revision r;
    HistRecord rec;
    if (!decode_rev_key(as_view(k), &r) || !decode_hist_record(as_view(v), &rec)) {
      s = {util::Code::kDataLoss, "corrupt hist"};
      break;
    }
    if (r.main > rev) break;
    const bool kept = keep.count(r) != 0;
    const std::string key_bytes = etcd_rev_bytes(r, rec.type);
    const std::string value_bytes = etcd_value_bytes(rec);
    auto extend = [&](std::uint32_t crc) {
      crc = util::crc32c::extend(crc, key_bytes.data(), key_bytes.size());
      return util::crc32c::extend(crc, value_bytes.data(), value_bytes.size());
    };
    with_all = extend(with_all);
    if (r.main > revs.compact || kept) with_keep = extend(with_keep);
  }
  mdb_cursor_close(hist);
  if (!s.is_ok()) return s;
  *hash = keep_empty ? with_all : with_keep;
  return util::Status::ok();
}

}  // namespace dkv::kv::mvcc
