// watch-bench: events per second that etcd's Watch delivers to W watchers
// of one prefix while one writer puts at a steady rate, against any etcd v3
// endpoint (dkv or etcd). Also --stall: one watcher that never reads, to
// measure the server's memory (RSS of --pid) while the writes go by.
// --prev-kv 1: watchers ask for prev_kv. --replay 1: the writes go first,
// then the watchers start at the first one's revision and read history
// (the catch-up path: many events per response).
// Not a test (bench/watch/run.sh drives it; numbers in docs/performance.md).
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"

namespace pb = etcdserverpb;
using Clock = std::chrono::steady_clock;

namespace {

struct Flags {
  std::string endpoint = "127.0.0.1:2379";  // The watchers'.
  std::string write_endpoint;               // The writer's; empty: endpoint.
  int watchers = 1;
  int streams = 0;  // 0: min(watchers, 50).
  int writes = 2000;
  int rate = 1000;  // Puts per second.
  int writers = 8;  // Threads putting.
  int value_bytes = 256;
  bool stall = false;
  int pid = 0;  // --stall: the server whose RSS to report.
  bool prev_kv = false;
  bool replay = false;
  std::int64_t start_revision = 0;  // Set by --replay.
};

long rss_kib(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

std::string prefix_end(std::string p) {
  p.back() = static_cast<char>(p.back() + 1);
  return p;
}

// One stream with `n` watchers of the prefix: counts events until each got
// `want`; `ready` once all are created.
void run_stream(std::shared_ptr<grpc::Channel> ch, const Flags* f, int n, int want,
                std::atomic<int>* ready, std::atomic<long>* delivered, std::atomic<long>* responses,
                std::atomic<int>* streams_done) {
  auto stub = pb::Watch::NewStub(ch);
  grpc::ClientContext ctx;
  auto stream = stub->Watch(&ctx);
  for (int i = 0; i < n; ++i) {
    pb::WatchRequest req;
    req.mutable_create_request()->set_key("bench/");
    req.mutable_create_request()->set_range_end(prefix_end("bench/"));
    req.mutable_create_request()->set_prev_kv(f->prev_kv);
    req.mutable_create_request()->set_start_revision(f->start_revision);
    stream->Write(req);
  }
  int created = 0;
  long got = 0;
  const long total = static_cast<long>(n) * want;
  pb::WatchResponse resp;
  while (got < total && stream->Read(&resp)) {
    if (resp.created() && ++created == n) ready->fetch_add(1);
    if (resp.canceled()) {  // E.g. its start revision was compacted.
      std::fprintf(stderr, "watch canceled: %s\n", resp.cancel_reason().c_str());
      break;
    }
    got += resp.events_size();
    delivered->fetch_add(resp.events_size());
    if (resp.events_size() > 0) responses->fetch_add(1);
  }
  streams_done->fetch_add(1);
  ctx.TryCancel();
}

std::int64_t current_revision(std::shared_ptr<grpc::Channel> ch) {
  pb::RangeRequest r;
  r.set_key("bench/");
  r.set_limit(1);
  pb::RangeResponse resp;
  grpc::ClientContext ctx;
  return pb::KV::NewStub(ch)->Range(&ctx, r, &resp).ok() ? resp.header().revision() : 0;
}

void write_share(std::shared_ptr<grpc::Channel> ch, const Flags& f, Clock::time_point start,
                 int first) {
  auto kv = pb::KV::NewStub(ch);
  const std::string value(f.value_bytes, 'v');
  for (int i = first; i < f.writes; i += f.writers) {
    std::this_thread::sleep_until(start + std::chrono::microseconds(1'000'000LL * i / f.rate));
    pb::PutRequest put;
    put.set_key("bench/" + std::to_string(i % 1000));
    put.set_value(value);
    pb::PutResponse resp;
    grpc::ClientContext ctx;
    if (!kv->Put(&ctx, put, &resp).ok()) std::fprintf(stderr, "put %d failed\n", i);
  }
}

// f.writers threads share the writes, each paced to its share of f.rate
// (puts wait for their fsync: one thread alone may not reach the rate).
void write_steadily(std::shared_ptr<grpc::Channel> ch, const Flags& f) {
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < f.writers; ++t) {
    threads.emplace_back([&, t] { write_share(ch, f, start, t); });
  }
  for (auto& t : threads) t.join();
}

int stall(const Flags& f, std::shared_ptr<grpc::Channel> ch,
          std::shared_ptr<grpc::Channel> write_ch) {
  auto stub = pb::Watch::NewStub(ch);
  grpc::ClientContext ctx;
  auto stream = stub->Watch(&ctx);
  pb::WatchRequest req;
  req.mutable_create_request()->set_key("bench/");
  req.mutable_create_request()->set_range_end(prefix_end("bench/"));
  stream->Write(req);
  pb::WatchResponse resp;
  stream->Read(&resp);  // Created; then it never reads again.
  const long before = rss_kib(f.pid);
  long peak = before;
  std::thread writer([&] { write_steadily(write_ch, f); });
  std::atomic<bool> done{false};
  std::thread sampler([&] {
    while (!done) {
      peak = std::max(peak, rss_kib(f.pid));
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  writer.join();
  done = true;
  sampler.join();
  std::printf(
      "stalled watcher: %d writes of %d B; server RSS %ld KiB before, peak %ld KiB "
      "(+%ld KiB)\n",
      f.writes, f.value_bytes, before, peak, peak - before);
  ctx.TryCancel();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--endpoint")
      f.endpoint = v;
    else if (k == "--write-endpoint")
      f.write_endpoint = v;
    else if (k == "--watchers")
      f.watchers = std::atoi(v.c_str());
    else if (k == "--streams")
      f.streams = std::atoi(v.c_str());
    else if (k == "--writes")
      f.writes = std::atoi(v.c_str());
    else if (k == "--rate")
      f.rate = std::atoi(v.c_str());
    else if (k == "--value-bytes")
      f.value_bytes = std::atoi(v.c_str());
    else if (k == "--stall")
      f.stall = v == "1";
    else if (k == "--pid")
      f.pid = std::atoi(v.c_str());
    else if (k == "--prev-kv")
      f.prev_kv = v == "1";
    else if (k == "--replay")
      f.replay = v == "1";
    else {
      std::fprintf(stderr, "unknown flag %s\n", k.c_str());
      return 2;
    }
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  auto ch = grpc::CreateCustomChannel(f.endpoint, grpc::InsecureChannelCredentials(), args);
  auto write_ch =
      f.write_endpoint.empty()
          ? ch
          : grpc::CreateCustomChannel(f.write_endpoint, grpc::InsecureChannelCredentials(), args);
  if (f.stall) return stall(f, ch, write_ch);
  Clock::time_point replay_writes_done;
  if (f.replay) {  // History first: the watchers read it from its start.
    f.start_revision = current_revision(write_ch) + 1;
    write_steadily(write_ch, f);
    replay_writes_done = Clock::now();
  }
  const int streams = f.streams > 0 ? f.streams : std::min(f.watchers, 50);
  std::atomic<int> ready{0}, streams_done{0};
  std::atomic<long> delivered{0}, responses{0};
  std::vector<std::thread> readers;
  for (int s = 0; s < streams; ++s) {
    const int n = f.watchers / streams + (s < f.watchers % streams ? 1 : 0);
    // Streams spread over a few channels (HTTP/2 connections), as clients would.
    auto c = s % 4 == 0
                 ? ch
                 : grpc::CreateCustomChannel(f.endpoint, grpc::InsecureChannelCredentials(), args);
    readers.emplace_back(run_stream, c, &f, n, f.writes, &ready, &delivered, &responses,
                         &streams_done);
  }
  const auto start = f.replay ? replay_writes_done : Clock::now();
  if (!f.replay) {
    while (ready.load() < streams) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const auto replay_start = Clock::now();
  if (!f.replay) write_steadily(write_ch, f);
  const auto writes_done = f.replay ? replay_start : Clock::now();
  for (auto& t : readers) t.join();
  const auto end = Clock::now();
  const double secs =
      std::chrono::duration<double>(end - (f.replay ? replay_start : start)).count();
  const double lag_ms = std::chrono::duration<double, std::milli>(end - writes_done).count();
  std::printf(
      "watchers %d streams %d writes %d at %d/s%s%s: %ld events in %.2f s = %.0f events/s "
      "(last delivered %.0f ms after the %s; %.1f events per response)\n",
      f.watchers, streams, f.writes, f.rate, f.prev_kv ? " prev_kv" : "",
      f.replay ? " replayed from history" : "", delivered.load(), secs, delivered.load() / secs,
      lag_ms, f.replay ? "watchers started" : "last put",
      static_cast<double>(delivered.load()) / std::max(1L, responses.load()));
  return 0;
}
