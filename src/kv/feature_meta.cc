#include "kv/feature_meta.h"

#include <algorithm>
#include <cstdint>

#include "util/varint.h"

namespace dkv::kv::mvcc {

std::string encode_feature_level(FeatureLevel level) {
  std::string out;
  util::put_varint(&out, static_cast<std::uint32_t>(level));
  return out;
}

bool decode_feature_level(std::string_view bytes, FeatureLevel* out) {
  std::uint64_t level = 0;
  if (!util::get_varint(&bytes, &level) || !bytes.empty() || level > UINT32_MAX) return false;
  *out = static_cast<FeatureLevel>(level);
  return true;
}

util::Status read_feature_level(MDB_txn* txn, const Tables& t, FeatureLevel* out) {
  *out = FeatureLevel::kNone;
  MDB_val key = as_val(kFeatureLevelKey);
  MDB_val val;
  const int rc = mdb_get(txn, t.meta, &key, &val);
  if (rc == MDB_NOTFOUND) return util::Status::ok();
  if (rc != 0)
    return {util::Code::kInternal, std::string("read feature level: ") + mdb_strerror(rc)};
  if (!decode_feature_level(as_view(val), out)) {
    return {util::Code::kDataLoss, "corrupt feature level in the store"};
  }
  return util::Status::ok();
}

util::Status raise_feature_level(MDB_txn* txn, const Tables& t, FeatureLevel level,
                                 FeatureLevel* after) {
  FeatureLevel stored = FeatureLevel::kNone;
  if (auto s = read_feature_level(txn, t, &stored); !s.is_ok()) return s;
  *after = std::max(stored, level);
  if (*after == stored) return util::Status::ok();  // Never goes down; unchanged.
  const std::string bytes = encode_feature_level(*after);
  MDB_val key = as_val(kFeatureLevelKey);
  MDB_val val = as_val(bytes);
  if (const int rc = mdb_put(txn, t.meta, &key, &val, 0); rc != 0) {
    return {util::Code::kInternal, std::string("write feature level: ") + mdb_strerror(rc)};
  }
  return util::Status::ok();
}

}  // namespace dkv::kv::mvcc
