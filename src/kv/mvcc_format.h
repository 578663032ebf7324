// The MVCC engine's on-disk layout (internal to kv/): the LMDB tables and
// the byte encodings of their keys and values. One environment holds:
//
//   kv    user key -> KeyHeader (32 B) | value     (latest state, live keys)
//   hist  RevKey (main u64 BE | sub u32 BE, 12 B) -> HistRecord
//         HistRecord: type (1 B: 1 PUT, 2 DELETE) | varint key length | key |
//                     KeyHeader (32 B) | value (PUT only) | prev (i64 LE, 8 B)
//         prev: the main revision of the key's previous record (0: none),
//         so each key's history is a chain from its newest record back.
//   dead  user key -> tombstone main revision (i64 LE, 8 B): keys whose
//         newest record is a tombstone (deleted keys, so that reads at an
//         older revision still find their chain).
//   meta  "applied_index", "membership" (as in format 1), "rev" (the current
//         main revision), "compact_rev" (reads below it are refused),
//         "compact_done" (a RevKey: physical compaction has processed every
//         hist record up to it), "format" ("3").
//   lease id (u64 BE, 8 B) -> ttl (i64 LE) | remaining_ttl checkpoint (i64 LE)
//   lkeys (MDB_DUPSORT) id (u64 BE) -> user key: the keys attached to it
//
// A key's head is its newest record: for a key in kv, its record at main
// KeyHeader.mod_revision; for a key in dead, its tombstone at the stored
// main. A link (or head) names a main revision only: the record is the
// key's record with the highest sub at that main below the record that
// links to it (a request writes a key at most once, so there is one).
// A put is then a read-modify-write of kv and an append to hist, nothing
// else; a delete also writes dead, a re-put removes the key from dead.
//
// Invariants (checked by tests, asserted where cheap):
// - a key is in at most one of kv and dead; every key in kv has its latest
//   version as its head record in hist with the same KeyHeader; every key
//   in dead has its head tombstone in hist;
// - every hist record lies on exactly one key's chain from its head (a
//   chain ends at prev 0 or at a link whose record compaction removed);
// - hist holds every record above compact_done, and at or below it only the
//   newest PUT <= compact_rev of each key that was alive at compact_rev;
//   dead holds no tombstone at or below compact_done;
// - compact_done.main <= compact_rev <= rev.
// - a key in kv has KeyHeader.lease L != 0 exactly when lkeys holds (L, key),
//   and then lease holds L (kv/lease_table.h).
// Format 2 (before this one) had no links and no dead table but a kidx
// table (DUPSORT user key -> main u64 BE | sub u32 BE | type, 13 B): a
// store opens it by migrating (kv/store.cc). Snapshot images carry hist
// records in format 2's encoding (without prev): the receiver relinks them.
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
  MDB_dbi dead = 0;
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
inline constexpr std::size_t kKidxEntryBytes = 13;  // Format 2's kidx.
inline constexpr std::size_t kLinkBytes = 8;

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
  std::int64_t prev = 0;  // The link; 0: none.
};
std::string encode_hist_record(EventType type, std::string_view key, const KeyHeader& header,
                               std::string_view value, std::int64_t prev);
void encode_hist_record(EventType type, std::string_view key, const KeyHeader& header,
                        std::string_view value, std::int64_t prev, std::string* out);
// `linked` false: format 2's record (no prev; images carry that form,
// which is a stored record without its last kLinkBytes).
bool decode_hist_record(std::string_view bytes, HistRecord* out, bool linked = true);

// dead values.
std::string encode_dead_value(std::int64_t tombstone_main);
bool decode_dead_value(std::string_view bytes, std::int64_t* tombstone_main);

// Format 2's kidx entries (read by the migration only).
std::string encode_kidx_entry(Revision rev, EventType type);
bool decode_kidx_entry(std::string_view bytes, Revision* rev, EventType* type);

inline MDB_val as_val(std::string_view s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }
inline std::string_view as_view(const MDB_val& v) {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}

}  // namespace dkv::kv::mvcc
