// One etcd Watch stream, transport-neutral: the gRPC bidi stream
// (etcd_watch_service.h) and REST's POST /v3/watch drive a WatchSession.
// It owns the stream's watchers (in the node's WatchHub) and the queue of
// responses not yet written, and writes them one at a time through a
// WatchWriter:
//   - creates are answered in order (created=true, the header revision the
//     watcher starts after); events follow their own create;
//   - each hub offer (all events of whole revisions) becomes one response,
//     split into fragments only if the watcher asked for `fragment` and it
//     exceeds etcd's request limit;
//   - prev_kv is read when the response is built (a range at mod_revision
//     - 1, as etcd's sendLoop), on the sender's thread;
//   - RequestProgress is answered (watch_id -1) only when every watcher of
//     the stream is synced; it waits otherwise; progress_notify watchers get
//     one every WatchOptions::progress_notify_interval if nothing was sent;
//   - with "hasleader", the stream ends with "etcdserver: no leader" after
//     about 3 s without a leader, as etcd's monitorLeader.
// Memory: the queue holds at most budget_bytes of events (shared between
// watchers); beyond it the hub refuses offers and the watcher catches up
// from history later (watch_hub.h), so a stalled client costs a bounded
// amount and nothing to others.
//
// Threading: handle() and end() from the reader (one at a time);
// write_done() from the writer; offer/compacted/flush from the hub (apply
// and catch-up threads); pump() and tick() from the WatchSender's thread.
// Lock order: hub -> session (the session never calls the hub under mu_).
// Lifetime: close() before the writer goes; the session is shared between
// the transport and the sender.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "etcd/etcdserver/etcdserverpb/rpc.pb.h"
#include "node/node.h"
#include "node/watch_hub.h"
#include "util/mutex.h"
#include "util/status.h"
#include "util/thread_annotations.h"

namespace dkv::api {

class WatchSender;

struct WatchOptions {
  // DKV_WATCH_PROGRESS_NOTIFY_MS; etcd's is 10 minutes.
  std::chrono::milliseconds progress_notify_interval{600'000};
  // Bytes of events one stream may hold unsent.
  std::size_t stream_budget_bytes = 4u << 20;
};

// Where a session's responses go.
class WatchWriter {
 public:
  virtual ~WatchWriter() = default;
  // Sends `response` (valid until write_done); never two at a time.
  virtual void start_write(const etcdserverpb::WatchResponse& response) = 0;
  // Ends the stream with `status`; nothing is written after it.
  virtual void finish(const util::Status& status) = 0;
};

class WatchSession final : public node::WatchSink,
                           public std::enable_shared_from_this<WatchSession> {
 public:
  WatchSession(node::Node& node, WatchSender& sender, const WatchOptions& options,
               bool require_leader);
  ~WatchSession() override;

  // Before any request; registers with the sender.
  void attach(WatchWriter* writer);
  // A request from the client.
  void handle(const etcdserverpb::WatchRequest& request);
  // The client ended its side (or the stream broke): finish with `status`
  // once what is queued is written.
  void end(const util::Status& status);
  // The last start_write is done; !ok: the stream is gone.
  void write_done(bool ok);
  // Removes the watchers and forgets the writer. Idempotent.
  void close();

  // The sender: starts the next write if none is in flight.
  void pump();
  // The sender, about every 100 ms: progress and the leader check.
  void tick(std::chrono::steady_clock::time_point now);

  // node::WatchSink
  bool offer(std::int64_t tag, std::vector<node::WatchEvent>&& events, std::int64_t as_of) override;
  void compacted(std::int64_t tag, std::int64_t compact_revision) override;
  void flush() override;

 private:
  struct Item {
    enum class Kind { kCreated, kEvents, kCanceled, kProgress };
    Kind kind = Kind::kEvents;
    std::int64_t watch_id = 0;
    std::int64_t revision = 0;  // The header's.
    bool ready = true;          // A create waits for its revision.
    std::int64_t compact_revision = 0;
    std::string cancel_reason;
    std::vector<node::WatchEvent> events;
    std::size_t bytes = 0;
    bool more_fragments = false;  // A fragment, and not the last one.
    bool with_prev_kv = false;    // Set when it is built.
  };
  struct Watch {
    node::WatcherId hub_id = 0;
    bool prev_kv = false;
    bool fragment = false;
    bool progress_notify = false;
    bool sent_since_progress = false;
  };

  void create(const etcdserverpb::WatchCreateRequest& request);
  void cancel(std::int64_t watch_id);
  void request_progress();
  // Enqueues a progress response if every watcher is synced.
  bool try_progress_all() DKV_EXCLUDES(mu_);
  void progress_notify() DKV_EXCLUDES(mu_);
  // The response for the queue's head (prev_kv reads happen here).
  void build(Item item, etcdserverpb::WatchResponse* out);
  bool take_head(Item* item) DKV_REQUIRES(mu_);
  void merge_following(Item* item) DKV_REQUIRES(mu_);
  void fill_prev_kv(mvccpb::Event* event);
  void enqueue(Item item) DKV_REQUIRES(mu_);

  node::Node& node_;
  WatchSender& sender_;
  const WatchOptions options_;
  const bool require_leader_;

  util::Mutex mu_;
  WatchWriter* writer_ DKV_GUARDED_BY(mu_) = nullptr;
  bool writing_ DKV_GUARDED_BY(mu_) = false;
  bool ending_ DKV_GUARDED_BY(mu_) = false;
  util::Status end_status_ DKV_GUARDED_BY(mu_);
  std::map<std::int64_t, Watch> watches_ DKV_GUARDED_BY(mu_);
  std::int64_t next_watch_id_ DKV_GUARDED_BY(mu_) = 0;  // etcd's first is 0.
  std::deque<Item> queue_ DKV_GUARDED_BY(mu_);
  std::size_t queued_bytes_ DKV_GUARDED_BY(mu_) = 0;
  bool refused_ DKV_GUARDED_BY(mu_) = false;  // An offer was refused since the last drain.
  bool progress_requested_ DKV_GUARDED_BY(mu_) = false;
  std::chrono::steady_clock::time_point last_progress_ DKV_GUARDED_BY(mu_);
  int ticks_without_leader_ DKV_GUARDED_BY(mu_) = 0;
  etcdserverpb::WatchResponse response_;  // Borrowed by the writer while writing_.
};

}  // namespace dkv::api
