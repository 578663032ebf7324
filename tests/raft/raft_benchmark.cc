// Benchmark of the raft core alone: proposals per second through a 3-node
// in-memory cluster (MemoryStorage, instant delivery, no I/O), with the
// batching of proposals into shared MsgApps. Arg: proposals per batch
// (how many client writes arrive between two Readys of the leader).
#include <benchmark/benchmark.h>

#include <deque>
#include <map>
#include <memory>
#include <string>

#include "raft/raw_node.h"

namespace dkv::raft {
namespace {

class BenchCluster {
 public:
  BenchCluster() {
    ConfState cs{{1, 2, 3}, {}};
    for (NodeId id = 1; id <= 3; ++id) {
      auto& n = nodes_[id];
      n.storage = std::make_unique<MemoryStorage>();
      n.storage->set_conf_state(cs);
      Config c;
      c.id = id;
      c.max_msg_bytes = 1 << 20;
      c.max_inflight_msgs = 256;
      c.rng = [state = id * 7919ULL]() mutable {
        return state = state * 6364136223846793005ULL + 1;
      };
      n.raft = std::make_unique<RawNode>(c, *n.storage);
    }
    nodes_[1].raft->campaign();
    pump();
  }

  // Handles Readys and delivers messages until nothing moves.
  void pump() {
    for (bool moved = true; moved;) {
      moved = false;
      for (auto& [id, n] : nodes_) {
        if (!n.raft->has_ready()) continue;
        moved = true;
        Ready rd = n.raft->ready();
        for (Message& m : rd.messages) queue_.push_back(std::move(m));
        (void)n.storage->append(rd.entries);
        if (rd.hard_state) n.storage->set_hard_state(*rd.hard_state);
        for (Message& m : rd.messages_after_persist) queue_.push_back(std::move(m));
        if (!rd.committed_entries.empty()) n.applied = rd.committed_entries.back().index;
        n.raft->advance();
      }
      while (!queue_.empty()) {
        moved = true;
        Message m = std::move(queue_.front());
        queue_.pop_front();
        (void)nodes_[m.to].raft->step(m);
      }
    }
  }

  RawNode& leader() { return *nodes_[1].raft; }
  Index applied(NodeId id) { return nodes_[id].applied; }

  // Keeps memory flat over long runs.
  void compact() {
    for (auto& [id, n] : nodes_) {
      if (n.applied > n.storage->first_index() + 4096) (void)n.storage->compact(n.applied - 1024);
    }
  }

 private:
  struct Node {
    std::unique_ptr<MemoryStorage> storage;
    std::unique_ptr<RawNode> raft;
    Index applied = 0;
  };
  std::map<NodeId, Node> nodes_;
  std::deque<Message> queue_;
};

void BM_ProposalsThrough3Nodes(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  BenchCluster c;
  const std::string payload(128, 'x');
  std::int64_t proposals = 0;
  for (auto _ : state) {
    for (int i = 0; i < batch; ++i) {
      if (!c.leader().propose(payload).is_ok()) state.SkipWithError("proposal refused");
    }
    c.pump();  // Replicated, committed and applied on all three.
    proposals += batch;
    c.compact();
  }
  if (c.applied(3) < static_cast<Index>(proposals)) state.SkipWithError("not all applied");
  state.SetItemsProcessed(proposals);
  state.SetBytesProcessed(proposals * static_cast<std::int64_t>(payload.size()));
}

BENCHMARK(BM_ProposalsThrough3Nodes)->Arg(1)->Arg(16)->Arg(256);

}  // namespace
}  // namespace dkv::raft

BENCHMARK_MAIN();
