#include "node/watch_hub.h"

#include <algorithm>
#include <utility>

#include "util/assert.h"

namespace dkv::node {

bool WatchSpec::matches(const kv::HistoryEvent& e) const {
  if (e.is_delete ? no_delete : no_put) return false;
  if (range_end.empty()) return e.key == key;
  if (e.key < key) return false;
  if (range_end == std::string(1, '\0')) return true;
  return e.key < range_end;
}

WatchEvent to_watch_event(const kv::HistoryEvent& e) {
  auto event = std::make_shared<mvccpb::Event>();
  event->set_type(e.is_delete ? mvccpb::Event::DELETE : mvccpb::Event::PUT);
  mvccpb::KeyValue* kv = event->mutable_kv();
  kv->set_key(e.key);
  kv->set_mod_revision(e.mod_revision);
  if (!e.is_delete) {
    kv->set_create_revision(e.create_revision);
    kv->set_version(e.version);
    kv->set_value(e.value);
    kv->set_lease(e.lease);
  }
  return event;
}

WatchHub::Added WatchHub::add(const WatchSpec& spec, WatchSink* sink, std::int64_t tag) {
  DKV_ASSERT(sink != nullptr);
  util::MutexLock lock(mu_);
  const std::int64_t start = spec.start_revision > 0 ? spec.start_revision : published_rev_ + 1;
  // History at the compact revision itself may have lost its tombstones.
  if (start <= compact_rev_) return Added{0, compact_rev_, published_rev_};
  const WatcherId id = next_id_++;
  Watcher w{spec, sink, tag, start, /*synced=*/start > published_rev_};
  if (!w.synced) {
    ++unsynced_;
    work_pending_ = true;
    work_.notify_all();
  }
  watchers_.emplace(id, std::move(w));
  return Added{id, 0, published_rev_};
}

void WatchHub::remove(WatcherId id) {
  util::MutexLock lock(mu_);
  auto it = watchers_.find(id);
  if (it == watchers_.end()) return;
  if (!it->second.synced) --unsynced_;
  watchers_.erase(it);
}

void WatchHub::mark_unsynced(Watcher& w) {
  DKV_ASSERT(w.synced);
  w.synced = false;
  ++unsynced_;
  work_pending_ = true;
  work_.notify_all();
}

// Offers `w` the events of h it has not had, whole revisions, in one go.
bool WatchHub::publish_to(Watcher& w, const kv::CommittedHistory& h,
                          std::vector<WatchEvent>& converted) {
  std::vector<WatchEvent> mine;
  for (std::size_t i = 0; i < h.events.size(); ++i) {
    const kv::HistoryEvent& e = h.events[i];
    if (e.main < w.next_rev || !w.spec.matches(e)) continue;
    if (converted[i] == nullptr) converted[i] = to_watch_event(e);
    mine.push_back(converted[i]);
  }
  const bool offered = !mine.empty();
  if (offered && !w.sink->offer(w.tag, std::move(mine), h.current_revision)) {
    // Over budget: from its next revision on, the catch-up thread reads hist.
    mark_unsynced(w);
    return false;
  }
  w.next_rev = std::max(w.next_rev, h.current_revision + 1);
  return offered;
}

void WatchHub::publish(kv::CommittedHistory&& h) {
  std::vector<WatchSink*> to_flush;
  publish_locked(std::move(h), &to_flush);
  flush(to_flush);
}

void WatchHub::flush(std::vector<WatchSink*>& sinks) {
  std::sort(sinks.begin(), sinks.end());
  sinks.erase(std::unique(sinks.begin(), sinks.end()), sinks.end());
  for (WatchSink* sink : sinks) sink->flush();
}

void WatchHub::publish_locked(kv::CommittedHistory&& h, std::vector<WatchSink*>* to_flush) {
  util::MutexLock lock(mu_);
  DKV_ASSERT(h.current_revision >= h.compact_revision);
  if (h.restored) {
    // A snapshot: the revisions jumped. Watchers behind it read hist.
    for (auto& [id, w] : watchers_) {
      if (w.synced && w.next_rev <= h.current_revision) mark_unsynced(w);
    }
  } else {
    DKV_ASSERT(h.current_revision >= published_rev_);
    std::vector<WatchEvent> converted(h.events.size());
    for (auto& [id, w] : watchers_) {
      if (w.synced && publish_to(w, h, converted)) to_flush->push_back(w.sink);
    }
  }
  published_rev_ = h.current_revision;
  compact_rev_ = h.compact_revision;
  cancel_compacted_locked();
}

// Every watcher at or below the compact revision goes, before physical
// compaction can remove what it would read.
void WatchHub::cancel_compacted_locked() {
  for (auto it = watchers_.begin(); it != watchers_.end();) {
    Watcher& w = it->second;
    if (w.next_rev > compact_rev_) {
      ++it;
      continue;
    }
    DKV_ASSERT(!w.synced);  // A synced watcher is past the published revision.
    --unsynced_;
    w.sink->compacted(w.tag, compact_rev_);
    w.sink->flush();  // Under mu_: a sink's flush only wakes its sender.
    it = watchers_.erase(it);
  }
}

std::vector<CatchupTask> WatchHub::unsynced() const {
  util::MutexLock lock(mu_);
  std::vector<CatchupTask> tasks;
  tasks.reserve(unsynced_);
  for (const auto& [id, w] : watchers_) {
    if (!w.synced) tasks.push_back(CatchupTask{id, w.next_rev, published_rev_, w.spec});
  }
  return tasks;
}

WatchHub::Delivered WatchHub::deliver_catchup(WatcherId id, std::int64_t from_rev,
                                              std::vector<WatchEvent>&& events,
                                              std::int64_t through) {
  WatchSink* offered_to = nullptr;
  const Delivered d = deliver_locked(id, from_rev, std::move(events), through, &offered_to);
  if (offered_to != nullptr) offered_to->flush();
  return d;
}

WatchHub::Delivered WatchHub::deliver_locked(WatcherId id, std::int64_t from_rev,
                                             std::vector<WatchEvent>&& events, std::int64_t through,
                                             WatchSink** offered_to) {
  util::MutexLock lock(mu_);
  auto it = watchers_.find(id);
  if (it == watchers_.end()) return Delivered::kStale;
  Watcher& w = it->second;
  if (w.synced || w.next_rev != from_rev) return Delivered::kStale;
  DKV_ASSERT(through >= from_rev - 1);
  DKV_ASSERT(through <= published_rev_);
  if (!events.empty()) {
    if (!w.sink->offer(w.tag, std::move(events), published_rev_)) return Delivered::kSinkFull;
    *offered_to = w.sink;
  }
  w.next_rev = through + 1;
  if (w.next_rev == published_rev_ + 1) {  // No gap: the next publish is its next revision.
    w.synced = true;
    --unsynced_;
  }
  return Delivered::kTaken;
}

void WatchHub::cancel_compacted(WatcherId id, std::int64_t from_rev) {
  util::MutexLock lock(mu_);
  auto it = watchers_.find(id);
  if (it == watchers_.end() || it->second.synced || it->second.next_rev != from_rev) return;
  // The read saw a compact revision >= from_rev; publish() may not have yet.
  compact_rev_ = std::max(compact_rev_, from_rev);
  cancel_compacted_locked();
}

void WatchHub::wait_for_work(std::chrono::milliseconds timeout) {
  util::MutexLock lock(mu_);
  if (!work_pending_ && !shut_down_) work_.wait_for(mu_, timeout);
  work_pending_ = false;
}

void WatchHub::sink_has_room() {
  util::MutexLock lock(mu_);
  if (unsynced_ == 0) return;
  work_pending_ = true;
  work_.notify_all();
}

void WatchHub::shut_down() {
  util::MutexLock lock(mu_);
  shut_down_ = true;
  work_.notify_all();
}

bool WatchHub::shutting_down() const {
  util::MutexLock lock(mu_);
  return shut_down_;
}

bool WatchHub::all_synced(const std::vector<WatcherId>& ids, std::int64_t* revision) const {
  util::MutexLock lock(mu_);
  for (WatcherId id : ids) {
    auto it = watchers_.find(id);
    if (it != watchers_.end() && !it->second.synced) return false;
  }
  *revision = published_rev_;
  return true;
}

std::int64_t WatchHub::published_revision() const {
  util::MutexLock lock(mu_);
  return published_rev_;
}

std::size_t WatchHub::watcher_count() const {
  util::MutexLock lock(mu_);
  return watchers_.size();
}

std::size_t WatchHub::unsynced_count() const {
  util::MutexLock lock(mu_);
  return unsynced_;
}

}  // namespace dkv::node
