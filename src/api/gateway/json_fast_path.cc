#include "api/gateway/json_fast_path.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>

#include <array>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>

#include "api/gateway/json_mapping.h"
#include "api/gateway/url_codec.h"

namespace dkv::api::gateway {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::FileDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Deeper nesting is left to protobuf (which has its own limit).
constexpr int kDepthMax = 16;
// Objects with more fields than this are left to protobuf (the duplicate
// check below keeps a bit per field index).
constexpr int kFieldCountMax = 64;

// Only plain proto3 messages of our own: no well-known types (their JSON
// forms are special), no map entries, no proto2 presence rules.
bool is_plain_message(const Descriptor* d) {
  if (d->file()->syntax() != FileDescriptor::SYNTAX_PROTO3) return false;
  if (d->file()->package() == "google.protobuf") return false;
  if (d->options().map_entry()) return false;
  return d->field_count() <= kFieldCountMax;
}

// A field the fast path knows how to read and print: singular or repeated
// (not map), in no oneof (a proto3 `optional` is a synthetic oneof), of a
// type whose JSON form is unambiguous. Floats (formatting) and enums (names)
// are left to protobuf.
bool is_plain_field(const FieldDescriptor* f) {
  if (f->containing_oneof() != nullptr || f->is_map()) return false;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64:
    case FieldDescriptor::CPPTYPE_UINT32:
    case FieldDescriptor::CPPTYPE_UINT64:
    case FieldDescriptor::CPPTYPE_BOOL:
    case FieldDescriptor::CPPTYPE_STRING:
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return true;
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT:
    case FieldDescriptor::CPPTYPE_ENUM:
      return false;
  }
  return false;
}

// A byte protobuf prints as itself inside a JSON string: printable ASCII but
// the quote, the backslash, and '<' '>' (escaped for HTML safety).
constexpr std::array<bool, 256> make_plain_char_table() {
  std::array<bool, 256> t{};
  for (int c = 0x20; c < 0x7f; ++c) t[c] = true;
  t['"'] = t['\\'] = t['<'] = t['>'] = false;
  return t;
}
constexpr std::array<bool, 256> kPlainChar = make_plain_char_table();

bool all_plain_chars(std::string_view s) {
  for (const char c : s) {
    if (!kPlainChar[static_cast<unsigned char>(c)]) return false;
  }
  return true;
}

// For each byte: its base64 value (low 6 bits), plus kStandardOnly for '+'
// and '/', kWebSafeOnly for '-' and '_', and both flags for a byte of
// neither alphabet, so that OR-ing the entries of a text tells at once
// whether it is all base64 of one alphabet.
constexpr uint8_t kStandardOnly = 0x40;
constexpr uint8_t kWebSafeOnly = 0x80;
constexpr uint8_t kNotBase64 = kStandardOnly | kWebSafeOnly;
constexpr std::array<uint8_t, 256> make_base64_table() {
  std::array<uint8_t, 256> t{};
  for (auto& v : t) v = kNotBase64;
  for (int i = 0; i < 26; ++i) t['A' + i] = static_cast<uint8_t>(i);
  for (int i = 0; i < 26; ++i) t['a' + i] = static_cast<uint8_t>(26 + i);
  for (int i = 0; i < 10; ++i) t['0' + i] = static_cast<uint8_t>(52 + i);
  t['+'] = 62 | kStandardOnly;
  t['/'] = 63 | kStandardOnly;
  t['-'] = 62 | kWebSafeOnly;
  t['_'] = 63 | kWebSafeOnly;
  return t;
}
constexpr std::array<uint8_t, 256> kBase64 = make_base64_table();

// Decodes the canonical base64 forms on which every decoder protobuf might
// use (web-safe first, then standard; lenient or strict) agrees: one
// alphabet only, no padding or full padding, unused trailing bits zero.
std::optional<std::string> decode_canonical_base64(std::string_view in) {
  size_t data_len = in.size();
  while (data_len > 0 && in[data_len - 1] == '=') --data_len;
  const size_t pad = in.size() - data_len;
  if (pad > 0 && (in.size() % 4 != 0 || pad > 2)) return std::nullopt;
  if (data_len % 4 == 1) return std::nullopt;
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  std::string out(data_len * 3 / 4, '\0');
  char* o = out.data();
  uint8_t flags = 0;
  size_t i = 0;
  for (; i + 4 <= data_len; i += 4) {  // Whole quanta: 4 characters, 3 bytes.
    const uint8_t a = kBase64[p[i]], b = kBase64[p[i + 1]];
    const uint8_t c = kBase64[p[i + 2]], d = kBase64[p[i + 3]];
    flags |= a | b | c | d;
    const uint32_t n = (uint32_t{a & 63u} << 18) | (uint32_t{b & 63u} << 12) |
                       (uint32_t{c & 63u} << 6) | (d & 63u);
    *o++ = static_cast<char>(n >> 16);
    *o++ = static_cast<char>(n >> 8);
    *o++ = static_cast<char>(n);
  }
  uint32_t acc = 0;
  int bits = 0;
  for (; i < data_len; ++i) {  // The last 2 or 3 characters.
    const uint8_t v = kBase64[p[i]];
    flags |= v;
    acc = (acc << 6) | (v & 63u);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      *o++ = static_cast<char>((acc >> bits) & 0xff);
    }
  }
  if ((flags & kNotBase64) == kNotBase64) return std::nullopt;  // Mixed, or not base64.
  if ((acc & ((1u << bits) - 1)) != 0) return std::nullopt;     // Non-canonical tail.
  return out;
}

// A recursive-descent reader of the JSON subset described in the header.
// Every `return false` means "not sure": the caller falls back to protobuf.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}

  bool read_top(Message* m) {
    skip_ws();
    if (!read_object(m, 0)) return false;
    skip_ws();
    return pos_ == in_.size();
  }

 private:
  bool read_object(Message* m, int depth) {
    const Descriptor* d = m->GetDescriptor();
    if (depth > kDepthMax || !is_plain_message(d)) return false;
    if (!eat('{')) return false;
    skip_ws();
    if (eat('}')) return true;
    uint64_t seen = 0;
    while (true) {
      std::string_view name;
      if (!read_string(&name)) return false;
      skip_ws();
      if (!eat(':')) return false;
      skip_ws();
      const FieldDescriptor* f = find_field(d, name);
      if (f == nullptr || !is_plain_field(f)) return false;  // Unknown names too.
      const uint64_t bit = uint64_t{1} << f->index();
      if ((seen & bit) != 0) return false;  // Set twice (by either name).
      seen |= bit;
      if (!read_field(m, f, depth)) return false;
      skip_ws();
      if (eat('}')) return true;
      if (!eat(',')) return false;
      skip_ws();
    }
  }

  // protobuf looks a name up as a json_name first, then as a proto name.
  static const FieldDescriptor* find_field(const Descriptor* d, std::string_view name) {
    for (int i = 0; i < d->field_count(); ++i) {
      if (d->field(i)->json_name() == name) return d->field(i);
    }
    for (int i = 0; i < d->field_count(); ++i) {
      if (d->field(i)->name() == name) return d->field(i);
    }
    return nullptr;
  }

  bool read_field(Message* m, const FieldDescriptor* f, int depth) {
    if (!f->is_repeated()) return read_value(m, f, depth);
    if (!eat('[')) return false;
    skip_ws();
    if (eat(']')) return true;
    while (true) {
      if (!read_value(m, f, depth)) return false;
      skip_ws();
      if (eat(']')) return true;
      if (!eat(',')) return false;
      skip_ws();
    }
  }

  // Reads one value of `f` (one element if repeated) and sets or adds it.
  bool read_value(Message* m, const FieldDescriptor* f, int depth) {
    const Reflection* r = m->GetReflection();
    const bool rep = f->is_repeated();
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32: {
        const auto v = read_integer<int32_t>();
        if (!v) return false;
        rep ? r->AddInt32(m, f, *v) : r->SetInt32(m, f, *v);
        return true;
      }
      case FieldDescriptor::CPPTYPE_INT64: {
        const auto v = read_integer<int64_t>();
        if (!v) return false;
        rep ? r->AddInt64(m, f, *v) : r->SetInt64(m, f, *v);
        return true;
      }
      case FieldDescriptor::CPPTYPE_UINT32: {
        const auto v = read_integer<uint32_t>();
        if (!v) return false;
        rep ? r->AddUInt32(m, f, *v) : r->SetUInt32(m, f, *v);
        return true;
      }
      case FieldDescriptor::CPPTYPE_UINT64: {
        const auto v = read_integer<uint64_t>();
        if (!v) return false;
        rep ? r->AddUInt64(m, f, *v) : r->SetUInt64(m, f, *v);
        return true;
      }
      case FieldDescriptor::CPPTYPE_BOOL: {
        bool v = false;
        if (eat_word("true")) {
          v = true;
        } else if (!eat_word("false")) {
          return false;
        }
        rep ? r->AddBool(m, f, v) : r->SetBool(m, f, v);
        return true;
      }
      case FieldDescriptor::CPPTYPE_STRING:
        return read_string_field(m, f);
      case FieldDescriptor::CPPTYPE_MESSAGE: {
        Message* child = rep ? r->AddMessage(m, f) : r->MutableMessage(m, f);
        return read_object(child, depth + 1);
      }
      default:
        return false;
    }
  }

  bool read_string_field(Message* m, const FieldDescriptor* f) {
    const bool bytes = f->type() == FieldDescriptor::TYPE_BYTES;
    std::string_view text;
    if (!(bytes ? read_raw_string(&text) : read_string(&text))) return false;
    std::string value;
    if (bytes) {
      auto decoded = decode_canonical_base64(text);
      if (!decoded) return false;
      value = std::move(*decoded);
    } else {
      if (!valid_utf8(text)) return false;
      value.assign(text);
    }
    const Reflection* r = m->GetReflection();
    f->is_repeated() ? r->AddString(m, f, std::move(value)) : r->SetString(m, f, std::move(value));
    return true;
  }

  // A JSON string without escapes or control characters; its raw bytes.
  bool read_string(std::string_view* out) {
    if (!read_raw_string(out)) return false;
    for (const char c : *out) {
      if (c == '\\' || static_cast<unsigned char>(c) < 0x20) return false;
    }
    return true;
  }

  // Up to the next '"', unchecked: a '\\' before it means an escape, which
  // the caller must refuse (base64 refuses it as a non-base64 character).
  bool read_raw_string(std::string_view* out) {
    if (!eat('"')) return false;
    const void* quote = std::memchr(in_.data() + pos_, '"', in_.size() - pos_);
    if (quote == nullptr) return false;
    const size_t end = static_cast<const char*>(quote) - in_.data();
    *out = in_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return true;
  }

  // An integer as a JSON number or a quoted one, in canonical decimal only
  // ("-0", "007", "1e3", "1.0", "+1" and the like are left to protobuf).
  template <typename T>
  std::optional<T> read_integer() {
    const bool quoted = eat('"');
    const size_t start = pos_;
    if (pos_ < in_.size() && in_[pos_] == '-') ++pos_;
    const size_t digits = pos_;
    while (pos_ < in_.size() && in_[pos_] >= '0' && in_[pos_] <= '9') ++pos_;
    const std::string_view text = in_.substr(start, pos_ - start);
    const size_t n_digits = pos_ - digits;
    if (n_digits == 0 || (in_[digits] == '0' && (n_digits > 1 || digits > start))) {
      return std::nullopt;
    }
    if (quoted ? !eat('"') : is_number_char(peek())) return std::nullopt;
    T v{};
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return v;
  }

  static bool is_number_char(char c) {
    return (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-';
  }

  bool eat_word(std::string_view w) {
    if (in_.substr(pos_, w.size()) != w) return false;
    pos_ += w.size();
    // "trueX" is not the literal true.
    const char c = peek();
    return !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'));
  }

  char peek() const { return pos_ < in_.size() ? in_[pos_] : '\0'; }

  bool eat(char c) {
    if (pos_ >= in_.size() || in_[pos_] != c) return false;
    ++pos_;
    return true;
  }

  void skip_ws() {
    while (pos_ < in_.size() &&
           (in_[pos_] == ' ' || in_[pos_] == '\n' || in_[pos_] == '\r' || in_[pos_] == '\t')) {
      ++pos_;
    }
  }

  std::string_view in_;
  size_t pos_ = 0;
};

template <typename T>
void append_number(T v, std::string* out) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, end);
}

bool print_message(const Message& m, int depth, std::string* out);

// Prints one value of `f` (element `i` if repeated).
bool print_value(const Message& m, const FieldDescriptor* f, int i, int depth, std::string* out) {
  const Reflection* r = m.GetReflection();
  const bool rep = f->is_repeated();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      append_number(rep ? r->GetRepeatedInt32(m, f, i) : r->GetInt32(m, f), out);
      return true;
    case FieldDescriptor::CPPTYPE_UINT32:
      append_number(rep ? r->GetRepeatedUInt32(m, f, i) : r->GetUInt32(m, f), out);
      return true;
    case FieldDescriptor::CPPTYPE_INT64:  // 64-bit integers are JSON strings.
      out->push_back('"');
      append_number(rep ? r->GetRepeatedInt64(m, f, i) : r->GetInt64(m, f), out);
      out->push_back('"');
      return true;
    case FieldDescriptor::CPPTYPE_UINT64:
      out->push_back('"');
      append_number(rep ? r->GetRepeatedUInt64(m, f, i) : r->GetUInt64(m, f), out);
      out->push_back('"');
      return true;
    case FieldDescriptor::CPPTYPE_BOOL:
      out->append((rep ? r->GetRepeatedBool(m, f, i) : r->GetBool(m, f)) ? "true" : "false");
      return true;
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string scratch;
      const std::string& s = rep ? r->GetRepeatedStringReference(m, f, i, &scratch)
                                 : r->GetStringReference(m, f, &scratch);
      out->push_back('"');
      if (f->type() == FieldDescriptor::TYPE_BYTES) {
        out->append(base64_encode(s));
      } else {
        if (!all_plain_chars(s)) return false;  // Escaping is protobuf's.
        out->append(s);
      }
      out->push_back('"');
      return true;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      // An unset singular message: what protobuf prints is its business.
      if (!rep && !r->HasField(m, f)) return false;
      return print_message(rep ? r->GetRepeatedMessage(m, f, i) : r->GetMessage(m, f), depth + 1,
                           out);
    default:
      return false;
  }
}

bool print_message(const Message& m, int depth, std::string* out) {
  const Descriptor* d = m.GetDescriptor();
  if (depth > kDepthMax || !is_plain_message(d)) return false;
  const Reflection* r = m.GetReflection();
  out->push_back('{');
  for (int k = 0; k < d->field_count(); ++k) {
    const FieldDescriptor* f = d->field(k);
    if (!is_plain_field(f) || !all_plain_chars(f->json_name())) return false;
    if (k > 0) out->push_back(',');
    out->push_back('"');
    out->append(f->json_name());
    out->append("\":");
    if (!f->is_repeated()) {
      if (!print_value(m, f, 0, depth, out)) return false;
      continue;
    }
    out->push_back('[');
    const int n = r->FieldSize(m, f);
    for (int i = 0; i < n; ++i) {
      if (i > 0) out->push_back(',');
      if (!print_value(m, f, i, depth, out)) return false;
    }
    out->push_back(']');
  }
  out->push_back('}');
  return true;
}

}  // namespace

bool try_json_to_message_fast(std::string_view json, Message* message) {
  message->Clear();
  return Reader(json).read_top(message);
}

bool try_message_to_json_fast(const Message& message, std::string* out) {
  const size_t size_before = out->size();
  if (print_message(message, 0, out)) return true;
  out->resize(size_before);
  return false;
}

}  // namespace dkv::api::gateway
