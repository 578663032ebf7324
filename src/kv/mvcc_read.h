// Reads of the MVCC tables (mvcc_format.h) inside any LMDB transaction: a
// read-only one (Store::range, off the raft thread) or the apply path's
// write transaction (ranges and compares inside a txn see its earlier
// writes). Internal to kv/.
// Threading: as the transaction passed in.
#pragma once

#include <lmdb.h>

#include <functional>
#include <string>
#include <string_view>

#include "etcd/etcdserver/etcdserverpb/rpc.pb.h"
#include "kv/mvcc_format.h"
#include "util/status.h"

namespace dkv::kv::mvcc {

// The revision counters a transaction sees.
struct Revs {
  std::int64_t current = 1;  // etcd's store starts at revision 1.
  std::int64_t compact = 0;
};
util::Status read_revs(MDB_txn* txn, const Tables& t, Revs* out);

// A key interval as etcd's requests give it: range_end empty means the key
// alone; "\0" means every key >= key.
struct KeyRange {
  std::string begin;
  std::string end;  // Exclusive; empty: no upper bound.
  bool single = false;
  bool contains(std::string_view key) const;
};
KeyRange key_range(const std::string& key, const std::string& range_end);

// The latest version of `key`: NOT_FOUND if absent.
util::Status get_latest(MDB_txn* txn, const Tables& t, std::string_view key, KeyHeader* header,
                        std::string_view* value);

// Calls fn(key, header, value) for each live key of `range` in key order,
// at the latest revision, until fn returns false.
using LatestFn = std::function<bool(std::string_view, const KeyHeader&, std::string_view)>;
util::Status for_each_latest(MDB_txn* txn, const Tables& t, const KeyRange& range,
                             const LatestFn& fn);

// etcd's Range, applied as etcd's applier does (filters, sort, limit, more,
// count = keys in range at the revision before filters). `revs` are the
// counters the transaction sees; *header_rev gets the response revision.
// Errors: compacted_error(), future_rev_error() (mvcc_request.h).
util::Status range(MDB_txn* txn, const Tables& t, const Revs& revs,
                   const etcdserverpb::RangeRequest& request,
                   etcdserverpb::RangeResponse* response);

// etcd's applyCompare over the latest state: every key in the compare's
// range must satisfy it; an absent key compares as zeros (and a VALUE
// compare on no key fails).
util::Status evaluate_compare(MDB_txn* txn, const Tables& t, const etcdserverpb::Compare& compare,
                              bool* holds);

}  // namespace dkv::kv::mvcc

namespace dkv::kv::mvcc {

// A txn that writes nothing, in a read transaction: compares, then the
// chosen branch's ranges (and nested read-only txns). A range's error
// (compacted, future revision) fails the whole txn, as in etcd.
util::Status read_only_txn(MDB_txn* txn, const Tables& t, const Revs& revs,
                           const etcdserverpb::TxnRequest& request,
                           etcdserverpb::TxnResponse* response);

}  // namespace dkv::kv::mvcc
