#include "api/gateway/json_mapping.h"

#include <google/protobuf/util/json_util.h>

#include <cstdio>

#include "api/gateway/json_fast_path.h"

namespace dkv::api::gateway {
namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 if invalid.
size_t utf8_sequence_length(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  size_t n = 0;
  uint32_t cp = 0;
  if (c < 0x80) return 1;
  if ((c & 0xe0) == 0xc0)
    n = 2, cp = c & 0x1f;
  else if ((c & 0xf0) == 0xe0)
    n = 3, cp = c & 0x0f;
  else if ((c & 0xf8) == 0xf0)
    n = 4, cp = c & 0x07;
  else
    return 0;
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3f);
  }
  // Reject overlong forms, surrogates and values past U+10FFFF.
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

}  // namespace

bool valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t n = utf8_sequence_length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

util::Status json_to_message(std::string_view json, google::protobuf::Message* message) {
  if (try_json_to_message_fast(json, message)) return {};
  message->Clear();  // The fast path may have set part of it.
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  const auto st = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), message, options);
  if (st.ok()) return {};
  return util::invalid_argument("invalid JSON body: " + std::string(st.message()));
}

bool uses_etcd_json(const google::protobuf::Descriptor* descriptor) {
  const std::string& package = descriptor->file()->package();
  return package == "etcdserverpb" || package == "mvccpb" || package == "authpb";
}

util::Status message_to_json(const google::protobuf::Message& message, std::string* out) {
  google::protobuf::util::JsonPrintOptions options;
  const bool etcd = uses_etcd_json(message.GetDescriptor());
  options.always_print_primitive_fields = !etcd;
  options.preserve_proto_field_names = etcd;
  out->clear();
  if (!etcd && try_message_to_json_fast(message, out)) return {};
  const auto st = google::protobuf::util::MessageToJsonString(message, out, options);
  if (st.ok()) return {};
  return util::internal_error("cannot print " + message.GetDescriptor()->full_name() +
                              " as JSON: " + std::string(st.message()));
}

unsigned http_status_for(util::Code code) {
  using util::Code;
  // UNAUTHENTICATED (16) has no util::Code yet; map it by number anyway.
  if (static_cast<int>(code) == 16) return 401;
  switch (code) {
    case Code::kOk:
      return 200;
    case Code::kCancelled:
      return 499;
    case Code::kUnknown:
      return 500;
    case Code::kInvalidArgument:
      return 400;
    case Code::kDeadlineExceeded:
      return 504;
    case Code::kNotFound:
      return 404;
    case Code::kAlreadyExists:
      return 409;
    case Code::kPermissionDenied:
      return 403;
    case Code::kResourceExhausted:
      return 429;
    case Code::kFailedPrecondition:
      return 400;
    case Code::kAborted:
      return 409;
    case Code::kOutOfRange:
      return 400;
    case Code::kUnimplemented:
      return 501;
    case Code::kInternal:
      return 500;
    case Code::kUnavailable:
      return 503;
    case Code::kDataLoss:
      return 500;
  }
  return 500;
}

std::string json_quote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('"');
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const size_t n = utf8_sequence_length(s, i);
      if (n == 0) {
        out += "\\ufffd";  // Invalid UTF-8 byte: the replacement character.
        ++i;
      } else {
        out.append(s.substr(i, n));
        i += n;
      }
      continue;
    }
    ++i;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
  return out;
}

std::string error_json(const util::Status& status) {
  return "{\"code\":" + std::to_string(static_cast<int>(status.code())) +
         ",\"message\":" + json_quote(status.message()) + ",\"details\":[]}";
}

std::string etcd_error_json(const util::Status& status) {
  const std::string message = json_quote(status.message());
  return "{\"error\":" + message + ",\"code\":" + std::to_string(static_cast<int>(status.code())) +
         ",\"message\":" + message + "}";
}

}  // namespace dkv::api::gateway
