#include "checker_group.h"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <map>
#include <set>

#include "search.h"

namespace dkv::fault::group_detail {
namespace {

using search_detail::kInfinity;
using search_detail::SearchResult;
using search_detail::splitmix64;

// One key of the group: its value (0: absent; else an id per distinct value
// of this key) and its mod_revision as a token: the write's revision when
// reported or learned, a negative id unique to the write when nobody saw
// it, 0 when absent.
struct Cell {
  int value = 0;
  std::int64_t token = 0;
  bool operator==(const Cell&) const = default;
};

struct GroupState {
  std::vector<Cell> cells;
  // The highest reported revision of a write linearized so far: writes
  // take effect in revision order.
  std::int64_t last_revision = 0;
  bool operator==(const GroupState&) const = default;
};

std::uint64_t state_hash(const GroupState& s) {
  std::uint64_t h = static_cast<std::uint64_t>(s.last_revision) * 0x9e3779b97f4a7c15ULL;
  for (const Cell& c : s.cells) {
    h = (h ^ static_cast<std::uint64_t>(c.value)) * 0x100000001b3ULL;
    h = (h ^ static_cast<std::uint64_t>(c.token)) * 0x100000001b3ULL;
  }
  return h;
}

// What a read saw of one cell: a value id (0: absent) and its mod_revision
// (0: not reported).
struct Seen {
  int cell = 0;
  int value = 0;
  std::int64_t mod_revision = 0;
};

struct GroupOp {
  std::size_t history_index = 0;
  OpKind kind = OpKind::kGet;
  Outcome outcome = Outcome::kOk;
  int cell = 0;   // The key of a put, get, delete or cas.
  int value = 0;  // Written (put, cas), or read (get).
  bool found = false;
  std::int64_t token = 0;  // Of the write (put, cas).
  CasCompare compare = CasCompare::kModRevision;
  int compare_value = 0;
  std::int64_t compare_revision = 0;
  bool succeeded = false;
  std::vector<Seen> seen;  // Range: every cell in range; cas else: its cell.
  // A read's header revision (range, get, cas else; 0: not reported): the
  // model's writes so far must be at or below it.
  std::int64_t read_revision = 0;
  std::int64_t invoke_ns = 0;
  std::int64_t complete_ns = 0;
  std::uint64_t zobrist[2] = {0, 0};
};

bool matches(const Cell& c, const Seen& s) {
  if (c.value != s.value) return false;
  if (c.value == 0 || s.mod_revision == 0) return true;
  // A write whose revision was never learned: its value matched, and the
  // value is its own (unique per key), so accept.
  return c.token < 0 || c.token == s.mod_revision;
}

bool write(GroupState* s, int cell, int value, std::int64_t token) {
  if (token > 0) {
    if (token <= s->last_revision) return false;
    s->last_revision = token;
  }
  s->cells[cell] = Cell{value, token};
  return true;
}

bool all_seen(const GroupState& s, const std::vector<Seen>& seen) {
  return std::all_of(seen.begin(), seen.end(),
                     [&](const Seen& x) { return matches(s.cells[x.cell], x); });
}

bool step(const GroupOp& op, const GroupState& before, GroupState* after) {
  *after = before;
  if (op.read_revision != 0 && before.last_revision > op.read_revision) return false;
  // A range reads cells of its own (op.cell names none).
  if (op.kind == OpKind::kRange) return all_seen(before, op.seen);
  const Cell& c = before.cells[op.cell];
  switch (op.kind) {
    case OpKind::kPut:
      return write(after, op.cell, op.value, op.token);
    case OpKind::kGet:
      return op.found ? c.value == op.value : c.value == 0;
    case OpKind::kDelete:
      after->cells[op.cell] = Cell{};
      // An unknown op that would change nothing is never linearized:
      // leaving it out is the same history, and linearizing it anyway
      // makes 2^n sets of such ops that the memo cannot merge.
      if (op.outcome == Outcome::kUnknown) return c.value != 0;
      return op.found ? c.value != 0 : c.value == 0;
    case OpKind::kRange:
      return all_seen(before, op.seen);
    case OpKind::kCas: {
      const bool holds = op.compare == CasCompare::kValue
                             ? c.value != 0 && c.value == op.compare_value
                             : c.token == op.compare_revision;
      if (op.outcome == Outcome::kUnknown)
        return holds && write(after, op.cell, op.value, op.token);
      if (holds != op.succeeded) return false;
      if (op.succeeded) return write(after, op.cell, op.value, op.token);
      return all_seen(before, op.seen);
    }
  }
  return false;
}

// Builds the search ops: cells and value ids, what each read saw, and each
// write's revision token (reported, learned from a read of its value, or a
// fresh negative one). With `prune`, drops the unknown writes nobody saw.
class Builder {
 public:
  Builder(const std::vector<std::string>& keys, const std::vector<Op>& history)
      : keys_(keys), history_(history) {}

  std::vector<GroupOp> build(const std::vector<std::size_t>& indexes, bool prune) {
    learn(indexes);
    std::vector<GroupOp> out;
    std::uint64_t rng = 0x5eed;
    std::int64_t next_sentinel = -1;
    for (std::size_t i : indexes) {
      const Op& op = history_[i];
      const bool writes = op.kind == OpKind::kPut || op.kind == OpKind::kCas;
      if (prune && op.outcome == Outcome::kUnknown) {
        if (op.kind == OpKind::kDelete) continue;
        if (writes && !observed_.contains({cell(op.key), value_id(op.key, op.value)})) continue;
      }
      GroupOp g = base(i);
      if (writes) {
        auto it = revisions_.find({g.cell, g.value});
        g.token = op.revision > 0                            ? op.revision
                  : it != revisions_.end() && it->second > 0 ? it->second
                                                             : next_sentinel--;
      }
      g.zobrist[0] = splitmix64(&rng);
      g.zobrist[1] = splitmix64(&rng);
      out.push_back(std::move(g));
    }
    return out;
  }

  std::size_t cells() const { return keys_.size(); }

 private:
  int cell(const std::string& key) const {
    return static_cast<int>(std::lower_bound(keys_.begin(), keys_.end(), key) - keys_.begin());
  }
  int value_id(const std::string& key, const std::string& value) {
    auto [it, inserted] =
        ids_.emplace(std::make_pair(key, value), static_cast<int>(ids_.size()) + 1);
    return it->second;
  }

  std::vector<Seen> seen(const Op& op) {
    std::vector<Seen> out;
    const std::string& end = op.kind == OpKind::kRange ? op.range_end : std::string();
    for (const std::string& key : keys_) {
      if (!in_range(key, op.key, end)) continue;
      Seen s{cell(key), 0, 0};
      for (const ReadKv& kv : op.kvs) {
        if (kv.key == key) s = Seen{cell(key), value_id(key, kv.value), kv.mod_revision};
      }
      out.push_back(s);
    }
    return out;
  }

  GroupOp base(std::size_t i) {
    const Op& op = history_[i];
    GroupOp g;
    g.history_index = i;
    g.kind = op.kind;
    g.outcome = op.outcome;
    g.invoke_ns = op.invoke_ns;
    g.complete_ns = op.outcome == Outcome::kUnknown ? kInfinity : op.complete_ns;
    if (op.outcome == Outcome::kOk) g.read_revision = op.header_revision;
    if (op.kind == OpKind::kRange) {
      g.seen = seen(op);
      return g;
    }
    g.cell = cell(op.key);
    g.found = op.found;
    if (op.kind != OpKind::kDelete && (op.kind != OpKind::kGet || op.found)) {
      g.value = value_id(op.key, op.value);
    }
    if (op.kind == OpKind::kCas) {
      g.compare = op.compare;
      g.compare_value = value_id(op.key, op.compare_value);
      g.compare_revision = op.compare_revision;
      g.succeeded = op.succeeded;
      if (op.outcome == Outcome::kOk && !op.succeeded) g.seen = seen(op);
      if (op.succeeded) g.read_revision = 0;  // Header: the write's revision.
    }
    if (op.kind == OpKind::kPut || op.kind == OpKind::kDelete) g.read_revision = 0;
    return g;
  }

  // What reads saw: values (for pruning) and, per value, its mod_revision
  // (a write with an unreported revision takes it if exactly one was seen).
  void learn(const std::vector<std::size_t>& indexes) {
    std::map<std::pair<int, int>, std::set<std::int64_t>> seen_revisions;
    for (std::size_t i : indexes) {
      const Op& op = history_[i];
      if (op.outcome != Outcome::kOk) continue;
      if (op.kind == OpKind::kGet && op.found) {
        observed_.insert({cell(op.key), value_id(op.key, op.value)});
      }
      if (op.kind == OpKind::kCas && op.compare == CasCompare::kValue) {
        observed_.insert({cell(op.key), value_id(op.key, op.compare_value)});
      }
      for (const ReadKv& kv : op.kvs) {
        const std::pair<int, int> cv{cell(kv.key), value_id(kv.key, kv.value)};
        observed_.insert(cv);
        if (kv.mod_revision > 0) seen_revisions[cv].insert(kv.mod_revision);
      }
    }
    for (const auto& [cv, revs] : seen_revisions)
      revisions_[cv] = revs.size() == 1 ? *revs.begin() : 0;
  }

  const std::vector<std::string>& keys_;  // Sorted.
  const std::vector<Op>& history_;
  std::map<std::pair<std::string, std::string>, int> ids_;
  std::set<std::pair<int, int>> observed_;                 // (cell, value) some read saw.
  std::map<std::pair<int, int>, std::int64_t> revisions_;  // (cell, value) -> revision.
};

// The orders revisions give (search.h's Precedence), over ops that certainly
// took effect (kOk) and reported their revision: writes in revision order,
// a read at h after the last write at or below h and before the first
// write above it. The chain gives the rest by transitivity, so there are
// O(ops) edges.
search_detail::Precedence revision_order(const std::vector<GroupOp>& ops,
                                         const std::vector<Op>& history) {
  std::vector<std::pair<std::int64_t, int>> writes;  // (revision, op).
  for (int i = 0; i < static_cast<int>(ops.size()); ++i) {
    const Op& op = history[ops[i].history_index];
    if (op.outcome != Outcome::kOk || op.revision <= 0) continue;
    if (op.kind == OpKind::kPut || (op.kind == OpKind::kCas && op.succeeded))
      writes.push_back({op.revision, i});
  }
  search_detail::Precedence p;
  if (writes.empty()) return p;
  p.successors.resize(ops.size());
  std::stable_sort(writes.begin(), writes.end());
  for (std::size_t w = 1; w < writes.size(); ++w) {
    p.successors[writes[w - 1].second].push_back(writes[w].second);
  }
  for (int i = 0; i < static_cast<int>(ops.size()); ++i) {
    const std::int64_t h = ops[i].read_revision;
    if (h <= 0 || ops[i].outcome != Outcome::kOk) continue;
    const auto above = std::upper_bound(writes.begin(), writes.end(), std::make_pair(h, INT32_MAX));
    if (above != writes.begin()) p.successors[std::prev(above)->second].push_back(i);
    if (above != writes.end()) p.successors[i].push_back(above->second);
  }
  return p;
}

}  // namespace

bool in_range(const std::string& key, const std::string& begin, const std::string& end) {
  if (end.empty()) return key == begin;
  if (end == std::string(1, '\0')) return key >= begin;
  return key >= begin && key < end;
}

KeyResult check_group(const std::string& name, const std::vector<std::string>& keys,
                      const std::vector<Op>& history, std::vector<std::size_t> indexes,
                      const CheckOptions& options) {
  KeyResult kr;
  kr.key = name;
  std::stable_sort(indexes.begin(), indexes.end(), [&](std::size_t a, std::size_t b) {
    return history[a].invoke_ns < history[b].invoke_ns;
  });
  kr.op_indexes = indexes;
  kr.ops = indexes.size();
  const bool ordered = std::any_of(indexes.begin(), indexes.end(), [&](std::size_t i) {
    return history[i].outcome == Outcome::kOk && history[i].revision > 0;
  });
  if (kr.ops > (ordered ? options.ordered_ops_per_key_max : options.ops_per_key_max)) {
    kr.verdict = Verdict::kUnknown;
    return kr;
  }
  Builder builder(keys, history);
  GroupState initial;
  initial.cells.resize(builder.cells());
  std::vector<GroupOp> ops = builder.build(indexes, /*prune=*/true);
  SearchResult sr =
      search_detail::search(ops, initial, step, options, revision_order(ops, history));
  if (sr.verdict != Verdict::kOk) {
    // Maybe an unknown delete or unseen write explains the history: search all.
    const std::uint64_t pruned_steps = sr.steps;
    ops = builder.build(indexes, /*prune=*/false);
    sr = search_detail::search(ops, initial, step, options, revision_order(ops, history));
    sr.steps += pruned_steps;
  }
  kr.verdict = sr.verdict;
  kr.steps = sr.steps;
  for (int i : sr.longest) kr.longest_linearized.push_back(ops[i].history_index);
  return kr;
}

}  // namespace dkv::fault::group_detail
