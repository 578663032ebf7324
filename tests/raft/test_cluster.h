// A synchronous in-memory cluster of RawNodes for the raft unit tests:
// every Ready (persist_async ones too) is persisted at once into the node's
// MemoryStorage, its
// messages are queued on a lossless network that tests can cut, and
// stabilize() runs until nothing moves. Deterministic: one seeded RNG.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "raft/raw_node.h"
#include "raft/storage.h"

namespace dkv::raft::testing {

struct TestNode {
  std::unique_ptr<MemoryStorage> storage;
  std::unique_ptr<RawNode> node;
  std::vector<Entry> applied;          // Committed entries, in apply order.
  std::vector<ReadState> read_states;  // Completed reads, in order.
  Raft& raft() { return node->raft_for_test(); }
};

class TestCluster {
 public:
  using Tweak = std::function<void(Config&)>;
  // Nodes 1..voters are voters; `learners` more nodes are learners.
  explicit TestCluster(int voters, Tweak tweak = {}, int learners = 0);

  Config make_config(NodeId id) const;
  // Adds a node with an empty log (for membership tests).
  void add_node(NodeId id, ConfState cs);
  TestNode& operator[](NodeId id) { return nodes_.at(id); }
  bool has(NodeId id) const { return nodes_.count(id) > 0; }

  // Handles one Ready of `id` (persist, send, apply, advance). Returns false
  // if there was none.
  bool process_ready(NodeId id);
  // Delivers queued messages and processes Readys until quiescent.
  void stabilize();
  // Delivers only the queued messages matching pred (others stay queued).
  void deliver_if(const std::function<bool(const Message&)>& pred);
  void drop_if(const std::function<bool(const Message&)>& pred);
  void tick(NodeId id, int n = 1);
  // Ticks `id` until it campaigns, then stabilizes.
  void elect(NodeId id);
  // Cuts every link to and from id (both directions).
  void isolate(NodeId id);
  void cut(NodeId from, NodeId to) { cut_.insert({from, to}); }
  void heal() { cut_.clear(); }
  NodeId leader();
  std::deque<Message>& queue() { return queue_; }
  std::vector<NodeId> ids() const;
  // Sees every message when sent; may rewrite it; returning true drops it.
  std::function<bool(Message&)> drop_filter;
  // Every message sent (after drops), in order.
  std::vector<Message> history;

 private:
  void send(Message m);
  Tweak tweak_;
  std::map<NodeId, TestNode> nodes_;
  std::deque<Message> queue_;
  std::set<std::pair<NodeId, NodeId>> cut_;
  std::uint64_t rng_state_ = 0x9e3779b97f4a7c15ULL;
};

}  // namespace dkv::raft::testing
