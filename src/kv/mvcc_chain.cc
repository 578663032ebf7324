#include "kv/mvcc_chain.h"

#include <string>

#include "kv/mvcc_cursor.h"

namespace dkv::kv::mvcc {
namespace {

util::Status lmdb_error(const char* what, int rc) {
  return util::internal_error(std::string(what) + ": " + mdb_strerror(rc));
}

// Moves `c` (MDB_SET_RANGE: to range.begin); *valid: it is on a key in
// `range`.
int seek(MDB_cursor* c, const KeyRange& range, MDB_val* k, MDB_val* v, MDB_cursor_op op,
         bool* valid) {
  if (op == MDB_SET_RANGE) {
    *k = as_val(range.begin);
    if (range.begin.empty()) op = MDB_FIRST;  // LMDB refuses an empty key.
  }
  const int rc = mdb_cursor_get(c, k, v, op);
  *valid = rc == 0 && range.contains(as_view(*k));
  return rc;
}

}  // namespace

util::Status find_record(MDB_cursor* hist, std::string_view key, std::int64_t main, Revision below,
                         Revision* rev, HistRecord* rec, bool* found) {
  *found = false;
  const std::string start = encode_rev_key({main, 0});
  MDB_val k = as_val(start);
  MDB_val v;
  int rc = mdb_cursor_get(hist, &k, &v, MDB_SET_RANGE);
  for (; rc == 0; rc = mdb_cursor_get(hist, &k, &v, MDB_NEXT)) {
    Revision r;
    if (!decode_rev_key(as_view(k), &r)) return {util::Code::kDataLoss, "corrupt hist key"};
    if (r.main != main || !(r < below)) break;
    HistRecord candidate;
    if (!decode_hist_record(as_view(v), &candidate)) return {util::Code::kDataLoss, "corrupt hist"};
    if (candidate.key != key) continue;
    *rev = r;
    *rec = candidate;
    *found = true;
  }
  if (rc != 0 && rc != MDB_NOTFOUND) return lmdb_error("hist seek", rc);
  return util::Status::ok();
}

util::Status newest_at_or_below(MDB_cursor* hist, std::string_view key, std::int64_t head_main,
                                std::int64_t at_or_below, Revision* rev, HistRecord* rec,
                                bool* found) {
  *found = false;
  Revision below = kNoBound;
  for (std::int64_t main = head_main; main > 0; main = rec->prev) {
    if (auto s = find_record(hist, key, main, below, rev, rec, found); !s.is_ok()) return s;
    if (!*found || rev->main <= at_or_below) return util::Status::ok();
    if (rec->prev >= rev->main && rec->prev != 0) {
      return {util::Code::kDataLoss, "hist link does not go back"};
    }
    below = *rev;
    *found = false;
  }
  return util::Status::ok();
}

// Merges the kv and dead cursors in key order (a key is in at most one).
util::Status for_each_head(MDB_txn* txn, const Tables& t, const KeyRange& range, const HeadFn& fn) {
  Cursor kv(txn, t.kv);
  Cursor dead(txn, t.dead);
  if (kv.open_rc() != 0) return lmdb_error("kv cursor", kv.open_rc());
  if (dead.open_rc() != 0) return lmdb_error("dead cursor", dead.open_rc());
  MDB_val kk, kvv, dk, dv;
  bool kv_valid = false;
  bool dead_valid = false;
  int kv_rc = seek(kv.get(), range, &kk, &kvv, MDB_SET_RANGE, &kv_valid);
  int dead_rc = seek(dead.get(), range, &dk, &dv, MDB_SET_RANGE, &dead_valid);
  while (kv_valid || dead_valid) {
    const bool take_kv = kv_valid && (!dead_valid || as_view(kk) < as_view(dk));
    Head h;
    if (take_kv) {
      h.key = as_view(kk);
      h.live = true;
      if (!decode_kv_value(as_view(kvv), &h.header, &h.value)) {
        return {util::Code::kDataLoss, "corrupt kv"};
      }
      h.main = h.header.mod_revision;
    } else {
      h.key = as_view(dk);
      if (!decode_dead_value(as_view(dv), &h.main)) return {util::Code::kDataLoss, "corrupt dead"};
    }
    if (!fn(h)) return util::Status::ok();
    if (take_kv) {
      kv_rc = seek(kv.get(), range, &kk, &kvv, MDB_NEXT, &kv_valid);
    } else {
      dead_rc = seek(dead.get(), range, &dk, &dv, MDB_NEXT, &dead_valid);
    }
  }
  if (kv_rc != 0 && kv_rc != MDB_NOTFOUND) return lmdb_error("kv scan", kv_rc);
  if (dead_rc != 0 && dead_rc != MDB_NOTFOUND) return lmdb_error("dead scan", dead_rc);
  return util::Status::ok();
}

util::Status count_chained(MDB_txn* txn, const Tables& t, std::uint64_t* records) {
  *records = 0;
  Cursor hist(txn, t.hist);
  if (hist.open_rc() != 0) return lmdb_error("hist cursor", hist.open_rc());
  util::Status status;
  util::Status s = for_each_head(txn, t, key_range("", std::string(1, '\0')), [&](const Head& h) {
    Revision below = kNoBound;
    Revision rev;
    HistRecord rec;
    bool found = false;
    for (std::int64_t main = h.main; main > 0; main = rec.prev) {
      if (status = find_record(hist.get(), h.key, main, below, &rev, &rec, &found);
          !status.is_ok() || !found) {
        break;
      }
      ++*records;
      below = rev;
    }
    return status.is_ok();
  });
  return s.is_ok() ? status : s;
}

}  // namespace dkv::kv::mvcc
