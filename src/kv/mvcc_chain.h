// Following keys' chains of hist records (mvcc_format.h): a key's head
// from kv or dead, and its records back from there through their prev
// links. Internal to kv/.
// Threading: as the transaction passed in.
#pragma once

#include <lmdb.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <string_view>

#include "kv/mvcc_format.h"
#include "kv/mvcc_read.h"
#include "util/status.h"

namespace dkv::kv::mvcc {

// Above every revision: a bound that excludes nothing.
inline constexpr Revision kNoBound{std::numeric_limits<std::int64_t>::max(), 0};

// The key's record at main revision `main` with the highest sub below
// `below`, through the hist cursor `hist` (which it moves). *found false:
// none (compaction removed it). rec's views point into the transaction's
// pages: valid until the next write.
util::Status find_record(MDB_cursor* hist, std::string_view key, std::int64_t main, Revision below,
                         Revision* rev, HistRecord* rec, bool* found);

// The key's newest record at or below revision `at_or_below`, walking back
// from the head at `head_main`: *found false if it has none (the key was
// first written later, or compaction removed what it had).
util::Status newest_at_or_below(MDB_cursor* hist, std::string_view key, std::int64_t head_main,
                                std::int64_t at_or_below, Revision* rev, HistRecord* rec,
                                bool* found);

// A key's head: from kv (live: header and value are its latest version) or
// from dead (a tombstone at `main`).
struct Head {
  std::string_view key;
  std::int64_t main = 0;
  bool live = false;
  KeyHeader header;
  std::string_view value;
};

// Calls fn for the head of each key of `range` in kv or dead, in key
// order, until fn returns false.
using HeadFn = std::function<bool(const Head&)>;
util::Status for_each_head(MDB_txn* txn, const Tables& t, const KeyRange& range, const HeadFn& fn);

// The hist records reachable on the chains from every head (tests: equal
// to hist's entries when the store is sound).
util::Status count_chained(MDB_txn* txn, const Tables& t, std::uint64_t* records);

}  // namespace dkv::kv::mvcc
