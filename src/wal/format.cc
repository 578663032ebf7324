// Byte layout of WAL and snapshot records (spec in format.h). Pure code.
#include "wal/format.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "util/assert.h"
#include "util/crc32c.h"

namespace dkv::wal::format {
namespace {

void put_u8(std::string* out, std::uint8_t v) { out->push_back(static_cast<char>(v)); }

void put_u32(std::string* out, std::uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out->append(b, 4);
}

void put_u64(std::string* out, std::uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out->append(b, 8);
}

void put_string(std::string* out, std::string_view s) {
  DKV_ASSERT(s.size() <= kRecordPayloadBytesMax);
  put_u32(out, static_cast<std::uint32_t>(s.size()));
  out->append(s);
}

std::uint32_t load_u32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i)
    v |= static_cast<std::uint32_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

void store_u32(char* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}

// Reads fixed-width fields from a payload; every read checks bounds and a
// failed read sticks, so decoders check ok() once at the end.
class Reader {
 public:
  explicit Reader(std::string_view p) : p_(p) {}
  bool ok() const { return ok_; }
  bool done() const { return ok_ && pos_ == p_.size(); }
  std::uint8_t u8() {
    if (!need(1)) return 0;
    return static_cast<std::uint8_t>(p_[pos_++]);
  }
  std::uint32_t u32() {
    if (!need(4)) return 0;
    const std::uint32_t v = load_u32(p_.data() + pos_);
    pos_ += 4;
    return v;
  }
  std::uint64_t u64() {
    const std::uint64_t lo = u32();
    const std::uint64_t hi = u32();
    return lo | (hi << 32);
  }
  std::string_view bytes(std::uint32_t max_bytes) {
    const std::uint32_t n = u32();
    if (n > max_bytes) ok_ = false;
    if (!need(n)) return {};
    std::string_view v = p_.substr(pos_, n);
    pos_ += n;
    return v;
  }

 private:
  bool need(std::size_t n) {
    if (!ok_ || p_.size() - pos_ < n) {
      ok_ = false;
      return false;
    }
    return true;
  }
  std::string_view p_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

void put_hard_state(std::string* out, const raft::HardState& hs) {
  put_u64(out, hs.term);
  put_u64(out, hs.vote);
  put_u64(out, hs.commit);
}

raft::HardState read_hard_state(Reader& r) {
  raft::HardState hs;
  hs.term = r.u64();
  hs.vote = r.u64();
  hs.commit = r.u64();
  return hs;
}

constexpr std::size_t kHardStateBytes = 24;
constexpr std::size_t kEntryFixedBytes = 8 + 8 + 1 + 4;  // term, index, type, data length.

bool finish(Reader& r, const char** problem) {
  if (!r.ok()) {
    *problem = "payload too short";
    return false;
  }
  if (!r.done()) {
    *problem = "trailing bytes in payload";
    return false;
  }
  return true;
}

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

std::optional<std::uint64_t> parse_u64(std::string_view s) {
  if (s.size() != 20 || !all_digits(s)) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    const std::uint64_t d = static_cast<std::uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

}  // namespace

bool is_known_type(std::uint8_t type) {
  switch (static_cast<RecordType>(type)) {
    case RecordType::kSegmentHeader:
    case RecordType::kState:
    case RecordType::kBatch:
    case RecordType::kMarker:
    case RecordType::kSnapHeader:
    case RecordType::kSnapChunk:
    case RecordType::kSnapTrailer:
      return true;
    case RecordType::kZero:
      return false;
  }
  return false;
}

std::string segment_file_name(std::uint64_t seq) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020llu", static_cast<unsigned long long>(seq));
  return std::string(buf) + std::string(kSegmentSuffix);
}

std::optional<std::uint64_t> parse_segment_file_name(std::string_view name) {
  if (!name.ends_with(kSegmentSuffix)) return std::nullopt;
  name.remove_suffix(kSegmentSuffix.size());
  return parse_u64(name);
}

std::string snapshot_file_name(raft::Index index, raft::Term term) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%020llu-%020llu", static_cast<unsigned long long>(index),
                static_cast<unsigned long long>(term));
  return std::string(buf) + std::string(kSnapSuffix);
}

std::optional<SnapshotMarker> parse_snapshot_file_name(std::string_view name) {
  if (!name.ends_with(kSnapSuffix)) return std::nullopt;
  name.remove_suffix(kSnapSuffix.size());
  if (name.size() != 41 || name[20] != '-') return std::nullopt;
  const auto index = parse_u64(name.substr(0, 20));
  const auto term = parse_u64(name.substr(21));
  if (!index || !term) return std::nullopt;
  return SnapshotMarker{*index, *term};
}

std::size_t begin_record(std::string* out) {
  const std::size_t start = out->size();
  out->append(kRecordHeaderSize, '\0');
  return start;
}

void end_record(std::string* out, std::size_t record_start, RecordType type) {
  DKV_ASSERT(out->size() >= record_start + kRecordHeaderSize);
  DKV_ASSERT(type != RecordType::kZero);
  const std::size_t payload_bytes = out->size() - record_start - kRecordHeaderSize;
  DKV_ASSERT(payload_bytes <= kRecordPayloadBytesMax);
  char* h = out->data() + record_start;
  h[8] = static_cast<char>(type);
  // CRC over type byte then payload: both are contiguous from h + 8.
  const std::uint32_t crc = util::crc32c::extend(0, h + 8, 1 + payload_bytes);
  store_u32(h, util::crc32c::mask(crc));
  store_u32(h + 4, static_cast<std::uint32_t>(payload_bytes));
}

void append_record(std::string* out, RecordType type, std::string_view payload) {
  const std::size_t start = begin_record(out);
  out->append(payload);
  end_record(out, start, type);
}

ParsedRecord parse_record(std::string_view buf, std::size_t pos) {
  ParsedRecord r;
  DKV_ASSERT(pos <= buf.size());
  const std::size_t left = buf.size() - pos;
  const char* h = buf.data() + pos;
  bool zero = true;
  for (std::size_t i = 0; i < std::min(left, kRecordHeaderSize); ++i) zero = zero && h[i] == 0;
  if (zero) {  // Including fewer than kRecordHeaderSize zeros at the very end.
    r.outcome = ParseOutcome::kZero;
    return r;
  }
  if (left < kRecordHeaderSize) {
    r.outcome = ParseOutcome::kPartial;
    r.problem = "partial record header";
    return r;
  }
  const std::uint32_t masked_crc = load_u32(h);
  const std::uint32_t length = load_u32(h + 4);
  const auto type = static_cast<std::uint8_t>(h[8]);
  if (!is_known_type(type)) {
    r.problem = "unknown record type";
    return r;
  }
  if (length > kRecordPayloadBytesMax) {
    r.problem = "record length over the limit";
    return r;
  }
  if (left - kRecordHeaderSize < length) {
    r.outcome = ParseOutcome::kPartial;
    r.problem = "record runs past the end of the file";
    return r;
  }
  const std::uint32_t crc = util::crc32c::extend(0, h + 8, 1 + static_cast<std::size_t>(length));
  if (util::crc32c::unmask(masked_crc) != crc) {
    r.problem = "checksum mismatch";
    return r;
  }
  r.outcome = ParseOutcome::kOk;
  r.type = static_cast<RecordType>(type);
  r.payload = buf.substr(pos + kRecordHeaderSize, length);
  r.size = kRecordHeaderSize + length;
  return r;
}

void encode_segment_header(const SegmentHeader& h, std::string* out) {
  DKV_ASSERT(h.cluster_id.size() <= kIdBytesMax);
  DKV_ASSERT(h.node_id.size() <= kIdBytesMax);
  put_u64(out, kSegmentMagic);
  put_u32(out, h.version);
  put_u64(out, h.seq);
  put_string(out, h.cluster_id);
  put_string(out, h.node_id);
}

bool decode_segment_header(std::string_view p, SegmentHeader* out, const char** problem) {
  Reader r(p);
  const std::uint64_t magic = r.u64();
  out->version = r.u32();
  out->seq = r.u64();
  out->cluster_id = std::string(r.bytes(kIdBytesMax));
  out->node_id = std::string(r.bytes(kIdBytesMax));
  if (!finish(r, problem)) return false;
  if (magic != kSegmentMagic) {
    *problem = "bad segment magic";
    return false;
  }
  return true;
}

void encode_state(const StateRecord& s, std::string* out) {
  put_hard_state(out, s.hard_state);
  put_u64(out, s.marker.index);
  put_u64(out, s.marker.term);
}

bool decode_state(std::string_view p, StateRecord* out, const char** problem) {
  Reader r(p);
  out->hard_state = read_hard_state(r);
  out->marker.index = r.u64();
  out->marker.term = r.u64();
  return finish(r, problem);
}

std::size_t batch_payload_size(const raft::HardState* hard_state,
                               std::span<const raft::Entry> entries) {
  std::size_t n = 1 + (hard_state != nullptr ? kHardStateBytes : 0) + 4;
  for (const raft::Entry& e : entries) n += kEntryFixedBytes + e.data.size();
  return n;
}

void encode_batch(const raft::HardState* hard_state, std::span<const raft::Entry> entries,
                  std::string* out) {
  DKV_ASSERT(entries.size() <= UINT32_MAX);
  put_u8(out, hard_state != nullptr ? 1 : 0);
  if (hard_state != nullptr) put_hard_state(out, *hard_state);
  put_u32(out, static_cast<std::uint32_t>(entries.size()));
  for (const raft::Entry& e : entries) {
    put_u64(out, e.term);
    put_u64(out, e.index);
    put_u8(out, static_cast<std::uint8_t>(e.type));
    put_string(out, e.data);
  }
}

bool decode_batch(std::string_view p, Batch* out, const char** problem) {
  Reader r(p);
  const std::uint8_t flags = r.u8();
  if (flags > 1) {
    *problem = "bad batch flags";
    return false;
  }
  if (flags == 1) out->hard_state = read_hard_state(r);
  const std::uint32_t count = r.u32();
  // Each entry takes at least kEntryFixedBytes: refuse counts the payload
  // cannot hold before reserving memory for them.
  if (!r.ok() || count > p.size() / kEntryFixedBytes) {
    *problem = "bad entry count";
    return false;
  }
  out->entries.reserve(count);
  for (std::uint32_t i = 0; i < count && r.ok(); ++i) {
    raft::Entry e;
    e.term = r.u64();
    e.index = r.u64();
    const std::uint8_t type = r.u8();
    if (type > static_cast<std::uint8_t>(raft::EntryType::kConfChange)) {
      *problem = "unknown entry type";
      return false;
    }
    e.type = static_cast<raft::EntryType>(type);
    e.data = std::string(r.bytes(kRecordPayloadBytesMax));
    out->entries.push_back(std::move(e));
  }
  return finish(r, problem);
}

void encode_marker(const SnapshotMarker& m, bool keep_entries, std::string* out) {
  put_u64(out, m.index);
  put_u64(out, m.term);
  put_u8(out, keep_entries ? 1 : 0);
}

bool decode_marker(std::string_view p, SnapshotMarker* out, bool* keep_entries,
                   const char** problem) {
  Reader r(p);
  out->index = r.u64();
  out->term = r.u64();
  const std::uint8_t keep = r.u8();
  if (!finish(r, problem)) return false;
  if (keep > 1) {
    *problem = "bad marker flag";
    return false;
  }
  *keep_entries = keep == 1;
  return true;
}

void encode_snap_header(const SnapHeader& h, std::string* out) {
  DKV_ASSERT(h.membership.size() <= kMembershipBytesMax);
  put_u64(out, kSnapshotMagic);
  put_u32(out, h.version);
  put_u64(out, h.marker.index);
  put_u64(out, h.marker.term);
  put_string(out, h.membership);
}

bool decode_snap_header(std::string_view p, SnapHeader* out, const char** problem) {
  Reader r(p);
  const std::uint64_t magic = r.u64();
  out->version = r.u32();
  out->marker.index = r.u64();
  out->marker.term = r.u64();
  out->membership = std::string(r.bytes(kMembershipBytesMax));
  if (!finish(r, problem)) return false;
  if (magic != kSnapshotMagic) {
    *problem = "bad snapshot magic";
    return false;
  }
  return true;
}

void encode_snap_trailer(const SnapTrailer& t, std::string* out) {
  put_u64(out, t.payload_bytes);
  put_u64(out, t.chunk_count);
  put_u32(out, util::crc32c::mask(t.payload_crc));
}

bool decode_snap_trailer(std::string_view p, SnapTrailer* out, const char** problem) {
  Reader r(p);
  out->payload_bytes = r.u64();
  out->chunk_count = r.u64();
  out->payload_crc = util::crc32c::unmask(r.u32());
  return finish(r, problem);
}

}  // namespace dkv::wal::format
