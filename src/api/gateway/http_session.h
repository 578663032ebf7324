// HttpSession: one HTTP/1.1 connection of the Gateway. It reads a request
// (header first, so "Expect: 100-continue" and an oversize Content-Length are
// answered before the body is sent), routes it, builds the request message,
// calls the handler, and writes the reply; then reads the next request if
// the connection is kept alive. One request at a time per connection.
//
// Threading: every member runs on the connection's strand. A handler's `done`
// may run on any thread; it posts the result back to the strand (through
// ServerState::calls, see server_state.h).
// Lifetime: owned by shared_ptrs in its pending operations (read, write,
// timer); it ends when none is pending. `state` must outlive it.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <memory>
#include <optional>
#include <string>

#include "api/gateway/server_state.h"

namespace dkv::api::gateway {

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  using Strand = boost::asio::strand<boost::asio::any_io_executor>;

  // `socket` must already be bound to a strand of its own.
  HttpSession(boost::asio::ip::tcp::socket&& socket, ServerState& state);
  ~HttpSession();
  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;

  // Starts reading requests.
  void run();
  // Gateway stopping: close now if idle, else after the current reply.
  // Call through the strand (post(executor(), ...)).
  void shutdown();
  // Gateway out of patience: a request still waiting for its handler is
  // answered 503 UNAVAILABLE now (the handler's late answer is dropped).
  // Call through the strand.
  void abort_call();

  boost::asio::any_io_executor executor() { return stream_.get_executor(); }

 private:
  struct Call;
  using Request = boost::beast::http::request<boost::beast::http::string_body>;
  using Response = boost::beast::http::response<boost::beast::http::string_body>;

  enum class Phase { kReading, kCalling, kWriting, kClosing };

  void do_read();
  void on_header(boost::beast::error_code ec, size_t bytes);
  void read_body();
  void on_read(boost::beast::error_code ec, size_t bytes);
  void on_read_error(boost::beast::error_code ec);

  void handle_request();
  void start_call(const RouteMatch& match, std::string_view query);
  void on_call_done(const std::shared_ptr<Call>& call, util::Status status);
  void on_call_timeout(const std::shared_ptr<Call>& call, boost::beast::error_code ec);

  // Replies; `linger` drains what the client still sends before closing
  // (after a request we could not read whole, e.g. an oversize body).
  void reply_json(unsigned status, std::string body, bool linger = false);
  void reply_error(const util::Status& status, bool linger = false);
  void send(Response res, bool linger);
  void on_write(bool close, bool linger, boost::beast::error_code ec, size_t bytes);

  void close();
  void linger_close();
  void drain();

  ServerState& state_;
  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  std::unique_ptr<boost::beast::http::response<boost::beast::http::empty_body>> continue_res_;
  std::unique_ptr<Response> res_;         // The reply being written.
  std::shared_ptr<Call> call_;            // The request waiting for its handler, if any.
  boost::asio::steady_timer call_timer_;  // Deadline backstop for call_.
  std::unique_ptr<char[]> drain_buf_;
  Phase phase_ = Phase::kReading;
  unsigned request_version_ = 11;
  bool keep_alive_ = false;
  bool shutting_down_ = false;
};

}  // namespace dkv::api::gateway
