#include "kv/mvcc_read.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "kv/mvcc_chain.h"
#include "kv/mvcc_cursor.h"
#include "kv/mvcc_request.h"

namespace dkv::kv::mvcc {
namespace {

util::Status lmdb_error(const char* what, int rc) {
  return util::internal_error(std::string(what) + ": " + mdb_strerror(rc));
}

std::int64_t meta_int(MDB_txn* txn, MDB_dbi meta, const char* name, std::int64_t missing) {
  MDB_val key = as_val(name);
  MDB_val val;
  if (mdb_get(txn, meta, &key, &val) != 0 || val.mv_size != sizeof(std::int64_t)) return missing;
  std::int64_t v = 0;
  std::memcpy(&v, val.mv_data, sizeof v);
  return v;
}

void fill_kv(std::string_view key, const KeyHeader& h, std::string_view value, bool keys_only,
             mvccpb::KeyValue* kv) {
  kv->set_key(key.data(), key.size());
  kv->set_create_revision(h.create_revision);
  kv->set_mod_revision(h.mod_revision);
  kv->set_version(h.version);
  kv->set_lease(h.lease);
  if (!keys_only) kv->set_value(value.data(), value.size());
}

// Walks the keys of `range` alive at revision `rev` (< current): the
// heads in kv and dead in key order, each followed back through its chain
// when it is newer than `rev`; fn gets each key's version at `rev`.
util::Status for_each_at(MDB_txn* txn, const Tables& t, const KeyRange& range, std::int64_t rev,
                         const LatestFn& fn) {
  Cursor hist(txn, t.hist);
  if (hist.open_rc() != 0) return lmdb_error("hist cursor", hist.open_rc());
  util::Status walk;
  util::Status s = for_each_head(txn, t, range, [&](const Head& h) {
    if (h.main <= rev) return h.live ? fn(h.key, h.header, h.value) : true;
    Revision at;
    HistRecord rec;
    bool found = false;
    walk = newest_at_or_below(hist.get(), h.key, h.main, rev, &at, &rec, &found);
    if (!walk.is_ok()) return false;
    if (found && rec.type == EventType::kPut) return fn(h.key, rec.header, rec.value);
    return true;
  });
  return s.is_ok() ? walk : s;
}

bool sort_less(const mvccpb::KeyValue& a, const mvccpb::KeyValue& b,
               etcdserverpb::RangeRequest::SortTarget target) {
  using R = etcdserverpb::RangeRequest;
  switch (target) {
    case R::KEY:
      return a.key() < b.key();
    case R::VERSION:
      return a.version() < b.version();
    case R::CREATE:
      return a.create_revision() < b.create_revision();
    case R::MOD:
      return a.mod_revision() < b.mod_revision();
    case R::VALUE:
      return a.value() < b.value();
    default:
      return false;
  }
}

bool has_filters(const etcdserverpb::RangeRequest& r) {
  return r.min_mod_revision() != 0 || r.max_mod_revision() != 0 || r.min_create_revision() != 0 ||
         r.max_create_revision() != 0;
}

bool filtered_out(const etcdserverpb::RangeRequest& r, const KeyHeader& h) {
  if (r.max_mod_revision() != 0 && h.mod_revision > r.max_mod_revision()) return true;
  if (r.min_mod_revision() != 0 && h.mod_revision < r.min_mod_revision()) return true;
  if (r.max_create_revision() != 0 && h.create_revision > r.max_create_revision()) return true;
  if (r.min_create_revision() != 0 && h.create_revision < r.min_create_revision()) return true;
  return false;
}

// Sorts and truncates as etcd's applier: a sort target other than KEY
// without an order means ASCEND.
void sort_and_limit(const etcdserverpb::RangeRequest& r, etcdserverpb::RangeResponse* resp) {
  using R = etcdserverpb::RangeRequest;
  auto order = r.sort_order();
  if (r.sort_target() != R::KEY && order == R::NONE) order = R::ASCEND;
  auto* kvs = resp->mutable_kvs();
  if (order != R::NONE) {
    const auto target = r.sort_target();
    if (order == R::ASCEND) {
      std::stable_sort(kvs->begin(), kvs->end(),
                       [target](const auto& a, const auto& b) { return sort_less(a, b, target); });
    } else {
      std::stable_sort(kvs->begin(), kvs->end(),
                       [target](const auto& a, const auto& b) { return sort_less(b, a, target); });
    }
  }
  if (r.limit() > 0 && kvs->size() > r.limit()) {
    kvs->DeleteSubrange(static_cast<int>(r.limit()), kvs->size() - static_cast<int>(r.limit()));
    resp->set_more(true);
  }
  if (r.keys_only()) {
    for (auto& kv : *kvs) kv.clear_value();
  }
}

int compare_ints(std::int64_t a, std::int64_t b) { return a < b ? -1 : (a > b ? 1 : 0); }

bool compare_holds(const etcdserverpb::Compare& c, std::string_view value, const KeyHeader& h) {
  using C = etcdserverpb::Compare;
  int cmp = 0;
  switch (c.target()) {
    case C::VALUE:
      cmp = value.compare(c.value());
      break;
    case C::CREATE:
      cmp = compare_ints(h.create_revision, c.create_revision());
      break;
    case C::MOD:
      cmp = compare_ints(h.mod_revision, c.mod_revision());
      break;
    case C::VERSION:
      cmp = compare_ints(h.version, c.version());
      break;
    case C::LEASE:
      cmp = compare_ints(h.lease, c.lease());
      break;
    default:
      return false;
  }
  switch (c.result()) {
    case C::EQUAL:
      return cmp == 0;
    case C::NOT_EQUAL:
      return cmp != 0;
    case C::GREATER:
      return cmp > 0;
    case C::LESS:
      return cmp < 0;
    default:
      return false;
  }
}

}  // namespace

util::Status read_revs(MDB_txn* txn, const Tables& t, Revs* out) {
  out->current = meta_int(txn, t.meta, "rev", 1);
  out->compact = meta_int(txn, t.meta, "compact_rev", 0);
  return util::Status::ok();
}

bool KeyRange::contains(std::string_view key) const {
  if (key < begin) return false;
  return end.empty() || key < end;
}

KeyRange key_range(const std::string& key, const std::string& range_end) {
  KeyRange r;
  r.begin = key;
  if (range_end.empty()) {
    r.single = true;
    r.end = key + '\0';
  } else if (range_end != std::string(1, '\0')) {
    r.end = range_end;
    if (r.end <= r.begin) r.end = r.begin;  // Empty: nothing is in [b, e) when e <= b.
  }
  return r;
}

util::Status get_latest(MDB_txn* txn, const Tables& t, std::string_view key, KeyHeader* header,
                        std::string_view* value) {
  MDB_val k = as_val(key);
  MDB_val v;
  const int rc = mdb_get(txn, t.kv, &k, &v);
  if (rc == MDB_NOTFOUND) return util::not_found("key not found");
  if (rc != 0) return lmdb_error("mdb_get", rc);
  if (!decode_kv_value(as_view(v), header, value)) return {util::Code::kDataLoss, "corrupt kv"};
  return util::Status::ok();
}

util::Status for_each_latest(MDB_txn* txn, const Tables& t, const KeyRange& range,
                             const LatestFn& fn) {
  if (range.single) {
    KeyHeader h;
    std::string_view v;
    util::Status s = get_latest(txn, t, range.begin, &h, &v);
    if (s.code() == util::Code::kNotFound) return util::Status::ok();
    if (!s.is_ok()) return s;
    fn(range.begin, h, v);
    return util::Status::ok();
  }
  Cursor c(txn, t.kv);
  if (c.open_rc() != 0) return lmdb_error("kv cursor", c.open_rc());
  MDB_val k = as_val(range.begin);
  MDB_val v;
  int rc = mdb_cursor_get(c.get(), &k, &v, MDB_SET_RANGE);
  for (; rc == 0; rc = mdb_cursor_get(c.get(), &k, &v, MDB_NEXT)) {
    if (!range.contains(as_view(k))) break;
    KeyHeader h;
    std::string_view value;
    if (!decode_kv_value(as_view(v), &h, &value)) return {util::Code::kDataLoss, "corrupt kv"};
    if (!fn(as_view(k), h, value)) return util::Status::ok();
  }
  if (rc != 0 && rc != MDB_NOTFOUND) return lmdb_error("kv scan", rc);
  return util::Status::ok();
}

util::Status range(MDB_txn* txn, const Tables& t, const Revs& revs,
                   const etcdserverpb::RangeRequest& r, etcdserverpb::RangeResponse* resp) {
  resp->mutable_header()->set_revision(revs.current);
  std::int64_t rev = r.revision();
  if (rev > revs.current) return future_rev_error();
  if (rev <= 0) rev = revs.current;
  if (rev < revs.compact) return compacted_error();
  // What etcd's applier asks of its mvcc layer: every key when it filters
  // or sorts, else limit + 1 (to learn `more`).
  std::int64_t fetch = 0;
  if (r.sort_order() == etcdserverpb::RangeRequest::NONE && !has_filters(r) && r.limit() > 0) {
    fetch = r.limit() + 1;
  }
  if (r.sort_target() != etcdserverpb::RangeRequest::KEY) fetch = 0;
  std::int64_t count = 0;
  auto fn = [&](std::string_view key, const KeyHeader& h, std::string_view value) {
    ++count;
    if (r.count_only() || (fetch > 0 && resp->kvs_size() >= fetch)) return true;
    if (filtered_out(r, h)) return true;
    // Sorting by value needs the values: keys_only drops them after.
    fill_kv(key, h, value, r.keys_only() && r.sort_target() != etcdserverpb::RangeRequest::VALUE,
            resp->add_kvs());
    return true;
  };
  const KeyRange kr = key_range(r.key(), r.range_end());
  util::Status s =
      rev == revs.current ? for_each_latest(txn, t, kr, fn) : for_each_at(txn, t, kr, rev, fn);
  if (!s.is_ok()) return s;
  resp->set_count(count);
  sort_and_limit(r, resp);
  return util::Status::ok();
}

util::Status evaluate_compare(MDB_txn* txn, const Tables& t, const etcdserverpb::Compare& c,
                              bool* holds) {
  bool any = false;
  bool all = true;
  util::Status s = for_each_latest(txn, t, key_range(c.key(), c.range_end()),
                                   [&](std::string_view, const KeyHeader& h, std::string_view v) {
                                     any = true;
                                     all = compare_holds(c, v, h);
                                     return all;
                                   });
  if (!s.is_ok()) return s;
  if (any) {
    *holds = all;
  } else {
    *holds = c.target() != etcdserverpb::Compare::VALUE && compare_holds(c, "", KeyHeader{});
  }
  return util::Status::ok();
}

}  // namespace dkv::kv::mvcc

namespace dkv::kv::mvcc {

util::Status read_only_txn(MDB_txn* txn, const Tables& t, const Revs& revs,
                           const etcdserverpb::TxnRequest& r, etcdserverpb::TxnResponse* resp) {
  bool ok = true;
  for (const auto& c : r.compare()) {
    if (auto s = evaluate_compare(txn, t, c, &ok); !s.is_ok()) return s;
    if (!ok) break;
  }
  resp->set_succeeded(ok);
  resp->mutable_header()->set_revision(revs.current);
  for (const auto& op : ok ? r.success() : r.failure()) {
    auto* out = resp->add_responses();
    util::Status s;
    if (op.has_request_range()) {
      s = range(txn, t, revs, op.request_range(), out->mutable_response_range());
    } else if (op.has_request_txn()) {
      s = read_only_txn(txn, t, revs, op.request_txn(), out->mutable_response_txn());
    }
    if (!s.is_ok()) return s;
  }
  return util::Status::ok();
}

}  // namespace dkv::kv::mvcc
