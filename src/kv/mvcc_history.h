// Reads hist (mvcc_format.h) by revision for watchers catching up
// (kv/history.h). Internal to kv/.
// Threading: as the transaction passed in.
#pragma once

#include <lmdb.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kv/history.h"
#include "kv/mvcc_format.h"
#include "util/status.h"

namespace dkv::kv::mvcc {

// Appends to *out the records with from_rev <= main <= to_rev, in order,
// whole revisions only: it stops before a revision that starts once more
// than max_bytes of keys and values were read (at least one revision is
// read whatever its size). *through: every record up to this main revision
// was read (to_rev if the scan reached it or the end of hist).
util::Status read_history(MDB_txn* txn, const Tables& t, std::int64_t from_rev, std::int64_t to_rev,
                          std::size_t max_bytes, std::vector<HistoryEvent>* out,
                          std::int64_t* through);

}  // namespace dkv::kv::mvcc
