// HttpSession's streaming routes (gateway.h StreamOut): a 200 head with
// Transfer-Encoding: chunked, then one chunk per write, until the handler
// finishes or the client goes (a read on the socket notices; the stream
// reads nothing else). No I/O deadline: a stream may idle for hours.
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include <cstdio>

#include "api/gateway/http_session.h"

namespace dkv::api::gateway {

namespace net = boost::asio;
namespace beast = boost::beast;

class HttpSession::Stream final : public StreamOut {
 public:
  Stream(std::weak_ptr<HttpSession> session, Executor executor, std::shared_ptr<CallTracker> calls)
      : session_(std::move(session)), executor_(executor), calls_(std::move(calls)) {}

  void write(std::string data, std::function<void(bool)> done) override {
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", data.size());
    std::string chunk = size;
    chunk += data;
    chunk += "\r\n";
    post([chunk = std::move(chunk), done = std::move(done)](HttpSession& s) mutable {
      s.stream_write(std::move(chunk), std::move(done));
    });
  }
  void finish() override {
    post([](HttpSession& s) {
      s.stream_write("0\r\n\r\n", [w = s.weak_from_this()](bool) {
        if (auto self = w.lock()) self->close();
      });
    });
  }

 private:
  template <typename F>
  void post(F f) {
    calls_->run_if_open([&] {
      net::post(executor_, [w = session_, f = std::move(f)]() mutable {
        if (auto self = w.lock()) f(*self);
      });
    });
  }

  std::weak_ptr<HttpSession> session_;
  Executor executor_;
  std::shared_ptr<CallTracker> calls_;
};

void HttpSession::start_stream(const StreamHandler& handler) {
  phase_ = Phase::kStreaming;
  io_deadline_ = kNever;
  keep_alive_ = false;
  std::string body = std::move(parser_->get().body());
  stream_write(
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
      nullptr);
  auto out = std::make_shared<Stream>(weak_from_this(), socket_.get_executor(), state_.calls);
  stream_closed_ = handler(std::move(body), std::move(out));
  stream_watch_for_close();
}

void HttpSession::stream_write(std::string bytes, std::function<void(bool)> done) {
  if (phase_ != Phase::kStreaming) {
    if (done) done(false);
    return;
  }
  stream_out_.emplace_back(std::move(bytes), std::move(done));
  if (!stream_writing_) stream_write_next();
}

void HttpSession::stream_write_next() {
  if (stream_out_.empty()) return;
  stream_writing_ = true;
  net::async_write(socket_, net::buffer(stream_out_.front().first),
                   [self = shared_from_this()](beast::error_code ec, size_t) {
                     self->stream_writing_ = false;
                     auto done = std::move(self->stream_out_.front().second);
                     self->stream_out_.pop_front();
                     if (ec) self->stream_gone();
                     if (done) done(!ec);
                     if (!ec) self->stream_write_next();
                   });
}

void HttpSession::stream_watch_for_close() {
  socket_.async_read_some(net::buffer(stream_read_buf_),
                          [self = shared_from_this()](beast::error_code ec, size_t) {
                            if (ec) return self->stream_gone();
                            self->stream_watch_for_close();  // Ignores what the client sends.
                          });
}

void HttpSession::stream_gone() {
  if (phase_ == Phase::kStreaming) close();
  for (auto& [bytes, done] : stream_out_) {
    if (done && !stream_writing_) done(false);
  }
  if (!stream_writing_) stream_out_.clear();
  if (auto closed = std::move(stream_closed_); closed) {
    stream_closed_ = nullptr;
    closed();
  }
}

}  // namespace dkv::api::gateway
