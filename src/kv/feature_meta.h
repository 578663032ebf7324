// The committed feature level (kv/feature_level.h) in the store: meta's
// "feature_level" holds it as one varint; absent means kNone (a store from
// before the gate, or one not bootstrapped by DKV_CLUSTER). It only grows:
// Op::kSetFeatureLevel(n) writes max(stored, n). Store images carry it as
// a tagged section (kv/store.cc), written only when it is above kNone.
// Internal to kv/. Threading: the caller's transaction's thread.
#pragma once

#include <lmdb.h>

#include <string>
#include <string_view>

#include "kv/feature_level.h"
#include "kv/mvcc_format.h"
#include "util/status.h"

namespace dkv::kv::mvcc {

inline constexpr char kFeatureLevelKey[] = "feature_level";

std::string encode_feature_level(FeatureLevel level);
// False unless `bytes` is exactly one varint <= UINT32_MAX.
bool decode_feature_level(std::string_view bytes, FeatureLevel* out);

// The level `txn` sees (kNone if the key is absent).
util::Status read_feature_level(MDB_txn* txn, const Tables& t, FeatureLevel* out);
// Records max(stored, level); *after: the level once applied.
util::Status raise_feature_level(MDB_txn* txn, const Tables& t, FeatureLevel level,
                                 FeatureLevel* after);

}  // namespace dkv::kv::mvcc
