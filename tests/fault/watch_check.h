// The fault suite's watch checker: rules over a recorded history of etcd
// Watch streams (what each watcher received, response by response) and of
// the writes the workload made (with the revisions etcd reported). A
// watcher is one logical subscription to [key, range_end) from a start
// revision; it may run as several sessions, one stream each: when its
// member dies (or stalls), it resumes on another member from the last
// revision it was delivered + 1. The rules, each named in a violation:
//   ordered     event revisions never decrease along the watcher's
//               responses, and strictly increase from one response to the
//               next (so a revision is never split: see atomic);
//   unique      no event (key, mod_revision) delivered twice to a watcher;
//   atomic      all events of one revision arrive in one response, and
//               that response holds every event of that revision in the
//               watched range the write history knows (a txn's puts);
//   reliable    no gaps: every acknowledged write in range with a revision
//               from the start revision up to the last delivered one was
//               delivered; and no phantoms: a delivered event matches the
//               write the history knows at its revision (key, value, put or
//               delete), and every watcher saw the same event there;
//   resumable   a resumed session starts at the last delivered revision + 1
//               and its first events continue exactly there: nothing
//               missing or repeated across the seam (a gap or duplicate
//               that straddles a seam is reported as resumable);
//   progress    a progress notification at revision R (a response with no
//               events, not created or canceled) never runs ahead of the
//               events: every known write in range at a revision <= R was
//               delivered before it, and no later event has revision <= R.
// Writes of unknown outcome (no revision reported) constrain nothing, but
// an event that shows one must agree across watchers.
// Pure functions, no I/O, clocks or threads. Threading: any thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dkv::fault {

struct WatchEvent {
  std::string key;
  std::int64_t mod_revision = 0;
  bool is_delete = false;
  std::string value;  // Puts only.
};

struct WatchResponseRecord {
  std::int64_t received_ns = 0;  // Client monotonic time (for reports).
  std::int64_t header_revision = 0;
  bool created = false;
  bool canceled = false;
  std::int64_t compact_revision = 0;
  std::vector<WatchEvent> events;
  // Etcd's IsProgressNotify: no events, not created or canceled, no
  // compaction, and a header revision.
  bool is_progress_notify() const;
};

// One stream of a watcher on one member.
struct WatchSession {
  std::string member;
  std::int64_t start_revision = 0;  // As requested.
  std::vector<WatchResponseRecord> responses;
  std::string end;  // Why it ended (free text: "member died", "stopped").
};

struct Watcher {
  int id = 0;
  std::string key, range_end;  // etcd's range ("" end: the one key).
  std::vector<WatchSession> sessions;
};

// One key written in a revision (a txn writes several in one revision).
struct KnownWrite {
  std::string key;
  bool is_delete = false;
  std::string value;
};
struct WriteRecord {
  // The revision etcd reported; 0 when the outcome is unknown (then only
  // `keys` is known, and it may or may not have happened).
  std::int64_t revision = 0;
  bool acknowledged = false;
  std::vector<KnownWrite> keys;
};

struct WatchViolation {
  std::string rule;  // "ordered", "unique", "atomic", "reliable", "resumable", "progress".
  int watcher = -1;
  std::string detail;
};

struct WatchCheckResult {
  std::vector<WatchViolation> violations;
  std::int64_t events = 0;    // Events delivered, all watchers.
  std::int64_t resumes = 0;   // Sessions after a watcher's first.
  std::int64_t progress = 0;  // Progress notifications seen.
  bool ok() const { return violations.empty(); }
};

WatchCheckResult check_watch(const std::vector<Watcher>& watchers,
                             const std::vector<WriteRecord>& writes);

// The history as text, for a report: each write ("w rev=12 ack put w1=c0-3
// put w0=c0-3b"), then each watcher's sessions and responses ("watcher 1
// session 0 on n0 from 1 (stalled: ...)", "  @t=1.234s rev=14 [put w1@12 ...]").
std::string describe_watch_history(const std::vector<Watcher>& watchers,
                                   const std::vector<WriteRecord>& writes);

// Whether `key` lies in [key, range_end) as etcd reads it ("" end: the one
// key; "\0": every key >= key).
bool in_watch_range(const std::string& key, const std::string& start, const std::string& end);

}  // namespace dkv::fault
