#include "api/gateway/gateway.h"

#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <algorithm>
#include <future>
#include <thread>
#include <vector>

#include "api/gateway/http_session.h"
#include "api/gateway/server_state.h"
#include "util/assert.h"
#include "util/thread_name.h"

namespace dkv::api {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using gateway::HttpSession;

namespace {
// After a failed accept (e.g. out of file descriptors), wait this long
// before accepting again instead of spinning.
constexpr std::chrono::milliseconds kAcceptRetryDelay{100};
// How often stop() looks whether the last connection has closed.
constexpr std::chrono::milliseconds kStopPollInterval{5};
// After the grace period, how long the 503s for requests still waiting on
// their handlers may take to be written before everything is closed.
constexpr std::chrono::milliseconds kAbortFlushTime{250};

// At least one: start() refuses threads < 1 before any is run.
std::vector<std::unique_ptr<net::io_context>> make_io_contexts(int threads) {
  std::vector<std::unique_ptr<net::io_context>> out;
  for (int i = 0; i < std::max(threads, 1); ++i) {
    out.push_back(std::make_unique<net::io_context>(1));  // Hint: one thread runs it.
  }
  return out;
}
}  // namespace

// Member order matters: `state` outlives the io_context (sessions refer to
// it from their destructors), and the io_context outlives the objects bound
// to it, which are declared after it.
struct Gateway::Impl {
  Impl(const MethodRegistry& registry, GatewayOptions options)
      : state(registry, std::move(options)) {}

  util::Status listen();
  void do_accept();
  void on_accept(boost::system::error_code ec, HttpSession::Socket socket);
  void run_thread(net::io_context& ioc);
  void stop();
  // Runs `first` on the accept strand, then `f(session)` on the executor of
  // every live session; returns once all are posted. Not on an I/O thread.
  template <typename First, typename F>
  void for_each_session(First first, F f);
  // Waits up to `bound` for every session to end; true if they all did.
  bool wait_for_sessions(std::chrono::milliseconds bound) const;

  gateway::ServerState state;
  std::vector<std::pair<std::string, std::string>> plain_routes;  // (method, path)
  // One io_context per thread, each run by its thread alone; connections
  // are dealt to them in turn and stay on theirs. A connection's handlers
  // thus never hop threads, and an idle thread sleeps in its own epoll_wait
  // instead of on a condition variable shared with the others (with one
  // shared io_context, the futex wake-ups and scheduler lock between the
  // threads cost ~5% of their CPU).
  std::vector<std::unique_ptr<net::io_context>> iocs = make_io_contexts(state.options.threads);
  std::vector<net::executor_work_guard<net::io_context::executor_type>> work;
  size_t next_ioc = 0;  // The io_context of the next connection. On accept_strand.
  // The acceptor, its retry timer and `sessions` live on this strand.
  net::strand<net::io_context::executor_type> accept_strand{iocs.front()->get_executor()};
  tcp::acceptor acceptor{accept_strand};
  net::steady_timer accept_retry{accept_strand};
  // Connections, for stop() to close the idle ones. Pruned as they end.
  std::vector<std::weak_ptr<HttpSession>> sessions;
  size_t sessions_pruned_at = 0;
  bool accept_failing = false;  // On accept_strand.
  std::vector<std::thread> threads;
  uint16_t port = 0;
  bool listening = false;  // listen() succeeded.
  bool started = false;
  bool stopped = false;
};

Gateway::Gateway(const MethodRegistry& registry, GatewayOptions options)
    : impl_(std::make_unique<Impl>(registry, std::move(options))) {}

Gateway::~Gateway() { stop(); }

void Gateway::add_stream_route(std::string http_method, std::string path, StreamHandler handler) {
  impl_->state.stream_handlers[static_cast<int>(impl_->state.plain_handlers.size())] =
      std::move(handler);
  add_plain_route(std::move(http_method), std::move(path),
                  PlainRequestHandler([](const PlainRequest&) {
                    return PlainResponse{500, "text/plain", ""};
                  }));
}

void Gateway::add_plain_route(std::string http_method, std::string path, PlainHandler handler) {
  DKV_ASSERT(handler != nullptr);
  add_plain_route(std::move(http_method), std::move(path),
                  [handler = std::move(handler)](const PlainRequest&) { return handler(); });
}

void Gateway::add_plain_route(std::string http_method, std::string path,
                              PlainRequestHandler handler) {
  DKV_ASSERT(!impl_->started);
  DKV_ASSERT(handler != nullptr);
  impl_->plain_routes.emplace_back(std::move(http_method), std::move(path));
  impl_->state.plain_handlers.push_back(std::move(handler));
}

int default_io_threads() {
  constexpr unsigned kCoresPerThread = 4;
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency() / kCoresPerThread));
}

util::Status Gateway::start() {
  Impl& impl = *impl_;
  DKV_ASSERT(!impl.started);
  const GatewayOptions& o = impl.state.options;
  if (o.threads < 1) return util::invalid_argument("gateway: threads must be at least 1");
  if (o.body_bytes_max == 0) return util::invalid_argument("gateway: body_bytes_max is 0");
  if (o.inflight_requests_max == 0) return util::invalid_argument("gateway: no requests in flight");
  if (auto st = impl.state.routes.add_registry(impl.state.registry); !st.is_ok()) return st;
  for (size_t i = 0; i < impl.plain_routes.size(); ++i) {
    const auto& [method, path] = impl.plain_routes[i];
    if (auto st = impl.state.routes.add_plain(method, path, static_cast<int>(i)); !st.is_ok()) {
      return st;
    }
  }
  if (!impl.listening) {
    if (auto st = impl.listen(); !st.is_ok()) return st;
  }
  impl.started = true;
  for (auto& ioc : impl.iocs) impl.work.push_back(net::make_work_guard(*ioc));
  net::post(impl.accept_strand, [&impl] { impl.do_accept(); });
  for (auto& ioc : impl.iocs)
    impl.threads.emplace_back([&impl, &ioc = *ioc] {
      util::set_thread_name("rest-io");
      impl.run_thread(ioc);
    });
  spdlog::info("REST gateway listening on {}:{} ({} routes, {} threads)", o.listen_host, impl.port,
               impl.state.routes.routes().size(), o.threads);
  return {};
}

util::Status Gateway::listen() {
  DKV_ASSERT(!impl_->started);
  DKV_ASSERT(!impl_->listening);
  return impl_->listen();
}

uint16_t Gateway::port() const { return impl_->port; }

size_t Gateway::inflight_requests() const { return impl_->state.calls->inflight(); }

int Gateway::open_connections() const { return impl_->state.sessions_alive.load(); }

void Gateway::stop() { impl_->stop(); }

util::Status Gateway::Impl::listen() {
  const GatewayOptions& o = state.options;
  boost::system::error_code ec;
  tcp::endpoint endpoint;
  const auto address = net::ip::make_address(o.listen_host, ec);
  if (!ec) {
    endpoint = tcp::endpoint(address, o.port);
  } else {
    tcp::resolver resolver(*iocs.front());
    const auto results = resolver.resolve(o.listen_host, std::to_string(o.port), ec);
    if (ec || results.empty()) {
      return util::invalid_argument("gateway: cannot resolve listen host '" + o.listen_host +
                                    "': " + ec.message());
    }
    endpoint = results.begin()->endpoint();
  }
  const std::string where = o.listen_host + ":" + std::to_string(o.port);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (!ec) port = acceptor.local_endpoint(ec).port();
  if (ec) {
    return util::unavailable("gateway: cannot listen on " + where + ": " + ec.message());
  }
  listening = true;
  return {};
}

void Gateway::Impl::do_accept() {
  net::io_context& ioc = *iocs[next_ioc];
  next_ioc = (next_ioc + 1) % iocs.size();
  acceptor.async_accept(ioc.get_executor(),
                        [this](boost::system::error_code ec, HttpSession::Socket socket) {
                          on_accept(ec, std::move(socket));
                        });
}

void Gateway::Impl::on_accept(boost::system::error_code ec, HttpSession::Socket socket) {
  if (state.stopping.load() || !acceptor.is_open()) return;  // `socket` closes.
  if (ec) {
    // Logged once per run of failures (e.g. out of file descriptors).
    if (!accept_failing) spdlog::warn("REST gateway: accept failed: {}", ec.message());
    accept_failing = true;
    accept_retry.expires_after(kAcceptRetryDelay);
    accept_retry.async_wait([this](boost::system::error_code ec) {
      if (!ec) do_accept();
    });
    return;
  }
  if (accept_failing) spdlog::info("REST gateway: accepting again");
  accept_failing = false;
  if (state.options.admit) {
    boost::system::error_code peer_ec;
    const auto peer = socket.remote_endpoint(peer_ec);
    if (peer_ec || !state.options.admit(peer.address().to_string(), peer.port())) {
      do_accept();
      return;  // `socket` closes.
    }
  }
  // Replies are written whole; do not let Nagle hold their tail back.
  boost::system::error_code nodelay_ec;
  socket.set_option(tcp::no_delay(true), nodelay_ec);
  auto session = std::make_shared<HttpSession>(std::move(socket), state);
  // Forget ended sessions once the list has doubled since the last sweep.
  if (sessions.size() >= 2 * sessions_pruned_at + 64) {
    std::erase_if(sessions, [](const auto& w) { return w.expired(); });
    sessions_pruned_at = sessions.size();
  }
  sessions.push_back(session);
  session->run();
  do_accept();
}

void Gateway::Impl::run_thread(net::io_context& ioc) {
  // A throwing handler must not end the thread (nor the process): log it
  // and keep serving the other connections.
  while (true) {
    try {
      ioc.run();
      return;
    } catch (const std::exception& e) {
      spdlog::error("REST gateway: exception on an I/O thread: {}", e.what());
    }
  }
}

// Runs `f(session)` on the executor of every live session, after running
// `first` on the accept strand; returns once they are posted.
template <typename First, typename F>
void Gateway::Impl::for_each_session(First first, F f) {
  std::promise<void> posted;
  net::post(accept_strand, [&] {
    first();
    for (const auto& weak : sessions) {
      if (auto s = weak.lock()) net::post(s->executor(), [s, f] { f(*s); });
    }
    posted.set_value();
  });
  posted.get_future().wait();
}

bool Gateway::Impl::wait_for_sessions(std::chrono::milliseconds bound) const {
  const auto give_up = std::chrono::steady_clock::now() + bound;
  while (state.sessions_alive.load() > 0) {
    if (std::chrono::steady_clock::now() >= give_up) return false;
    std::this_thread::sleep_for(kStopPollInterval);
  }
  return true;
}

void Gateway::Impl::stop() {
  if (!started || stopped) return;
  stopped = true;
  spdlog::info("REST gateway stopping ({} requests in flight)", state.calls->inflight());
  state.stopping.store(true);
  // 1. Stop accepting; close idle connections now, busy ones after their
  //    reply. Then let in-flight requests finish, within the grace period.
  for_each_session(
      [this] {
        boost::system::error_code ec;
        acceptor.close(ec);
        accept_retry.cancel();
      },
      [](HttpSession& s) { s.shutdown(); });
  bool drained = wait_for_sessions(state.options.shutdown_grace);
  // 2. Out of patience: answer what still waits 503, give that a moment.
  if (!drained) {
    spdlog::warn("REST gateway: {} requests still in flight after {} ms; answering 503",
                 state.calls->inflight(), state.options.shutdown_grace.count());
    for_each_session([] {}, [](HttpSession& s) { s.abort_call(); });
    drained = wait_for_sessions(kAbortFlushTime);
  }
  // 3. Stop the loop and join. Late completions are dropped from now on;
  //    connections still open end with the io_context.
  work.clear();
  for (auto& ioc : iocs) ioc->stop();
  for (auto& t : threads) t.join();
  threads.clear();
  state.calls->close();
  spdlog::info("REST gateway stopped{}", drained ? "" : " (some connections cut)");
}

}  // namespace dkv::api
