// The on-disk format of the WAL and of snapshot files: this comment is the
// spec, the constants below pin it, and the encode/decode helpers are the only
// code that knows the byte layout. Log (log.h) and SnapshotWriter/Reader
// (snapshot_file.h) build on these. No I/O here.
// Threading: pure functions and constants.
//
// ## Data directory (DKV_DB_PATH)
//
//   LOCK                       flock()ed by the one process that owns the dir.
//   wal/NNNNNNNNNNNNNNNNNNNN.wal    a segment; N = its sequence number, 20
//                              decimal digits, so names sort in log order.
//   wal/NNNNNNNNNNNNNNNNNNNN.wal.tmp  the next segment, preallocated ahead of
//                              need; it holds no log data and recovery deletes it.
//   snap/IIIIIIIIIIIIIIIIIIII-TTTTTTTTTTTTTTTTTTTT.snap  a snapshot file for
//                              log index I, term T (20 decimal digits each).
//   snap/*.snap.tmp            a snapshot being written; deleted at start
//                              (remove_snapshot_temp_files).
//
// ## Records
//
// Every file is a sequence of records, each framed as
//
//   +-------------------+------------------+---------+-----------------+
//   | masked_crc: u32le | length: u32le    | type: u8| payload: length |
//   +-------------------+------------------+---------+-----------------+
//
// masked_crc = util::crc32c::mask(CRC32C(type byte || payload)). The length is not
// covered by the CRC: a damaged length makes the CRC check fail (or the record
// run past the end of the file), which recovery treats like any bad record.
// Records are not aligned; a record never spans two files. Type 0 is never
// written, so preallocated zero bytes can never parse as a record: a header of
// nine zero bytes (or fewer, at the very end of the file) marks the end of a
// segment's data.
// Integers are little-endian; a "string" is a u32le length then its bytes.
//
// ## Payloads
//
//   kSegmentHeader  magic u64 | version u32 | seq u64 | cluster_id string |
//                   node_id string
//   kState          hs.term u64 | hs.vote u64 | hs.commit u64 |
//                   marker.index u64 | marker.term u64       (kStatePayloadBytes)
//   kBatch          flags u8 (bit 0: a hard state follows; other bits 0) |
//                   [hs.term u64 | hs.vote u64 | hs.commit u64] |
//                   count u32 | count x (term u64 | index u64 | type u8 |
//                   data string)        (type: 0 normal, 1 conf change)
//   kMarker         index u64 | term u64 | keep_entries u8 (0 or 1)
//                                                            (kMarkerPayloadBytes)
//   kSnapHeader     magic u64 | version u32 | index u64 | term u64 |
//                   membership string
//   kSnapChunk      the payload bytes themselves
//   kSnapTrailer    payload_bytes u64 | chunk_count u64 | masked crc u32
//                                                            (kSnapTrailerPayloadBytes)
// A payload with bytes left over after its fields is malformed.
//
// ## Segments
//
// A segment starts with a kSegmentHeader record (magic, format version,
// sequence number, cluster id, node id), written and fdatasync()ed while the
// file still has its .tmp name; the rename to .wal (followed by an fsync of
// the directory) happens only after the previous segment was fdatasync()ed.
// So every .wal file has a durable header, and every segment but the last
// ends with a complete, durable record followed by zeros.
//
// The second record of a segment is a kState record: the hard state and the
// snapshot marker in force when the segment was started, written alone and
// fdatasync()ed right after the segment got its name, before anything else
// goes in (recovery writes it if it finds the last segment without one). It
// lets compaction delete whole older segments without losing the latest
// hard state or marker, and recovery checks it against the state replayed
// before it.
//
// Then any number of:
//   kBatch   one save() call: optional hard state, then entries with
//            contiguous indexes and non-decreasing terms. A batch whose first
//            index is <= the last index in the log replaces the log from that
//            index on (a follower's conflicting suffix, Raft §5.3).
//   kMarker  save_snapshot_marker(index, term): entries up to `index` are in a
//            snapshot file. If the log holds `index` with that term, the
//            entries after it stay; otherwise the whole log is replaced by the
//            snapshot (an installed snapshot, Raft §7) and restarts at index+1.
//            The record stores that decision (keep_entries), because the
//            entry at `index` may sit in a segment compaction deleted;
//            recovery checks it against the entry where it still has it.
//
// A segment is filled up to segment_size_bytes (16 MiB by default); a batch
// that does not fit goes to the next segment (a batch bigger than a whole
// segment makes that segment bigger than its preallocated size).
//
// ## What a crash leaves, and recovery
//
// A save() writes exactly one record with one write() call; sync() is one
// fdatasync(). The caller syncs before the next save(), so a crash can only
// damage the one record written after the last completed sync, at the end
// of the last segment (with any bytes, even from other sectors of that
// write, after it): a valid record after a damaged one is never a crash.
// Recovery reads the segments in order and verifies every record:
//   * A segment number missing between the first and the last, a bad header
//     (magic, version, number, ids) or a missing kState record in a segment
//     that is not the last: corruption.
//   * In a segment that is not the last, any bad record (CRC mismatch,
//     unknown type, length past the end) or a non-zero byte after the end of
//     its data: corruption.
//   * In the last segment, a bad or partial record is a torn tail if no valid
//     record starts anywhere after it (whatever other bytes follow, up to the
//     end of the file): recovery truncates the file at the bad record,
//     preallocates it again with zeros, fsyncs, and continues. A valid record
//     after a bad one means the damage is not from a torn write: corruption.
//   * A record whose CRC is good but whose payload does not decode, or whose
//     contents break the log's rules (an index gap not covered by a marker, a
//     term going down, a batch overwriting entries below the marker, a kState
//     that disagrees with the replayed state): corruption.
// After recovery, open() fdatasyncs the last segment and fsyncs the
// directory: what it returns may have been written but not synced by a
// process that died, and the node will treat it as durable.
// Corruption is reported as DATA_LOSS naming the file and byte offset; the
// node refuses to start. The documented way out is to wipe that node's data
// directory and let it catch up from the cluster.
//
// ## Snapshot files
//
//   kSnapHeader   magic, format version, index, term, membership (string)
//   kSnapChunk*   payload bytes, in order (each chunk <= kSnapChunkBytesMax)
//   kSnapTrailer  total payload bytes (u64), chunk count (u64), CRC32C of the
//                 whole payload (u32, masked)
// Anything after the trailer is an error. A snapshot file is written under a
// .tmp name, fdatasync()ed, renamed, and the directory fsync()ed, so a .snap
// file is complete unless the disk corrupted it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "raft/types.h"

namespace dkv::wal {

// A snapshot marker: entries up to `index` (of term `term`) live in a snapshot
// file and need not be in the WAL. index 0 means "no snapshot".
struct SnapshotMarker {
  raft::Index index = 0;
  raft::Term term = 0;

  bool operator==(const SnapshotMarker&) const = default;
};

namespace format {

inline constexpr std::uint32_t kFormatVersion = 1;
inline constexpr std::size_t kRecordHeaderSize = 9;  // crc (4) + length (4) + type (1).
static_assert(kRecordHeaderSize == 4 + 4 + 1);
inline constexpr std::size_t kStatePayloadBytes = 40;
static_assert(kStatePayloadBytes == 3 * 8 + 2 * 8);
inline constexpr std::size_t kMarkerPayloadBytes = 17;
static_assert(kMarkerPayloadBytes == 8 + 8 + 1);
inline constexpr std::size_t kSnapTrailerPayloadBytes = 20;
static_assert(kSnapTrailerPayloadBytes == 8 + 8 + 4);

// Limits everything a decoder accepts, so a damaged length cannot make us
// allocate gigabytes. A single batch larger than this is a caller bug.
inline constexpr std::uint32_t kRecordPayloadBytesMax = 512u << 20;
inline constexpr std::uint32_t kIdBytesMax = 256;                // Cluster and node ids.
inline constexpr std::uint32_t kMembershipBytesMax = 16u << 20;  // Snapshot membership blob.
inline constexpr std::uint32_t kSnapChunkBytesMax = 1u << 20;
inline constexpr std::uint64_t kSegmentSizeBytesDefault = 16u << 20;
static_assert(kSegmentSizeBytesDefault <= (16u << 20), "small machines: <= 16 MiB");

// Arbitrary constants that say "this is a dkv segment / snapshot file".
inline constexpr std::uint64_t kSegmentMagic = 0x4c41'5756'4b44'0001ull;
inline constexpr std::uint64_t kSnapshotMagic = 0x504e'5356'4b44'0001ull;

enum class RecordType : std::uint8_t {
  kZero = 0,  // Never written: preallocated space.
  kSegmentHeader = 1,
  kState = 2,
  kBatch = 3,
  kMarker = 4,
  kSnapHeader = 16,
  kSnapChunk = 17,
  kSnapTrailer = 18,
};
bool is_known_type(std::uint8_t type);

inline constexpr std::string_view kWalDirName = "wal";
inline constexpr std::string_view kSnapDirName = "snap";
inline constexpr std::string_view kLockFileName = "LOCK";
inline constexpr std::string_view kSegmentSuffix = ".wal";
inline constexpr std::string_view kSnapSuffix = ".snap";
inline constexpr std::string_view kTmpSuffix = ".tmp";

// "00000000000000000007.wal"; parse returns nullopt for anything else.
std::string segment_file_name(std::uint64_t seq);
std::optional<std::uint64_t> parse_segment_file_name(std::string_view name);
// "000...0100-000...0003.snap"; parse returns nullopt for anything else.
std::string snapshot_file_name(raft::Index index, raft::Term term);
std::optional<SnapshotMarker> parse_snapshot_file_name(std::string_view name);

// ---- Framing -------------------------------------------------------------

// Appends a record to `out`: begin_record() reserves the header and returns
// its position; the caller appends the payload; end_record() fills in length
// and CRC. Lets a batch be encoded in place, with no copy.
std::size_t begin_record(std::string* out);
void end_record(std::string* out, std::size_t record_start, RecordType type);
void append_record(std::string* out, RecordType type, std::string_view payload);

enum class ParseOutcome {
  kOk,       // A valid record: type and payload set, `size` bytes consumed.
  kZero,     // kRecordHeaderSize zero bytes (or fewer, up to the end of the
             // buffer): the end of the written data.
  kPartial,  // Fewer bytes left than the header or the length needs.
  kBad,      // Unknown type, length over the limit, or CRC mismatch.
};

struct ParsedRecord {
  ParseOutcome outcome = ParseOutcome::kBad;
  RecordType type = RecordType::kZero;
  std::string_view payload;  // Points into the parsed buffer.
  std::size_t size = 0;      // Header + payload, when kOk.
  const char* problem = "";  // Why, when kPartial or kBad.
};

// Parses the record that starts at buf[pos]. Never reads outside `buf`.
ParsedRecord parse_record(std::string_view buf, std::size_t pos);

// ---- Payloads ------------------------------------------------------------

struct SegmentHeader {
  std::uint32_t version = kFormatVersion;
  std::uint64_t seq = 0;
  std::string cluster_id;
  std::string node_id;
};

struct StateRecord {
  raft::HardState hard_state;
  SnapshotMarker marker;
};

// A decoded batch; entries are copied out of the buffer.
struct Batch {
  std::optional<raft::HardState> hard_state;
  std::vector<raft::Entry> entries;
};

struct SnapHeader {
  std::uint32_t version = kFormatVersion;
  SnapshotMarker marker;
  std::string membership;
};

struct SnapTrailer {
  std::uint64_t payload_bytes = 0;
  std::uint64_t chunk_count = 0;
  std::uint32_t payload_crc = 0;  // Unmasked CRC32C of the whole payload.
};

void encode_segment_header(const SegmentHeader& h, std::string* out);
void encode_state(const StateRecord& s, std::string* out);
// Appends the payload of a batch (no record framing) to `out`.
void encode_batch(const raft::HardState* hard_state, std::span<const raft::Entry> entries,
                  std::string* out);
std::size_t batch_payload_size(const raft::HardState* hard_state,
                               std::span<const raft::Entry> entries);
void encode_marker(const SnapshotMarker& m, bool keep_entries, std::string* out);
void encode_snap_header(const SnapHeader& h, std::string* out);
void encode_snap_trailer(const SnapTrailer& t, std::string* out);

// Each decoder returns false (and sets *problem) if the payload is malformed:
// too short, trailing bytes, an unknown entry type, a wrong magic.
bool decode_segment_header(std::string_view p, SegmentHeader* out, const char** problem);
bool decode_state(std::string_view p, StateRecord* out, const char** problem);
bool decode_batch(std::string_view p, Batch* out, const char** problem);
bool decode_marker(std::string_view p, SnapshotMarker* out, bool* keep_entries,
                   const char** problem);
bool decode_snap_header(std::string_view p, SnapHeader* out, const char** problem);
bool decode_snap_trailer(std::string_view p, SnapTrailer* out, const char** problem);

}  // namespace format
}  // namespace dkv::wal
