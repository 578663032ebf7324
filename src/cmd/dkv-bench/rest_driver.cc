// src/cmd/dkv-bench/rest_driver.cc
// The REST driver: one keep-alive HTTP/1.1 connection per client (HTTP/1.1
// allows one request in flight per connection, so clients = connections),
// spread over the endpoints round-robin, all driven by Boost.Beast on an
// Asio event loop of `io_threads` threads. The requests and how a get's
// answer reads come from kv_api.h (dkv's /v0 or etcd's /v3). A connection
// the server closes, or that fails, is reopened for the next request (the
// failure counts as an error).
// Threading: each connection's handlers run on its own strand.
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "driver.h"
#include "kv_api.h"

namespace dkv::bench {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct RunState;

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(RunState& run, int id, const tcp::endpoint& endpoint, std::string host);
  // Opens the socket, blocking (before the clock starts); false on failure.
  bool connect_now();
  void issue_next();
  ClientStats stats() const { return stats_.snapshot(); }

 private:
  void send();
  void write();
  void on_read(const beast::error_code& ec);
  void fail(const std::string& what, const beast::error_code& ec);
  // After a failure: waits kErrorPause, then issue_next().
  void pause_then_issue_next();
  void close();

  RunState& run_;  // Owns this Connection.
  const tcp::endpoint endpoint_;
  const std::string host_;  // Host header.
  beast::tcp_stream stream_;
  asio::steady_timer timer_;  // --rate pacing.
  beast::flat_buffer buffer_;
  http::request<http::string_body> req_;
  http::response<http::string_body> res_;
  bool connected_ = false;
  bool is_get_ = false;
  Clock::time_point sent_;
  KeyChooser chooser_;
  LockedStats stats_;
};

struct RunState {
  RunState(Target tg, const Workload& w, RunControl& c, std::chrono::milliseconds t)
      : target(tg), workload(w), control(c), timeout(t), value_b64(base64_encode(make_value(w))) {}
  const Target target;
  const Workload& workload;
  RunControl& control;
  const std::chrono::milliseconds timeout;
  const std::string value_b64;
  asio::io_context io;
  std::vector<std::shared_ptr<Connection>> conns;
  std::mutex mu;
  std::condition_variable done_cv;
  int active_clients = 0;  // Guarded by mu.
  std::atomic<std::uint64_t> in_flight{0};
};

Connection::Connection(RunState& run, int id, const tcp::endpoint& endpoint, std::string host)
    : run_(run),
      endpoint_(endpoint),
      host_(std::move(host)),
      stream_(asio::make_strand(run.io)),
      timer_(stream_.get_executor()),
      chooser_(run.workload, id) {
  // Beast reads into the spare capacity, at least 512 bytes: a get's answer
  // (a 256-byte value, base64, in JSON) took two recv calls. Both systems
  // answer within 4 KiB, so each response is one.
  buffer_.reserve(4096);
}

bool Connection::connect_now() {
  beast::error_code ec;
  stream_.socket().connect(endpoint_, ec);
  if (ec) return false;
  stream_.socket().set_option(tcp::no_delay(true), ec);
  connected_ = true;
  return true;
}

void Connection::issue_next() {
  const std::optional<Slot> slot = run_.control.claim();
  if (!slot) {
    close();
    std::lock_guard lock(run_.mu);
    run_.active_clients--;
    if (run_.active_clients == 0) run_.done_cv.notify_all();
    return;
  }
  is_get_ = chooser_.next_kind() == OpKind::kGet;
  const std::string key =
      format_key(chooser_.next_key_index(slot->seq), run_.workload.key_size_bytes);
  req_ = {};
  req_.version(11);
  req_.keep_alive(true);
  req_.set(http::field::host, host_);
  const RestRequest r = is_get_ ? rest_get_request(run_.target, key, run_.workload.serializable)
                                : rest_put_request(run_.target, key, run_.value_b64);
  req_.method(r.post ? http::verb::post : http::verb::get);
  req_.target(r.path);
  if (r.post) {
    req_.set(http::field::content_type, "application/json");
    req_.body() = r.body;
    req_.prepare_payload();
  }
  sent_ = slot->send_at;
  if (sent_ <= Clock::now()) {
    send();
    return;
  }
  timer_.expires_at(sent_);
  timer_.async_wait([self = shared_from_this()](const beast::error_code&) { self->send(); });
}

void Connection::send() {
  run_.in_flight.fetch_add(1);
  stream_.expires_after(run_.timeout);
  if (connected_) {
    write();
    return;
  }
  stream_.async_connect(endpoint_, [self = shared_from_this()](const beast::error_code& ec) {
    if (ec) return self->fail("connect", ec);
    beast::error_code ignored;
    self->stream_.socket().set_option(tcp::no_delay(true), ignored);
    self->connected_ = true;
    self->write();
  });
}

void Connection::write() {
  http::async_write(
      stream_, req_, [self = shared_from_this()](const beast::error_code& ec, std::size_t) {
        if (ec) return self->fail("write", ec);
        self->res_ = {};
        http::async_read(self->stream_, self->buffer_, self->res_,
                         [self](const beast::error_code& ec2, std::size_t) { self->on_read(ec2); });
      });
}

void Connection::on_read(const beast::error_code& ec) {
  if (ec) return fail("read", ec);
  run_.in_flight.fetch_sub(1);
  const unsigned status = res_.result_int();
  const GetOutcome outcome = !is_get_ ? (status == 200 ? GetOutcome::kFound : GetOutcome::kError)
                                      : classify_rest_get(run_.target, status, res_.body());
  if (outcome == GetOutcome::kError) {
    stats_.record_error("HTTP " + std::to_string(status), run_.control);
    if (!res_.keep_alive()) close();
    return pause_then_issue_next();
  }
  stats_.record_ok(sent_, /*not_found=*/outcome == GetOutcome::kNotFound, run_.control);
  if (!res_.keep_alive()) close();
  issue_next();
}

void Connection::pause_then_issue_next() {
  timer_.expires_after(kErrorPause);
  timer_.async_wait([self = shared_from_this()](const beast::error_code&) { self->issue_next(); });
}

void Connection::fail(const std::string& what, const beast::error_code& ec) {
  run_.in_flight.fetch_sub(1);
  stats_.record_error(what + ": " + ec.message(), run_.control);
  close();
  pause_then_issue_next();
}

void Connection::close() {
  beast::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream_.socket().close(ignored);
  buffer_.clear();
  connected_ = false;
}

// "host:port" -> endpoint, resolved once before the run.
std::optional<tcp::endpoint> resolve(asio::io_context& io, const std::string& target) {
  const auto colon = target.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  tcp::resolver resolver(io);
  beast::error_code ec;
  auto results = resolver.resolve(target.substr(0, colon), target.substr(colon + 1), ec);
  if (ec || results.empty()) return std::nullopt;
  return results.begin()->endpoint();
}

class RestDriver final : public Driver {
 public:
  explicit RestDriver(const DriverConfig& config) : config_(config) {}

  std::optional<std::string> connect(std::chrono::milliseconds timeout) override {
    asio::io_context io;
    for (const std::string& target : config_.endpoints) {
      auto endpoint = resolve(io, target);
      if (!endpoint) return "cannot resolve " + target;
      tcp::socket probe(io);
      beast::error_code ec;
      probe.connect(*endpoint, ec);
      if (ec) return "cannot connect to " + target + " (REST): " + ec.message();
      endpoints_.push_back(*endpoint);
    }
    return std::nullopt;
  }

  DriverResult run(const Workload& workload, RunControl& control) override {
    auto run =
        std::make_unique<RunState>(config_.target, workload, control, config_.request_timeout);
    for (int i = 0; i < config_.clients; i++) {
      const std::size_t e = i % endpoints_.size();
      run->conns.push_back(
          std::make_shared<Connection>(*run, i, endpoints_[e], config_.endpoints[e]));
      // A failed connect here is retried (and counted) by the first request.
      run->conns.back()->connect_now();
    }
    run->active_clients = config_.clients;
    control.start();
    const auto hard_deadline = control.deadline() + config_.request_timeout + kHardCapGrace;
    for (auto& c : run->conns) asio::post(run->io, [c] { c->issue_next(); });
    std::vector<std::thread> threads;
    for (int i = 0; i < config_.io_threads; i++)
      threads.emplace_back([r = run.get()] { r->io.run(); });
    {
      std::unique_lock lock(run->mu);
      run->done_cv.wait_until(lock, hard_deadline, [&] { return run->active_clients == 0; });
    }
    control.stop();
    DriverResult result;
    result.abandoned_ops = run->in_flight.load();
    run->io.stop();
    for (auto& t : threads) t.join();
    for (auto& c : run->conns) result.stats.merge(c->stats());
    return result;
  }

 private:
  const DriverConfig config_;
  std::vector<tcp::endpoint> endpoints_;
};

}  // namespace

std::unique_ptr<Driver> make_rest_driver(const DriverConfig& config) {
  return std::make_unique<RestDriver>(config);
}

}  // namespace dkv::bench
