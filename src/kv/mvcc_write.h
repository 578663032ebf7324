// Writes of the MVCC tables (mvcc_format.h) inside the apply path's LMDB
// write transaction, with etcd's revision rules: each request that writes
// gets main = current + 1 and numbers its writes sub = 0, 1, ...; a request
// that writes nothing (a delete of nothing, a failed request, a txn whose
// branch only reads) leaves the revision where it was. Internal to kv/.
// Threading: the thread that owns the write transaction (the apply path).
#pragma once

#include <lmdb.h>

#include <string>
#include <string_view>
#include <vector>

#include "kv/history.h"
#include "kv/lease.h"
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
  Writer(MDB_txn* txn, const Tables& tables, Revs revs) : txn_(txn), t_(tables), revs_(revs) {}
  ~Writer() { close_cursors(); }
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // /v0 Put and Delete: one request each. *deleted: 1 if the key existed.
  util::Status legacy_put(std::string_view key, std::string_view value);
  util::Status legacy_delete(std::string_view key, std::int64_t* deleted);
  // One Op::kEtcd command's payload (mvcc_request.h), from an entry of
  // raft term `entry_term` (lease revokes compare it: kv/lease.h).
  util::Status apply_etcd(std::string_view payload, EtcdResult* out, std::uint64_t entry_term = 0);
  // Records the revision counter in meta and closes the writer's cursors;
  // call once, after the batch and before the transaction commits.
  util::Status finish();

  const Revs& revs() const { return revs_; }
  // Every record the writer makes from now on is also appended to `*out`
  // (the watch hub's feed: kv/history.h). Null: none (the default).
  void capture_history(std::vector<HistoryEvent>* out) { captured_ = out; }
  // An alarm was raised or cleared in this batch (kv/alarms.h).
  bool alarms_changed() const { return alarms_changed_; }
  // What this batch did to leases, in order (kv/lease.h).
  const std::vector<LeaseChange>& lease_changes() const { return lease_changes_; }

 private:
  void begin_request() {
    main_ = revs_.current + 1;
    sub_ = 0;
  }
  // The revision a read inside the current request sees as current.
  std::int64_t visible_rev() const { return sub_ > 0 ? main_ : revs_.current; }
  void end_request() {
    if (sub_ > 0) revs_.current = main_;
  }
  util::Status kv_cursor(MDB_cursor** out);
  void close_cursors();
  // Records one version (or tombstone) of `key` at the current revision in
  // hist, linked to the key's previous record at main revision `prev`.
  util::Status record(EventType type, std::string_view key, const KeyHeader& h,
                      std::string_view value, std::int64_t prev);
  util::Status take_dead_head(std::string_view key, std::int64_t* prev);

  util::Status put(std::string_view key, std::string_view value, std::int64_t lease);
  util::Status remove(std::string_view key, const KeyHeader& old);
  util::Status check_put(const etcdserverpb::PutRequest& r, util::Status* refusal);
  util::Status do_put(const etcdserverpb::PutRequest& r, etcdserverpb::PutResponse* resp);
  util::Status do_delete_range(const etcdserverpb::DeleteRangeRequest& r,
                               etcdserverpb::DeleteRangeResponse* resp);
  util::Status do_range(const etcdserverpb::RangeRequest& r, etcdserverpb::RangeResponse* resp);
  util::Status checked_txn(const etcdserverpb::TxnRequest& r, etcdserverpb::TxnResponse* resp,
                           util::Status* refusal);
  util::Status txn_path(const etcdserverpb::TxnRequest& r, std::vector<bool>* path);
  util::Status check_txn_ops(const etcdserverpb::TxnRequest& r, const std::vector<bool>& path,
                             std::size_t* at, util::Status* refusal);
  util::Status do_txn(const etcdserverpb::TxnRequest& r, const std::vector<bool>& path,
                      std::size_t* at, etcdserverpb::TxnResponse* resp);
  util::Status do_compaction(const etcdserverpb::CompactionRequest& r, EtcdResult* out);
  // Leases (lease_write.cc). `refusal`: etcd's error, nothing written.
  util::Status apply_lease(EtcdKind kind, std::string_view payload, std::uint64_t entry_term,
                           bool* parsed, util::Status* refusal);
  util::Status do_lease_grant(const etcdserverpb::LeaseGrantRequest& r, util::Status* refusal);
  util::Status do_lease_revoke(std::int64_t id, util::Status* refusal);
  util::Status do_lease_checkpoint(const etcdserverpb::LeaseCheckpointRequest& r);

  MDB_txn* txn_;
  const Tables& t_;
  Revs revs_;
  std::int64_t main_ = 0;
  std::int64_t sub_ = 0;
  bool alarms_changed_ = false;
  std::vector<LeaseChange> lease_changes_;
  std::vector<HistoryEvent>* captured_ = nullptr;  // capture_history().
  MDB_cursor* kv_cursor_ = nullptr;                // Opened by the first put, for the batch.
  // Encoding buffers, reused across the batch's writes (no allocation per
  // put once they have grown).
  std::string kv_buf_;
  std::string hist_buf_;
};

// Physical compaction: removes the hist records (and dead entries) that no
// read at or above compact_rev can see, visiting at most `max_records` hist
// records per call, in revision order from meta's compact_done (so it
// resumes after a restart). Each visited record drops the record its link
// names, and itself (with its dead entry) if it is a tombstone: what
// remains at or below compact_rev is each key's newest PUT if the key was
// alive there. *more: records at or below compact_rev remain to visit.
util::Status compact_step(MDB_txn* txn, const Tables& t, std::size_t max_records, bool* more);

}  // namespace dkv::kv::mvcc
