// Unit tests of the revision order in the checker's etcd model
// (checker_group.cc, search.h's Precedence): reads that report their header
// revision sit between the writes at and above it, which rejects reads that
// claim a revision their data does not match and cuts the search of long
// CAS histories to about one step per op. Times are in ms.
#include <gtest/gtest.h>

#include <cstdio>
#include <queue>
#include <random>
#include <tuple>

#include "checker.h"
#include "checker_test_ops.h"
#include "counter_check.h"

namespace dkv::fault {
namespace {

using test_ops::kMs;
using test_ops::timed;

// A range of "counter" that saw `value`@mod ("" absent) at header revision h.
Op read_at(int client, std::int64_t from_ms, std::int64_t to_ms, const std::string& value,
           std::int64_t mod, std::int64_t h) {
  Op op = timed(client, from_ms, to_ms, Outcome::kOk);
  op.kind = OpKind::kRange;
  op.key = "counter";
  if (!value.empty()) op.kvs.push_back({"counter", value, mod});
  op.header_revision = h;
  return op;
}

Op put_at(int client, std::int64_t from_ms, std::int64_t to_ms, const std::string& value,
          std::int64_t revision) {
  Op op = timed(client, from_ms, to_ms, Outcome::kOk);
  op.kind = OpKind::kPut;
  op.key = "counter";
  op.value = value;
  op.revision = revision;
  return op;
}

// If(mod_revision == compare) Then(Put value) Else(Range): the else branch
// saw `seen`@seen_mod at header revision h.
Op cas_failed_at(int client, std::int64_t from_ms, std::int64_t to_ms, std::int64_t compare,
                 const std::string& seen, std::int64_t seen_mod, std::int64_t h) {
  Op op = timed(client, from_ms, to_ms, Outcome::kOk);
  op.kind = OpKind::kCas;
  op.key = "counter";
  op.compare_revision = compare;
  op.value = "x/" + std::to_string(client);
  op.kvs.push_back({"counter", seen, seen_mod});
  op.header_revision = h;
  return op;
}

Verdict verdict(const std::vector<Op>& h, const CheckOptions& options = {}) {
  return check(h, options).verdict;
}

// Two concurrent puts and a concurrent read of the first value: fine
// unless the read says it saw the store after the second put.
TEST(CheckerRevisionTest, ReadMustMatchItsHeaderRevision) {
  const Op x = put_at(0, 0, 10, "x", 2);
  const Op y = put_at(1, 0, 10, "y", 3);
  EXPECT_EQ(verdict({x, y, read_at(2, 0, 10, "x", 2, 0)}), Verdict::kOk);
  EXPECT_EQ(verdict({x, y, read_at(2, 0, 10, "x", 2, 2)}), Verdict::kOk);
  EXPECT_EQ(verdict({x, y, read_at(2, 0, 10, "x", 2, 3)}), Verdict::kViolation);
  EXPECT_EQ(verdict({x, y, read_at(2, 0, 10, "y", 3, 2)}), Verdict::kViolation);
  // A failed compare's else branch is a read too.
  EXPECT_EQ(verdict({x, y, cas_failed_at(2, 0, 10, 9, "x", 2, 2)}), Verdict::kOk);
  EXPECT_EQ(verdict({x, y, cas_failed_at(2, 0, 10, 9, "x", 2, 3)}), Verdict::kViolation);
}

// A read at h comes before the write at h + 1 even when real time alone
// would let it come after: a read that completed before the first put was
// invoked cannot claim that put's revision.
TEST(CheckerRevisionTest, ReadAtAnOlderRevisionMustPrecedeLaterWrites) {
  const Op x = put_at(0, 0, 1, "x", 2);
  const Op y = put_at(0, 5, 6, "y", 3);
  EXPECT_EQ(verdict({x, read_at(1, 2, 3, "x", 2, 2), y}), Verdict::kOk);
  // A stale read at h = 2, invoked after the put at 3 completed.
  EXPECT_EQ(verdict({x, y, read_at(1, 7, 8, "x", 2, 2)}), Verdict::kViolation);
  // Revisions out of real-time order.
  EXPECT_EQ(verdict({read_at(1, 0, 1, "x", 2, 2), put_at(0, 2, 3, "x", 2)}), Verdict::kViolation);
}

TEST(CheckerRevisionTest, DescribeAndParseKeepTheHeaderRevision) {
  Op get = timed(0, 1, 2, Outcome::kOk);
  get.kind = OpKind::kGet;
  get.key = "k";
  get.value = "v";
  get.found = true;
  get.header_revision = 7;
  for (const Op& op :
       {read_at(0, 1, 2, "1/a", 2, 5), read_at(0, 1, 2, "", 0, 5), read_at(0, 1, 2, "1/a", 2, 0),
        cas_failed_at(1, 3, 4, 9, "1/a", 2, 6), get}) {
    Op back;
    ASSERT_TRUE(parse_op(describe(op), &back)) << describe(op);
    EXPECT_EQ(back.header_revision, op.header_revision) << describe(op);
    EXPECT_EQ(describe(back), describe(op));
  }
}

// Clients incrementing a counter against an atomic store, each op taking
// effect at a random point of its interval; some ops last 100x longer (a
// paused or partitioned node), some answers are lost (kUnknown; the txn
// then took effect or not). `fault` 1 drops one acknowledged increment from
// the store.
class CounterRun {
 public:
  CounterRun(std::uint64_t seed, int clients) : rng_(seed), clients_(clients) {}

  std::vector<Op> run(int ops, int fault) {
    for (int c = 0; c < clients_; ++c) invoke(c, static_cast<std::int64_t>(rng_() % 1000));
    int acked = 0;
    while (static_cast<int>(history_.size()) < ops) {
      const auto [t, kind, c] = events_.top();
      events_.pop();
      Client& cl = state_[c];
      if (kind == kTakeEffect) {
        const bool ack = !cl.lost && cl.op.kind == OpKind::kCas && cl.op.compare_revision == mod_;
        take_effect(cl, fault == 1 && ack && ++acked == 20);
        continue;
      }
      history_.push_back(cl.op);
      cl.next_is_cas = cl.op.kind == OpKind::kRange;
      invoke(c, t + static_cast<std::int64_t>(rng_() % 100));
    }
    for (Client& cl : state_) {  // Cut short: a txn in flight may have taken effect.
      if (cl.op.kind != OpKind::kCas) continue;
      cl.op.outcome = Outcome::kUnknown;
      cl.op.succeeded = false;
      cl.op.revision = cl.op.header_revision = 0;
      cl.op.kvs.clear();
      history_.push_back(cl.op);
    }
    Op last = timed(0, 0, 0, Outcome::kOk);
    last.kind = OpKind::kRange;
    last.key = "counter";
    last = read_now(0, last);
    last.invoke_ns = last.complete_ns = (1LL << 50);
    history_.push_back(last);
    return history_;
  }

 private:
  enum EventKind { kTakeEffect = 0, kComplete = 1 };
  struct Client {
    Op op;
    bool next_is_cas = false;
    bool lost = false;  // The answer never arrives.
    std::int64_t seen_mod = 0;
    std::int64_t seen_n = 0;  // The counter the last read saw.
    int writes = 0;
  };
  using Event = std::tuple<std::int64_t, int, int>;  // (time ns, kind, client)

  void invoke(int c, std::int64_t t) {
    if (state_.empty()) state_.resize(clients_);
    Client& cl = state_[c];
    const bool slow = rng_() % 50 == 0;
    const std::int64_t span = slow ? 100'000 : 1'000;
    const std::int64_t at = t + static_cast<std::int64_t>(rng_() % span);
    const std::int64_t end = at + static_cast<std::int64_t>(rng_() % span);
    cl.op = timed(c, 0, 0, Outcome::kOk);
    cl.op.invoke_ns = t;
    cl.op.complete_ns = end;
    cl.op.key = "counter";
    cl.op.kind = cl.next_is_cas ? OpKind::kCas : OpKind::kRange;
    cl.lost = cl.next_is_cas && rng_() % 10 == 0;
    if (cl.op.kind == OpKind::kCas) {
      cl.op.compare_revision = cl.seen_mod;
      cl.op.value =
          counter_text(cl.seen_n + 1, "c" + std::to_string(c) + "-" + std::to_string(cl.writes++));
      if (cl.lost) cl.op.outcome = Outcome::kUnknown;
    }
    if (!cl.lost || rng_() % 2 == 0) events_.push({at, kTakeEffect, c});
    events_.push({end, kComplete, c});
  }

  Op read_now(int, Op op) {
    op.kvs.clear();
    if (!value_.empty()) op.kvs.push_back({"counter", value_, mod_});
    op.header_revision = rev_;
    return op;
  }

  void take_effect(Client& cl, bool drop) {
    Op& op = cl.op;
    if (op.kind == OpKind::kRange) {
      op = read_now(0, op);
      cl.seen_mod = mod_;
      cl.seen_n = counter_value(value_);
      return;
    }
    const bool holds = op.compare_revision == mod_;
    if (!cl.lost) {  // What the answer says.
      op.succeeded = holds;
      if (!holds) op = read_now(0, op);
      if (holds) op.revision = rev_ + 1;
    }
    if (!holds || drop) return;  // Drop: acknowledged, never applied.
    value_ = op.value;
    mod_ = ++rev_;
  }

  std::mt19937_64 rng_;
  int clients_;
  std::vector<Client> state_;
  std::priority_queue<Event, std::vector<Event>, std::greater<Event>> events_;
  std::vector<Op> history_;
  std::string value_;
  std::int64_t mod_ = 0;
  std::int64_t rev_ = 1;
};

// Without header revisions: the same history as the old checker saw it.
std::vector<Op> without_headers(std::vector<Op> h) {
  for (Op& op : h) op.header_revision = 0;
  return h;
}

// Long histories, as a 30 s chaos run makes (65,000 ops on one key): a
// group whose writes report revisions is searched past ops_per_key_max
// (ordered_ops_per_key_max), a clean history takes about ten steps per op,
// and a lost increment is found, not given up on: an unknown txn that would
// change nothing is never linearized (else 2^n sets of them, which the memo
// cannot merge, hide the violation past any bound).
TEST(CheckerRevisionTest, LongCounterHistoriesGetAVerdict) {
  CheckOptions bounded;
  bounded.ops_per_key_max = 1'000;
  bounded.steps_per_key_max = 3'000'000;
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    std::printf("seed=%llu\n", static_cast<unsigned long long>(seed));
    const std::vector<Op> h = CounterRun(seed, 16).run(10'000, 0);
    const CheckResult r = check(h, bounded);
    ASSERT_EQ(r.keys.size(), 1u);
    EXPECT_EQ(r.verdict, Verdict::kOk);
    EXPECT_TRUE(check_counter(h, "counter").ok) << check_counter(h, "counter").why;
    std::printf("  %zu ops: %llu steps\n", r.keys[0].ops,
                static_cast<unsigned long long>(r.keys[0].steps));
    if (seed == 1) {  // What the header revisions save (not asserted: informative).
      const CheckResult r0 = check(without_headers(h), bounded);
      EXPECT_EQ(r0.verdict, Verdict::kOk);
      std::printf("  without header revisions: %llu steps\n",
                  static_cast<unsigned long long>(r0.keys[0].steps));
    }
    EXPECT_EQ(verdict(CounterRun(seed, 16).run(10'000, 1), bounded), Verdict::kViolation);
  }
}

}  // namespace
}  // namespace dkv::fault
