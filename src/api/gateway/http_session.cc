#include "api/gateway/http_session.h"

#include <spdlog/spdlog.h>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <array>
#include <string_view>

#include "api/gateway/completion_batch.h"
#include "api/gateway/json_mapping.h"
#include "api/gateway/request_builder.h"
#include "api/gateway/response_head.h"
#include "api/gateway/url_codec.h"
#include "util/assert.h"

namespace dkv::api::gateway {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

// How long a connection we are closing after an unreadable request may keep
// sending before we cut it; reading it lets the client see our reply instead
// of a reset.
constexpr std::chrono::seconds kLingerTimeout{2};
constexpr size_t kDrainBufferBytes = 16 * 1024;
// Beast reads into the buffer's spare capacity, at least 512 bytes: a put
// of a 256-byte value is ~600 bytes of request and took two recv calls.
// Room for a typical request in one.
constexpr size_t kReadBufferBytes = 4096;

bool is_http_parse_error(const beast::error_code& ec) {
  return ec.category() == beast::error_code(http::error::bad_method).category();
}

}  // namespace

// One request handed to a handler. Owned by the session (while current) and
// by the handler's `done` (until it runs), so the messages stay valid for
// the handler however late it answers.
struct HttpSession::Call {
  const Method* method = nullptr;
  std::unique_ptr<google::protobuf::Message> request;
  std::unique_ptr<google::protobuf::Message> response;
  CallContext context;
  std::atomic<bool> done{false};  // `done` runs exactly once.
};

HttpSession::HttpSession(Socket&& socket, ServerState& state)
    : state_(state), socket_(std::move(socket)), timer_(socket_.get_executor()) {
  buffer_.reserve(kReadBufferBytes);
  state_.sessions_alive.fetch_add(1);
}

HttpSession::~HttpSession() {
  if (stream_closed_) stream_closed_();
  state_.sessions_alive.fetch_sub(1);
}

void HttpSession::run() {
  net::dispatch(socket_.get_executor(), [self = shared_from_this()] { self->do_read(); });
}

void HttpSession::shutdown() {
  shutting_down_ = true;
  // An idle connection closes now; a busy one after its reply (send()).
  if (phase_ == Phase::kReading || phase_ == Phase::kStreaming) close();
}

void HttpSession::abort_call() {
  shutting_down_ = true;
  if (phase_ != Phase::kCalling || call_ == nullptr) return;
  call_.reset();
  call_backstop_ = kNever;
  reply_error(util::unavailable("the server is shutting down"));
}

void HttpSession::do_read() {
  phase_ = Phase::kReading;
  if (shutting_down_ || state_.stopping.load()) return close();
  parser_.emplace();
  parser_->body_limit(state_.options.body_bytes_max);
  set_io_deadline(state_.options.idle_timeout);
  http::async_read_header(socket_, buffer_, *parser_,
                          beast::bind_front_handler(&HttpSession::on_header, shared_from_this()));
}

void HttpSession::on_header(beast::error_code ec, size_t) {
  if (ec) return on_read_error(ec);
  const auto& req = parser_->get();
  if (!beast::iequals(req[http::field::expect], "100-continue")) return read_body();
  // The client waits for a go-ahead before sending the body.
  continue_res_ =
      std::make_unique<http::response<http::empty_body>>(http::status::continue_, req.version());
  http::async_write(socket_, *continue_res_,
                    [self = shared_from_this()](beast::error_code ec, size_t) {
                      self->continue_res_.reset();
                      if (ec) return self->close();
                      self->read_body();
                    });
}

void HttpSession::read_body() {
  http::async_read(socket_, buffer_, *parser_,
                   beast::bind_front_handler(&HttpSession::on_read, shared_from_this()));
}

void HttpSession::on_read(beast::error_code ec, size_t) {
  if (ec) return on_read_error(ec);
  handle_request();
}

void HttpSession::on_read_error(beast::error_code ec) {
  if (ec == http::error::body_limit) {
    // Answer instead of dropping the connection; the rest of the body is
    // drained so that the client reads this reply.
    keep_alive_ = false;
    return reply_error(
        util::invalid_argument("request body is larger than the limit of " +
                               std::to_string(state_.options.body_bytes_max) + " bytes"),
        /*linger=*/true);
  }
  if (is_http_parse_error(ec) && ec != http::error::end_of_stream &&
      ec != http::error::partial_message) {
    keep_alive_ = false;
    return reply_error(util::invalid_argument("malformed HTTP request: " + ec.message()),
                       /*linger=*/true);
  }
  // End of stream, timeout, reset, or shutdown: nothing to answer.
  close();
}

void HttpSession::handle_request() {
  const Request& req = parser_->get();
  request_version_ = req.version();
  keep_alive_ = req.keep_alive();
  const std::string_view target = req.target();
  const size_t q = target.find('?');
  const std::string_view path = target.substr(0, q);
  const std::string_view query = q == std::string_view::npos ? "" : target.substr(q + 1);

  etcd_errors_ = false;
  RouteMatch match;
  std::vector<std::string> allowed;
  switch (state_.routes.lookup(req.method_string(), path, &match, &allowed)) {
    case LookupResult::kBadPath:
      return reply_error(util::invalid_argument("malformed request path"));
    case LookupResult::kNotFound:
      return reply_error(util::not_found("Not Found"));
    case LookupResult::kMethodNotAllowed: {
      std::string allow;
      for (const auto& m : allowed) allow += (allow.empty() ? "" : ", ") + m;
      return send(405, "application/json",
                  error_json({util::Code::kUnimplemented, "Method Not Allowed"}), false, allow);
    }
    case LookupResult::kFound:
      break;
  }
  if (match.route->method != nullptr) return start_call(match, query);

  if (const auto it = state_.stream_handlers.find(match.route->plain_id);
      it != state_.stream_handlers.end()) {
    return start_stream(it->second);
  }
  const PlainRequest plain_request{path, query, req[http::field::accept_encoding]};
  PlainResponse plain = state_.plain_handlers.at(match.route->plain_id)(plain_request);
  if (has_body(plain.status) && plain.headers.empty()) {
    return send(plain.status, plain.content_type, std::move(plain.body));
  }
  // Header fields beyond the usual few: Beast writes them.
  Response res{static_cast<http::status>(plain.status), request_version_};
  res.set(http::field::content_type, plain.content_type);
  for (const auto& [name, value] : plain.headers) res.set(name, value);
  res.body() = std::move(plain.body);
  send_beast(std::move(res));
}

void HttpSession::start_call(const RouteMatch& match, std::string_view query) {
  const Method& method = *match.route->method;
  etcd_errors_ = uses_etcd_json(method.descriptor->input_type());
  const Request& req = parser_->get();
  auto call = std::make_shared<Call>();
  call->method = &method;
  call->request.reset(method.request_prototype->New());
  call->response.reset(method.response_prototype->New());
  if (auto st = build_request(*match.route, match.bindings, query, req.body(), call->request.get());
      !st.is_ok()) {
    return reply_error(st);
  }
  auto timeout =
      std::chrono::duration_cast<std::chrono::nanoseconds>(state_.options.default_deadline);
  if (const auto it = req.find("Grpc-Timeout"); it != req.end()) {
    const auto parsed = parse_grpc_timeout(it->value());
    if (!parsed) return reply_error(util::invalid_argument("malformed Grpc-Timeout header"));
    timeout = *parsed;
  }
  if (!state_.calls->try_acquire(state_.options.inflight_requests_max)) {
    return reply_error(util::resource_exhausted("too many requests in flight"));
  }
  call->context.deadline = std::chrono::steady_clock::now() + timeout;

  phase_ = Phase::kCalling;
  call_ = call;
  io_deadline_ = kNever;  // The handler may take its time; the backstop bounds it.
  call_backstop_ = call->context.deadline + state_.options.deadline_backstop;
  arm_timer();

  // `done` holds the Call (so the messages outlive the handler's use) but
  // only a weak reference to the session: the pending timer keeps it alive.
  // The completion posted to the I/O thread holds no more than that either:
  // a completion dropped elsewhere (the Gateway stopped) must not be the
  // session's last owner off its thread.
  std::weak_ptr<HttpSession> weak = weak_from_this();
  UnaryDone done = [weak, call, calls = state_.calls,
                    executor = socket_.get_executor()](util::Status status) {
    const bool first = !call->done.exchange(true);
    DKV_ASSERT(first);  // A handler calls `done` exactly once.
    calls->release();
    post_completion(calls, executor, [weak, call, status = std::move(status)]() {
      if (auto self = weak.lock()) self->on_call_done(call, status);
    });
  };
  method.handler(call->context, *call->request, call->response.get(), std::move(done));
}

void HttpSession::on_call_done(const std::shared_ptr<Call>& call, util::Status status) {
  if (call != call_) return;  // The backstop answered already.
  call_.reset();
  call_backstop_ = kNever;  // The timer, if it wakes for it, finds nothing to do.
  if (!status.is_ok()) return reply_error(status);
  std::string body;
  if (auto st = message_to_json(*call->response, &body); !st.is_ok()) {
    spdlog::error("REST gateway: {}: {}", call->method->descriptor->full_name(), st.to_string());
    return reply_error(st);
  }
  // A streaming method served once per request (etcd's LeaseKeepAlive: one
  // renewal per request body) answers as grpc-gateway streams: one
  // newline-delimited {"result": ...} object.
  if (call->method->descriptor->server_streaming()) body = "{\"result\":" + body + "}\n";
  reply_json(200, std::move(body));
}

void HttpSession::on_call_timeout() {
  DKV_ASSERT(call_ != nullptr);
  const std::shared_ptr<Call> call = std::move(call_);
  call_backstop_ = kNever;
  spdlog::warn("REST gateway: {} did not answer within its deadline",
               call->method->descriptor->full_name());
  reply_error({util::Code::kDeadlineExceeded, "the request did not finish within its deadline"});
}

void HttpSession::reply_json(unsigned status, std::string body, bool linger) {
  send(status, "application/json", std::move(body), linger);
}

void HttpSession::reply_error(const util::Status& status, bool linger) {
  reply_json(http_status_for(status.code()),
             etcd_errors_ ? etcd_error_json(status) : error_json(status), linger);
}

void HttpSession::send(unsigned status, std::string_view content_type, std::string body,
                       bool linger, std::string_view allow) {
  phase_ = Phase::kWriting;
  ResponseHead head;
  head.status = status;
  head.version = request_version_;
  head.keep_alive = keep_alive_ && !linger && !shutting_down_ && !state_.stopping.load();
  head.allow = allow;
  head.content_type = content_type;
  head.content_length = body.size();
  head_.clear();  // Keeps its capacity for the next reply.
  append_response_head(head, &head_);
  body_ = std::move(body);
  set_io_deadline(state_.options.idle_timeout);
  const std::array<net::const_buffer, 2> buffers = {net::buffer(head_), net::buffer(body_)};
  net::async_write(socket_, buffers,
                   beast::bind_front_handler(&HttpSession::on_write, shared_from_this(),
                                             !head.keep_alive, linger));
}

void HttpSession::send_beast(Response res) {
  phase_ = Phase::kWriting;
  res.keep_alive(keep_alive_ && !shutting_down_ && !state_.stopping.load());
  res.prepare_payload();
  res_ = std::make_unique<Response>(std::move(res));
  set_io_deadline(state_.options.idle_timeout);
  http::async_write(socket_, *res_,
                    beast::bind_front_handler(&HttpSession::on_write, shared_from_this(),
                                              res_->need_eof(), /*linger=*/false));
}

void HttpSession::on_write(bool close_after, bool linger, beast::error_code ec, size_t) {
  res_.reset();
  body_.clear();
  if (ec) return close();
  if (linger) return linger_close();
  if (close_after) return close();
  do_read();
}

void HttpSession::close() {
  phase_ = Phase::kClosing;
  io_deadline_ = kNever;
  call_backstop_ = kNever;
  timer_.cancel();
  timer_armed_ = false;
  beast::error_code ec;
  socket_.shutdown(net::ip::tcp::socket::shutdown_both, ec);
  socket_.close(ec);
}

void HttpSession::linger_close() {
  phase_ = Phase::kClosing;
  beast::error_code ec;
  socket_.shutdown(net::ip::tcp::socket::shutdown_send, ec);
  drain_buf_ = std::make_unique<char[]>(kDrainBufferBytes);
  set_io_deadline(kLingerTimeout);
  drain();
}

void HttpSession::drain() {
  socket_.async_read_some(net::buffer(drain_buf_.get(), kDrainBufferBytes),
                          [self = shared_from_this()](beast::error_code ec, size_t) {
                            if (ec) return self->close();  // EOF, timeout, or reset.
                            self->drain();
                          });
}

}  // namespace dkv::api::gateway

namespace dkv::api::gateway {

void HttpSession::set_io_deadline(std::chrono::steady_clock::duration timeout) {
  io_deadline_ = std::chrono::steady_clock::now() + timeout;
  arm_timer();
}

void HttpSession::arm_timer() {
  const TimePoint next = std::min(io_deadline_, call_backstop_);
  if (next == kNever) return;
  if (timer_armed_ && timer_at_ <= next) return;  // It wakes up early enough.
  // Re-arming cancels the pending wait; on_timer ignores that completion.
  timer_.expires_at(next);
  timer_at_ = next;
  timer_armed_ = true;
  timer_.async_wait([self = shared_from_this()](beast::error_code ec) { self->on_timer(ec); });
}

void HttpSession::on_timer(beast::error_code ec) {
  if (ec == net::error::operation_aborted) return;  // Re-armed, or closing.
  timer_armed_ = false;
  if (phase_ == Phase::kClosing && !socket_.is_open()) return;
  // A wakeup may come early (a deadline moved later) or stale (it was
  // re-armed after this one had fired): the clock decides.
  const TimePoint now = std::chrono::steady_clock::now();
  if (call_ != nullptr && call_backstop_ <= now) on_call_timeout();
  if (io_deadline_ <= now) {
    // The pending read or write fails with operation_aborted; its handler
    // closes the connection.
    io_deadline_ = kNever;
    beast::error_code ignored;
    socket_.close(ignored);
  }
  arm_timer();
}

}  // namespace dkv::api::gateway
