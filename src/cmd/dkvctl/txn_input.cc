#include "txn_input.h"

#include <CLI/CLI.hpp>
#include <cctype>
#include <istream>
#include <ostream>

#include "kv_args.h"

namespace dkv::ctl {
namespace {

using etcdserverpb::Compare;

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

std::string trim(const std::string& s) {
  std::size_t b = 0;
  std::size_t e = s.size();
  while (b < e && is_space(s[b])) ++b;
  while (e > b && is_space(s[e - 1])) --e;
  return s.substr(b, e - b);
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void append_utf8(std::uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out->push_back(static_cast<char>(0xf0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

// One escape after a backslash at text[*pos] (Go's strconv.Unquote rules).
bool read_escape(const std::string& text, std::size_t* pos, std::string* out) {
  if (*pos >= text.size()) return false;
  const char c = text[(*pos)++];
  static const std::string kSimple = "abfnrtv\\\"'";
  static const std::string kValues = "\a\b\f\n\r\t\v\\\"'";
  if (const auto i = kSimple.find(c); i != std::string::npos) {
    out->push_back(kValues[i]);
    return true;
  }
  int digits = c == 'x' ? 2 : c == 'u' ? 4 : c == 'U' ? 8 : 0;
  const int base = digits > 0 ? 16 : 8;
  std::uint32_t v = 0;
  if (digits == 0) {
    if (c < '0' || c > '7') return false;
    v = static_cast<std::uint32_t>(c - '0');
    digits = 2;  // \NNN: three octal digits in all.
  }
  for (int i = 0; i < digits; ++i) {
    if (*pos >= text.size()) return false;
    const int d = hex_digit(text[(*pos)++]);
    if (d < 0 || d >= base) return false;
    v = v * static_cast<std::uint32_t>(base) + static_cast<std::uint32_t>(d);
  }
  if (c == 'u' || c == 'U') {
    if (v > 0x10ffff) return false;
    append_utf8(v, out);
  } else {
    if (v > 0xff) return false;
    out->push_back(static_cast<char>(v));
  }
  return true;
}

// ver("k") etc.: the compare's target and its value.
util::Status set_target(const std::string& line, const std::string& target, const std::string& val,
                        Compare* out) {
  auto integer = [&](std::int64_t* v) {
    std::size_t end = 0;
    try {
      *v = std::stoll(val, &end, 10);
    } catch (const std::exception&) {
      return false;
    }
    return end == val.size();
  };
  std::int64_t v = 0;
  if (target == "val" || target == "value") {
    out->set_target(Compare::VALUE);
    out->set_value(val);
    return util::Status::ok();
  }
  if (target == "lease") {
    out->set_target(Compare::LEASE);
    std::size_t end = 0;
    try {
      v = std::stoll(val, &end, 16);
    } catch (const std::exception&) {
      end = 0;
    }
    if (val.empty() || end != val.size()) {
      return util::invalid_argument("invalid txn compare request: " + line +
                                    " (a lease id is hexadecimal)");
    }
    out->set_lease(v);
    return util::Status::ok();
  }
  const bool known = target == "ver" || target == "version" || target == "c" ||
                     target == "create" || target == "m" || target == "mod";
  if (!known) {
    return util::invalid_argument("malformed comparison: " + line + " (unknown target " + target +
                                  ")");
  }
  if (!integer(&v)) return util::invalid_argument("invalid txn compare request: " + line);
  if (target[0] == 'v') {
    out->set_target(Compare::VERSION);
    out->set_version(v);
  } else if (target[0] == 'c') {
    out->set_target(Compare::CREATE);
    out->set_create_revision(v);
  } else {
    out->set_target(Compare::MOD);
    out->set_mod_revision(v);
  }
  return util::Status::ok();
}

// Reads one section's lines up to its blank line. `ended`: end of input
// came before any line of this section (the section is empty).
util::Status read_section(std::istream& in, const char* section, std::vector<std::string>* lines,
                          bool* ended) {
  *ended = false;
  std::string line;
  for (bool first = true;; first = false) {
    if (!std::getline(in, line)) {
      if (first) {
        *ended = true;
        return util::Status::ok();
      }
      return util::invalid_argument(std::string("unexpected end of input in the ") + section +
                                    ": end each section with a blank line");
    }
    if (in.eof()) {  // A last line without its newline: the input was cut.
      return util::invalid_argument(std::string("unexpected end of input in the ") + section +
                                    ": end each section with a blank line");
    }
    line = trim(line);
    if (line.empty()) return util::Status::ok();
    lines->push_back(line);
  }
}

}  // namespace

bool read_go_quoted(const std::string& text, std::size_t* pos, std::string* out) {
  std::size_t i = *pos;
  if (i >= text.size()) return false;
  const char quote = text[i++];
  if (quote != '"' && quote != '`') return false;
  std::string result;
  while (i < text.size()) {
    const char c = text[i++];
    if (c == quote) {
      *pos = i;
      *out = std::move(result);
      return true;
    }
    if (c == '\n') return false;
    if (c == '\\' && quote == '"') {
      if (!read_escape(text, &i, &result)) return false;
      continue;
    }
    result.push_back(c);
  }
  return false;
}

bool split_args(const std::string& line, std::vector<std::string>* out) {
  out->clear();
  std::size_t i = 0;
  while (i < line.size()) {
    if (is_space(line[i])) {
      ++i;
      continue;
    }
    std::string arg;
    if (line[i] == '"') {
      if (!read_go_quoted(line, &i, &arg)) return false;
    } else if (line[i] == '\'') {
      const std::size_t close = line.find('\'', i + 1);
      if (close == std::string::npos) return false;
      arg = line.substr(i + 1, close - i - 1);
      i = close + 1;
    } else {
      const std::size_t start = i;
      while (i < line.size() && !is_space(line[i])) ++i;
      arg = line.substr(start, i - start);
    }
    out->push_back(std::move(arg));
  }
  return true;
}

util::Status parse_compare(const std::string& line, Compare* out) {
  const auto malformed = [&] { return util::invalid_argument("malformed comparison: " + line); };
  const std::size_t paren = line.find('(');
  if (paren == std::string::npos) return malformed();
  const std::string target = line.substr(0, paren);
  std::size_t pos = paren + 1;
  std::string key;
  if (!read_go_quoted(line, &pos, &key) || pos >= line.size() || line[pos] != ')') {
    return malformed();
  }
  ++pos;
  while (pos < line.size() && is_space(line[pos])) ++pos;
  const std::size_t op_start = pos;
  while (pos < line.size() && !is_space(line[pos])) ++pos;
  const std::string op = line.substr(op_start, pos - op_start);
  while (pos < line.size() && is_space(line[pos])) ++pos;
  std::string val;
  if (op.empty() || !read_go_quoted(line, &pos, &val) || !trim(line.substr(pos)).empty()) {
    return malformed();
  }
  if (op == "=") {
    out->set_result(Compare::EQUAL);
  } else if (op == "!=") {
    out->set_result(Compare::NOT_EQUAL);
  } else if (op == "<") {
    out->set_result(Compare::LESS);
  } else if (op == ">") {
    out->set_result(Compare::GREATER);
  } else {
    return util::invalid_argument("malformed comparison: " + line + " (unknown operator " + op +
                                  "; use =, !=, < or >)");
  }
  out->set_key(key);
  return set_target(line, target, val, out);
}

util::Status parse_request_op(const std::string& line, etcdserverpb::RequestOp* out) {
  const auto invalid = [&] { return util::invalid_argument("invalid txn request: " + line); };
  std::vector<std::string> args;
  if (!split_args(line, &args) || args.size() < 2) return invalid();
  CLI::App app{"txn request", "txn"};
  KvArgs kv;
  add_put_args(app.add_subcommand("put"), &kv);
  add_get_args(app.add_subcommand("get"), &kv);
  add_del_args(app.add_subcommand("del"), &kv);
  app.require_subcommand(1);
  std::vector<const char*> argv = {"txn"};
  for (const auto& a : args) argv.push_back(a.c_str());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError&) {
    return invalid();
  }
  if (!decode_base64_args(&kv).empty()) return invalid();
  util::Status s;
  if (args[0] == "put") {
    s = make_put(kv, out->mutable_request_put());
  } else if (args[0] == "get") {
    s = make_range(kv, out->mutable_request_range());
  } else {
    s = make_delete(kv, out->mutable_request_delete_range());
  }
  if (!s.is_ok())
    return util::invalid_argument("invalid txn request: " + line + " (" + s.message() + ")");
  return util::Status::ok();
}

util::Status read_txn(std::istream& in, std::ostream* prompts, etcdserverpb::TxnRequest* out) {
  static const char* kPrompts[] = {
      "compares:", "success requests (get, put, del):", "failure requests (get, put, del):"};
  static const char* kSections[] = {"compares", "success requests", "failure requests"};
  bool ended = false;
  for (int section = 0; section < 3; ++section) {
    if (prompts != nullptr) *prompts << kPrompts[section] << std::endl;
    std::vector<std::string> lines;
    if (!ended) {
      if (auto s = read_section(in, kSections[section], &lines, &ended); !s.is_ok()) return s;
    }
    for (const auto& line : lines) {
      util::Status s;
      if (section == 0) {
        s = parse_compare(line, out->add_compare());
      } else {
        s = parse_request_op(line, section == 1 ? out->add_success() : out->add_failure());
      }
      if (!s.is_ok()) return s;
    }
  }
  return util::Status::ok();
}

}  // namespace dkv::ctl
