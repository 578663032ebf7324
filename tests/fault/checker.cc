#include "checker.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
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

// The short label of an op's call and result: "put v7", "get -> v7",
// "get -> absent", "delete -> 1", with "?" for an unknown outcome.
std::string label(const Op& op) {
  std::string s;
  switch (op.kind) {
    case OpKind::kPut:
      s = "put " + op.value;
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
  } else if (t[2] == "get") {
    op->kind = OpKind::kGet;
    op->found = has_result && t[4] != "absent";
    if (op->found) op->value = t[4];
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

constexpr std::int64_t kInfinity = std::numeric_limits<std::int64_t>::max();

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
      if (op.outcome == Outcome::kUnknown) return true;
      return op.found ? state != 0 : state == 0;
  }
  return false;
}

std::uint64_t splitmix64(std::uint64_t* x) {
  std::uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// A configuration of the search: the set of linearized ops, as a 128-bit
// Zobrist hash (hash compaction, as in SPIN: a false "seen" needs a 128-bit
// collision), and the model state.
struct Config {
  std::uint64_t h0;
  std::uint64_t h1;
  int state;
  bool operator==(const Config&) const = default;
};

struct ConfigHash {
  std::size_t operator()(const Config& c) const {
    return static_cast<std::size_t>(c.h0 ^ (c.h1 * 31) ^ static_cast<std::uint64_t>(c.state));
  }
};

// The event list of Wing & Gong: calls and returns in time order, as a
// doubly linked list so linearized ops can be lifted out and put back.
class EventList {
 public:
  explicit EventList(const std::vector<SearchOp>& ops) {
    const int n = static_cast<int>(ops.size());
    struct Ev {
      std::int64_t time;
      bool call;
      int op;
    };
    std::vector<Ev> evs;
    for (int i = 0; i < n; ++i) {
      evs.push_back({ops[i].invoke_ns, true, i});
      evs.push_back({ops[i].complete_ns, false, i});
    }
    // At equal times a call comes first: the ops then overlap, the lenient
    // reading of a tie (as porcupine does).
    std::stable_sort(evs.begin(), evs.end(), [](const Ev& a, const Ev& b) {
      if (a.time != b.time) return a.time < b.time;
      return a.call && !b.call;
    });
    const int m = static_cast<int>(evs.size());
    head_ = m;
    next_.assign(m + 1, -1);
    prev_.assign(m + 1, -1);
    op_.assign(m, 0);
    call_.assign(m, false);
    match_.assign(m, -1);
    std::vector<int> call_of(n, -1);
    int last = head_;
    for (int e = 0; e < m; ++e) {
      op_[e] = evs[e].op;
      call_[e] = evs[e].call;
      if (evs[e].call) {
        call_of[evs[e].op] = e;
      } else {
        match_[call_of[evs[e].op]] = e;
      }
      next_[last] = e;
      prev_[e] = last;
      last = e;
    }
  }

  int first() const { return next_[head_]; }
  int next(int e) const { return next_[e]; }
  bool is_call(int e) const { return call_[e]; }
  int op(int e) const { return op_[e]; }

  // Removes a call and its return from the list.
  void lift(int call) {
    unlink(call);
    unlink(match_[call]);
  }
  // Undoes the last lift(call): lifts and unlifts nest like a stack.
  void unlift(int call) {
    relink(match_[call]);
    relink(call);
  }

 private:
  void unlink(int e) {
    next_[prev_[e]] = next_[e];
    if (next_[e] != -1) prev_[next_[e]] = prev_[e];
  }
  void relink(int e) {
    next_[prev_[e]] = e;
    if (next_[e] != -1) prev_[next_[e]] = e;
  }

  int head_ = 0;  // Sentinel.
  std::vector<int> next_, prev_, op_, match_;
  std::vector<bool> call_;
};

struct SearchResult {
  Verdict verdict = Verdict::kOk;
  std::uint64_t steps = 0;
  std::vector<int> longest;  // Indexes into the search ops.
};

// Wing & Gong with Lowe's memoization (porcupine's checkSingle). Succeeds as
// soon as every kOk op is linearized: the pending kUnknown ones then go last,
// which is always legal (their completion is +infinity, their result free).
SearchResult search(const std::vector<SearchOp>& ops, const CheckOptions& options) {
  SearchResult r;
  std::size_t ok_total = 0;
  for (const auto& op : ops) ok_total += op.outcome == Outcome::kOk;
  EventList list(ops);
  struct Frame {
    int call;
    int state_before;
  };
  std::vector<Frame> stack;
  std::unordered_set<Config, ConfigHash> seen;
  Config cur{0, 0, 0};
  std::size_t ok_linearized = 0;
  constexpr std::size_t kSeenMax = 8'000'000;  // Bounds memory (~0.5 GiB).
  int e = list.first();
  // r.longest[0, low) == stack[0, low): the stack only changed above `low`
  // since the last copy, so copying is amortized O(1) per step.
  std::size_t low = 0;
  auto remember_longest = [&] {
    if (stack.size() <= r.longest.size()) return;
    r.longest.resize(std::min(low, r.longest.size()));
    for (std::size_t k = r.longest.size(); k < stack.size(); ++k) {
      r.longest.push_back(list.op(stack[k].call));
    }
    low = stack.size();
  };
  while (ok_linearized < ok_total) {
    if (++r.steps > options.steps_per_key_max || seen.size() > kSeenMax) {
      remember_longest();
      r.verdict = Verdict::kUnknown;
      return r;
    }
    if (e == -1) {  // Cannot happen: every pending call has its return after it.
      r.verdict = Verdict::kUnknown;
      return r;
    }
    if (list.is_call(e)) {
      const SearchOp& op = ops[list.op(e)];
      int next_state = 0;
      if (step(op, cur.state, &next_state)) {
        const Config c{cur.h0 ^ op.zobrist[0], cur.h1 ^ op.zobrist[1], next_state};
        if (seen.insert(c).second) {
          stack.push_back({e, cur.state});
          cur = c;
          ok_linearized += op.outcome == Outcome::kOk;
          list.lift(e);
          e = list.first();
          continue;
        }
      }
      e = list.next(e);
      continue;
    }
    // A return whose call is still pending: backtrack.
    remember_longest();
    if (stack.empty()) {
      r.verdict = Verdict::kViolation;
      return r;
    }
    const Frame f = stack.back();
    stack.pop_back();
    low = std::min(low, stack.size());
    const SearchOp& op = ops[list.op(f.call)];
    cur = Config{cur.h0 ^ op.zobrist[0], cur.h1 ^ op.zobrist[1], f.state_before};
    ok_linearized -= op.outcome == Outcome::kOk;
    list.unlift(f.call);
    e = list.next(f.call);
  }
  remember_longest();
  return r;
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
  sr = search(ops, options);
  if (sr.verdict != Verdict::kOk) {
    // Maybe an unknown delete or unread put explains the history: search all.
    const std::uint64_t pruned_steps = sr.steps;
    ops = search_ops(history, indexes, /*prune=*/false);
    sr = search(ops, options);
    sr.steps += pruned_steps;
  }
  kr.verdict = sr.verdict;
  kr.steps = sr.steps;
  for (int i : sr.longest) kr.longest_linearized.push_back(ops[i].history_index);
  return kr;
}

}  // namespace

CheckResult check(const std::vector<Op>& history, const CheckOptions& options) {
  std::map<std::string, std::vector<std::size_t>> by_key;
  for (std::size_t i = 0; i < history.size(); ++i) {
    const Op& op = history[i];
    if (op.outcome == Outcome::kFailed) continue;                              // Did not happen.
    if (op.outcome == Outcome::kUnknown && op.kind == OpKind::kGet) continue;  // No effect.
    by_key[op.key].push_back(i);
  }
  CheckResult result;
  for (auto& [key, indexes] : by_key) {
    result.keys.push_back(check_key(key, history, std::move(indexes), options));
    const Verdict v = result.keys.back().verdict;
    if (v == Verdict::kViolation) result.verdict = Verdict::kViolation;
    if (v == Verdict::kUnknown && result.verdict == Verdict::kOk) {
      result.verdict = Verdict::kUnknown;
    }
  }
  return result;
}

}  // namespace dkv::fault
