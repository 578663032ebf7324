#include "api/etcd_watch_session.h"

#include <utility>

#include "api/etcd_errors.h"
#include "api/etcd_header.h"
#include "api/etcd_watch_sender.h"
#include "kv/mvcc_request.h"
#include "kv/store.h"

namespace dkv::api {
namespace {

namespace pb = etcdserverpb;

constexpr std::int64_t kProgressWatchId = -1;  // clientv3.InvalidWatchID
constexpr std::size_t kEventOverheadBytes = 64;
constexpr int kNoLeaderTicksMax = 30;  // ~3 s of 100 ms ticks.
constexpr char kDuplicateId[] = "mvcc: duplicate watch ID provided on the WatchStream";

std::size_t bytes_of(const std::vector<node::WatchEvent>& events) {
  std::size_t n = 0;
  for (const auto& e : events)
    n += e->kv().key().size() + e->kv().value().size() + kEventOverheadBytes;
  return n;
}

node::WatchSpec spec_of(const pb::WatchCreateRequest& r) {
  node::WatchSpec spec;
  // etcd's recvLoop: an empty key is the smallest key, "\0".
  spec.key = r.key().empty() ? std::string(1, '\0') : r.key();
  spec.range_end = r.range_end();
  spec.start_revision = r.start_revision();
  for (int f : r.filters()) {
    if (f == pb::WatchCreateRequest::NOPUT) spec.no_put = true;
    if (f == pb::WatchCreateRequest::NODELETE) spec.no_delete = true;
  }
  return spec;
}

}  // namespace

WatchSession::WatchSession(node::Node& node, WatchSender& sender, const WatchOptions& options,
                           bool require_leader)
    : node_(node), sender_(sender), options_(options), require_leader_(require_leader) {
  last_progress_ = std::chrono::steady_clock::now();
}

WatchSession::~WatchSession() { close(); }

void WatchSession::attach(WatchWriter* writer) {
  {
    util::MutexLock lock(mu_);
    writer_ = writer;
  }
  sender_.add(weak_from_this());
}

void WatchSession::handle(const pb::WatchRequest& request) {
  switch (request.request_union_case()) {
    case pb::WatchRequest::kCreateRequest:
      return create(request.create_request());
    case pb::WatchRequest::kCancelRequest:
      return cancel(request.cancel_request().watch_id());
    case pb::WatchRequest::kProgressRequest:
      return request_progress();
    default:
      return;  // etcd ignores an empty request.
  }
}

void WatchSession::create(const pb::WatchCreateRequest& r) {
  std::int64_t id = r.watch_id();
  {
    util::MutexLock lock(mu_);
    if (id != 0 && watches_.count(id) != 0) {
      Item refused{Item::Kind::kCreated, id, node_.current_revision()};
      refused.cancel_reason = kDuplicateId;
      enqueue(std::move(refused));
      id = -2;
    } else {
      if (id == 0) {
        while (watches_.count(next_watch_id_) != 0) ++next_watch_id_;
        id = next_watch_id_++;
      }
      watches_[id] = Watch{0, r.prev_kv(), r.fragment(), r.progress_notify(), false};
      // Queued before the watcher exists: its events come after it.
      Item created{Item::Kind::kCreated, id};
      created.ready = false;
      enqueue(std::move(created));
    }
  }
  if (id == -2) return flush();
  const node::WatchHub::Added added = node_.watch_hub().add(spec_of(r), this, id);
  {
    util::MutexLock lock(mu_);
    for (Item& item : queue_) {
      if (item.kind == Item::Kind::kCreated && item.watch_id == id && !item.ready) {
        item.ready = true;
        item.revision = added.revision;
      }
    }
    if (added.compact_revision > 0) {
      watches_.erase(id);
      Item c{Item::Kind::kCanceled, id, 0};  // etcd's header has no revision here.
      c.compact_revision = added.compact_revision;
      enqueue(std::move(c));
    } else {
      watches_[id].hub_id = added.id;
    }
  }
  flush();
}

void WatchSession::cancel(std::int64_t watch_id) {
  node::WatcherId hub_id = 0;
  {
    util::MutexLock lock(mu_);
    auto it = watches_.find(watch_id);
    if (it == watches_.end()) return;  // etcd answers nothing for an unknown id.
    hub_id = it->second.hub_id;
    watches_.erase(it);
  }
  node_.watch_hub().remove(hub_id);
  {
    util::MutexLock lock(mu_);
    enqueue(Item{Item::Kind::kCanceled, watch_id, node_.current_revision()});
  }
  flush();
}

void WatchSession::request_progress() {
  if (try_progress_all()) return flush();
  util::MutexLock lock(mu_);
  progress_requested_ = true;  // Answered once every watcher is synced (tick()).
}

bool WatchSession::try_progress_all() {
  std::vector<node::WatcherId> ids;
  {
    util::MutexLock lock(mu_);
    for (const auto& [id, w] : watches_) ids.push_back(w.hub_id);
  }
  std::int64_t revision = 0;
  // Every event up to `revision` is in the queue already: the progress
  // response goes after them, never ahead.
  if (!node_.watch_hub().all_synced(ids, &revision)) return false;
  util::MutexLock lock(mu_);
  progress_requested_ = false;
  enqueue(Item{Item::Kind::kProgress, kProgressWatchId, revision});
  return true;
}

void WatchSession::progress_notify() {
  std::vector<std::pair<std::int64_t, node::WatcherId>> due;
  {
    util::MutexLock lock(mu_);
    for (auto& [id, w] : watches_) {
      if (w.progress_notify && !w.sent_since_progress && w.hub_id != 0) {
        due.emplace_back(id, w.hub_id);
      }
      w.sent_since_progress = false;
    }
  }
  for (const auto& [id, hub_id] : due) {
    std::int64_t revision = 0;
    if (!node_.watch_hub().all_synced({hub_id}, &revision)) continue;
    util::MutexLock lock(mu_);
    if (watches_.count(id) != 0) enqueue(Item{Item::Kind::kProgress, id, revision});
  }
}

void WatchSession::tick(std::chrono::steady_clock::time_point now) {
  bool progress_due = false;
  bool pending_request = false;
  {
    util::MutexLock lock(mu_);
    if (writer_ == nullptr || ending_) return;
    if (require_leader_) {
      ticks_without_leader_ = node_.has_leader() ? 0 : ticks_without_leader_ + 1;
      if (ticks_without_leader_ >= kNoLeaderTicksMax) {
        ending_ = true;
        end_status_ = etcd_no_leader();
      }
    }
    if (now - last_progress_ >= options_.progress_notify_interval) {
      last_progress_ = now;
      progress_due = true;
    }
    pending_request = progress_requested_;
  }
  if (pending_request) try_progress_all();
  if (progress_due) progress_notify();
}

bool WatchSession::offer(std::int64_t tag, std::vector<node::WatchEvent>&& events,
                         std::int64_t as_of) {
  util::MutexLock lock(mu_);
  if (watches_.count(tag) == 0) return true;  // Cancelled meanwhile: dropped.
  const std::size_t bytes = bytes_of(events);
  if (queued_bytes_ > 0 && queued_bytes_ + bytes > options_.stream_budget_bytes) {
    refused_ = true;
    return false;
  }
  Item item{Item::Kind::kEvents, tag, as_of};
  item.events = std::move(events);
  item.bytes = bytes;
  enqueue(std::move(item));
  return true;
}

void WatchSession::compacted(std::int64_t tag, std::int64_t compact_revision) {
  util::MutexLock lock(mu_);
  if (watches_.erase(tag) == 0) return;
  Item c{Item::Kind::kCanceled, tag, 0};  // etcd's header has no revision here.
  c.compact_revision = compact_revision;
  enqueue(std::move(c));
}

void WatchSession::flush() { sender_.schedule(shared_from_this()); }

void WatchSession::enqueue(Item item) {
  queued_bytes_ += item.bytes;
  queue_.push_back(std::move(item));
}

void WatchSession::end(const util::Status& status) {
  {
    util::MutexLock lock(mu_);
    if (ending_) return;
    ending_ = true;
    end_status_ = status;
  }
  flush();
}

void WatchSession::write_done(bool ok) {
  {
    util::MutexLock lock(mu_);
    writing_ = false;
    if (!ok) {  // The stream is gone: what is queued can never be written.
      queue_.clear();
      queued_bytes_ = 0;
      if (!ending_) end_status_ = util::Status(util::Code::kCancelled, "watch stream broken");
      ending_ = true;
    }
  }
  pump();
}

void WatchSession::close() {
  std::vector<node::WatcherId> ids;
  {
    util::MutexLock lock(mu_);
    writer_ = nullptr;
    for (const auto& [id, w] : watches_) ids.push_back(w.hub_id);
    watches_.clear();
    queue_.clear();
    queued_bytes_ = 0;
  }
  for (node::WatcherId id : ids) node_.watch_hub().remove(id);
}

bool WatchSession::take_head(Item* item) {
  while (!queue_.empty()) {
    Item& head = queue_.front();
    if (!head.ready) return false;
    const bool dropped = head.kind == Item::Kind::kEvents && watches_.count(head.watch_id) == 0;
    if (!dropped) {
      *item = std::move(head);
      queued_bytes_ -= item->bytes;
      queue_.pop_front();
      merge_following(item);
      return true;
    }
    queued_bytes_ -= head.bytes;
    queue_.pop_front();
  }
  return false;
}

// A watcher that fell behind has several revisions queued: one response
// carries them (each revision whole), up to etcd's request limit. Other
// watchers' items in between keep their places (no order across watchers).
void WatchSession::merge_following(Item* item) {
  if (item->kind != Item::Kind::kEvents) return;
  for (auto it = queue_.begin(); it != queue_.end();) {
    if (it->watch_id != item->watch_id) {
      ++it;
      continue;
    }
    if (it->kind != Item::Kind::kEvents) return;  // Its cancel or progress stays after.
    if (item->bytes + it->bytes > kv::kRequestBytesMax) return;
    item->events.insert(item->events.end(), it->events.begin(), it->events.end());
    item->bytes += it->bytes;
    item->revision = std::max(item->revision, it->revision);
    queued_bytes_ -= it->bytes;
    it = queue_.erase(it);
  }
}

void WatchSession::pump() {
  Item item;
  bool room = false;
  {
    util::MutexLock lock(mu_);
    if (writer_ == nullptr || writing_) return;
    if (!take_head(&item)) {
      if (ending_) {
        WatchWriter* w = writer_;
        writer_ = nullptr;
        w->finish(end_status_);
      }
      return;
    }
    writing_ = true;
    if (item.kind == Item::Kind::kEvents) {
      auto it = watches_.find(item.watch_id);
      it->second.sent_since_progress = true;
      // Too large for one response: the rest goes back to the head.
      if (it->second.fragment && item.bytes > kv::kRequestBytesMax && item.events.size() > 1) {
        Item rest = item;
        std::size_t bytes = 0;
        std::size_t n = 0;
        while (n < item.events.size() &&
               (n == 0 || bytes + bytes_of({item.events[n]}) <= kv::kRequestBytesMax)) {
          bytes += bytes_of({item.events[n]});
          ++n;
        }
        rest.events.erase(rest.events.begin(), rest.events.begin() + n);
        rest.bytes = item.bytes - bytes;
        item.events.resize(n);
        item.bytes = bytes;
        item.more_fragments = true;
        queued_bytes_ += rest.bytes;
        queue_.push_front(std::move(rest));
      }
    }
    room = refused_ && queued_bytes_ <= options_.stream_budget_bytes / 2;
    if (room) refused_ = false;
  }
  if (room) node_.watch_hub().sink_has_room();
  {
    util::MutexLock lock(mu_);
    auto it = watches_.find(item.watch_id);
    item.with_prev_kv = it != watches_.end() && it->second.prev_kv;
  }
  build(std::move(item), &response_);
  util::MutexLock lock(mu_);
  if (writer_ == nullptr) {
    writing_ = false;
    return;
  }
  writer_->start_write(response_);
}

void WatchSession::build(Item item, pb::WatchResponse* out) {
  out->Clear();
  fill_etcd_header(node_, out->mutable_header());
  out->mutable_header()->set_revision(item.revision);
  out->set_watch_id(item.watch_id);
  switch (item.kind) {
    case Item::Kind::kCreated:
      out->set_created(true);
      if (!item.cancel_reason.empty()) {
        out->set_canceled(true);
        out->set_cancel_reason(item.cancel_reason);
      }
      return;
    case Item::Kind::kCanceled:
      out->set_canceled(true);
      out->set_compact_revision(item.compact_revision);
      return;
    case Item::Kind::kProgress:
      return;
    case Item::Kind::kEvents:
      break;
  }
  out->set_fragment(item.more_fragments);
  const bool prev_kv = item.with_prev_kv;
  for (const node::WatchEvent& e : item.events) {
    mvccpb::Event* added = out->add_events();
    *added = *e;
    if (prev_kv) fill_prev_kv(added);
  }
}

// etcd's sendLoop: the key's version just before the event, if history
// still holds it.
void WatchSession::fill_prev_kv(mvccpb::Event* event) {
  pb::RangeRequest r;
  r.set_key(event->kv().key());
  r.set_revision(event->kv().mod_revision() - 1);
  pb::RangeResponse resp;
  node_.read_store([&](const kv::Store& store) { return store.range(r, &resp); },
                   /*serializable=*/true, node::Deadline::max(), [](util::Status) {});
  if (resp.kvs_size() == 1) *event->mutable_prev_kv() = resp.kvs(0);
}

}  // namespace dkv::api
