// WatchWorkload (etcd_workloads.h): writers and resuming watchers over
// etcd's KV and Watch services.
#include <grpcpp/grpcpp.h>

#include <mutex>
#include <random>
#include <thread>

#include "clients.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "etcd_channel.h"
#include "etcd_workloads.h"

namespace dkv::fault {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

WatchEvent from_event(const mvccpb::Event& e) {
  return {e.kv().key(), e.kv().mod_revision(), e.type() == mvccpb::Event::DELETE, e.kv().value()};
}

}  // namespace

struct WatchWorkload::State {
  EtcdWorkloadOptions o;
  Clock::time_point epoch;
  std::vector<std::unique_ptr<etcdserverpb::KV::Stub>> kv;
  std::vector<std::unique_ptr<etcdserverpb::Watch::Stub>> watch;
  std::atomic<bool> writers_stop{false}, watchers_stop{false};
  std::atomic<std::uint64_t> ops{0};
  std::atomic<std::int64_t> target{0};  // Watchers are done once they delivered this.
  std::mutex mu;                        // Guards writes and the watchers' records.
  std::vector<WriteRecord> writes;
  std::vector<Watcher> records;
  std::vector<std::unique_ptr<std::atomic<std::int64_t>>> delivered;  // Per watcher.
  std::vector<std::thread> writer_threads, watcher_threads;

  void write_loop(int id);
  void watch_loop(int id);
  // One session on member m from `start`; returns why it ended.
  std::string session(int id, int m, std::int64_t start, WatchSession* out);
};

void WatchWorkload::State::write_loop(int id) {
  std::mt19937_64 rng(o.seed * 7919 + static_cast<std::uint64_t>(id));
  std::uint64_t n = 0;
  const int members = static_cast<int>(kv.size());
  for (int op = 0; !writers_stop; ++op) {
    const int m = (id + op) % members;
    const std::string key = "w" + std::to_string(rng() % static_cast<std::uint64_t>(o.keys));
    const std::string value = "c" + std::to_string(id) + "-" + std::to_string(n++);
    const auto roll = rng() % 10;
    WriteRecord w;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + o.client_timeout);
    grpc::Status s;
    etcdserverpb::TxnResponse txn;
    if (roll == 0) {  // Delete: a revision only if the key existed.
      etcdserverpb::DeleteRangeRequest req;
      req.set_key(key);
      etcdserverpb::DeleteRangeResponse resp;
      s = kv[m]->DeleteRange(&ctx, req, &resp);
      if (s.ok() && resp.deleted() == 0) continue;
      w.keys.push_back({key, true, ""});
      w.revision = s.ok() ? resp.header().revision() : 0;
    } else {  // A put, or two puts in one txn (one revision).
      etcdserverpb::TxnRequest req;
      w.keys.push_back({key, false, value});
      if (roll == 1) w.keys.push_back({key == "w0" ? "w1" : "w0", false, value + "b"});
      for (const auto& k : w.keys) {
        auto* put = req.add_success()->mutable_request_put();
        put->set_key(k.key);
        put->set_value(k.value);
      }
      s = kv[m]->Txn(&ctx, req, &txn);
      w.revision = s.ok() ? txn.header().revision() : 0;
    }
    ops.fetch_add(1);
    if (refused(s)) {
      std::this_thread::sleep_for(50ms);  // Pacing: the member is down.
      continue;
    }
    w.acknowledged = s.ok();
    std::lock_guard<std::mutex> lock(mu);
    writes.push_back(std::move(w));
  }
}

std::string WatchWorkload::State::session(int id, int m, std::int64_t start, WatchSession* out) {
  grpc::ClientContext ctx;
  ctx.AddMetadata("hasleader", "true");
  auto stream = watch[m]->Watch(&ctx);
  etcdserverpb::WatchRequest create;
  create.mutable_create_request()->set_key("w");
  create.mutable_create_request()->set_range_end("x");
  create.mutable_create_request()->set_start_revision(start);
  create.mutable_create_request()->set_progress_notify(true);
  std::mutex write_mu;
  std::atomic<std::int64_t> last_answer_ns{since_ns(epoch)};
  std::atomic<bool> done{false};
  std::string why = "stopped";
  std::string stalled;  // Written by the monitor only; read after it joined.
  if (!stream->Write(create)) return "could not send the create request";
  // Asks for progress every 500 ms; cancels a stream that stopped answering.
  std::thread monitor([&] {
    while (!done && !watchers_stop) {
      std::this_thread::sleep_for(500ms);  // Pacing of progress requests.
      const std::int64_t silent_ns = since_ns(epoch) - last_answer_ns.load();
      if (silent_ns > std::chrono::nanoseconds(o.stall_timeout).count()) {
        stalled = "stalled: no answer for " + std::to_string(silent_ns / 1'000'000) + " ms";
        break;
      }
      etcdserverpb::WatchRequest progress;
      progress.mutable_progress_request();
      std::lock_guard<std::mutex> lock(write_mu);
      if (!stream->Write(progress)) break;
    }
    ctx.TryCancel();
  });
  etcdserverpb::WatchResponse r;
  while (stream->Read(&r)) {
    last_answer_ns = since_ns(epoch);
    WatchResponseRecord rec;
    rec.received_ns = last_answer_ns;
    rec.header_revision = r.header().revision();
    rec.created = r.created();
    rec.canceled = r.canceled();
    rec.compact_revision = r.compact_revision();
    for (const auto& e : r.events()) rec.events.push_back(from_event(e));
    if (!rec.events.empty()) delivered[id]->store(rec.events.back().mod_revision);
    if (rec.is_progress_notify()) {
      delivered[id]->store(std::max(delivered[id]->load(), rec.header_revision));
    }
    out->responses.push_back(std::move(rec));
    if (r.canceled()) {
      why = "canceled: " + r.cancel_reason();
      break;
    }
  }
  done = true;
  ctx.TryCancel();
  monitor.join();
  const grpc::Status s = stream->Finish();
  if (!stalled.empty()) return stalled;
  if (why == "stopped" && !watchers_stop) why = "stream ended: " + s.error_message();
  return why;
}

void WatchWorkload::State::watch_loop(int id) {
  const int members = static_cast<int>(watch.size());
  std::int64_t next = 1;  // From the start of history.
  for (int m = id % members; !watchers_stop; m = (m + 1) % members) {
    WatchSession s;
    s.member = o.members[m];
    s.start_revision = next;
    s.end = session(id, m, next, &s);
    for (const auto& r : s.responses) {
      if (!r.events.empty()) next = r.events.back().mod_revision + 1;
    }
    const bool empty = s.responses.empty();
    {
      std::lock_guard<std::mutex> lock(mu);
      records[id].sessions.push_back(std::move(s));
    }
    ops.fetch_add(1);
    if (empty && !watchers_stop) std::this_thread::sleep_for(100ms);  // Pacing: member down.
  }
}

WatchWorkload::WatchWorkload(const EtcdWorkloadOptions& options, Clock::time_point epoch)
    : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.o = options;
  s.epoch = epoch;
  for (const auto& e : options.endpoints) {
    auto ch = channel_to(e);
    s.kv.push_back(etcdserverpb::KV::NewStub(ch));
    s.watch.push_back(etcdserverpb::Watch::NewStub(ch));
  }
  for (int i = 0; i < options.watchers; ++i) {
    s.records.push_back(Watcher{i, "w", "x", {}});
    s.delivered.push_back(std::make_unique<std::atomic<std::int64_t>>(0));
  }
  for (int i = 0; i < options.watchers; ++i)
    s.watcher_threads.emplace_back([&s, i] { s.watch_loop(i); });
  for (int i = 0; i < options.writers; ++i)
    s.writer_threads.emplace_back([&s, i] { s.write_loop(i); });
}

WatchWorkload::~WatchWorkload() { stop(std::chrono::milliseconds(0)); }

void WatchWorkload::stop(std::chrono::milliseconds catch_up) {
  State& s = *state_;
  s.writers_stop = true;
  for (auto& t : s.writer_threads) {
    if (t.joinable()) t.join();
  }
  std::int64_t last = 0;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    for (const auto& w : s.writes) {
      if (w.acknowledged) last = std::max(last, w.revision);
    }
  }
  const auto until = Clock::now() + catch_up;
  for (const auto& d : s.delivered) {
    while (d->load() < last && Clock::now() < until) std::this_thread::sleep_for(50ms);  // Poll.
  }
  s.watchers_stop = true;
  for (auto& t : s.watcher_threads) {
    if (t.joinable()) t.join();
  }
}

std::uint64_t WatchWorkload::ops() const { return state_->ops.load(); }

std::vector<Watcher> WatchWorkload::watchers() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->records;
}

std::vector<WriteRecord> WatchWorkload::writes() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->writes;
}

}  // namespace dkv::fault
