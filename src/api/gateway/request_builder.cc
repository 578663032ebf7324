#include "api/gateway/request_builder.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/struct.pb.h>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <optional>

#include "api/gateway/json_mapping.h"
#include "api/gateway/url_codec.h"
#include "util/assert.h"

namespace dkv::api::gateway {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Resolves a dotted field path in `type` into its chain of fields; every
// part but the last is a singular message field. False if not a field path.
bool resolve_chain(const Descriptor* type, std::string_view path, bool accept_json_names,
                   std::vector<const FieldDescriptor*>* chain) {
  chain->clear();
  while (true) {
    const size_t dot = path.find('.');
    const std::string part(path.substr(0, dot));
    const FieldDescriptor* f = type->FindFieldByName(part);
    for (int i = 0; f == nullptr && accept_json_names && i < type->field_count(); ++i) {
      if (type->field(i)->json_name() == part) f = type->field(i);
    }
    if (f == nullptr) return false;
    chain->push_back(f);
    if (dot == std::string_view::npos) return true;
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE || f->is_repeated()) return false;
    type = f->message_type();
    path = path.substr(dot + 1);
  }
}

std::string proto_path(const std::vector<const FieldDescriptor*>& chain) {
  std::string out;
  for (const FieldDescriptor* f : chain) {
    if (!out.empty()) out.push_back('.');
    out += f->name();
  }
  return out;
}

// The message holding the last field of `chain`, creating parents as needed.
Message* mutable_parent(Message* root, const std::vector<const FieldDescriptor*>& chain) {
  Message* m = root;
  for (size_t i = 0; i + 1 < chain.size(); ++i) {
    m = m->GetReflection()->MutableMessage(m, chain[i]);
  }
  return m;
}

template <typename T>
std::optional<T> parse_integer(std::string_view text) {
  T v{};
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, v, 10);
  if (ec != std::errc() || ptr != end || text.empty()) return std::nullopt;
  return v;
}

std::optional<double> parse_double(std::string_view text) {
  if (text.empty() || text.size() > 64) return std::nullopt;
  const std::string s(text);
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size()) return std::nullopt;
  return v;
}

std::optional<bool> parse_bool(std::string_view text) {
  // Go's strconv.ParseBool, which grpc-gateway uses.
  for (std::string_view t : {"1", "t", "T", "true", "TRUE", "True"}) {
    if (text == t) return true;
  }
  for (std::string_view f : {"0", "f", "F", "false", "FALSE", "False"}) {
    if (text == f) return false;
  }
  return std::nullopt;
}

util::Status bad_value(const FieldDescriptor* f, std::string_view why) {
  return util::invalid_argument("bad value for field '" + f->name() + "': " + std::string(why));
}

template <typename T>
using Setter = void (Reflection::*)(Message*, const FieldDescriptor*, T) const;

// Sets (or appends, if repeated) a parsed value; `why` if it did not parse.
template <typename T>
util::Status set_parsed(Message* m, const FieldDescriptor* f, std::optional<T> v,
                        std::string_view why, Setter<T> set, Setter<T> add) {
  if (!v) return bad_value(f, why);
  (m->GetReflection()->*(f->is_repeated() ? add : set))(m, f, *v);
  return {};
}

std::optional<int> parse_enum(const FieldDescriptor* f, std::string_view text) {
  const auto* value = f->enum_type()->FindValueByName(std::string(text));
  if (value != nullptr) return value->number();
  return parse_integer<int32_t>(text);
}

util::Status set_string(Message* m, const FieldDescriptor* f, std::string_view text) {
  std::string s;
  if (f->type() == FieldDescriptor::TYPE_BYTES) {
    auto decoded = base64_decode(text);
    if (!decoded) return bad_value(f, "not base64");
    s = std::move(*decoded);
  } else {
    if (!valid_utf8(text)) return bad_value(f, "not UTF-8");
    s = std::string(text);
  }
  const Reflection* r = m->GetReflection();
  f->is_repeated() ? r->AddString(m, f, std::move(s)) : r->SetString(m, f, std::move(s));
  return {};
}

// Sets (or appends to, if repeated) scalar field `f` of `m` from `text`.
util::Status set_scalar(Message* m, const FieldDescriptor* f, std::string_view text) {
  using R = Reflection;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return set_parsed(m, f, parse_integer<int32_t>(text), "not a 32-bit integer", &R::SetInt32,
                        &R::AddInt32);
    case FieldDescriptor::CPPTYPE_INT64:
      return set_parsed(m, f, parse_integer<int64_t>(text), "not a 64-bit integer", &R::SetInt64,
                        &R::AddInt64);
    case FieldDescriptor::CPPTYPE_UINT32:
      return set_parsed(m, f, parse_integer<uint32_t>(text), "not an unsigned 32-bit integer",
                        &R::SetUInt32, &R::AddUInt32);
    case FieldDescriptor::CPPTYPE_UINT64:
      return set_parsed(m, f, parse_integer<uint64_t>(text), "not an unsigned 64-bit integer",
                        &R::SetUInt64, &R::AddUInt64);
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return set_parsed(m, f, parse_double(text), "not a number", &R::SetDouble, &R::AddDouble);
    case FieldDescriptor::CPPTYPE_FLOAT: {
      const auto v = parse_double(text);
      return set_parsed(m, f, v ? std::optional<float>(static_cast<float>(*v)) : std::nullopt,
                        "not a number", &R::SetFloat, &R::AddFloat);
    }
    case FieldDescriptor::CPPTYPE_BOOL:
      return set_parsed(m, f, parse_bool(text), "not a bool", &R::SetBool, &R::AddBool);
    case FieldDescriptor::CPPTYPE_ENUM:
      return set_parsed(m, f, parse_enum(f, text), "not a value of " + f->enum_type()->name(),
                        &R::SetEnumValue, &R::AddEnumValue);
    case FieldDescriptor::CPPTYPE_STRING:
      return set_string(m, f, text);
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return bad_value(f, "a message cannot be set from a URL");
  }
  return bad_value(f, "unsupported type");
}

bool is_blank(std::string_view s) {
  return s.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

// Parses `body` into the field at `field_path` only: the JSON is wrapped as
// {"a":{"b":<body>}} and parsed into a scratch message, then that one field
// is swapped into `request`, so the body cannot set any other field.
util::Status parse_body_into_field(std::string_view field_path, std::string_view body,
                                   Message* request) {
  // The body must be one JSON value on its own: "[1], \"x\": 2" would
  // otherwise wrap into valid JSON.
  google::protobuf::Value value;
  if (auto st = json_to_message(body, &value); !st.is_ok()) return st;
  std::vector<const FieldDescriptor*> chain;
  const bool ok = resolve_chain(request->GetDescriptor(), field_path, false, &chain);
  DKV_ASSERT(ok);  // RouteTable checked the body field at start.
  std::string wrapped;
  for (const FieldDescriptor* f : chain) wrapped += "{" + json_quote(f->json_name()) + ":";
  wrapped += body;
  wrapped.append(chain.size(), '}');

  std::unique_ptr<Message> scratch(request->New());
  if (auto st = json_to_message(wrapped, scratch.get()); !st.is_ok()) return st;
  Message* from = mutable_parent(scratch.get(), chain);
  Message* to = mutable_parent(request, chain);
  to->GetReflection()->SwapFields(from, to, {chain.back()});
  return {};
}

bool is_bound(const std::string& path, const Route& route) {
  for (const auto& var : route.path.variables()) {
    if (path == var.field_path || path.starts_with(var.field_path + ".")) return true;
  }
  if (route.body.empty()) return false;
  return path == route.body || path.starts_with(route.body + ".");
}

}  // namespace

util::Status set_field_from_text(Message* message, std::string_view field_path,
                                 std::string_view text, bool accept_json_names) {
  std::vector<const FieldDescriptor*> chain;
  if (!resolve_chain(message->GetDescriptor(), field_path, accept_json_names, &chain)) {
    return util::invalid_argument("no field '" + std::string(field_path) + "'");
  }
  return set_scalar(mutable_parent(message, chain), chain.back(), text);
}

util::Status build_request(const Route& route, const std::vector<PathBinding>& bindings,
                           std::string_view query, std::string_view body, Message* request) {
  DKV_ASSERT(route.method != nullptr);
  DKV_ASSERT(request->GetDescriptor() == route.method->descriptor->input_type());
  // 1. Body.
  if (route.body == "*") {
    if (auto st = json_to_message(is_blank(body) ? "{}" : body, request); !st.is_ok()) return st;
  } else if (!route.body.empty() && !is_blank(body)) {
    if (auto st = parse_body_into_field(route.body, body, request); !st.is_ok()) return st;
  }
  // 2. Path variables (RouteTable checked they name singular scalar fields).
  for (const PathBinding& b : bindings) {
    if (auto st = set_field_from_text(request, b.field_path, b.value, false); !st.is_ok()) {
      return st;
    }
  }
  // 3. Query parameters, for fields bound by neither path nor body.
  if (route.body == "*" || query.empty()) return {};
  const auto params = parse_query(query);
  if (!params) return util::invalid_argument("malformed percent-encoding in query");
  std::vector<const FieldDescriptor*> chain;
  for (const QueryParam& p : *params) {
    if (!resolve_chain(request->GetDescriptor(), p.key, true, &chain)) continue;  // Unknown.
    if (is_bound(proto_path(chain), route)) continue;
    if (chain.back()->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      return util::invalid_argument("query parameter '" + p.key + "' names a message field");
    }
    if (auto st = set_scalar(mutable_parent(request, chain), chain.back(), p.value); !st.is_ok()) {
      return st;
    }
  }
  return {};
}

}  // namespace dkv::api::gateway
