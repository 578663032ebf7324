// etcd's HashKV over the MVCC tables (mvcc_format.h): the CRC32C
// (Castagnoli) etcd's store computes in HashByRev (mvcc/kvstore.go), over
// the same bytes: "key" (its bucket's name), then, in revision order, each
// history record's etcd revision key (main u64 BE | '_' | sub u64 BE, and
// 't' for a tombstone) and its mvccpb.KeyValue (a tombstone's holds only
// the key). Records above `rev` are left out; so are records at or below
// the compacted revision unless they are what a compaction at `rev` would
// keep (each key's newest record at or below `rev`, if a put), and when
// no key has one, every such record counts (etcd's "don't skip if there
// isn't one"). So the hash does not depend on how far physical compaction
// got, and members with the same history agree. Internal to kv/.
// Threading: as the transaction passed in.
#pragma once

#include <lmdb.h>

#include <cstdint>

#include "kv/mvcc_format.h"
#include "kv/mvcc_read.h"
#include "util/status.h"

namespace dkv::kv::mvcc {

// `rev` 0: the current revision. Errors, as etcd's HashByRev:
// compacted_error() if 0 < rev <= revs.compact, future_rev_error() if
// rev > revs.current.
util::Status hash_kv(MDB_txn* txn, const Tables& t, const Revs& revs, std::int64_t rev,
                     std::uint32_t* hash);

}  // namespace dkv::kv::mvcc
