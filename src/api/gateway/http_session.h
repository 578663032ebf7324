// HttpSession: one HTTP/1.1 connection of the Gateway. It reads a request
// (header first, so "Expect: 100-continue" and an oversize Content-Length are
// answered before the body is sent), routes it, builds the request message,
// calls the handler, and writes the reply; then reads the next request if
// the connection is kept alive. One request at a time per connection.
//
// Timeouts: one timer per connection serves both the I/O deadline (idle,
// slow request, slow reader) and the handler's deadline backstop. It is
// armed lazily: a new deadline later than the pending wakeup changes
// nothing (the wakeup re-checks the deadlines against the clock and sleeps
// again), so a steady stream of requests costs no timer operations; only a
// deadline earlier than the pending wakeup re-arms it. (Beast's tcp_stream
// armed and cancelled a timer around every read and write.)
//
// Threading: every member runs on the one thread that runs the connection's
// io_context. A handler's `done` may run on any thread; it posts the result
// back to that io_context (through ServerState::calls, see server_state.h).
// Lifetime: owned by shared_ptrs in its pending operations (read, write,
// timer); it ends when none is pending. `state` must outlive it.
#pragma once

#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <array>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "api/gateway/server_state.h"

namespace dkv::api::gateway {

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  // Concrete executor types: no type-erased any_io_executor copies per op.
  // No strand: the connection's io_context is run by one thread only.
  using Executor = boost::asio::io_context::executor_type;
  using Socket = boost::asio::basic_stream_socket<boost::asio::ip::tcp, Executor>;
  using Timer = boost::asio::basic_waitable_timer<
      std::chrono::steady_clock, boost::asio::wait_traits<std::chrono::steady_clock>, Executor>;

  // `socket` must be bound to an io_context run by one thread.
  HttpSession(Socket&& socket, ServerState& state);
  ~HttpSession();
  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;

  // Starts reading requests.
  void run();
  // Gateway stopping: close now if idle, else after the current reply.
  // Call through the executor (post(executor(), ...)).
  void shutdown();
  // Gateway out of patience: a request still waiting for its handler is
  // answered 503 UNAVAILABLE now (the handler's late answer is dropped).
  // Call through the executor.
  void abort_call();

  Executor executor() { return socket_.get_executor(); }

 private:
  struct Call;
  using Request = boost::beast::http::request<boost::beast::http::string_body>;
  using Response = boost::beast::http::response<boost::beast::http::string_body>;

  enum class Phase { kReading, kCalling, kWriting, kStreaming, kClosing };
  class Stream;  // StreamOut of a streaming route (http_stream.cc).
  using TimePoint = std::chrono::steady_clock::time_point;
  static constexpr TimePoint kNever = TimePoint::max();

  void do_read();
  void on_header(boost::beast::error_code ec, size_t bytes);
  void read_body();
  void on_read(boost::beast::error_code ec, size_t bytes);
  void on_read_error(boost::beast::error_code ec);

  void handle_request();
  void start_call(const RouteMatch& match, std::string_view query);
  void on_call_done(const std::shared_ptr<Call>& call, util::Status status);
  void on_call_timeout();

  // The next read or write must finish within `timeout` (kNever: no limit).
  void set_io_deadline(std::chrono::steady_clock::duration timeout);
  // Makes sure the timer wakes up by the earliest deadline.
  void arm_timer();
  void on_timer(boost::beast::error_code ec);

  // Replies; `linger` drains what the client still sends before closing
  // (after a request we could not read whole, e.g. an oversize body).
  void reply_json(unsigned status, std::string body, bool linger = false);
  void reply_error(const util::Status& status, bool linger = false);
  // Writes a reply with a body (see response_head.h).
  void send(unsigned status, std::string_view content_type, std::string body, bool linger = false,
            std::string_view allow = {});
  // Writes a reply Beast must shape (a plain route's 1xx, 204 or 304, or
  // one with header fields of its own).
  void send_beast(Response res);
  void on_write(bool close, bool linger, boost::beast::error_code ec, size_t bytes);

  // A streaming route (http_stream.cc): the head, then chunks.
  void start_stream(const StreamHandler& handler);
  void stream_write(std::string bytes, std::function<void(bool)> done);
  void stream_write_next();
  void stream_watch_for_close();
  void stream_gone();

  void close();
  void linger_close();
  void drain();

  ServerState& state_;
  Socket socket_;
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  std::unique_ptr<boost::beast::http::response<boost::beast::http::empty_body>> continue_res_;
  std::string head_;               // The reply being written by send(): its head,
  std::string body_;               // and its body.
  std::unique_ptr<Response> res_;  // The reply being written by send_beast().
  std::shared_ptr<Call> call_;     // The request waiting for its handler, if any.
  // Deadlines, kNever when none. The pending read or write fails (the
  // socket is closed) at io_deadline_; call_ is answered 504 at
  // call_backstop_. The timer's pending wakeup, if timer_armed_, is at
  // timer_at_ <= both.
  TimePoint io_deadline_ = kNever;
  TimePoint call_backstop_ = kNever;
  Timer timer_;
  TimePoint timer_at_ = kNever;
  bool timer_armed_ = false;
  std::unique_ptr<char[]> drain_buf_;
  // Streaming: writes not yet done (bytes, then who to tell), the one in
  // flight first; what to call when the client goes.
  std::deque<std::pair<std::string, std::function<void(bool)>>> stream_out_;
  bool stream_writing_ = false;
  std::function<void()> stream_closed_;
  std::array<char, 256> stream_read_buf_{};
  Phase phase_ = Phase::kReading;
  unsigned request_version_ = 11;
  bool keep_alive_ = false;
  bool shutting_down_ = false;
  // The request is a call of an etcd method: errors in etcd's body
  // (json_mapping.h etcd_error_json). Set per request.
  bool etcd_errors_ = false;
};

}  // namespace dkv::api::gateway
