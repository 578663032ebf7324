#include "etcd_output.h"

#include <cstdio>
#include <set>

#include "output.h"

namespace dkv::ctl {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// The Go name protoc-gen-go gives a field or oneof: "response_range" ->
// "ResponseRange".
std::string go_name(const std::string& proto_name) {
  std::string out;
  bool upper = true;
  for (char c : proto_name) {
    if (c == '_') {
      upper = true;
      continue;
    }
    out.push_back(upper && c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c);
    upper = false;
  }
  return out;
}

// Length of the valid UTF-8 sequence at s[i], or 0 if it is not one.
std::size_t utf8_length(const std::string& s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  std::size_t n = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xc0) != 0x80) return 0;
  }
  if (n == 3 && c == 0xe0 && b(i + 1) < 0xa0) return 0;   // Overlong.
  if (n == 3 && c == 0xed && b(i + 1) >= 0xa0) return 0;  // Surrogate.
  if (n == 4 && c == 0xf0 && b(i + 1) < 0x90) return 0;   // Overlong.
  if (n == 4 && c == 0xf4 && b(i + 1) >= 0x90) return 0;  // Above U+10FFFF.
  return n;
}

// A JSON string as Go's encoding/json writes it (HTML-safe, invalid UTF-8
// as U+FFFD).
std::string go_string(const std::string& s) {
  std::string out = "\"";
  char buf[8];
  for (std::size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += static_cast<char>(c);
      } else if (c == '\n') {
        out += "\\n";
      } else if (c == '\r') {
        out += "\\r";
      } else if (c == '\t') {
        out += "\\t";
      } else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
        std::snprintf(buf, sizeof buf, "\\u00%02x", c);
        out += buf;
      } else {
        out += static_cast<char>(c);
      }
      ++i;
      continue;
    }
    const std::size_t n = utf8_length(s, i);
    if (n == 0) {
      out += "\\ufffd";
      ++i;
    } else if (n == 3 && c == 0xe2 && static_cast<unsigned char>(s[i + 1]) == 0x80 &&
               (static_cast<unsigned char>(s[i + 2]) & 0xfe) == 0xa8) {
      out += (s[i + 2] & 1) ? "\\u2029" : "\\u2028";  // JSONP-safe, as Go.
      i += n;
    } else {
      out.append(s, i, n);
      i += n;
    }
  }
  return out + "\"";
}

void append_message(const Message& m, std::string* out);

void append_value(const Message& m, const FieldDescriptor* f, int index, std::string* out) {
  const Reflection* r = m.GetReflection();
  const bool rep = f->is_repeated();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      *out += std::to_string(rep ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f));
      break;
    case FieldDescriptor::CPPTYPE_INT64:
      *out += std::to_string(rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f));
      break;
    case FieldDescriptor::CPPTYPE_UINT32:
      *out += std::to_string(rep ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f));
      break;
    case FieldDescriptor::CPPTYPE_UINT64:
      *out += std::to_string(rep ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f));
      break;
    case FieldDescriptor::CPPTYPE_BOOL:
      *out += (rep ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f)) ? "true" : "false";
      break;
    case FieldDescriptor::CPPTYPE_ENUM:  // Go's generated enums marshal as numbers.
      *out += std::to_string(rep ? r->GetRepeatedEnumValue(m, f, index) : r->GetEnumValue(m, f));
      break;
    case FieldDescriptor::CPPTYPE_STRING: {
      const std::string s = rep ? r->GetRepeatedString(m, f, index) : r->GetString(m, f);
      *out +=
          f->type() == FieldDescriptor::TYPE_BYTES ? "\"" + encode_base64(s) + "\"" : go_string(s);
      break;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      append_message(rep ? r->GetRepeatedMessage(m, f, index) : r->GetMessage(m, f), out);
      break;
    default:  // Floats: etcd's responses have none.
      *out += "null";
  }
}

// Whether Go's omitempty leaves a singular field out: zero, false, empty,
// or a nil message pointer.
bool omitted(const Message& m, const FieldDescriptor* f) {
  const Reflection* r = m.GetReflection();
  if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) return !r->HasField(m, f);
  if (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING) return r->GetString(m, f).empty();
  return !r->HasField(m, f);  // proto3 scalars: "has" means non-zero.
}

void append_message(const Message& m, std::string* out) {
  const auto* d = m.GetDescriptor();
  const Reflection* r = m.GetReflection();
  std::set<const google::protobuf::OneofDescriptor*> oneofs_done;
  std::string body;
  auto key = [&](const std::string& name) {
    if (!body.empty()) body += ",";
    body += go_string(name) + ":";
  };
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (const auto* oneof = f->real_containing_oneof(); oneof != nullptr) {
      // An interface field named after the oneof, holding a wrapper struct
      // whose one field is named after the set member; nil (no omitempty)
      // when none is set.
      if (!oneofs_done.insert(oneof).second) continue;
      key(go_name(oneof->name()));
      const FieldDescriptor* set = r->GetOneofFieldDescriptor(m, oneof);
      if (set == nullptr) {
        body += "null";
        continue;
      }
      body += "{" + go_string(go_name(set->name())) + ":";
      append_value(m, set, 0, &body);
      body += "}";
      continue;
    }
    if (f->is_repeated()) {
      const int n = r->FieldSize(m, f);
      if (n == 0) continue;
      key(f->name());
      body += "[";
      for (int k = 0; k < n; ++k) {
        if (k > 0) body += ",";
        append_value(m, f, k, &body);
      }
      body += "]";
      continue;
    }
    if (omitted(m, f)) continue;
    key(f->name());
    append_value(m, f, 0, &body);
  }
  *out += "{" + body + "}";
}

std::string kv_lines(const mvccpb::KeyValue& kv, KvStyle style) {
  const std::string key = style.base64 ? encode_base64(kv.key()) : kv.key();
  const std::string value = style.base64 ? encode_base64(kv.value()) : kv.value();
  return style.value_only ? value + "\n" : key + "\n" + value + "\n";
}

std::string kv_table(const google::protobuf::RepeatedPtrField<mvccpb::KeyValue>& kvs,
                     KvStyle style) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& kv : kvs) {
    const std::string key = style.base64 ? encode_base64(kv.key()) : kv.key();
    const std::string value = style.base64 ? encode_base64(kv.value()) : kv.value();
    rows.push_back(style.value_only ? std::vector<std::string>{value}
                                    : std::vector<std::string>{key, value});
  }
  if (style.value_only) return format_table({"VALUE"}, rows);
  return format_table({"KEY", "VALUE"}, rows);
}

}  // namespace

std::string go_json(const Message& message) {
  std::string out;
  append_message(message, &out);
  return out;
}

std::string go_json_string(const std::string& s) { return go_string(s); }

std::string format_etcd_put(Format format, const etcdserverpb::PutResponse& r, KvStyle style) {
  if (format == Format::kJson) return go_json(r) + "\n";
  std::string out = "OK\n";
  if (r.has_prev_kv()) out += kv_lines(r.prev_kv(), style);
  return out;
}

std::string format_etcd_get(Format format, const etcdserverpb::RangeResponse& r, KvStyle style) {
  if (format == Format::kJson) return go_json(r) + "\n";
  if (format == Format::kTable) return kv_table(r.kvs(), style);
  std::string out;
  for (const auto& kv : r.kvs()) out += kv_lines(kv, style);
  return out;
}

std::string format_etcd_del(Format format, const etcdserverpb::DeleteRangeResponse& r,
                            KvStyle style) {
  if (format == Format::kJson) return go_json(r) + "\n";
  if (format == Format::kTable) {
    return format_table({"DELETED"}, {{std::to_string(r.deleted())}}) +
           (r.prev_kvs().empty() ? "" : kv_table(r.prev_kvs(), style));
  }
  std::string out = std::to_string(r.deleted()) + "\n";
  for (const auto& kv : r.prev_kvs()) out += kv_lines(kv, style);
  return out;
}

std::string format_etcd_txn(Format format, const etcdserverpb::TxnResponse& r, KvStyle style) {
  if (format == Format::kJson) return go_json(r) + "\n";
  // etcdctl's simple form also for -w table.
  std::string out = r.succeeded() ? "SUCCESS\n" : "FAILURE\n";
  for (const auto& op : r.responses()) {
    out += "\n";
    switch (op.response_case()) {
      case etcdserverpb::ResponseOp::kResponsePut:
        out += format_etcd_put(Format::kSimple, op.response_put(), style);
        break;
      case etcdserverpb::ResponseOp::kResponseRange:
        out += format_etcd_get(Format::kSimple, op.response_range(), style);
        break;
      case etcdserverpb::ResponseOp::kResponseDeleteRange:
        out += format_etcd_del(Format::kSimple, op.response_delete_range(), style);
        break;
      default:  // A nested txn: etcdctl cannot send one.
        out += "unexpected response " + go_json(op) + "\n";
    }
  }
  return out;
}

std::string format_etcd_compaction(std::int64_t revision) {
  return "compacted revision " + std::to_string(revision) + "\n";
}

}  // namespace dkv::ctl
