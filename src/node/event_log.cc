#include "node/event_log.h"

#include <chrono>

#include "util/assert.h"

namespace dkv::node {

namespace {
// The kind a kept raft event is shown as; "" for the events left out.
const char* kind_of(raft::EventType type) {
  switch (type) {
    case raft::EventType::kSteppedDown:
      return "leader";
    case raft::EventType::kSnapshotSent:
    case raft::EventType::kSnapshotRestored:
      return "snapshot";
    case raft::EventType::kTransferStarted:
    case raft::EventType::kTransferAborted:
      return "transfer";
    default:
      return "";
  }
}
}  // namespace

EventLog::EventLog(std::size_t capacity) : capacity_(capacity) { DKV_ASSERT(capacity_ > 0); }

void EventLog::record(std::string kind, std::string text) {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  RecordedEvent e;
  e.unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now).count();
  e.kind = std::move(kind);
  e.text = std::move(text);
  util::MutexLock lock(mu_);
  e.seq = next_seq_++;
  if (ring_.size() == capacity_) ring_.pop_front();
  ring_.push_back(std::move(e));
  DKV_ASSERT(ring_.size() <= capacity_);
}

void EventLog::record_raft(const raft::Event& e,
                           const std::function<std::string(raft::NodeId)>& name) {
  const std::string kind = kind_of(e.type);
  if (kind.empty()) return;
  record(kind, raft::describe(e, [&name](raft::NodeId id) {
           std::string n = name(id);
           return n.empty() ? "node " + std::to_string(id) : n;
         }));
}

std::vector<RecordedEvent> EventLog::recent() const {
  util::MutexLock lock(mu_);
  return {ring_.begin(), ring_.end()};
}

}  // namespace dkv::node
