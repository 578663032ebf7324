// The MVCC engine's on-disk layout (internal to kv/): the LMDB tables and
// the byte encodings of their keys and values. One environment holds:
//
//   kv    user key -> KeyHeader (32 B) | value                 (latest state)
//   hist  RevKey (main u64 BE | sub u32 BE, 12 B) -> HistRecord
//         HistRecord: type (1 B: 1 PUT, 2 DELETE) | varint key length | key |
//                     KeyHeader (32 B) | value (PUT only)
//   kidx  (MDB_DUPSORT|MDB_DUPFIXED) user key -> KidxEntry, ascending:
//         main u64 BE | sub u32 BE | type (1 B) = 13 B
//   meta  "applied_index", "membership" (as in format 1), "rev" (the current
//         main revision), "compact_rev" (reads below it are refused),
//         "compact_done" (a RevKey: physical compaction has processed every
//         hist record up to it), "format" ("2").
//   lease id (u64 BE, 8 B) -> ttl (i64 LE) | remaining_ttl checkpoint (i64 LE)
//   lkeys (MDB_DUPSORT) id (u64 BE) -> user key: the keys attached to it
//
// Invariants (checked by tests, asserted where cheap):
// - every key in kv has its latest version in hist and kidx, with the same
//   KeyHeader; a key's kidx entries are exactly its hist records;
// - hist holds every record above compact_done, and at or below it only the
//   newest PUT <= compact_rev of each key that was alive at compact_rev;
// - compact_done.main <= compact_rev <= rev.
// - a key in kv has KeyHeader.lease L != 0 exactly when lkeys holds (L, key),
//   and then lease holds L (kv/lease_table.h).
// Values live in BOTH kv and hist: a latest read is one B-tree lookup, as
// before the MVCC engine (docs/performance.md has the measurement).
// Integers in KeyHeader are little-endian; RevKeys are big-endian so that
// LMDB's memcmp order is revision order.
// Threading: pure functions.
#pragma once

#include <lmdb.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace dkv::kv::mvcc {

struct Tables {
  MDB_dbi kv = 0;
  MDB_dbi hist = 0;
  MDB_dbi kidx = 0;
  MDB_dbi meta = 0;
  MDB_dbi lease = 0;  // kv/lease_table.h
  MDB_dbi lkeys = 0;
};

// A revision: `main` is the cluster-wide counter a writing request bumps
// once; `sub` numbers that request's writes from 0.
struct Revision {
  std::int64_t main = 0;
  std::int64_t sub = 0;
  auto operator<=>(const Revision&) const = default;
};

// etcd's per-key metadata (mvccpb.KeyValue without key and value).
struct KeyHeader {
  std::int64_t create_revision = 0;
  std::int64_t mod_revision = 0;
  std::int64_t version = 0;  // 1 on create, +1 per put; 0 in a tombstone.
  std::int64_t lease = 0;
};

enum class EventType : std::uint8_t { kPut = 1, kDelete = 2 };

inline constexpr std::size_t kKeyHeaderBytes = 32;
inline constexpr std::size_t kRevKeyBytes = 12;
inline constexpr std::size_t kKidxEntryBytes = 13;

// kv values. The forms with `out` replace its contents (reusing its
// capacity: the apply path encodes into one buffer per batch).
std::string encode_kv_value(const KeyHeader& header, std::string_view value);
void encode_kv_value(const KeyHeader& header, std::string_view value, std::string* out);
// False if `bytes` is shorter than a header.
bool decode_kv_value(std::string_view bytes, KeyHeader* header, std::string_view* value);

// hist keys.
std::string encode_rev_key(Revision rev);
bool decode_rev_key(std::string_view bytes, Revision* rev);

// hist values.
struct HistRecord {
  EventType type = EventType::kPut;
  std::string_view key;
  KeyHeader header;
  std::string_view value;
};
std::string encode_hist_record(EventType type, std::string_view key, const KeyHeader& header,
                               std::string_view value);
void encode_hist_record(EventType type, std::string_view key, const KeyHeader& header,
                        std::string_view value, std::string* out);
bool decode_hist_record(std::string_view bytes, HistRecord* out);

// kidx entries.
std::string encode_kidx_entry(Revision rev, EventType type);
bool decode_kidx_entry(std::string_view bytes, Revision* rev, EventType* type);

inline MDB_val as_val(std::string_view s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }
inline std::string_view as_view(const MDB_val& v) {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}

}  // namespace dkv::kv::mvcc
