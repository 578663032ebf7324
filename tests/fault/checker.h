// The linearizability checker of the fault suite: given a recorded client
// history of put/get/delete operations on a key-value store, decides whether
// some total order of the operations (a) respects real time (an operation that
// completed before another was invoked comes first) and (b) is a legal
// sequential run of a map of registers. Keys are independent registers, so
// the history is partitioned by key and each key is checked alone.
//
// etcd's model too: CAS transactions (compare a key's value or mod_revision,
// then put, else read the key) and ranges ([key, range_end): several keys at
// once), with the revisions etcd reports. A range joins every key it covers
// into one group, checked together by a model that holds, per key, the value
// and the revision of the write that made it (its mod_revision): a write
// whose revision was not reported (an unknown outcome) gets it from a read
// that saw its value, so values should be unique per key (the workloads
// make them so); a write whose revision nobody saw compares unequal to every
// reported one. Writes with reported revisions must also be linearized in
// revision order, and a read that reports its header revision h after every
// write at or below h and before every write above it: known before the
// search, these orders cut it (search.h's Precedence). Groups without CAS or range ops keep the
// register model.
//
// Algorithm: Wing & Gong's search over linearization points with Lowe's
// memoization, as in porcupine (anishathalye/porcupine) and Knossos: a DFS
// over the event list that linearizes a pending call whenever the model
// accepts it, backtracks at the first return whose call is still pending, and
// caches (set of linearized ops, model state) to never explore a
// configuration twice. The search is bounded (ops and steps per key); past
// the bound the verdict is kUnknown, never a guess.
//
// Outcomes: kOk ops happened with the recorded result. kFailed ops did not
// happen (e.g. 400, or the connection was refused before the request left)
// and are ignored. kUnknown ops (timeout, 503, a connection lost mid-request)
// may or may not have happened: their completion is +infinity and their
// result is unconstrained, so a get of unknown outcome is ignored.
//
// Pure C++: no I/O except write_report(), no clocks, no threads.
// Threading: check() is a pure function; call it from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace dkv::fault {

enum class OpKind { kPut, kGet, kDelete, kCas, kRange };
// What a kCas compares: the key's value, or its mod_revision (0: absent).
enum class CasCompare { kModRevision, kValue };

// A key as a range (or a CAS's else branch) returned it.
struct ReadKv {
  std::string key;
  std::string value;
  std::int64_t mod_revision = 0;  // 0: not reported.
  bool operator==(const ReadKv&) const = default;
};
enum class Outcome { kOk, kFailed, kUnknown };

struct Op {
  int client = 0;  // Row in the timeline; one client issues one op at a time.
  std::string key;
  OpKind kind = OpKind::kGet;
  // kPut: the value written. kGet with kOk and found: the value read.
  std::string value;
  // kGet with kOk: the key was present. kDelete with kOk: deleted == 1.
  bool found = false;
  Outcome outcome = Outcome::kOk;
  // Monotonic times; invoke_ns <= complete_ns. complete_ns is ignored for
  // kUnknown (treated as +infinity).
  std::int64_t invoke_ns = 0;
  std::int64_t complete_ns = 0;
  std::string note;  // Free text for reports: node, protocol, error.

  // etcd's ops (kCas, kRange) and revisions; defaults for the register ops.
  // kPut with kOk, kCas with kOk and succeeded: the revision the write
  // created (the response header's), 0 if not reported.
  std::int64_t revision = 0;
  // kRange, kGet and kCas that did not succeed, with kOk: the response
  // header's revision, the store's revision the read saw (0: not reported,
  // as /v0 reads). With `revision`, it orders the ops of a group for the
  // checker: a read at h comes after the writes at revisions <= h and
  // before those above it.
  std::int64_t header_revision = 0;
  // kCas: If(compare) Then(Put key = value) Else(Range key).
  CasCompare compare = CasCompare::kModRevision;
  std::int64_t compare_revision = 0;  // kModRevision: equal to this.
  std::string compare_value;          // kValue: equal to this (absent never is).
  bool succeeded = false;             // kCas with kOk: the Then branch ran.
  // kRange: [key, range_end), "" for the one key (etcd's form; "\0": from key).
  std::string range_end;
  // kRange with kOk, and kCas with kOk and !succeeded: every key read, in
  // key order (a range has no limit).
  std::vector<ReadKv> kvs;
};

enum class Verdict { kOk, kViolation, kUnknown };

const char* to_string(Verdict v);
const char* to_string(OpKind k);
const char* to_string(Outcome o);
// One line, exact and parseable: "c3 k1: get -> c2-7 ok [12.000345ms,
// 13.001000ms] (b rest 200)"; an unknown op reads "[t0, inf, gave up at t1]".
std::string describe(const Op& op);
// The inverse of describe() (e.g. for lines of a report's history.txt).
bool parse_op(const std::string& line, Op* op);

struct CheckOptions {
  // A key with more ops (kOk + kUnknown) than this is not searched: kUnknown.
  std::size_t ops_per_key_max = 50000;
  // The same for a group whose writes report revisions: they order most of
  // its ops before the search, which then walks about one step per op.
  std::size_t ordered_ops_per_key_max = 2'000'000;
  // DFS steps per key before giving up with kUnknown.
  std::uint64_t steps_per_key_max = 20'000'000;
};

struct KeyResult {
  std::string key;
  Verdict verdict = Verdict::kOk;
  std::size_t ops = 0;      // Ops of this key given to the search.
  std::uint64_t steps = 0;  // DFS steps taken.
  // Indexes into the history: this key's searched ops in invoke order, and
  // the longest linearizable prefix the search found (in linearization
  // order); on a violation, no op that is pending after it can come next.
  std::vector<std::size_t> op_indexes;
  std::vector<std::size_t> longest_linearized;
};

struct CheckResult {
  Verdict verdict = Verdict::kOk;  // kViolation > kUnknown > kOk over keys.
  std::vector<KeyResult> keys;     // Sorted by key.
  // The violating key with the fewest ops, or nullptr.
  const KeyResult* smallest_violation() const;
};

CheckResult check(const std::vector<Op>& history, const CheckOptions& options = {});

// Writes a report of a violation into `dir` (created if missing):
// violation.txt (the seed, how to replay, per-key verdicts, the window of the
// smallest violating key's violation), key-ops.txt (all of that key's ops),
// timeline.html (the window, one row per client, porcupine-style) and
// history.txt (every op). `replay` is the
// command line that replays the run. Returns false if a file can't be written.
bool write_report(const std::string& dir, std::uint64_t seed, const std::string& replay,
                  const std::vector<Op>& history, const CheckResult& result);

// The ops of a violating key around where the search got stuck: the last
// `context` ops of the longest linearizable prefix, and every op outside it
// invoked before the first return the search could not get past.
std::vector<std::size_t> violation_window(const std::vector<Op>& history, const KeyResult& key,
                                          std::size_t context = 10);

// The self-contained HTML timeline of the ops `op_indexes` of `history`;
// ops in `linearized` get their linearization order as a label.
std::string timeline_html(const std::vector<Op>& history,
                          const std::vector<std::size_t>& op_indexes,
                          const std::vector<std::size_t>& linearized, const std::string& title);

}  // namespace dkv::fault
