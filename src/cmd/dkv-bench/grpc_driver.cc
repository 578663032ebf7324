// src/cmd/dkv-bench/grpc_driver.cc
// The gRPC driver: `conns` channels (each its own TCP connection: a local
// subchannel pool, so channels to one address do not share one), clients
// spread over them round-robin, each client one unary call in flight through
// the callback API. A completion records the result and issues the client's
// next call; no thread per request. An Asio timer thread paces --rate and
// breaks up deep inline recursion. What a call says is the target's business
// (grpc_kv.h: dkv's or etcd's KV service). A CAS client owns one key (its id
// under the key prefix) and sends the mod_revision its last txn left, so its
// txns succeed unless someone else wrote the key.
#include <grpcpp/grpcpp.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <condition_variable>
#include <fstream>
#include <iterator>
#include <mutex>
#include <thread>

#include "driver.h"
#include "grpc_kv.h"

namespace dkv::bench {
namespace {

namespace asio = boost::asio;

std::string code_name(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "CODE_" + std::to_string(static_cast<int>(code));
  }
}

struct RunState;

struct Client {
  Client(RunState& r, int client_id, GrpcKv& k, const Workload& w)
      : run(r), id(client_id), kv(k), chooser(w, client_id) {}
  RunState& run;  // Owns this Client.
  const int id;
  GrpcKv& kv;  // Owned by the driver.
  KeyChooser chooser;
  LockedStats stats;
  // cas: the key's mod_revision as this client last saw it (0: no key).
  // Written by a completion, read by the next send, never concurrently.
  std::int64_t cas_revision = 0;
};

// Everything one run() shares with its callbacks. Leaked on the hard cap,
// since callbacks may still reference it.
struct RunState {
  RunState(const Workload& w, RunControl& c, std::chrono::milliseconds t)
      : workload(w),
        control(c),
        timeout(t),
        value(make_value(w)),
        range_start(w.key_prefix),
        range_end(prefix_range_end(w.key_prefix)),
        guard(asio::make_work_guard(io)) {}
  const Workload& workload;
  RunControl& control;
  const std::chrono::milliseconds timeout;
  const std::string value;
  const std::string range_start, range_end;  // range: every key under the prefix.
  asio::io_context io;                       // Timers for --rate, and re-posted issues.
  asio::executor_work_guard<asio::io_context::executor_type> guard;
  std::thread io_thread;
  std::vector<std::unique_ptr<Client>> clients;
  std::atomic<std::uint64_t> in_flight{0};
  std::mutex mu;
  std::condition_variable done_cv;
  int active_clients = 0;  // Guarded by mu.
};

void issue_next(Client& c);

// Callbacks may run inline on the issuing thread (e.g. a call failing at
// once); past this depth the next issue goes through the io_context instead.
thread_local int g_issue_depth = 0;
constexpr int kIssueDepthMax = 8;

void on_done(Client& c, OpKind kind, Clock::time_point sent, const grpc::Status& status,
             const GrpcKv::Answer& answer) {
  RunState& run = c.run;
  if (status.ok()) {
    bool not_found = !answer.found;
    if (kind == OpKind::kRange) {
      not_found = static_cast<std::uint64_t>(answer.kvs) < run.workload.key_space;
    }
    if (kind == OpKind::kCas) c.cas_revision = answer.revision;
    c.stats.record_ok(sent, not_found, run.control, answer.else_branch);
  } else {
    c.stats.record_error(code_name(status.error_code()), run.control);
    run.in_flight.fetch_sub(1);
    auto timer = std::make_shared<asio::steady_timer>(run.io, kErrorPause);
    timer->async_wait([&c, timer](const boost::system::error_code&) { issue_next(c); });
    return;
  }
  run.in_flight.fetch_sub(1);
  if (g_issue_depth >= kIssueDepthMax) {
    asio::post(run.io, [&c] { issue_next(c); });
    return;
  }
  g_issue_depth++;
  issue_next(c);
  g_issue_depth--;
}

void send(Client& c, const Slot& slot) {
  RunState& run = c.run;
  const auto deadline = std::chrono::system_clock::now() + run.timeout;
  const OpKind kind = c.chooser.next_kind();
  const std::uint64_t index =
      kind == OpKind::kCas ? static_cast<std::uint64_t>(c.id) : c.chooser.next_key_index(slot.seq);
  std::string key = workload_key(run.workload, index);
  const Clock::time_point sent = slot.send_at;
  run.in_flight.fetch_add(1);
  auto done = [&c, kind, sent](const grpc::Status& s, const GrpcKv::Answer& a) {
    on_done(c, kind, sent, s, a);
  };
  switch (kind) {
    case OpKind::kGet:
      c.kv.get(std::move(key), run.workload.serializable, deadline, std::move(done));
      break;
    case OpKind::kPut:
      c.kv.put(std::move(key), run.value, deadline, std::move(done));
      break;
    case OpKind::kRange:
      c.kv.range(run.range_start, run.range_end, run.workload.serializable, deadline,
                 std::move(done));
      break;
    case OpKind::kCas:
      c.kv.cas(std::move(key), c.cas_revision, run.value, deadline, std::move(done));
      break;
  }
}

void finish(Client& c) {
  std::lock_guard lock(c.run.mu);
  c.run.active_clients--;
  if (c.run.active_clients == 0) c.run.done_cv.notify_all();
}

void issue_next(Client& c) {
  const std::optional<Slot> slot = c.run.control.claim();
  if (!slot) {
    finish(c);
    return;
  }
  if (slot->send_at <= Clock::now()) {
    send(c, *slot);
    return;
  }
  auto timer = std::make_shared<asio::steady_timer>(c.run.io, slot->send_at);
  timer->async_wait([&c, s = *slot, timer](const boost::system::error_code&) { send(c, s); });
}

class GrpcDriver final : public Driver {
 public:
  explicit GrpcDriver(const DriverConfig& config) : config_(config) {}

  std::optional<std::string> connect(std::chrono::milliseconds timeout) override {
    const auto deadline = std::chrono::system_clock::now() + timeout;
    for (int i = 0; i < config_.conns; i++) {
      const std::string& target = config_.endpoints[i % config_.endpoints.size()];
      grpc::ChannelArguments args;
      // Without this, channels to one address share one subchannel (one TCP
      // connection) and --conns would mean nothing.
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
      auto channel = grpc::CreateCustomChannel(target, credentials(), args);
      if (!channel->WaitForConnected(deadline)) return "cannot connect to " + target + " (gRPC)";
      kvs_.push_back(make_grpc_kv(config_.target, channel));
      channels_.push_back(std::move(channel));
    }
    return std::nullopt;
  }

  // Insecure, or TLS with --cacert (and --cert/--key).
  std::shared_ptr<grpc::ChannelCredentials> credentials() const {
    if (config_.cacert.empty()) return grpc::InsecureChannelCredentials();
    auto read = [](const std::string& path) {
      std::ifstream in(path);
      return std::string(std::istreambuf_iterator<char>(in), {});
    };
    grpc::SslCredentialsOptions o;
    o.pem_root_certs = read(config_.cacert);
    if (!config_.cert.empty()) o.pem_cert_chain = read(config_.cert);
    if (!config_.key.empty()) o.pem_private_key = read(config_.key);
    return grpc::SslCredentials(o);
  }

  DriverResult run(const Workload& workload, RunControl& control) override {
    auto run = std::make_unique<RunState>(workload, control, config_.request_timeout);
    for (int i = 0; i < config_.clients; i++) {
      run->clients.push_back(std::make_unique<Client>(*run, i, *kvs_[i % kvs_.size()], workload));
    }
    run->active_clients = config_.clients;
    run->io_thread = std::thread([r = run.get()] { r->io.run(); });
    control.start();
    const auto hard_deadline = control.deadline() + config_.request_timeout + kHardCapGrace;
    for (auto& c : run->clients) asio::post(run->io, [c = c.get()] { issue_next(*c); });
    bool all_done = false;
    {
      std::unique_lock lock(run->mu);
      all_done =
          run->done_cv.wait_until(lock, hard_deadline, [&] { return run->active_clients == 0; });
    }
    DriverResult result;
    for (auto& c : run->clients) result.stats.merge(c->stats.snapshot());
    if (!all_done) {
      // Calls still reference `run`: leave it (and the io thread) alive; the
      // caller prints and exits.
      control.stop();
      result.abandoned_ops = run->in_flight.load();
      (void)run.release();
      return result;
    }
    run->guard.reset();
    run->io.stop();
    run->io_thread.join();
    return result;
  }

 private:
  const DriverConfig config_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<std::unique_ptr<GrpcKv>> kvs_;
};

}  // namespace

std::unique_ptr<Driver> make_grpc_driver(const DriverConfig& config) {
  return std::make_unique<GrpcDriver>(config);
}

}  // namespace dkv::bench
