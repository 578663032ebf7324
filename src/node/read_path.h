// ReadPath: linearizable reads (ReadIndex, Raft thesis §6.4). It owns the
// reads waiting for a read index: each inbox's reads share one ReadIndex
// round (a batch, keyed by the round's context); once the core answers with
// a read index and the state machine has applied that index, the batch is
// served from the local store: a get of a key (/v0), or the read's own
// callback on the store (StateReadFn: etcd's Range, a read-only Txn). It
// re-asks a round the leader may have
// dropped (unanswered for an election timeout, or at once after a leader
// change) and fails reads past their deadline with UNAVAILABLE.
// Readiness rounds ("ready:" contexts, readiness.h) are not its own.
//
// Invariants (asserted): a read is served only once the applied index
// reaches its batch's read index; every read completes exactly once (Once).
//
// Threading: ReadPath is not thread-safe: the raft thread only. The
// batches take_servable() hands out may be served on any thread (the Node
// serves them on its read thread, read_server.h): the applied index only
// grows, and LMDB reads run beside the writer.
// Lifetime: the StateReader passed to serve() is used only during the call.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "kv/store.h"
#include "node/once.h"
#include "raft/raft.h"
#include "raft/types.h"
#include "util/status.h"

namespace dkv::node {

using Deadline = std::chrono::steady_clock::time_point;
using ReadCompletion = Once<util::Status, std::string>;

// A read of the state machine other than one key's value (etcd's Range, a
// read-only Txn): reads the store itself, in its own read transaction, and
// writes its answer where it captured; its status goes to the read's done.
// Runs only once applied >= the read index, on the thread serving the batch.
using StateReadFn = std::function<util::Status()>;

struct PendingRead {
  std::string key;
  Deadline deadline;
  ReadCompletion done;
  bool barrier_only = false;  // No key: done(OK, "") once applied >= read index.
  // Set: served by done(read(), "") instead of a get of `key`. Never called
  // when the read fails (deadline, stop): done gets the error instead.
  StateReadFn read;
};

// What reads need of the state machine. A thin seam so tests can fake it.
class StateReader {
 public:
  virtual ~StateReader() = default;
  virtual raft::Index applied_index() const = 0;
  virtual util::Status get(std::string_view key, std::string* value) const = 0;
};

// The StateReader of a kv::Store (borrowed; must outlive the adapter).
class StoreReader final : public StateReader {
 public:
  explicit StoreReader(const kv::Store& store) : store_(store) {}
  raft::Index applied_index() const override { return store_.applied_index(); }
  util::Status get(std::string_view key, std::string* value) const override {
    return store_.get(key, value);
  }

 private:
  const kv::Store& store_;
};

// Reads whose read index the state machine has applied: ready to serve.
struct ServableReads {
  raft::Index read_index = 0;
  std::vector<PendingRead> reads;
};

// Answers every read of `batch` from `state`. Asserts that `state` has
// applied the batch's read index.
void serve_reads(ServableReads& batch, const StateReader& state);

class ReadPath {
 public:
  // Asks the raft core for a read index under `context` (RawNode::read_index).
  using ReadIndexFn = std::function<void(std::string context)>;

  // `canary_read_before_applied`: TEST ONLY (NodeCanaries): serves a batch
  // once its read index is known, applied or not.
  explicit ReadPath(int election_ticks, bool canary_read_before_applied = false)
      : election_ticks_(election_ticks), canary_read_before_applied_(canary_read_before_applied) {}
  ReadPath(const ReadPath&) = delete;
  ReadPath& operator=(const ReadPath&) = delete;

  // Starts one ReadIndex round shared by `reads` (none: nothing happens).
  void start(std::vector<PendingRead> reads, const ReadIndexFn& read_index);
  // The core answered a round: its batch may be served once applied >=
  // rs.index. False if the context is not one of this path's live rounds
  // (a readiness round, or a round re-asked under a new context).
  bool on_read_state(const raft::ReadState& rs);
  // Unanswered rounds may have died with the old leader: re-ask them at the
  // next tick rather than an election timeout later.
  void on_leader_change();
  // Once per tick: fails reads past `now`, re-asks rounds unanswered for an
  // election timeout (under a new context; a late answer to the old one is
  // ignored).
  void on_tick(Deadline now, const ReadIndexFn& read_index);
  // Takes every batch whose read index `applied` has reached.
  std::vector<ServableReads> take_servable(raft::Index applied);
  // Serves every batch whose read index `state` has applied, here.
  void serve(const StateReader& state);
  // Fails every read with `s` (the node stops).
  void fail_all(const util::Status& s);

  std::size_t batch_count() const { return batches_.size(); }

 private:
  struct Batch {
    std::vector<PendingRead> reads;
    raft::Index read_index = 0;  // 0 until the core answered.
    int ticks_waiting = 0;
  };
  void ask(Batch batch, const ReadIndexFn& read_index);

  const int election_ticks_;
  const bool canary_read_before_applied_;
  std::map<std::string, Batch> batches_;  // By ReadIndex context.
  std::uint64_t next_context_ = 1;
};

}  // namespace dkv::node
