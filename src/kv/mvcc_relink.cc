#include "kv/mvcc_relink.h"

#include <algorithm>

namespace dkv::kv::mvcc {
namespace {

util::Status lmdb_error(const char* what, int rc) {
  const auto code = rc == MDB_MAP_FULL ? util::Code::kResourceExhausted : util::Code::kInternal;
  return {code, std::string(what) + ": " + mdb_strerror(rc)};
}

// Rewrites hist in place, in revision order, with links.
util::Status link_hist(MDB_txn* txn, const Tables& t, Relinker* relinker, std::uint64_t* records) {
  MDB_cursor* c = nullptr;
  int rc = mdb_cursor_open(txn, t.hist, &c);
  if (rc != 0) return lmdb_error("hist cursor", rc);
  util::Status s;
  std::string stored;
  std::string key;
  MDB_val k;
  MDB_val v;
  for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    Revision rev;
    if (!decode_rev_key(as_view(k), &rev) || !relinker->link(rev, as_view(v), &stored)) {
      s = {util::Code::kDataLoss, "corrupt format-2 hist record"};
      break;
    }
    // Copied: a record that grows is moved, and LMDB reads the key it is
    // given after freeing the old node.
    key.assign(as_view(k));
    MDB_val ck = as_val(key);
    MDB_val nv = as_val(stored);
    if (rc = mdb_cursor_put(c, &ck, &nv, MDB_CURRENT); rc != 0) break;
    ++*records;
  }
  mdb_cursor_close(c);
  if (!s.is_ok()) return s;
  if (rc != MDB_NOTFOUND) return lmdb_error("link hist", rc);
  return util::Status::ok();
}

}  // namespace

bool Relinker::link(Revision rev, std::string_view unlinked, std::string* stored) {
  HistRecord rec;
  if (!decode_hist_record(unlinked, &rec, /*linked=*/false)) return false;
  if (any_ && !(last_ < rev)) return false;
  any_ = true;
  last_ = rev;
  Newest& newest = newest_[std::string(rec.key)];
  encode_hist_record(rec.type, rec.key, rec.header, rec.value, newest.main, stored);
  newest = {rev.main, rec.type == EventType::kDelete};
  return true;
}

std::vector<std::pair<std::string, std::int64_t>> Relinker::dead_keys() const {
  std::vector<std::pair<std::string, std::int64_t>> out;
  for (const auto& [key, newest] : newest_) {
    if (newest.deleted) out.emplace_back(key, newest.main);
  }
  std::sort(out.begin(), out.end());
  return out;
}

util::Status migrate_format2(MDB_txn* txn, const Tables& t, std::uint64_t* records,
                             std::uint64_t* dead) {
  *records = 0;
  *dead = 0;
  Relinker relinker;
  if (auto s = link_hist(txn, t, &relinker, records); !s.is_ok()) return s;
  for (const auto& [key, main] : relinker.dead_keys()) {
    const std::string value = encode_dead_value(main);
    MDB_val k = as_val(key);
    MDB_val v = as_val(value);
    if (const int rc = mdb_put(txn, t.dead, &k, &v, MDB_APPEND); rc != 0) {
      return lmdb_error("dead put", rc);
    }
    ++*dead;
  }
  MDB_dbi kidx = 0;
  const int rc = mdb_dbi_open(txn, "kidx", MDB_DUPSORT | MDB_DUPFIXED, &kidx);
  if (rc == MDB_NOTFOUND) return util::Status::ok();
  if (rc != 0) return lmdb_error("open kidx", rc);
  if (const int drop = mdb_drop(txn, kidx, 1); drop != 0) return lmdb_error("drop kidx", drop);
  return util::Status::ok();
}

}  // namespace dkv::kv::mvcc
