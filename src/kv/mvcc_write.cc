#include "kv/mvcc_write.h"

#include <cstring>
#include <vector>

#include "kv/alarms.h"
#include "kv/lease_table.h"
#include "kv/mvcc_chain.h"
#include "kv/mvcc_cursor.h"

namespace dkv::kv::mvcc {
namespace {

util::Status lmdb_error(const char* what, int rc) {
  const auto code = rc == MDB_MAP_FULL ? util::Code::kResourceExhausted : util::Code::kInternal;
  return {code, std::string(what) + ": " + mdb_strerror(rc)};
}

util::Status put_val(MDB_txn* txn, MDB_dbi dbi, std::string_view key, std::string_view value,
                     const char* what, unsigned flags = 0) {
  MDB_val k = as_val(key);
  MDB_val v = as_val(value);
  if (const int rc = mdb_put(txn, dbi, &k, &v, flags); rc != 0) return lmdb_error(what, rc);
  return util::Status::ok();
}

util::Status put_meta_int(MDB_txn* txn, MDB_dbi meta, const char* name, std::int64_t v) {
  return put_val(txn, meta, name, std::string_view(reinterpret_cast<const char*>(&v), sizeof v),
                 name);
}

}  // namespace

util::Status Writer::kv_cursor(MDB_cursor** out) {
  if (kv_cursor_ == nullptr) {
    if (const int rc = mdb_cursor_open(txn_, t_.kv, &kv_cursor_); rc != 0) {
      kv_cursor_ = nullptr;
      return lmdb_error("kv cursor", rc);
    }
  }
  *out = kv_cursor_;
  return util::Status::ok();
}

void Writer::close_cursors() {
  if (kv_cursor_ != nullptr) mdb_cursor_close(kv_cursor_);
  kv_cursor_ = nullptr;
}

// Revisions only grow, so hist is appended to (MDB_APPEND: no search, and
// full pages instead of half-full ones after a split); a revision that is
// not the largest fails the batch (MDB_KEYEXIST), a bug. `prev` is the
// main revision of the key's previous record (0: none).
util::Status Writer::record(EventType type, std::string_view key, const KeyHeader& h,
                            std::string_view value, std::int64_t prev) {
  const std::string rk = encode_rev_key({main_, sub_});
  encode_hist_record(type, key, h, value, prev, &hist_buf_);
  if (auto s = put_val(txn_, t_.hist, rk, hist_buf_, "hist put", MDB_APPEND); !s.is_ok()) return s;
  if (captured_ != nullptr) {
    captured_->push_back(HistoryEvent{main_, sub_, type == EventType::kDelete, std::string(key),
                                      std::string(value), h.create_revision, h.mod_revision,
                                      h.version, h.lease});
  }
  return util::Status::ok();
}

// The head of a key absent from kv: its tombstone's main revision if it is
// in dead (which the put about to recreate it removes), else 0.
util::Status Writer::take_dead_head(std::string_view key, std::int64_t* prev) {
  *prev = 0;
  MDB_val k = as_val(key);
  MDB_val v;
  const int rc = mdb_get(txn_, t_.dead, &k, &v);
  if (rc == MDB_NOTFOUND) return util::Status::ok();
  if (rc != 0) return lmdb_error("dead get", rc);
  if (!decode_dead_value(as_view(v), prev)) return {util::Code::kDataLoss, "corrupt dead"};
  if (const int del = mdb_del(txn_, t_.dead, &k, nullptr); del != 0) {
    return lmdb_error("dead del", del);
  }
  return util::Status::ok();
}

// A read-modify-write of the key's kv record through one cursor: the
// lookup positions it, and an overwrite (MDB_CURRENT) needs no second
// search (in place when the size is unchanged). The old header's
// mod_revision is the new record's link.
util::Status Writer::put(std::string_view key, std::string_view value, std::int64_t lease) {
  MDB_cursor* c = nullptr;
  if (auto s = kv_cursor(&c); !s.is_ok()) return s;
  MDB_val k = as_val(key);
  MDB_val old;
  const int found = mdb_cursor_get(c, &k, &old, MDB_SET_KEY);
  KeyHeader h{main_, main_, 0, 0};
  std::int64_t prev = 0;
  if (found == 0) {
    std::string_view old_value;
    if (!decode_kv_value(as_view(old), &h, &old_value))
      return {util::Code::kDataLoss, "corrupt kv"};
    prev = h.mod_revision;
  } else if (found != MDB_NOTFOUND) {
    return lmdb_error("kv get", found);
  } else if (auto s = take_dead_head(key, &prev); !s.is_ok()) {
    return s;
  }
  h.mod_revision = main_;
  h.version += 1;
  if (auto s = move_key_lease(txn_, t_, key, h.lease, lease); !s.is_ok()) return s;
  h.lease = lease;
  encode_kv_value(h, value, &kv_buf_);
  k = as_val(key);
  MDB_val v = as_val(kv_buf_);
  if (const int rc = mdb_cursor_put(c, &k, &v, found == 0 ? MDB_CURRENT : 0); rc != 0) {
    return lmdb_error("kv put", rc);
  }
  util::Status s = record(EventType::kPut, key, h, value, prev);
  ++sub_;
  return s;
}

// The key moves from kv to dead, its tombstone linked to its last version.
util::Status Writer::remove(std::string_view key, const KeyHeader& old) {
  if (auto s = move_key_lease(txn_, t_, key, old.lease, 0); !s.is_ok()) return s;
  MDB_val k = as_val(key);
  if (const int rc = mdb_del(txn_, t_.kv, &k, nullptr); rc != 0) return lmdb_error("kv del", rc);
  if (auto s = put_val(txn_, t_.dead, key, encode_dead_value(main_), "dead put"); !s.is_ok()) {
    return s;
  }
  util::Status s = record(EventType::kDelete, key, KeyHeader{0, main_, 0, 0}, "", old.mod_revision);
  ++sub_;
  return s;
}

util::Status Writer::legacy_put(std::string_view key, std::string_view value) {
  begin_request();
  util::Status s = put(key, value, 0);
  end_request();
  return s;
}

util::Status Writer::legacy_delete(std::string_view key, std::int64_t* deleted) {
  begin_request();
  KeyHeader h;
  std::string_view v;
  util::Status s = get_latest(txn_, t_, key, &h, &v);
  *deleted = s.is_ok() ? 1 : 0;
  if (s.code() == util::Code::kNotFound) return util::Status::ok();
  if (s.is_ok()) s = remove(key, h);
  end_request();
  return s;
}

util::Status Writer::check_put(const etcdserverpb::PutRequest& r, util::Status* refusal) {
  if (r.lease() != 0) {  // etcd: the lease must exist when the put applies.
    LeaseInfo lease;
    util::Status s = read_lease(txn_, t_, r.lease(), &lease);
    if (s.code() == util::Code::kNotFound) {
      *refusal = util::not_found(etcd_error::kLeaseNotFound);
      return util::Status::ok();
    }
    if (!s.is_ok()) return s;
  }
  if (!r.ignore_value() && !r.ignore_lease()) return util::Status::ok();
  KeyHeader h;
  std::string_view v;
  util::Status s = get_latest(txn_, t_, r.key(), &h, &v);
  if (s.code() == util::Code::kNotFound) {
    *refusal = util::invalid_argument(etcd_error::kKeyNotFound);
    return util::Status::ok();
  }
  return s;
}

util::Status Writer::do_put(const etcdserverpb::PutRequest& r, etcdserverpb::PutResponse* resp) {
  KeyHeader h;
  std::string_view old_value;
  util::Status s = get_latest(txn_, t_, r.key(), &h, &old_value);
  const bool existed = s.is_ok();
  if (!existed && s.code() != util::Code::kNotFound) return s;
  std::string value = r.value();
  std::int64_t lease = r.lease();
  if (existed) {
    if (r.ignore_value()) value.assign(old_value);
    if (r.ignore_lease()) lease = h.lease;
    if (r.prev_kv()) {
      auto* prev = resp->mutable_prev_kv();
      prev->set_key(r.key());
      prev->set_create_revision(h.create_revision);
      prev->set_mod_revision(h.mod_revision);
      prev->set_version(h.version);
      prev->set_lease(h.lease);
      prev->set_value(old_value.data(), old_value.size());
    }
  }
  if (s = put(r.key(), value, lease); !s.is_ok()) return s;
  resp->mutable_header()->set_revision(main_);
  return util::Status::ok();
}

util::Status Writer::do_delete_range(const etcdserverpb::DeleteRangeRequest& r,
                                     etcdserverpb::DeleteRangeResponse* resp) {
  std::vector<std::pair<std::string, KeyHeader>> keys;
  util::Status s = for_each_latest(txn_, t_, key_range(r.key(), r.range_end()),
                                   [&](std::string_view k, const KeyHeader& h, std::string_view v) {
                                     keys.emplace_back(k, h);
                                     if (!r.prev_kv()) return true;
                                     auto* kv = resp->add_prev_kvs();
                                     kv->set_key(k.data(), k.size());
                                     kv->set_create_revision(h.create_revision);
                                     kv->set_mod_revision(h.mod_revision);
                                     kv->set_version(h.version);
                                     kv->set_lease(h.lease);
                                     kv->set_value(v.data(), v.size());
                                     return true;
                                   });
  if (!s.is_ok()) return s;
  for (const auto& [k, h] : keys) {
    if (s = remove(k, h); !s.is_ok()) return s;
  }
  resp->set_deleted(static_cast<std::int64_t>(keys.size()));
  resp->mutable_header()->set_revision(keys.empty() ? visible_rev() : main_);
  return util::Status::ok();
}

util::Status Writer::do_range(const etcdserverpb::RangeRequest& r,
                              etcdserverpb::RangeResponse* resp) {
  Revs seen = revs_;
  seen.current = visible_rev();
  return range(txn_, t_, seen, r, resp);
}

// A txn: its checks, the path its compares choose, the checks of the ops on
// that path, then its writes; *refusal is the client's error, if any.
util::Status Writer::checked_txn(const etcdserverpb::TxnRequest& r, etcdserverpb::TxnResponse* resp,
                                 util::Status* refusal) {
  *refusal = check_txn(r);
  if (!refusal->is_ok()) return util::Status::ok();
  std::vector<bool> path;
  if (auto s = txn_path(r, &path); !s.is_ok()) return s;
  std::size_t at = 0;
  if (auto s = check_txn_ops(r, path, &at, refusal); !s.is_ok() || !refusal->is_ok()) return s;
  at = 0;
  return do_txn(r, path, &at, resp);
}

util::Status Writer::apply_etcd(std::string_view payload, EtcdResult* out,
                                std::uint64_t entry_term) {
  *out = EtcdResult{};
  begin_request();
  const auto kind = payload.empty() ? EtcdKind{} : static_cast<EtcdKind>(payload.front());
  if (!payload.empty()) payload.remove_prefix(1);
  util::Status s;
  util::Status refusal;
  bool parsed = false;
  switch (kind) {
    case EtcdKind::kPut: {
      etcdserverpb::PutRequest r;
      if (!(parsed = r.ParseFromArray(payload.data(), static_cast<int>(payload.size())))) break;
      refusal = kv::check_put(r);
      if (refusal.is_ok()) s = check_put(r, &refusal);
      if (s.is_ok() && refusal.is_ok()) s = do_put(r, out->response.mutable_response_put());
      break;
    }
    case EtcdKind::kDeleteRange: {
      etcdserverpb::DeleteRangeRequest r;
      if (!(parsed = r.ParseFromArray(payload.data(), static_cast<int>(payload.size())))) break;
      refusal = check_delete_range(r);
      if (refusal.is_ok()) s = do_delete_range(r, out->response.mutable_response_delete_range());
      break;
    }
    case EtcdKind::kTxn: {
      etcdserverpb::TxnRequest r;
      if (!(parsed = r.ParseFromArray(payload.data(), static_cast<int>(payload.size())))) break;
      s = checked_txn(r, out->response.mutable_response_txn(), &refusal);
      break;
    }
    case EtcdKind::kCompaction: {
      etcdserverpb::CompactionRequest r;
      if (!(parsed = r.ParseFromArray(payload.data(), static_cast<int>(payload.size())))) break;
      s = do_compaction(r, out);
      refusal = out->status;
      break;
    }
    case EtcdKind::kAlarm: {  // No revision: alarms are not keys.
      etcdserverpb::AlarmRequest r;
      if (!(parsed = r.ParseFromArray(payload.data(), static_cast<int>(payload.size())))) break;
      etcdserverpb::AlarmResponse after;
      s = apply_alarm(txn_, t_, r, &after);
      alarms_changed_ = true;
      break;
    }
    case EtcdKind::kLeaseGrant:
    case EtcdKind::kLeaseRevoke:
    case EtcdKind::kLeaseCheckpoint:
      s = apply_lease(kind, payload, entry_term, &parsed, &refusal);
      break;
  }
  if (!parsed) refusal = util::invalid_argument("malformed etcd request in the log");
  if (!s.is_ok()) return s;
  if (!refusal.is_ok()) sub_ = 0;  // Nothing was written: checks come first.
  out->status = refusal;
  end_request();
  out->revision = revs_.current;
  if (out->response.has_response_txn()) {
    out->response.mutable_response_txn()->mutable_header()->set_revision(revs_.current);
  }
  return util::Status::ok();
}

// The branch every txn on the taken path chooses, in pre-order, all
// evaluated against the state before the txn writes (as etcd's
// compareToPath).
util::Status Writer::txn_path(const etcdserverpb::TxnRequest& r, std::vector<bool>* path) {
  bool ok = true;
  for (const auto& c : r.compare()) {
    bool holds = false;
    if (auto s = evaluate_compare(txn_, t_, c, &holds); !s.is_ok()) return s;
    if (!(ok = holds)) break;
  }
  path->push_back(ok);
  for (const auto& op : ok ? r.success() : r.failure()) {
    if (!op.has_request_txn()) continue;
    if (auto s = txn_path(op.request_txn(), path); !s.is_ok()) return s;
  }
  return util::Status::ok();
}

// etcd's checkRequests along the path: range revisions, and puts' leases
// and ignore_* against the state before the txn writes.
util::Status Writer::check_txn_ops(const etcdserverpb::TxnRequest& r, const std::vector<bool>& path,
                                   std::size_t* at, util::Status* refusal) {
  const bool ok = path[(*at)++];
  for (const auto& op : ok ? r.success() : r.failure()) {
    if (op.has_request_range()) {
      const std::int64_t rev = op.request_range().revision();
      if (rev > revs_.current) *refusal = future_rev_error();
      if (rev > 0 && rev < revs_.compact) *refusal = compacted_error();
    } else if (op.has_request_put()) {
      if (auto s = check_put(op.request_put(), refusal); !s.is_ok()) return s;
    } else if (op.has_request_txn()) {
      if (auto s = check_txn_ops(op.request_txn(), path, at, refusal); !s.is_ok()) return s;
    }
    if (!refusal->is_ok()) return util::Status::ok();
  }
  return util::Status::ok();
}

util::Status Writer::do_txn(const etcdserverpb::TxnRequest& r, const std::vector<bool>& path,
                            std::size_t* at, etcdserverpb::TxnResponse* resp) {
  const bool ok = path[(*at)++];
  resp->set_succeeded(ok);
  for (const auto& op : ok ? r.success() : r.failure()) {
    auto* out = resp->add_responses();
    util::Status s;
    if (op.has_request_range()) {
      s = do_range(op.request_range(), out->mutable_response_range());
    } else if (op.has_request_put()) {
      s = do_put(op.request_put(), out->mutable_response_put());
    } else if (op.has_request_delete_range()) {
      s = do_delete_range(op.request_delete_range(), out->mutable_response_delete_range());
    } else if (op.has_request_txn()) {
      s = do_txn(op.request_txn(), path, at, out->mutable_response_txn());
      out->mutable_response_txn()->mutable_header()->set_revision(visible_rev());
    }
    // Checked before any write: a range here cannot be refused.
    if (s.code() == util::Code::kOutOfRange)
      return util::internal_error("txn range: " + s.message());
    if (!s.is_ok()) return s;
  }
  return util::Status::ok();
}

util::Status Writer::do_compaction(const etcdserverpb::CompactionRequest& r, EtcdResult* out) {
  if (r.revision() <= revs_.compact) {
    out->status = compacted_error();
  } else if (r.revision() > revs_.current) {
    out->status = future_rev_error();
  } else {
    revs_.compact = r.revision();
    if (auto s = put_meta_int(txn_, t_.meta, "compact_rev", revs_.compact); !s.is_ok()) return s;
  }
  return util::Status::ok();
}

util::Status Writer::finish() {
  close_cursors();
  return put_meta_int(txn_, t_.meta, "rev", revs_.current);
}

namespace {

util::Status del_hist(MDB_txn* txn, const Tables& t, Revision rev) {
  const std::string rk = encode_rev_key(rev);
  MDB_val hk = as_val(rk);
  if (const int rc = mdb_del(txn, t.hist, &hk, nullptr); rc != 0) return lmdb_error("hist del", rc);
  return util::Status::ok();
}

// The visit of the record (key, rev, prev): the record its link names is
// superseded by it, so no read at or above compact_rev >= rev sees it
// (already gone if it was a tombstone, which its own visit removed); a
// tombstone goes too, with the key's dead entry if it is still the head (a
// later record <= compact_rev does not need it, and a read at compact_rev
// or above sees the key deleted without it). `hist` is a cursor the visit
// may move.
util::Status visit_record(MDB_txn* txn, const Tables& t, MDB_cursor* hist, std::string_view key,
                          Revision rev, EventType type, std::int64_t prev) {
  if (prev != 0) {
    Revision prev_rev;
    HistRecord prev_rec;
    bool found = false;
    if (auto s = find_record(hist, key, prev, rev, &prev_rev, &prev_rec, &found); !s.is_ok()) {
      return s;
    }
    if (found) {
      if (auto s = del_hist(txn, t, prev_rev); !s.is_ok()) return s;
    }
  }
  if (type != EventType::kDelete) return util::Status::ok();
  if (auto s = del_hist(txn, t, rev); !s.is_ok()) return s;
  MDB_val k = as_val(key);
  MDB_val v;
  std::int64_t head = 0;
  int rc = mdb_get(txn, t.dead, &k, &v);
  if (rc == MDB_NOTFOUND) return util::Status::ok();
  if (rc != 0) return lmdb_error("dead get", rc);
  if (!decode_dead_value(as_view(v), &head)) return {util::Code::kDataLoss, "corrupt dead"};
  if (head != rev.main) return util::Status::ok();
  if ((rc = mdb_del(txn, t.dead, &k, nullptr)) != 0) return lmdb_error("dead del", rc);
  return util::Status::ok();
}

}  // namespace

util::Status compact_step(MDB_txn* txn, const Tables& t, std::size_t max_records, bool* more) {
  Revs revs;
  if (auto s = read_revs(txn, t, &revs); !s.is_ok()) return s;
  MDB_val mk = as_val("compact_done");
  MDB_val mv;
  std::string from = encode_rev_key({0, 0});
  if (mdb_get(txn, t.meta, &mk, &mv) == 0) from = std::string(as_view(mv)) + '\0';
  *more = false;
  Cursor hist(txn, t.hist);
  Cursor links(txn, t.hist);
  if (hist.open_rc() != 0) return lmdb_error("hist cursor", hist.open_rc());
  if (links.open_rc() != 0) return lmdb_error("hist cursor", links.open_rc());
  std::string done;
  std::string key;  // Copied: the visit's deletes may move the page it is on.
  for (std::size_t n = 0;; ++n) {
    // Sought afresh each time: the visit deleted records around it.
    MDB_val k = as_val(from);
    MDB_val v;
    const int rc = mdb_cursor_get(hist.get(), &k, &v, MDB_SET_RANGE);
    if (rc != 0 && rc != MDB_NOTFOUND) return lmdb_error("hist scan", rc);
    Revision rev;
    HistRecord rec;
    if (rc != 0 || !decode_rev_key(as_view(k), &rev)) break;
    if (!decode_hist_record(as_view(v), &rec)) return {util::Code::kDataLoss, "corrupt hist"};
    if (rev.main > revs.compact) break;
    if (n == max_records) {
      *more = true;
      break;
    }
    key.assign(rec.key);
    if (auto s = visit_record(txn, t, links.get(), key, rev, rec.type, rec.prev); !s.is_ok()) {
      return s;
    }
    done = encode_rev_key(rev);
    from = done;
    from.push_back('\0');
  }
  if (done.empty()) return util::Status::ok();
  return put_val(txn, t.meta, "compact_done", done, "compact_done");
}

}  // namespace dkv::kv::mvcc
