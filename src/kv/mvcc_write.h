// Writes of the MVCC tables (mvcc_format.h) inside the apply path's LMDB
// write transaction, with etcd's revision rules: each request that writes
// gets main = current + 1 and numbers its writes sub = 0, 1, ...; a request
// that writes nothing (a delete of nothing, a failed request, a txn whose
// branch only reads) leaves the revision where it was. Internal to kv/.
// Threading: the thread that owns the write transaction (the apply path).
#pragma once

#include <lmdb.h>

#include <string_view>

#include "kv/mvcc_format.h"
#include "kv/mvcc_read.h"
#include "kv/mvcc_request.h"
#include "util/status.h"

namespace dkv::kv::mvcc {

// One batch's writer. A non-OK return of any method is an LMDB failure: the
// caller aborts the whole transaction. etcd's own errors (a deterministic
// refusal that wrote nothing) go in EtcdResult::status instead.
class Writer {
 public:
  // history_revisions_max > 0: after each request, compact_rev follows
  // current - history_revisions_max (etcd's revision auto-compaction,
  // applied per request so that every replica computes the same).
  Writer(MDB_txn* txn, const Tables& tables, Revs revs, std::int64_t history_revisions_max = 0)
      : txn_(txn), t_(tables), revs_(revs), history_revisions_max_(history_revisions_max) {}
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // /v0 Put and Delete: one request each. *deleted: 1 if the key existed.
  util::Status legacy_put(std::string_view key, std::string_view value);
  util::Status legacy_delete(std::string_view key, std::int64_t* deleted);
  // One Op::kEtcd command's payload (mvcc_request.h).
  util::Status apply_etcd(std::string_view payload, EtcdResult* out);
  // Records the revision counter in meta; call once, after the batch.
  util::Status finish();

  const Revs& revs() const { return revs_; }
  // An alarm was raised or cleared in this batch (kv/alarms.h).
  bool alarms_changed() const { return alarms_changed_; }

 private:
  void begin_request() {
    main_ = revs_.current + 1;
    sub_ = 0;
  }
  // The revision a read inside the current request sees as current.
  std::int64_t visible_rev() const { return sub_ > 0 ? main_ : revs_.current; }
  void end_request() {
    if (sub_ > 0) revs_.current = main_;
    if (history_revisions_max_ > 0 && revs_.current - revs_.compact > history_revisions_max_) {
      revs_.compact = revs_.current - history_revisions_max_;
      compact_moved_ = true;
    }
  }

  util::Status put(std::string_view key, std::string_view value, std::int64_t lease);
  util::Status remove(std::string_view key, const KeyHeader& old);
  util::Status check_put(const etcdserverpb::PutRequest& r, util::Status* refusal);
  util::Status do_put(const etcdserverpb::PutRequest& r, etcdserverpb::PutResponse* resp);
  util::Status do_delete_range(const etcdserverpb::DeleteRangeRequest& r,
                               etcdserverpb::DeleteRangeResponse* resp);
  util::Status do_range(const etcdserverpb::RangeRequest& r, etcdserverpb::RangeResponse* resp);
  util::Status txn_path(const etcdserverpb::TxnRequest& r, std::vector<bool>* path);
  util::Status check_txn_ops(const etcdserverpb::TxnRequest& r, const std::vector<bool>& path,
                             std::size_t* at, util::Status* refusal);
  util::Status do_txn(const etcdserverpb::TxnRequest& r, const std::vector<bool>& path,
                      std::size_t* at, etcdserverpb::TxnResponse* resp);
  util::Status do_compaction(const etcdserverpb::CompactionRequest& r, EtcdResult* out);

  MDB_txn* txn_;
  const Tables& t_;
  Revs revs_;
  const std::int64_t history_revisions_max_;
  std::int64_t main_ = 0;
  std::int64_t sub_ = 0;
  bool compact_moved_ = false;  // By end_request(): finish() records it.
  bool alarms_changed_ = false;
};

// Physical compaction: removes hist and kidx records that no read at or
// above compact_rev can see, at most `max_records` of them per call, in
// revision order from meta's compact_done (so it resumes after a restart).
// Keeps each key's newest PUT <= compact_rev if the key was alive there.
// *more: records below compact_rev remain.
util::Status compact_step(MDB_txn* txn, const Tables& t, std::size_t max_records, bool* more);

}  // namespace dkv::kv::mvcc
