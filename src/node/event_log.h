// EventLog: the node's recent notable events for people (the dashboard's
// "recent events"): leader changes, membership changes, snapshots taken,
// sent and installed, leadership transfers. A small bounded ring: the
// oldest event goes when a new one comes and the ring is full. Not a
// journal: nothing is persisted, a restart starts empty.
// Fed from the points where the node already logs these (the raft core's
// events, node/raft_loop.cc's leader change, the applied conf change, the
// snapshot paths); read by the API layer.
// Threading: thread-safe; its mutex is a leaf (record() may run under the
// node's mu_, and takes no other lock).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "raft/events.h"
#include "util/mutex.h"
#include "util/thread_annotations.h"

namespace dkv::node {

struct RecordedEvent {
  std::uint64_t seq = 0;     // 1, 2, ... in the order recorded.
  std::int64_t unix_ms = 0;  // Wall-clock time it was recorded.
  std::string kind;          // "leader", "membership", "snapshot", "transfer".
  std::string text;          // One line, members by name.
};

class EventLog {
 public:
  static constexpr std::size_t kCapacityDefault = 64;
  explicit EventLog(std::size_t capacity = kCapacityDefault);
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;

  void record(std::string kind, std::string text);
  // Keeps the raft core's events that matter to people (steps down,
  // snapshots sent and restored, transfers) and drops the rest (votes,
  // campaigns, rejected appends: debug lines only). `name` names a member
  // by raft id; called only for a kept event.
  void record_raft(const raft::Event& e, const std::function<std::string(raft::NodeId)>& name);

  // Oldest first, at most the capacity.
  std::vector<RecordedEvent> recent() const;

 private:
  const std::size_t capacity_;
  mutable util::Mutex mu_;
  std::deque<RecordedEvent> ring_ DKV_GUARDED_BY(mu_);
  std::uint64_t next_seq_ DKV_GUARDED_BY(mu_) = 1;
};

}  // namespace dkv::node
