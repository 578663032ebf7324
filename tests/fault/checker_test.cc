// Unit tests of the linearizability checker with hand-made histories. Times
// are in ms here for readability (the checker only compares them).
#include "checker.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace dkv::fault {
namespace {

constexpr std::int64_t kMs = 1'000'000;

Op put(int client, std::int64_t from_ms, std::int64_t to_ms, const std::string& value,
       Outcome outcome = Outcome::kOk, const std::string& key = "k") {
  Op op;
  op.client = client;
  op.key = key;
  op.kind = OpKind::kPut;
  op.value = value;
  op.outcome = outcome;
  op.invoke_ns = from_ms * kMs;
  op.complete_ns = to_ms * kMs;
  return op;
}

// A get that returned `value`; "" means the key was absent (404).
Op get(int client, std::int64_t from_ms, std::int64_t to_ms, const std::string& value,
       Outcome outcome = Outcome::kOk, const std::string& key = "k") {
  Op op = put(client, from_ms, to_ms, value, outcome, key);
  op.kind = OpKind::kGet;
  op.found = !value.empty();
  return op;
}

Op del(int client, std::int64_t from_ms, std::int64_t to_ms, bool deleted,
       Outcome outcome = Outcome::kOk, const std::string& key = "k") {
  Op op = put(client, from_ms, to_ms, "", outcome, key);
  op.kind = OpKind::kDelete;
  op.found = deleted;
  return op;
}

Verdict verdict(const std::vector<Op>& h) { return check(h).verdict; }

TEST(CheckerTest, EmptyHistoryIsLinearizable) { EXPECT_EQ(verdict({}), Verdict::kOk); }

TEST(CheckerTest, SequentialOk) {
  EXPECT_EQ(
      verdict({get(0, 0, 1, ""), put(0, 2, 3, "a"), get(1, 4, 5, "a"), put(1, 6, 7, "b"),
               get(0, 8, 9, "b"), del(0, 10, 11, true), get(1, 12, 13, ""), del(1, 14, 15, false)}),
      Verdict::kOk);
}

TEST(CheckerTest, SequentialWrongReadIsAViolation) {
  EXPECT_EQ(verdict({put(0, 0, 1, "a"), put(0, 2, 3, "b"), get(1, 4, 5, "a")}),
            Verdict::kViolation);
}

TEST(CheckerTest, ConcurrentOverlappingWritesEitherOrder) {
  // a and b overlap: afterwards a read may see either, but two sequential
  // reads must not go back.
  const std::vector<Op> base = {put(0, 0, 10, "a"), put(1, 5, 15, "b")};
  for (const char* seen : {"a", "b"}) {
    auto h = base;
    h.push_back(get(2, 20, 21, seen));
    h.push_back(get(2, 22, 23, seen));
    EXPECT_EQ(verdict(h), Verdict::kOk) << seen;
  }
  auto flip = base;
  flip.push_back(get(2, 20, 21, "b"));
  flip.push_back(get(3, 22, 23, "a"));
  EXPECT_EQ(verdict(flip), Verdict::kViolation);
  // A read concurrent with both writes may see the old state too.
  auto during = base;
  during.push_back(get(2, 1, 2, ""));
  during.push_back(get(3, 6, 7, "b"));
  during.push_back(get(2, 8, 9, "a"));  // a linearized after b, before it returned.
  EXPECT_EQ(verdict(during), Verdict::kOk);
}

TEST(CheckerTest, StaleReadAfterACompletedWriteIsAViolation) {
  const std::vector<Op> h = {put(0, 0, 1, "a"), put(0, 2, 3, "b"), get(1, 4, 5, "a")};
  const CheckResult r = check(h);
  ASSERT_EQ(r.verdict, Verdict::kViolation);
  ASSERT_NE(r.smallest_violation(), nullptr);
  EXPECT_EQ(r.smallest_violation()->key, "k");
  EXPECT_EQ(r.smallest_violation()->longest_linearized.size(), 2u);
}

TEST(CheckerTest, ReadOverlappingTheWriteMaySeeOldOrNew) {
  EXPECT_EQ(verdict({put(0, 0, 1, "a"), put(0, 2, 10, "b"), get(1, 3, 4, "a"), get(1, 5, 6, "b"),
                     get(2, 7, 8, "b")}),
            Verdict::kOk);
  EXPECT_EQ(verdict({put(0, 0, 1, "a"), put(0, 2, 10, "b"), get(1, 3, 4, "b"), get(1, 5, 6, "a")}),
            Verdict::kViolation);
}

TEST(CheckerTest, TimedOutWriteThatShowsUpLaterIsLinearizable) {
  // The put of b timed out (503) but took effect long after it was invoked.
  EXPECT_EQ(verdict({put(0, 0, 1, "a"), put(1, 2, 3, "b", Outcome::kUnknown), get(0, 10, 11, "a"),
                     get(2, 20, 21, "b"), get(0, 30, 31, "b")}),
            Verdict::kOk);
}

TEST(CheckerTest, TimedOutWriteNeverSeenIsLinearizable) {
  EXPECT_EQ(verdict({put(0, 0, 1, "a"), put(1, 2, 3, "b", Outcome::kUnknown), get(0, 10, 11, "a"),
                     get(2, 20, 21, "a")}),
            Verdict::kOk);
}

TEST(CheckerTest, TimedOutWriteCannotTakeEffectBeforeItsInvoke) {
  // c was read before the timed-out put of c was even sent.
  EXPECT_EQ(verdict({put(0, 0, 1, "a"), get(1, 2, 3, "c"), put(2, 4, 5, "c", Outcome::kUnknown)}),
            Verdict::kViolation);
}

TEST(CheckerTest, TimedOutWriteSeenThenUnseenIsAViolation) {
  EXPECT_EQ(verdict({put(0, 0, 1, "a"), put(1, 2, 3, "b", Outcome::kUnknown), get(0, 10, 11, "b"),
                     get(2, 20, 21, "a")}),
            Verdict::kViolation);
}

TEST(CheckerTest, FailedWriteDidNotHappen) {
  EXPECT_EQ(verdict({put(0, 0, 1, "a"), put(1, 2, 3, "b", Outcome::kFailed), get(0, 10, 11, "a")}),
            Verdict::kOk);
  EXPECT_EQ(verdict({put(0, 0, 1, "a"), put(1, 2, 3, "b", Outcome::kFailed), get(0, 10, 11, "b")}),
            Verdict::kViolation);
}

TEST(CheckerTest, ReadOfAValueNeverWrittenIsAViolation) {
  EXPECT_EQ(verdict({put(0, 0, 1, "a"), get(1, 2, 3, "zzz")}), Verdict::kViolation);
  EXPECT_EQ(verdict({get(1, 0, 1, "zzz")}), Verdict::kViolation);
}

TEST(CheckerTest, ReadOfAbsentKeyAfterAPutIsAViolation) {
  EXPECT_EQ(verdict({put(0, 0, 1, "a"), get(1, 2, 3, "")}), Verdict::kViolation);
}

TEST(CheckerTest, DeleteSemantics) {
  // deleted=1 needs a value present; deleted=0 needs it absent.
  EXPECT_EQ(verdict({put(0, 0, 1, "a"), del(0, 2, 3, true), get(1, 4, 5, ""), del(1, 6, 7, false)}),
            Verdict::kOk);
  EXPECT_EQ(verdict({del(0, 0, 1, true)}), Verdict::kViolation);
  EXPECT_EQ(verdict({put(0, 0, 1, "a"), del(0, 2, 3, false)}), Verdict::kViolation);
  EXPECT_EQ(verdict({put(0, 0, 1, "a"), del(0, 2, 3, true), get(1, 4, 5, "a")}),
            Verdict::kViolation);
  // Two concurrent deletes of one value: exactly one may report deleted=1.
  EXPECT_EQ(verdict({put(0, 0, 1, "a"), del(0, 2, 5, true), del(1, 3, 6, false)}), Verdict::kOk);
  EXPECT_EQ(verdict({put(0, 0, 1, "a"), del(0, 2, 5, true), del(1, 3, 6, true)}),
            Verdict::kViolation);
}

TEST(CheckerTest, TimedOutDeleteExplainsAnAbsentRead) {
  EXPECT_EQ(verdict({put(0, 0, 1, "a"), del(1, 2, 3, false, Outcome::kUnknown), get(0, 10, 11, ""),
                     get(0, 12, 13, "")}),
            Verdict::kOk);
  // ...but only once: the value cannot come back.
  EXPECT_EQ(verdict({put(0, 0, 1, "a"), del(1, 2, 3, false, Outcome::kUnknown), get(0, 10, 11, ""),
                     get(0, 12, 13, "a")}),
            Verdict::kViolation);
}

TEST(CheckerTest, TimedOutGetIsIgnored) {
  EXPECT_EQ(verdict({put(0, 0, 1, "a"), get(1, 2, 3, "nonsense", Outcome::kUnknown)}),
            Verdict::kOk);
}

TEST(CheckerTest, KeysAreIndependent) {
  const std::vector<Op> h = {
      put(0, 0, 1, "a", Outcome::kOk, "x"), put(0, 2, 3, "b", Outcome::kOk, "y"),
      get(1, 4, 5, "a", Outcome::kOk, "x"), get(1, 6, 7, "a", Outcome::kOk, "y")};  // Wrong on y.
  const CheckResult r = check(h);
  ASSERT_EQ(r.keys.size(), 2u);
  EXPECT_EQ(r.keys[0].verdict, Verdict::kOk);
  EXPECT_EQ(r.keys[1].verdict, Verdict::kViolation);
  EXPECT_EQ(r.smallest_violation()->key, "y");
}

TEST(CheckerTest, SearchBoundGivesUnknownNotAGuess) {
  // Concurrent unknown writes read back in reverse order force backtracking.
  constexpr int kWriters = 10;
  std::vector<Op> h;
  for (int i = 0; i < kWriters; ++i) {
    h.push_back(put(i, 0, 1000, "v" + std::to_string(i), Outcome::kUnknown));
  }
  for (int i = 0; i < kWriters; ++i) {
    h.push_back(get(100, 2000 + 2 * i, 2001 + 2 * i, "v" + std::to_string(kWriters - 1 - i)));
  }
  h.push_back(get(100, 5000, 5001, "v1"));  // v1 came back after v0: impossible.
  CheckOptions small;
  small.steps_per_key_max = 100;
  EXPECT_EQ(check(h, small).verdict, Verdict::kUnknown);
  CheckOptions few;
  few.ops_per_key_max = 5;
  EXPECT_EQ(check(h, few).verdict, Verdict::kUnknown);
  EXPECT_EQ(check(h).verdict, Verdict::kViolation);
  h.pop_back();
  EXPECT_EQ(check(h).verdict, Verdict::kOk);
}

TEST(CheckerTest, LongSequentialHistoryIsFast) {
  std::vector<Op> h;
  for (int i = 0; i < 20000; ++i) {
    const std::string v = "v" + std::to_string(i);
    h.push_back(put(i % 7, 10 * i, 10 * i + 6, v));
    h.push_back(get((i + 3) % 7, 10 * i + 5, 10 * i + 9,
                    i % 2 ? v : "v" + std::to_string(i - 1 < 0 ? 0 : i - 1)));
  }
  h[1] = get(3, 5, 9, "");  // The first read overlaps the first put: absent is fine.
  const CheckResult r = check(h);
  EXPECT_EQ(r.verdict, Verdict::kOk);
  EXPECT_LT(r.keys[0].steps, 200000u);
}

TEST(CheckerTest, ViolationWindowIsSmallInALongHistory) {
  std::vector<Op> h;
  for (int i = 0; i < 1000; ++i) {
    h.push_back(put(i % 3, 10 * i, 10 * i + 4, "v" + std::to_string(i)));
    h.push_back(get(3, 10 * i + 5, 10 * i + 8, "v" + std::to_string(i)));
  }
  h.push_back(get(4, 20000, 20001, "v500"));  // Stale.
  const std::size_t stale = h.size() - 1;
  for (int i = 0; i < 10; ++i) h.push_back(put(0, 30000 + i, 30000 + i, "w" + std::to_string(i)));
  const CheckResult r = check(h);
  ASSERT_EQ(r.verdict, Verdict::kViolation);
  const auto window = violation_window(h, *r.smallest_violation());
  EXPECT_LE(window.size(), 12u);
  EXPECT_NE(std::find(window.begin(), window.end(), stale), window.end());
}

TEST(CheckerTest, DescribeAndParseRoundTrip) {
  Op p = put(3, 1, 2, "c3-7", Outcome::kUnknown, "k1");
  p.invoke_ns += 345;
  p.note = "b grpc 14 no quorum";
  const std::vector<Op> ops = {p,
                               get(0, 5, 6, "c3-7"),
                               get(1, 5, 6, ""),
                               del(2, 7, 9, true, Outcome::kOk),
                               del(2, 10, 11, false),
                               put(4, 12, 13, "x", Outcome::kFailed),
                               get(5, 14, 15, "", Outcome::kUnknown)};
  for (const Op& op : ops) {
    Op back;
    ASSERT_TRUE(parse_op(describe(op), &back)) << describe(op);
    EXPECT_EQ(describe(back), describe(op));
    EXPECT_EQ(back.invoke_ns, op.invoke_ns);
    EXPECT_EQ(back.complete_ns, op.complete_ns);
  }
  Op junk;
  EXPECT_FALSE(parse_op("hello", &junk));
  EXPECT_FALSE(parse_op("c1 k: frob x ok [1.000000ms, 2.000000ms]", &junk));
}

// A brute-force oracle for small histories, straight from the definition: some
// subset of the unknown ops happened, and some order of the ops that happened
// respects real time (a before b if a completed before b was invoked) and is a
// legal run of the register.
bool brute_force_linearizable(const std::vector<Op>& h) {
  std::vector<Op> sure, maybe;
  for (const Op& op : h) {
    if (op.outcome == Outcome::kFailed) continue;
    if (op.outcome == Outcome::kUnknown && op.kind == OpKind::kGet) continue;
    (op.outcome == Outcome::kOk ? sure : maybe).push_back(op);
  }
  for (std::uint32_t mask = 0; mask < (1u << maybe.size()); ++mask) {
    std::vector<Op> ops = sure;
    for (std::size_t i = 0; i < maybe.size(); ++i) {
      if (mask & (1u << i)) ops.push_back(maybe[i]);
    }
    std::vector<int> order(ops.size());
    for (std::size_t i = 0; i < ops.size(); ++i) order[i] = static_cast<int>(i);
    do {
      bool ok = true;
      std::string state;  // "" is absent; puts write non-empty values.
      for (std::size_t a = 0; a < order.size() && ok; ++a) {
        const Op& op = ops[order[a]];
        for (std::size_t b = a + 1; b < order.size() && ok; ++b) {
          const Op& later = ops[order[b]];
          // `later` completed before `op` was invoked: order violates real time.
          if (later.outcome == Outcome::kOk && later.complete_ns < op.invoke_ns) ok = false;
        }
        if (!ok) break;
        switch (op.kind) {
          case OpKind::kPut:
            state = op.value;
            break;
          case OpKind::kGet:
            ok = op.found ? state == op.value : state.empty();
            break;
          case OpKind::kDelete:
            if (op.outcome == Outcome::kOk) ok = op.found == !state.empty();
            state.clear();
            break;
          case OpKind::kCas:
          case OpKind::kRange:
            ok = false;  // Not generated here (checker_cas_test.cc).
            break;
        }
      }
      if (ok) return true;
    } while (std::next_permutation(order.begin(), order.end()));
  }
  return false;
}

TEST(CheckerTest, AgreesWithBruteForceOnRandomSmallHistories) {
  std::mt19937_64 rng(12345);
  int violations = 0;
  for (int round = 0; round < 3000; ++round) {
    std::vector<Op> h;
    const int n = 2 + static_cast<int>(rng() % 6);
    int puts = 0;
    for (int i = 0; i < n; ++i) {
      const std::int64_t from = static_cast<std::int64_t>(rng() % 20);
      const std::int64_t to = from + static_cast<std::int64_t>(rng() % 6);
      const auto r = rng() % 10;
      const Outcome outcome = r < 7 ? Outcome::kOk : (r < 9 ? Outcome::kUnknown : Outcome::kFailed);
      const auto kind = rng() % 3;
      if (kind == 0) {
        h.push_back(put(i, from, to, "v" + std::to_string(puts++), outcome));
      } else if (kind == 1) {
        // Mostly a value some put wrote (or will), sometimes absent or junk.
        const auto v = rng() % 8;
        const std::string value = v < 5 ? "v" + std::to_string(v % 4) : (v < 7 ? "" : "junk");
        h.push_back(get(i, from, to, value, outcome));
      } else {
        h.push_back(del(i, from, to, rng() % 2 == 0, outcome));
      }
    }
    const bool expected = brute_force_linearizable(h);
    const Verdict got = check(h).verdict;
    violations += !expected;
    std::string dump;
    for (const Op& op : h) dump += describe(op) + "\n";
    ASSERT_EQ(got, expected ? Verdict::kOk : Verdict::kViolation) << "round " << round << "\n"
                                                                  << dump;
  }
  // Both verdicts were exercised.
  EXPECT_GT(violations, 300);
  EXPECT_LT(violations, 2700);
}

TEST(CheckerTest, ReportWritesTextAndTimeline) {
  const std::vector<Op> h = {put(0, 0, 1, "a"), put(0, 2, 3, "b"), get(1, 4, 5, "a"),
                             put(2, 1, 2, "c", Outcome::kUnknown)};
  const CheckResult r = check(h);
  ASSERT_EQ(r.verdict, Verdict::kViolation);
  const std::string dir = ::testing::TempDir() + "/dkv_checker_report";
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(write_report(dir, 42, "DKV_FAULT_SEED=42 fault_test", h, r));
  std::ifstream v(dir + "/violation.txt");
  std::stringstream vs;
  vs << v.rdbuf();
  EXPECT_NE(vs.str().find("seed=42"), std::string::npos);
  EXPECT_NE(vs.str().find("get -> a"), std::string::npos);
  std::ifstream t(dir + "/timeline.html");
  std::stringstream ts;
  ts << t.rdbuf();
  EXPECT_NE(ts.str().find("<html>"), std::string::npos);
  EXPECT_NE(ts.str().find("client 2"), std::string::npos);
  EXPECT_NE(ts.str().find("put c ?"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(dir + "/history.txt"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/key-ops.txt"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace dkv::fault
