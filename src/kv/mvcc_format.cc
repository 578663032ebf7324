#include "kv/mvcc_format.h"

#include "util/varint.h"

namespace dkv::kv::mvcc {
namespace {

void put_le64(std::string* out, std::int64_t v) {
  const auto u = static_cast<std::uint64_t>(v);
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((u >> (8 * i)) & 0xff));
}

std::int64_t get_le64(const char* p) {
  std::uint64_t u = 0;
  for (int i = 0; i < 8; ++i)
    u |= static_cast<std::uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return static_cast<std::int64_t>(u);
}

void put_be(std::string* out, std::uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::uint64_t get_be(const char* p, int bytes) {
  std::uint64_t u = 0;
  for (int i = 0; i < bytes; ++i) u = (u << 8) | static_cast<unsigned char>(p[i]);
  return u;
}

void put_header(std::string* out, const KeyHeader& h) {
  put_le64(out, h.create_revision);
  put_le64(out, h.mod_revision);
  put_le64(out, h.version);
  put_le64(out, h.lease);
}

KeyHeader get_header(const char* p) {
  return {get_le64(p), get_le64(p + 8), get_le64(p + 16), get_le64(p + 24)};
}

}  // namespace

std::string encode_kv_value(const KeyHeader& header, std::string_view value) {
  std::string out;
  encode_kv_value(header, value, &out);
  return out;
}

void encode_kv_value(const KeyHeader& header, std::string_view value, std::string* out) {
  out->clear();
  out->reserve(kKeyHeaderBytes + value.size());
  put_header(out, header);
  out->append(value);
}

bool decode_kv_value(std::string_view bytes, KeyHeader* header, std::string_view* value) {
  if (bytes.size() < kKeyHeaderBytes) return false;
  *header = get_header(bytes.data());
  *value = bytes.substr(kKeyHeaderBytes);
  return true;
}

std::string encode_rev_key(Revision rev) {
  std::string out;
  out.reserve(kRevKeyBytes);
  put_be(&out, static_cast<std::uint64_t>(rev.main), 8);
  put_be(&out, static_cast<std::uint64_t>(rev.sub), 4);
  return out;
}

bool decode_rev_key(std::string_view bytes, Revision* rev) {
  if (bytes.size() != kRevKeyBytes) return false;
  rev->main = static_cast<std::int64_t>(get_be(bytes.data(), 8));
  rev->sub = static_cast<std::int64_t>(get_be(bytes.data() + 8, 4));
  return true;
}

std::string encode_hist_record(EventType type, std::string_view key, const KeyHeader& header,
                               std::string_view value, std::int64_t prev) {
  std::string out;
  encode_hist_record(type, key, header, value, prev, &out);
  return out;
}

void encode_hist_record(EventType type, std::string_view key, const KeyHeader& header,
                        std::string_view value, std::int64_t prev, std::string* out) {
  out->clear();
  out->reserve(1 + 3 + key.size() + kKeyHeaderBytes + value.size() + kLinkBytes);
  out->push_back(static_cast<char>(type));
  util::put_varint(out, key.size());
  out->append(key);
  put_header(out, header);
  if (type == EventType::kPut) out->append(value);
  put_le64(out, prev);
}

bool decode_hist_record(std::string_view bytes, HistRecord* out, bool linked) {
  if (bytes.empty()) return false;
  const auto type = static_cast<EventType>(bytes.front());
  if (type != EventType::kPut && type != EventType::kDelete) return false;
  bytes.remove_prefix(1);
  std::uint64_t key_bytes = 0;
  if (!util::get_varint(&bytes, &key_bytes) || key_bytes > bytes.size()) return false;
  out->type = type;
  out->key = bytes.substr(0, key_bytes);
  bytes.remove_prefix(key_bytes);
  if (bytes.size() < kKeyHeaderBytes + (linked ? kLinkBytes : 0)) return false;
  out->header = get_header(bytes.data());
  bytes.remove_prefix(kKeyHeaderBytes);
  out->prev = 0;
  if (linked) {
    out->prev = get_le64(bytes.data() + bytes.size() - kLinkBytes);
    bytes.remove_suffix(kLinkBytes);
  }
  out->value = bytes;
  return (type == EventType::kPut || out->value.empty()) && out->prev >= 0;
}

std::string encode_dead_value(std::int64_t tombstone_main) {
  std::string out;
  put_le64(&out, tombstone_main);
  return out;
}

bool decode_dead_value(std::string_view bytes, std::int64_t* tombstone_main) {
  if (bytes.size() != kLinkBytes) return false;
  *tombstone_main = get_le64(bytes.data());
  return *tombstone_main > 0;
}

std::string encode_kidx_entry(Revision rev, EventType type) {
  std::string out = encode_rev_key(rev);
  out.push_back(static_cast<char>(type));
  return out;
}

bool decode_kidx_entry(std::string_view bytes, Revision* rev, EventType* type) {
  if (bytes.size() != kKidxEntryBytes) return false;
  if (!decode_rev_key(bytes.substr(0, kRevKeyBytes), rev)) return false;
  *type = static_cast<EventType>(bytes[kRevKeyBytes]);
  return *type == EventType::kPut || *type == EventType::kDelete;
}

}  // namespace dkv::kv::mvcc
