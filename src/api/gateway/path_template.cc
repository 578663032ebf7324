#include "api/gateway/path_template.h"

#include <set>

#include "api/gateway/url_codec.h"
#include "util/assert.h"

namespace dkv::api::gateway {
namespace {

bool is_ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_ident_char(char c) { return is_ident_start(c) || (c >= '0' && c <= '9'); }

bool valid_field_path(std::string_view path) {
  // IDENT { "." IDENT }
  bool at_start = true;
  for (char c : path) {
    if (c == '.') {
      if (at_start) return false;
      at_start = true;
      continue;
    }
    if (at_start ? !is_ident_start(c) : !is_ident_char(c)) return false;
    at_start = false;
  }
  return !at_start;
}

// Recursive-descent parser over one template; fills a PathTemplate's parts.
class Parser {
 public:
  Parser(std::string_view text, std::vector<PathTemplate::Segment>* segments,
         std::vector<PathTemplate::Variable>* variables)
      : text_(text), segments_(segments), variables_(variables) {}

  // Parses "/" Segments [ Verb ]; returns the verb through `verb`.
  util::Status parse(std::string* verb) {
    if (text_.empty() || text_[0] != '/') return error("must start with '/'");
    pos_ = 1;
    if (auto st = parse_segments(/*in_variable=*/false); !st.is_ok()) return st;
    if (pos_ < text_.size() && text_[pos_] == ':') {
      *verb = std::string(text_.substr(pos_ + 1));
      if (verb->empty()) return error("empty verb");
      if (verb->find_first_of("/{}*:") != std::string::npos) return error("bad verb");
      pos_ = text_.size();
    }
    if (pos_ != text_.size())
      return error("unexpected character at offset " + std::to_string(pos_));
    return {};
  }

 private:
  util::Status parse_segments(bool in_variable) {
    while (true) {
      if (auto st = parse_segment(in_variable); !st.is_ok()) return st;
      if (pos_ < text_.size() && text_[pos_] == '/') {
        ++pos_;
        continue;
      }
      return {};
    }
  }

  util::Status parse_segment(bool in_variable) {
    using Kind = PathTemplate::Segment::Kind;
    const std::string_view rest = text_.substr(pos_);
    if (rest.starts_with("**")) {
      segments_->push_back({Kind::kAnyMulti, ""});
      pos_ += 2;
      return {};
    }
    if (rest.starts_with("*")) {
      segments_->push_back({Kind::kAny, ""});
      pos_ += 1;
      return {};
    }
    if (rest.starts_with("{")) {
      if (in_variable) return error("nested variable");
      return parse_variable();
    }
    const size_t end = rest.find_first_of("/{}*:");
    const std::string_view literal = rest.substr(0, end);
    if (literal.empty()) return error("empty segment at offset " + std::to_string(pos_));
    segments_->push_back({Kind::kLiteral, std::string(literal)});
    pos_ += literal.size();
    return {};
  }

  util::Status parse_variable() {
    DKV_ASSERT(text_[pos_] == '{');
    ++pos_;
    const size_t end = text_.find_first_of("=}", pos_);
    if (end == std::string_view::npos) return error("unterminated variable");
    const std::string_view field_path = text_.substr(pos_, end - pos_);
    if (!valid_field_path(field_path))
      return error("bad field path '" + std::string(field_path) + "'");
    pos_ = end;
    PathTemplate::Variable var;
    var.field_path = std::string(field_path);
    var.first_segment = segments_->size();
    if (text_[pos_] == '=') {
      ++pos_;
      if (auto st = parse_segments(/*in_variable=*/true); !st.is_ok()) return st;
    } else {
      segments_->push_back({PathTemplate::Segment::Kind::kAny, ""});
    }
    if (pos_ >= text_.size() || text_[pos_] != '}') return error("unterminated variable");
    ++pos_;
    var.end_segment = segments_->size();
    variables_->push_back(std::move(var));
    return {};
  }

  util::Status error(const std::string& what) const {
    return util::invalid_argument("path template '" + std::string(text_) + "': " + what);
  }

  std::string_view text_;
  size_t pos_ = 0;
  std::vector<PathTemplate::Segment>* segments_;
  std::vector<PathTemplate::Variable>* variables_;
};

int rank(PathTemplate::Segment::Kind kind) {
  switch (kind) {
    case PathTemplate::Segment::Kind::kLiteral:
      return 0;
    case PathTemplate::Segment::Kind::kAny:
      return 1;
    case PathTemplate::Segment::Kind::kAnyMulti:
      return 2;
  }
  return 3;
}

}  // namespace

std::optional<SplitPath> split_path(std::string_view path) {
  if (path.empty() || path[0] != '/') return std::nullopt;
  SplitPath out;
  std::string_view rest = path.substr(1);
  while (true) {
    const size_t slash = rest.find('/');
    const std::string_view raw = rest.substr(0, slash);
    auto decoded = percent_decode(raw, /*plus_as_space=*/false);
    if (!decoded) return std::nullopt;
    out.segments.push_back(std::move(*decoded));
    if (slash == std::string_view::npos) {
      out.raw_last = std::string(raw);
      break;
    }
    rest = rest.substr(slash + 1);
  }
  return out;
}

util::Status PathTemplate::parse(std::string_view text, PathTemplate* out) {
  PathTemplate t;
  t.text_ = std::string(text);
  Parser parser(text, &t.segments_, &t.variables_);
  if (auto st = parser.parse(&t.verb_); !st.is_ok()) return st;
  const std::string where = "path template '" + t.text_ + "': ";
  for (size_t i = 0; i < t.segments_.size(); ++i) {
    if (t.segments_[i].kind == Segment::Kind::kAnyMulti && i + 1 != t.segments_.size()) {
      return util::invalid_argument(where + "'**' must be the last segment");
    }
  }
  std::set<std::string> seen;
  for (const auto& v : t.variables_) {
    if (!seen.insert(v.field_path).second) {
      return util::invalid_argument(where + "field '" + v.field_path + "' bound twice");
    }
  }
  *out = std::move(t);
  return {};
}

PathTemplate PathTemplate::root() {
  PathTemplate t;
  t.text_ = "/";
  t.segments_.push_back({Segment::Kind::kLiteral, ""});  // split_path("/"): one empty segment.
  return t;
}

bool PathTemplate::match(const SplitPath& path, std::vector<PathBinding>* bindings) const {
  const std::vector<std::string>* segs = &path.segments;
  std::vector<std::string> with_verb;
  if (!verb_.empty()) {
    const std::string suffix = ":" + verb_;
    if (!path.raw_last.ends_with(suffix)) return false;
    auto last = percent_decode(
        std::string_view(path.raw_last).substr(0, path.raw_last.size() - suffix.size()), false);
    if (!last) return false;
    with_verb = path.segments;
    with_verb.back() = std::move(*last);
    segs = &with_verb;
  }
  // spans[t] = [begin, end) of the request segments template segment t took.
  std::vector<std::pair<size_t, size_t>> spans(segments_.size());
  size_t i = 0;
  for (size_t t = 0; t < segments_.size(); ++t) {
    const Segment& s = segments_[t];
    if (s.kind == Segment::Kind::kAnyMulti) {  // Always last (checked in parse).
      spans[t] = {i, segs->size()};
      i = segs->size();
      continue;
    }
    if (i >= segs->size()) return false;
    if (s.kind == Segment::Kind::kLiteral && (*segs)[i] != s.literal) return false;
    if (s.kind == Segment::Kind::kAny && (*segs)[i].empty()) return false;
    spans[t] = {i, i + 1};
    ++i;
  }
  if (i != segs->size()) return false;

  bindings->clear();
  for (const Variable& v : variables_) {
    DKV_ASSERT(v.first_segment < v.end_segment);
    const size_t begin = spans[v.first_segment].first;
    const size_t end = spans[v.end_segment - 1].second;
    std::string value;
    for (size_t k = begin; k < end; ++k) {
      if (k > begin) value.push_back('/');
      value += (*segs)[k];
    }
    bindings->push_back({v.field_path, std::move(value)});
  }
  return true;
}

bool PathTemplate::more_specific(const PathTemplate& a, const PathTemplate& b) {
  const size_t n = std::min(a.segments_.size(), b.segments_.size());
  for (size_t k = 0; k < n; ++k) {
    const int ra = rank(a.segments_[k].kind);
    const int rb = rank(b.segments_[k].kind);
    if (ra != rb) return ra < rb;
  }
  if (a.segments_.size() != b.segments_.size()) return a.segments_.size() > b.segments_.size();
  return !a.verb_.empty() && b.verb_.empty();
}

}  // namespace dkv::api::gateway
