#include "checker.h"
#include "checker_group.h"
#include "search.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <unordered_set>

namespace dkv::fault {

const char* to_string(Verdict v) {
  switch (v) {
    case Verdict::kOk:
      return "linearizable";
    case Verdict::kViolation:
      return "VIOLATION";
    case Verdict::kUnknown:
      return "unknown (search bound reached)";
  }
  return "?";
}

const char* to_string(OpKind k) {
  switch (k) {
    case OpKind::kPut:
      return "put";
    case OpKind::kGet:
      return "get";
    case OpKind::kDelete:
      return "delete";
    case OpKind::kCas:
      return "cas";
    case OpKind::kRange:
      return "range";
  }
  return "?";
}

const char* to_string(Outcome o) {
  switch (o) {
    case Outcome::kOk:
      return "ok";
    case Outcome::kFailed:
      return "failed";
    case Outcome::kUnknown:
      return "unknown";
  }
  return "?";
}

namespace {

// Exact: parse_op() reads the ns back.
std::string ms(std::int64_t ns) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%s%lld.%06lldms", ns < 0 ? "-" : "",
                static_cast<long long>((ns < 0 ? -ns : ns) / 1'000'000),
                static_cast<long long>((ns < 0 ? -ns : ns) % 1'000'000));
  return buf;
}

// Percent-encodes what would break a report line's tokens.
std::string escape(const std::string& in) {
  static const std::string kSpecial = "% ,=@()[]";
  std::string out;
  for (unsigned char c : in) {
    if (c < 0x21 || c > 0x7e || kSpecial.find(static_cast<char>(c)) != std::string::npos) {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string unescape(const std::string& in) {
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size()) {
      out += static_cast<char>(std::stoi(in.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += in[i];
    }
  }
  return out;
}

// "k1=v1@3,k2=v2@5", or "none".
std::string describe_kvs(const std::vector<ReadKv>& kvs) {
  if (kvs.empty()) return "none";
  std::string s;
  for (const ReadKv& kv : kvs) {
    if (!s.empty()) s += ",";
    s += escape(kv.key) + "=" + escape(kv.value) + "@" + std::to_string(kv.mod_revision);
  }
  return s;
}

bool parse_kvs(const std::string& token, std::vector<ReadKv>* kvs) {
  kvs->clear();
  if (token == "none") return true;
  std::istringstream in(token);
  for (std::string item; std::getline(in, item, ',');) {
    const auto eq = item.find('=');
    const auto at = item.rfind('@');
    if (eq == std::string::npos || at == std::string::npos || at < eq) return false;
    kvs->push_back({unescape(item.substr(0, eq)), unescape(item.substr(eq + 1, at - eq - 1)),
                    std::atoll(item.c_str() + at + 1)});
  }
  return true;
}

// The short label of an op's call and result: "put v7", "get -> v7",
// "get -> absent", "delete -> 1", with "?" for an unknown outcome.
std::string label(const Op& op) {
  std::string s;
  switch (op.kind) {
    case OpKind::kPut:
      s = "put " + op.value;
      if (op.outcome == Outcome::kOk && op.revision != 0)
        s += " -> @" + std::to_string(op.revision);
      break;
    case OpKind::kCas:
      s = "cas " +
          (op.compare == CasCompare::kValue ? "value=" + escape(op.compare_value)
                                            : "mod=" + std::to_string(op.compare_revision)) +
          " " + escape(op.value);
      if (op.outcome == Outcome::kOk && op.succeeded)
        s += " -> then @" + std::to_string(op.revision);
      if (op.outcome == Outcome::kOk && !op.succeeded) s += " -> else " + describe_kvs(op.kvs);
      break;
    case OpKind::kRange:
      s = "range end=" + escape(op.range_end);
      if (op.outcome == Outcome::kOk) s += " -> " + describe_kvs(op.kvs);
      break;
    case OpKind::kGet:
      s = "get";
      if (op.outcome == Outcome::kOk) s += op.found ? " -> " + op.value : " -> absent";
      break;
    case OpKind::kDelete:
      s = "delete";
      if (op.outcome == Outcome::kOk) s += op.found ? " -> 1" : " -> 0";
      break;
  }
  const bool read = op.kind == OpKind::kRange || op.kind == OpKind::kGet ||
                    (op.kind == OpKind::kCas && !op.succeeded);
  if (read && op.outcome == Outcome::kOk && op.header_revision != 0)
    s += " @" + std::to_string(op.header_revision);
  if (op.outcome == Outcome::kUnknown) s += " ?";
  if (op.outcome == Outcome::kFailed) s += " (failed)";
  return s;
}

}  // namespace

std::string describe(const Op& op) {
  std::string s = "c" + std::to_string(op.client) + " " + op.key + ": " + label(op) + " " +
                  to_string(op.outcome) + " [" + ms(op.invoke_ns) + ", " +
                  (op.outcome == Outcome::kUnknown ? "inf, gave up at " : "") + ms(op.complete_ns) +
                  "]";
  if (!op.note.empty()) s += " (" + op.note + ")";
  return s;
}

namespace {

// "12.000345ms" -> 12000345.
bool parse_ms(const std::string& s, std::int64_t* ns) {
  long long whole = 0, frac = 0;
  char unit[3] = {};
  if (std::sscanf(s.c_str(), "%lld.%6lld%2s", &whole, &frac, unit) != 3) return false;
  if (std::string(unit) != "ms") return false;
  *ns = whole * 1'000'000 + (s[0] == '-' ? -frac : frac);
  return true;
}

// A read's "@h" (its header revision) at t[i], if there.
void parse_header_revision(const std::vector<std::string>& t, std::size_t i, Op* op) {
  if (i + 1 < t.size() && t[i].size() > 1 && t[i][0] == '@') {
    op->header_revision = std::atoll(t[i].c_str() + 1);
  }
}

// The label of a kCas or kRange op, as label() writes it; `t` are the
// line's tokens ("c1", "key:", kind, ..., outcome).
bool parse_etcd_op(const std::vector<std::string>& t, Op* op) {
  if (t[2] == "range") {
    if (t.size() < 5 || t[3].rfind("end=", 0) != 0) return false;
    op->kind = OpKind::kRange;
    op->range_end = unescape(t[3].substr(4));
    if (t.size() < 7 || t[4] != "->") return true;
    parse_header_revision(t, 6, op);
    return parse_kvs(t[5], &op->kvs);
  }
  if (t.size() < 6) return false;
  op->kind = OpKind::kCas;
  if (t[3].rfind("mod=", 0) == 0) {
    op->compare = CasCompare::kModRevision;
    op->compare_revision = std::atoll(t[3].c_str() + 4);
  } else if (t[3].rfind("value=", 0) == 0) {
    op->compare = CasCompare::kValue;
    op->compare_value = unescape(t[3].substr(6));
  } else {
    return false;
  }
  op->value = unescape(t[4]);
  if (t.size() < 9 || t[5] != "->") return true;
  op->succeeded = t[6] == "then";
  if (op->succeeded) {
    op->revision = std::atoll(t[7].c_str() + (t[7][0] == '@' ? 1 : 0));
    return true;
  }
  parse_header_revision(t, 8, op);
  return t[6] == "else" && parse_kvs(t[7], &op->kvs);
}

}  // namespace

bool parse_op(const std::string& line, Op* op) {
  const auto open = line.find(" [");
  const auto close = line.find(']', open == std::string::npos ? 0 : open);
  if (open == std::string::npos || close == std::string::npos) return false;
  std::istringstream head(line.substr(0, open));
  std::vector<std::string> t;
  for (std::string w; head >> w;) t.push_back(w);
  if (t.size() < 4 || t[0].size() < 2 || t[0][0] != 'c' || t[1].back() != ':') return false;
  *op = Op{};
  op->client = std::atoi(t[0].c_str() + 1);
  op->key = t[1].substr(0, t[1].size() - 1);
  const std::string& outcome = t.back();
  if (outcome == "ok")
    op->outcome = Outcome::kOk;
  else if (outcome == "unknown")
    op->outcome = Outcome::kUnknown;
  else if (outcome == "failed")
    op->outcome = Outcome::kFailed;
  else
    return false;
  const bool has_result = t.size() >= 6 && t[3] == "->";
  if (t[2] == "put" && t.size() >= 5) {
    op->kind = OpKind::kPut;
    op->value = t[3];
    if (t.size() >= 7 && t[4] == "->" && t[5].size() > 1 && t[5][0] == '@') {
      op->revision = std::atoll(t[5].c_str() + 1);
    }
  } else if (t[2] == "cas" || t[2] == "range") {
    if (!parse_etcd_op(t, op)) return false;
  } else if (t[2] == "get") {
    op->kind = OpKind::kGet;
    op->found = has_result && t[4] != "absent";
    if (op->found) op->value = t[4];
    if (has_result) parse_header_revision(t, 5, op);
  } else if (t[2] == "delete") {
    op->kind = OpKind::kDelete;
    op->found = has_result && t[4] == "1";
  } else {
    return false;
  }
  // Times: "[a, b]" or "[a, inf, gave up at b]".
  const std::string times = line.substr(open + 2, close - open - 2);
  const auto comma = times.find(", ");
  const auto last = times.rfind(' ');
  if (comma == std::string::npos) return false;
  if (!parse_ms(times.substr(0, comma), &op->invoke_ns)) return false;
  if (!parse_ms(times.substr(last + 1), &op->complete_ns)) return false;
  if (close + 3 < line.size() && line.compare(close + 1, 2, " (") == 0 && line.back() == ')') {
    op->note = line.substr(close + 3, line.size() - close - 4);
  }
  return true;
}

const KeyResult* CheckResult::smallest_violation() const {
  const KeyResult* best = nullptr;
  for (const auto& k : keys) {
    if (k.verdict != Verdict::kViolation) continue;
    if (best == nullptr || k.ops < best->ops) best = &k;
  }
  return best;
}

namespace {

using search_detail::kInfinity;
using search_detail::search;
using search_detail::SearchResult;
using search_detail::splitmix64;

// The register model of one key. State 0 is "absent"; a value's state is its
// id (1, 2, ...). A get of a value no put wrote gets an id no put sets, so it
// can never be linearized.
struct SearchOp {
  std::size_t history_index;
  OpKind kind;
  Outcome outcome;
  bool found;
  int value_id;  // kPut: the value written; kGet found: the value read.
  std::int64_t invoke_ns;
  std::int64_t complete_ns;  // kInfinity for kUnknown.
  std::uint64_t zobrist[2];  // Random bits of this op for the set hash.
};

// Model step: can `op` take effect in `state`, and what state follows?
bool step(const SearchOp& op, int state, int* next) {
  *next = state;
  switch (op.kind) {
    case OpKind::kPut:
      *next = op.value_id;
      return true;
    case OpKind::kGet:
      // Unknown gets never reach the search (their result is unconstrained).
      return op.found ? state == op.value_id : state == 0;
    case OpKind::kDelete:
      *next = 0;
      // An unknown delete of nothing changes nothing: never linearized
      // (as checker_group.cc's step, which says why).
      if (op.outcome == Outcome::kUnknown) return state != 0;
      return op.found ? state != 0 : state == 0;
    case OpKind::kCas:
    case OpKind::kRange:
      return false;  // Groups with these take the etcd model (checker_group.cc).
  }
  return false;
}

// This key's ops for the search. With `prune`, drops the kUnknown ops nobody
// can have observed (deletes, and puts whose value no get returned): if the
// rest is linearizable so is the whole, with the dropped ops placed last.
std::vector<SearchOp> search_ops(const std::vector<Op>& history,
                                 const std::vector<std::size_t>& indexes, bool prune) {
  std::map<std::string, int> ids;
  auto id = [&](const std::string& v) {
    auto [it, inserted] = ids.emplace(v, static_cast<int>(ids.size()) + 1);
    return it->second;
  };
  std::unordered_set<std::string> read_values;
  for (std::size_t i : indexes) {
    const Op& op = history[i];
    if (op.kind == OpKind::kGet && op.outcome == Outcome::kOk && op.found) {
      read_values.insert(op.value);
    }
  }
  std::vector<SearchOp> out;
  std::uint64_t rng = 0x5eed;
  for (std::size_t i : indexes) {
    const Op& op = history[i];
    if (prune && op.outcome == Outcome::kUnknown) {
      if (op.kind == OpKind::kDelete) continue;
      if (op.kind == OpKind::kPut && !read_values.contains(op.value)) continue;
    }
    SearchOp s{};
    s.history_index = i;
    s.kind = op.kind;
    s.outcome = op.outcome;
    s.found = op.found;
    const bool has_value = op.kind == OpKind::kPut || (op.kind == OpKind::kGet && op.found);
    s.value_id = has_value ? id(op.value) : 0;
    s.invoke_ns = op.invoke_ns;
    s.complete_ns = op.outcome == Outcome::kUnknown ? kInfinity : op.complete_ns;
    s.zobrist[0] = splitmix64(&rng);
    s.zobrist[1] = splitmix64(&rng);
    out.push_back(s);
  }
  return out;
}

KeyResult check_key(const std::string& key, const std::vector<Op>& history,
                    std::vector<std::size_t> indexes, const CheckOptions& options) {
  KeyResult kr;
  kr.key = key;
  std::stable_sort(indexes.begin(), indexes.end(), [&](std::size_t a, std::size_t b) {
    return history[a].invoke_ns < history[b].invoke_ns;
  });
  kr.op_indexes = indexes;
  kr.ops = indexes.size();
  if (kr.ops > options.ops_per_key_max) {
    kr.verdict = Verdict::kUnknown;
    return kr;
  }
  SearchResult sr;
  std::vector<SearchOp> ops = search_ops(history, indexes, /*prune=*/true);
  sr = search(ops, 0, step, options);
  if (sr.verdict != Verdict::kOk) {
    // Maybe an unknown delete or unread put explains the history: search all.
    const std::uint64_t pruned_steps = sr.steps;
    ops = search_ops(history, indexes, /*prune=*/false);
    sr = search(ops, 0, step, options);
    sr.steps += pruned_steps;
  }
  kr.verdict = sr.verdict;
  kr.steps = sr.steps;
  for (int i : sr.longest) kr.longest_linearized.push_back(ops[i].history_index);
  return kr;
}

}  // namespace

namespace {

// Keys that ranges join into groups (union-find by key), each group with
// its ops. A range that covers no key is a group of its own.
struct Group {
  std::vector<std::string> keys;  // Sorted.
  std::vector<std::size_t> indexes;
  bool registers_only = true;  // Put, get and delete of one key: the register model.
};

std::map<std::string, Group> groups_of(const std::vector<Op>& history,
                                       const std::vector<std::size_t>& relevant) {
  std::set<std::string> keys;
  for (std::size_t i : relevant) {
    if (history[i].kind != OpKind::kRange) keys.insert(history[i].key);
    for (const ReadKv& kv : history[i].kvs) keys.insert(kv.key);
  }
  std::map<std::string, std::string> parent;
  for (const auto& k : keys) parent[k] = k;
  auto find = [&](std::string k) {
    while (parent[k] != k) k = parent[k] = parent[parent[k]];
    return k;
  };
  std::map<std::size_t, std::string> range_root;
  for (std::size_t i : relevant) {
    const Op& op = history[i];
    if (op.kind != OpKind::kRange) continue;
    std::string root;
    for (const auto& k : keys) {
      if (!group_detail::in_range(k, op.key, op.range_end)) continue;
      if (root.empty()) root = find(k);
      parent[find(k)] = root;
    }
    if (root.empty()) {
      root = "range " + op.key + ".." + op.range_end;
      parent[root] = root;
    }
    range_root[i] = root;
  }
  std::map<std::string, Group> groups;
  for (const auto& k : keys) groups[find(k)].keys.push_back(k);
  for (std::size_t i : relevant) {
    const Op& op = history[i];
    Group& g = groups[op.kind == OpKind::kRange ? find(range_root[i]) : find(op.key)];
    g.indexes.push_back(i);
    g.registers_only = g.registers_only && op.kind != OpKind::kCas && op.kind != OpKind::kRange &&
                       op.revision == 0;
  }
  for (auto& [root, g] : groups) g.registers_only = g.registers_only && g.keys.size() == 1;
  return groups;
}

}  // namespace

CheckResult check(const std::vector<Op>& history, const CheckOptions& options) {
  std::vector<std::size_t> relevant;
  for (std::size_t i = 0; i < history.size(); ++i) {
    const Op& op = history[i];
    if (op.outcome == Outcome::kFailed) continue;  // Did not happen.
    const bool read = op.kind == OpKind::kGet || op.kind == OpKind::kRange;
    if (op.outcome == Outcome::kUnknown && read) continue;  // No effect.
    relevant.push_back(i);
  }
  CheckResult result;
  for (auto& [root, g] : groups_of(history, relevant)) {
    std::string name;
    for (const auto& k : g.keys) name += (name.empty() ? "" : ",") + k;
    if (name.empty()) name = root;
    result.keys.push_back(
        g.registers_only
            ? check_key(name, history, std::move(g.indexes), options)
            : group_detail::check_group(name, g.keys, history, std::move(g.indexes), options));
    const Verdict v = result.keys.back().verdict;
    if (v == Verdict::kViolation) result.verdict = Verdict::kViolation;
    if (v == Verdict::kUnknown && result.verdict == Verdict::kOk) {
      result.verdict = Verdict::kUnknown;
    }
  }
  return result;
}

}  // namespace dkv::fault
