#include "test_cluster.h"

#include <gtest/gtest.h>

namespace dkv::raft::testing {

TestCluster::TestCluster(int voters, Tweak tweak, int learners) : tweak_(std::move(tweak)) {
  ConfState cs;
  for (int i = 1; i <= voters; ++i) cs.voters.push_back(static_cast<NodeId>(i));
  for (int i = voters + 1; i <= voters + learners; ++i)
    cs.learners.push_back(static_cast<NodeId>(i));
  for (NodeId id : cs.voters) add_node(id, cs);
  for (NodeId id : cs.learners) add_node(id, cs);
}

Config TestCluster::make_config(NodeId id) const {
  Config c;
  c.id = id;
  c.election_ticks = 10;
  c.heartbeat_ticks = 1;
  auto* state = const_cast<std::uint64_t*>(&rng_state_);
  c.rng = [state]() {
    // splitmix64
    std::uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  if (tweak_) tweak_(c);
  return c;
}

void TestCluster::add_node(NodeId id, ConfState cs) {
  TestNode n;
  n.storage = std::make_unique<MemoryStorage>();
  n.storage->set_conf_state(cs);
  n.node = std::make_unique<RawNode>(make_config(id), *n.storage);
  nodes_[id] = std::move(n);
}

std::vector<NodeId> TestCluster::ids() const {
  std::vector<NodeId> out;
  for (const auto& [id, n] : nodes_) out.push_back(id);
  return out;
}

void TestCluster::send(Message m) {
  if (cut_.count({m.from, m.to}) > 0) return;
  if (drop_filter && drop_filter(m)) return;
  history.push_back(m);
  queue_.push_back(std::move(m));
}

bool TestCluster::process_ready(NodeId id) {
  TestNode& n = nodes_.at(id);
  if (!n.node->has_ready()) return false;
  Ready rd = n.node->ready();
  for (Message& m : rd.messages) send(std::move(m));
  if (!rd.snapshot.empty()) {
    EXPECT_TRUE(n.storage->apply_snapshot(rd.snapshot).is_ok());
    n.applied.clear();  // The state machine is replaced by the snapshot.
  }
  EXPECT_TRUE(n.storage->append(rd.entries).is_ok());
  if (rd.hard_state) n.storage->set_hard_state(*rd.hard_state);
  for (Message& m : rd.messages_after_persist) send(std::move(m));
  for (const Entry& e : rd.committed_entries) {
    if (e.type == EntryType::kConfChange) {
      auto cc = ConfChange::decode(e.data);
      EXPECT_TRUE(cc.has_value());
      n.storage->set_conf_state(n.node->apply_conf_change(*cc));
    }
    n.applied.push_back(e);
  }
  for (ReadState& r : rd.read_states) n.read_states.push_back(std::move(r));
  n.node->advance();
  // Persisted at once, as a synchronous Ready is.
  if (rd.persist_async && !rd.entries.empty()) {
    n.node->report_persisted(rd.entries.back().index, rd.entries.back().term);
  }
  return true;
}

void TestCluster::stabilize() {
  for (int round = 0; round < 10000; ++round) {
    bool moved = false;
    for (auto& [id, n] : nodes_) moved |= process_ready(id);
    while (!queue_.empty()) {
      Message m = std::move(queue_.front());
      queue_.pop_front();
      moved = true;
      if (cut_.count({m.from, m.to}) > 0 || nodes_.count(m.to) == 0) continue;
      (void)nodes_.at(m.to).node->step(m);
    }
    if (!moved) return;
  }
  ADD_FAILURE() << "cluster did not stabilize";
}

void TestCluster::deliver_if(const std::function<bool(const Message&)>& pred) {
  std::deque<Message> keep;
  std::deque<Message> go;
  for (Message& m : queue_) (pred(m) ? go : keep).push_back(std::move(m));
  queue_ = std::move(keep);
  for (Message& m : go) {
    if (nodes_.count(m.to) > 0) (void)nodes_.at(m.to).node->step(m);
  }
}

void TestCluster::drop_if(const std::function<bool(const Message&)>& pred) {
  std::deque<Message> keep;
  for (Message& m : queue_) {
    if (!pred(m)) keep.push_back(std::move(m));
  }
  queue_ = std::move(keep);
}

void TestCluster::tick(NodeId id, int n) {
  for (int i = 0; i < n; ++i) nodes_.at(id).node->tick();
}

void TestCluster::elect(NodeId id) {
  nodes_.at(id).node->campaign();
  stabilize();
}

void TestCluster::isolate(NodeId id) {
  for (const auto& [other, n] : nodes_) {
    if (other == id) continue;
    cut_.insert({id, other});
    cut_.insert({other, id});
  }
}

NodeId TestCluster::leader() {
  NodeId lead = kNoNode;
  Term best = 0;
  for (auto& [id, n] : nodes_) {
    if (n.raft().state() == StateType::kLeader && n.raft().term() >= best) {
      best = n.raft().term();
      lead = id;
    }
  }
  return lead;
}

}  // namespace dkv::raft::testing
