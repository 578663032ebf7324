// PathTemplate: one google.api.http path template ("/v0/kv/key/{key}"),
// parsed once at start and matched against request paths. Pure: no I/O.
//
// Grammar (google/api/http.proto):
//   Template = "/" Segments [ Verb ] ;
//   Segments = Segment { "/" Segment } ;
//   Segment  = "*" | "**" | LITERAL | Variable ;
//   Variable = "{" FieldPath [ "=" Segments ] "}" ;
//   FieldPath = IDENT { "." IDENT } ;
//   Verb     = ":" LITERAL ;
// "{f}" means "{f=*}". "**" matches zero or more segments and must be the last
// segment (as grpc-gateway requires). Variables do not nest.
//
// Matching works on a request path already split on '/' and percent-decoded
// per segment (so "%2F" inside a segment stays inside it, which is how a
// standard-base64 key with '/' travels). A variable's value is its decoded
// segments joined by '/'.
// Threading: immutable after parse(); match() is const and thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace dkv::api::gateway {

// A request path split into percent-decoded segments, plus its verb.
struct SplitPath {
  std::vector<std::string> segments;
  // The raw last segment, for templates with a verb (":verb" is matched
  // before decoding, as a custom verb is part of the template).
  std::string raw_last;
};

// Splits "/a/b%2Fc" into {"a", "b/c"}. Returns nullopt if `path` does not
// start with '/' or holds a malformed percent escape.
std::optional<SplitPath> split_path(std::string_view path);

// A variable bound by a match: the field path ("key", "a.b") and its value.
struct PathBinding {
  std::string field_path;
  std::string value;
};

class PathTemplate {
 public:
  struct Segment {
    enum class Kind { kLiteral, kAny /* "*" */, kAnyMulti /* "**" */ };
    Kind kind = Kind::kLiteral;
    std::string literal;  // Only for kLiteral.
  };
  struct Variable {
    std::string field_path;
    size_t first_segment = 0;  // Index into segments().
    size_t end_segment = 0;    // One past the last segment it covers.
  };

  // Parses `text`; on error says what is wrong, naming the template.
  static util::Status parse(std::string_view text, PathTemplate* out);
  // The root path "/", which the grammar has no template for: plain routes
  // (the dashboard's page) only. It matches "/" alone.
  static PathTemplate root();

  // True if `path` matches; then `bindings` holds one entry per variable.
  bool match(const SplitPath& path, std::vector<PathBinding>* bindings) const;

  const std::string& text() const { return text_; }
  const std::vector<Segment>& segments() const { return segments_; }
  const std::vector<Variable>& variables() const { return variables_; }
  const std::string& verb() const { return verb_; }

  // Orders templates so that the more specific one is tried first: per
  // segment, a literal beats "*", which beats "**"; then longer beats shorter.
  static bool more_specific(const PathTemplate& a, const PathTemplate& b);

 private:
  std::string text_;
  std::vector<Segment> segments_;
  std::vector<Variable> variables_;
  std::string verb_;  // Without the ':'; empty if none.
};

}  // namespace dkv::api::gateway
