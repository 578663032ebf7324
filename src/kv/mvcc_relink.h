// Rebuilding hist's links and the dead table (mvcc_format.h) from records
// in format 2's encoding (without links): a snapshot image's hist section,
// and a format-2 store's hist at open (which also drops its kidx table).
// Internal to kv/.
// Threading: one thread at a time (the restore or the open).
#pragma once

#include <lmdb.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "kv/mvcc_format.h"
#include "util/status.h"

namespace dkv::kv::mvcc {

// Links records that arrive in revision order, remembering each key's
// newest record (memory: one entry per distinct key).
class Relinker {
 public:
  // `unlinked` (format 2's record at `rev`) as stored now: with the link to
  // its key's previous record. False: malformed or out of order.
  bool link(Revision rev, std::string_view unlinked, std::string* stored);
  // The keys whose newest record is a tombstone, in key order, with its
  // main revision: dead's entries.
  std::vector<std::pair<std::string, std::int64_t>> dead_keys() const;

 private:
  struct Newest {
    std::int64_t main = 0;
    bool deleted = false;
  };
  std::unordered_map<std::string, Newest> newest_;
  Revision last_{0, 0};
  bool any_ = false;
};

// A stored record as images carry it (format 2's encoding).
inline std::string_view unlinked_record(std::string_view stored) {
  return stored.substr(0, stored.size() >= kLinkBytes ? stored.size() - kLinkBytes : 0);
}

// Turns a format-2 store into format 3 inside `txn` (the caller sets meta's
// "format"): links every hist record, fills dead, drops the kidx table if
// it exists. *records, *dead: how many, for the caller's log line.
util::Status migrate_format2(MDB_txn* txn, const Tables& t, std::uint64_t* records,
                             std::uint64_t* dead);

}  // namespace dkv::kv::mvcc
