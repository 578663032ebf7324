#include "node/ready_driver.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "node/node_metrics.h"
#include "util/assert.h"

namespace dkv::node {

bool ReadyDriver::apply_before_persist(const raft::Ready& rd) {
  return !rd.committed_entries.empty() && rd.entries.empty() && rd.snapshot.empty() &&
         std::none_of(rd.committed_entries.begin(), rd.committed_entries.end(),
                      [](const raft::Entry& e) { return e.type == raft::EntryType::kConfChange; });
}

void ReadyDriver::send(std::vector<raft::Message>& messages) {
  if (messages.empty() || !hooks_.send) return;
  hooks_.send(std::move(messages));
  messages.clear();
}

util::Status ReadyDriver::handle(raft::Ready& rd, const char** failed) {
  if (rd.persist_async) {
    handle_async(rd);
    return util::Status::ok();
  }
  if (auto s = drain(failed); !s.is_ok()) return s;  // The WAL sees every write in Ready order.
  const bool apply_first = apply_before_persist(rd);
  if (apply_first) hooks_.apply(rd.committed_entries);                                    // 0.
  send(rd.messages);                                                                      // 1.
  if (auto s = persist(rd, failed); !s.is_ok()) return s;                                 // 2.
  send(rd.messages_after_persist);                                                        // 3.
  if (!apply_first && !rd.committed_entries.empty()) hooks_.apply(rd.committed_entries);  // 4.
  return util::Status::ok();
}

void ReadyDriver::handle_async(raft::Ready& rd) {
  DKV_ASSERT(writer_ != nullptr && rd.snapshot.empty() && rd.messages_after_persist.empty());
  send(rd.messages);
  if (rd.hard_state) unwritten_hard_state_ = rd.hard_state;
  // A hard state that only moved the commit index needs no sync (a commit
  // index lost is learned again): it waits for the next batch with entries
  // (or drain()) instead of waking the writer for a write of its own.
  if (!rd.entries.empty() || rd.must_sync) {
    writer_->submit(WalWriter::Batch{.hard_state = std::exchange(unwritten_hard_state_, {}),
                                     .entries = std::move(rd.entries),
                                     .must_sync = rd.must_sync});
  }
  // Durable already (the core holds back those that are not).
  if (!rd.committed_entries.empty()) hooks_.apply(rd.committed_entries);
}

util::Status ReadyDriver::land(const char** failed) {
  if (writer_ == nullptr) return util::Status::ok();
  for (WalWriter::Batch& b : writer_->take_done()) {
    const raft::Entry last = b.entries.empty() ? raft::Entry{}
                                               : raft::Entry{.term = b.entries.back().term,
                                                             .index = b.entries.back().index};
    if (!b.entries.empty()) {
      *failed = "raft storage append";
      if (auto s = storage_.append(std::move(b.entries)); !s.is_ok()) return s;
    }
    if (b.hard_state) storage_.set_hard_state(*b.hard_state);
    if (last.index != 0) hooks_.report_persisted(last.index, last.term);
  }
  return util::Status::ok();
}

util::Status ReadyDriver::drain(const char** failed) {
  if (writer_ == nullptr) return util::Status::ok();
  writer_->drain();
  if (auto s = land(failed); !s.is_ok()) return s;
  if (!unwritten_hard_state_) return util::Status::ok();
  *failed = "WAL write failed";
  if (auto s = log_.save(&*unwritten_hard_state_, {}); !s.is_ok()) return s;
  storage_.set_hard_state(*unwritten_hard_state_);
  unwritten_hard_state_.reset();
  return util::Status::ok();
}

util::Status ReadyDriver::persist(raft::Ready& rd, const char** failed) {
  // Invariant: new entries are fsynced before anything that acknowledges
  // them leaves (messages_after_persist); the core marks such a Ready.
  DKV_ASSERT(rd.entries.empty() || rd.must_sync);
  if (!rd.snapshot.empty()) hooks_.install_snapshot(rd.snapshot);
  if (!rd.hard_state && rd.entries.empty()) return util::Status::ok();
  const raft::HardState* hs = rd.hard_state ? &*rd.hard_state : nullptr;
  *failed = "WAL write failed";
  if (auto s = log_.save(hs, rd.entries); !s.is_ok()) return s;
  // A hard state that only moved the commit index rides along unsynced with
  // the next fsync (Ready::must_sync): on the leader, that keeps an fsync
  // off every write's path between commit and apply.
  if (rd.must_sync) {
    const auto sync_start = std::chrono::steady_clock::now();
    *failed = "WAL fsync failed";
    if (auto s = log_.sync(); !s.is_ok()) return s;
    node_metrics().wal_fsync.observe(seconds_since(sync_start));
  }
  if (!rd.entries.empty()) {
    *failed = "raft storage append";
    if (auto s = storage_.append(std::move(rd.entries)); !s.is_ok()) return s;
  }
  if (rd.hard_state) storage_.set_hard_state(*rd.hard_state);
  return util::Status::ok();
}

}  // namespace dkv::node
