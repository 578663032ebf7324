// The search of the linearizability checker (checker.h), shared by its
// models: Wing & Gong's event list with Lowe's memoization, as porcupine's
// checkSingle, generic over the model's state and step. Internal to
// tests/fault (checker.cc, checker_group.cc).
// Threading: pure functions.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <unordered_set>
#include <utility>
#include <vector>

#include "checker.h"

namespace dkv::fault::search_detail {

constexpr std::int64_t kInfinity = std::numeric_limits<std::int64_t>::max();

inline std::uint64_t splitmix64(std::uint64_t* x) {
  std::uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// A configuration of the search: the set of linearized ops, as a 128-bit
// Zobrist hash (hash compaction, as in SPIN: a false "seen" needs a 128-bit
// collision), and the model state.
// State: the model's state, equality-comparable, hashed by state_hash().
inline std::uint64_t state_hash(int state) { return static_cast<std::uint64_t>(state); }

template <typename State>
struct Config {
  std::uint64_t h0;
  std::uint64_t h1;
  State state;
  bool operator==(const Config&) const = default;
};

template <typename State>
struct ConfigHash {
  std::size_t operator()(const Config<State>& c) const {
    return static_cast<std::size_t>(c.h0 ^ (c.h1 * 31) ^ state_hash(c.state));
  }
};

// The event list of Wing & Gong: calls and returns in time order, as a
// doubly linked list so linearized ops can be lifted out and put back.
class EventList {
 public:
  // Ops: anything with invoke_ns and complete_ns.
  template <typename Ops>
  explicit EventList(const Ops& ops) {
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

// Orders that the model knows before the search (e.g. from revisions): op
// `b` in successors[a] can be linearized only once `a` is. Only ops that
// certainly took effect may carry edges. Eligibility depends on the set of
// linearized ops alone, which the memoized configuration holds, so Lowe's
// cache stays sound. Indexes are into the search ops.
struct Precedence {
  std::vector<std::vector<int>> successors;  // Empty: no order known.
};

struct SearchResult {
  Verdict verdict = Verdict::kOk;
  std::uint64_t steps = 0;
  std::vector<int> longest;  // Indexes into the search ops.
};

// Wing & Gong with Lowe's memoization (porcupine's checkSingle). Succeeds as
// soon as every kOk op is linearized: the pending kUnknown ones then go last,
// which is always legal (their completion is +infinity, their result free).
// Ops: a vector of anything with outcome, invoke_ns, complete_ns (kInfinity
// for kUnknown) and zobrist[2]. Step: bool(const Op&, const State& before,
// State* after), true if the op can take effect in `before`.
// `precedence` (optional) cuts the search: an op waits for its predecessors.
template <typename State, typename Ops, typename Step>
SearchResult search(const Ops& ops, State initial, const Step& step, const CheckOptions& options,
                    const Precedence& precedence = {}) {
  SearchResult r;
  std::size_t ok_total = 0;
  for (const auto& op : ops) ok_total += op.outcome == Outcome::kOk;
  // blocked[i]: predecessors of op i not linearized yet.
  std::vector<int> blocked(ops.size(), 0);
  for (const auto& succ : precedence.successors) {
    for (int b : succ) ++blocked[b];
  }
  auto release = [&](int op_index, int delta) {
    if (precedence.successors.empty()) return;
    for (int b : precedence.successors[op_index]) blocked[b] += delta;
  };
  EventList list(ops);
  struct Frame {
    int call;
    State state_before;
  };
  std::vector<Frame> stack;
  std::unordered_set<Config<State>, ConfigHash<State>> seen;
  Config<State> cur{0, 0, std::move(initial)};
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
      const auto& op = ops[list.op(e)];
      State next_state{};
      if (blocked[list.op(e)] == 0 && step(op, cur.state, &next_state)) {
        Config<State> c{cur.h0 ^ op.zobrist[0], cur.h1 ^ op.zobrist[1], std::move(next_state)};
        if (seen.insert(c).second) {
          stack.push_back({e, std::move(cur.state)});
          cur = std::move(c);
          ok_linearized += op.outcome == Outcome::kOk;
          release(list.op(e), -1);
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
    Frame f = std::move(stack.back());
    stack.pop_back();
    low = std::min(low, stack.size());
    const auto& op = ops[list.op(f.call)];
    cur = Config<State>{cur.h0 ^ op.zobrist[0], cur.h1 ^ op.zobrist[1], std::move(f.state_before)};
    ok_linearized -= op.outcome == Outcome::kOk;
    release(list.op(f.call), +1);
    list.unlift(f.call);
    e = list.next(f.call);
  }
  remember_longest();
  return r;
}

}  // namespace dkv::fault::search_detail
