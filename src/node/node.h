// Node: the path from the API to the state machine. It owns the kv::Store
// and one writer thread that batches proposals: everything queued while the
// previous batch was being written goes into the next LMDB transaction (one
// fsync for many writes: group commit). A write's callback runs only after
// its batch is durable and applied. When Raft arrives, the writer thread
// becomes the raft thread running the Ready loop; this interface stays.
//
// Threading: all public methods are thread-safe. Callbacks run on the writer
// thread (writes) or the calling thread (reads) and must not block.
// Lifetime: stop() (or the destructor) fails whatever is still queued with
// UNAVAILABLE and joins the writer thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kv/command.h"
#include "kv/store.h"
#include "node/config.h"
#include "util/status.h"
#include "util/thread_annotations.h"

namespace dkv::node {

using Deadline = std::chrono::steady_clock::time_point;

struct NodeOptions {
  std::string node_id;
  std::vector<MemberAddress> members;
  std::string db_path;
  std::uint64_t quota_bytes = 2ull << 30;
  // Writes queued and not yet applied; beyond this, RESOURCE_EXHAUSTED.
  std::size_t pending_writes_max = 100'000;
  // Most commands per LMDB transaction.
  std::size_t batch_commands_max = 4096;
};

struct NodeStatus {
  std::string node_id;
  std::string leader_id;
  std::uint64_t term = 0;
  std::string role;
  std::uint64_t commit_index = 0;
  std::uint64_t applied_index = 0;
  std::vector<MemberAddress> members;
};

class Node {
 public:
  using WriteDone = std::function<void(util::Status, kv::ApplyResult)>;
  using ReadDone = std::function<void(util::Status, std::string value)>;

  static util::Status open(NodeOptions options, std::unique_ptr<Node>* out);
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Queues a put or delete (already validated by the caller). `done` gets OK
  // once the command is durable and applied; DEADLINE_EXCEEDED if it could
  // not be applied by `deadline` (then it was not applied);
  // RESOURCE_EXHAUSTED over the quota or when too many writes are queued;
  // UNAVAILABLE once stopping.
  void write(kv::Command command, Deadline deadline, WriteDone done);

  // Reads a key. Linearizable: sees every write acknowledged before the call
  // (serializable reads are the same on a single node).
  void read(std::string key, bool serializable, Deadline deadline, ReadDone done);

  NodeStatus status() const;
  // True once the node can serve (has a leader, has applied what it must).
  bool ready() const;

  // Stops accepting writes, fails what is queued, joins the writer thread.
  void stop();

 private:
  struct Proposal {
    kv::Command command;
    Deadline deadline;
    WriteDone done;
  };

  Node(NodeOptions options, std::unique_ptr<kv::Store> store);
  void run();
  void apply_batch(std::vector<Proposal>* batch);

  const NodeOptions options_;
  const std::unique_ptr<kv::Store> store_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Proposal> queue_ DKV_GUARDED_BY(mu_);
  bool stopping_ DKV_GUARDED_BY(mu_) = false;
  std::atomic<bool> running_{true};
  std::thread writer_;  // Runs run(); the only caller of store_->apply().
};

}  // namespace dkv::node
