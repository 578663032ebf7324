#include "transport/tcp_stream.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "dkv/raftpb/raft.pb.h"
#include "transport/codec.h"
#include "transport/peer_checks.h"
#include "transport/transport.h"
#include "util/assert.h"
#include "util/rate_limiter.h"
#include "util/thread_name.h"

namespace dkv::transport {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Streams served at once: a handful per peer at most (an old one lingers
// until its silence limit after the peer reconnects); more are refused.
constexpr std::size_t kReadersMax = 256;
// How long an accepted stream may take to send its whole hello.
constexpr milliseconds kHelloTimeout{10000};
// How often a blocked writer looks at the peer's beats.
constexpr milliseconds kWriteCheck{100};
// The reader's receive buffer: at least this much room per read.
constexpr std::size_t kReadChunkBytes = 256 * 1024;
constexpr std::size_t kAnswerFixedBytes = 4 + 8 + 4;

void put_u32(char* p, std::uint32_t v) {
  for (int i = 3; i >= 0; --i, v >>= 8) p[i] = static_cast<char>(v & 0xff);
}
void put_u64(char* p, std::uint64_t v) {
  for (int i = 7; i >= 0; --i, v >>= 8) p[i] = static_cast<char>(v & 0xff);
}
std::uint32_t get_u32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
std::uint64_t get_u64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

int ms_until(Clock::time_point until) {
  const auto left = std::chrono::duration_cast<milliseconds>(until - Clock::now()).count();
  return static_cast<int>(std::clamp<std::int64_t>(left, 0, 60'000));
}

// Splits "host:port" or "[v6]:port".
bool split_address(const std::string& address, std::string* host, std::string* port) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos || colon + 1 == address.size()) return false;
  *host = address.substr(0, colon);
  *port = address.substr(colon + 1);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  return !host->empty();
}

// One end of a stream: its socket, and the peer TLS session on it (null:
// plain TCP). Both non-blocking.
struct Link {
  int fd = -1;
  SSL* ssl = nullptr;
};

// A failed SSL_read/SSL_write as errno: EAGAIN if it wants the socket
// again, ECONNRESET if the session failed.
ssize_t tls_failed(SSL* ssl, int rc) {
  const int err = ::SSL_get_error(ssl, rc);
  ::ERR_clear_error();
  errno = err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE ? EAGAIN : ECONNRESET;
  return -1;
}

// send(2) without blocking: n > 0 bytes taken, or -1 and errno.
ssize_t link_send(const Link& l, const char* data, std::size_t size) {
  if (l.ssl == nullptr) return ::send(l.fd, data, size, MSG_NOSIGNAL | MSG_DONTWAIT);
  const int n = ::SSL_write(l.ssl, data, static_cast<int>(std::min<std::size_t>(size, INT32_MAX)));
  return n > 0 ? n : tls_failed(l.ssl, n);
}

// recv(2) without blocking: n > 0 bytes, 0 closed by the peer, or -1 and errno.
ssize_t link_recv(const Link& l, char* data, std::size_t size) {
  if (l.ssl == nullptr) return ::recv(l.fd, data, size, MSG_DONTWAIT);
  const int n = ::SSL_read(l.ssl, data, static_cast<int>(std::min<std::size_t>(size, INT32_MAX)));
  if (n > 0) return n;
  if (::SSL_get_error(l.ssl, n) == SSL_ERROR_ZERO_RETURN) return 0;
  return tls_failed(l.ssl, n);
}

// TLS holds decrypted bytes that poll(2) on the socket cannot see.
bool link_pending(const Link& l) { return l.ssl != nullptr && ::SSL_has_pending(l.ssl) == 1; }

// Waits for `events` on `fd` until `until`; *revents is 0 on timeout.
util::Status poll_fd(int fd, short events, Clock::time_point until, short* revents) {
  pollfd p{fd, events, 0};
  const int n = ::poll(&p, 1, ms_until(until));
  if (n < 0 && errno != EINTR) return util::unavailable(errno_text("poll"));
  *revents = n > 0 ? p.revents : 0;
  return util::Status::ok();
}

// Reads exactly `size` bytes from the non-blocking `link` by `until`.
util::Status read_exact(const Link& link, char* data, std::size_t size, Clock::time_point until) {
  const int fd = link.fd;
  while (size > 0) {
    const ssize_t n = link_recv(link, data, size);
    if (n > 0) {
      data += n;
      size -= static_cast<std::size_t>(n);
      continue;
    }
    if (n == 0) return util::unavailable("connection closed by the peer");
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return util::unavailable(errno_text("recv"));
    if (Clock::now() >= until) return util::unavailable("timed out");
    short revents = 0;
    if (auto s = poll_fd(fd, POLLIN, until, &revents); !s.is_ok()) return s;
  }
  return util::Status::ok();
}

// Writes all of `data` to the fresh (empty send buffer) non-blocking `link`.
util::Status write_small(const Link& link, const char* data, std::size_t size,
                         Clock::time_point until) {
  const int fd = link.fd;
  while (size > 0) {
    const ssize_t n = link_send(link, data, size);
    if (n > 0) {
      data += n;
      size -= static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      return util::unavailable(errno_text("send"));
    }
    if (Clock::now() >= until) return util::unavailable("timed out");
    short revents = 0;
    if (auto s = poll_fd(fd, POLLOUT, until, &revents); !s.is_ok()) return s;
  }
  return util::Status::ok();
}

std::string encode_answer(const util::Status& s, raft::NodeId local_id) {
  const std::string reason = s.message().substr(0, kAnswerReasonBytesMax);
  std::string out(kAnswerFixedBytes, '\0');
  put_u32(out.data(), static_cast<std::uint32_t>(s.code()));
  put_u64(out.data() + 4, local_id);
  put_u32(out.data() + 12, static_cast<std::uint32_t>(reason.size()));
  return out + reason;
}

}  // namespace

void set_stream_socket_options(int fd, const StreamOptions& o) {
  const int one = 1;
  const int idle_s = std::max(1, o.keepalive_time_ms / 1000);
  const int interval_s = std::max(1, o.keepalive_timeout_ms / 1000);
  const int count = 1;
  const unsigned user_timeout_ms =
      static_cast<unsigned>(o.keepalive_time_ms + o.keepalive_timeout_ms);
  // Best effort: a failure only loses an early warning of a dead link (the
  // streams' own beats still tell).
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle_s, sizeof(idle_s));
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval_s, sizeof(interval_s));
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof(count));
  ::setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms, sizeof(user_timeout_ms));
}

// ---------------------------------------------------------------------------
// StreamWriter.

StreamWriter::StreamWriter(const StreamOptions& options) : o_(options) {}

StreamWriter::~StreamWriter() {
  util::MutexLock lk(fd_mu_);
  ::SSL_free(ssl_);
  if (fd_ >= 0) ::close(fd_);
}

void StreamWriter::interrupt() {
  util::MutexLock lk(fd_mu_);
  interrupted_ = true;
  if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);  // Wakes poll(); send/recv fail.
}

util::Status StreamWriter::open(const std::string& address, raft::NodeId to,
                                std::chrono::milliseconds timeout, raft::NodeId* answered_by) {
  *answered_by = raft::kNoNode;
  const auto until = Clock::now() + timeout;
  if (auto s = connect_to(address, until); !s.is_ok()) return s;
  set_stream_socket_options(sock_, o_);
  // Peer TLS: from here on the stream goes through the session (interrupt()
  // still breaks it by shutting the socket down).
  if (o_.tls_handshake) {
    if (auto s = o_.tls_handshake(sock_, until, &ssl_); !s.is_ok()) return s;
  }
  if (auto s = exchange_hello(to, until, answered_by); !s.is_ok()) return s;
  last_heard_ = last_written_ = Clock::now();
  return util::Status::ok();
}

util::Status StreamWriter::connect_to(const std::string& address, Clock::time_point until) {
  std::string host, port;
  if (!split_address(address, &host, &port)) {
    return util::unavailable("bad address \"" + address + "\"");
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return util::unavailable("cannot resolve " + host + ": " + ::gai_strerror(rc));
  }
  const int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int connected =
      fd < 0 ? -1 : ::connect(fd, found->ai_addr, static_cast<socklen_t>(found->ai_addrlen));
  const int connect_errno = errno;
  ::freeaddrinfo(found);
  if (fd < 0) return util::unavailable(errno_text("socket"));
  {
    util::MutexLock lk(fd_mu_);
    DKV_ASSERT(fd_ < 0);  // One open() per writer.
    fd_ = fd;
    sock_ = fd;
    if (interrupted_) return util::unavailable("interrupted");
  }
  if (connected == 0) return util::Status::ok();
  if (connect_errno != EINPROGRESS) {
    return util::unavailable(std::string("connect: ") + std::strerror(connect_errno));
  }
  short revents = 0;
  if (auto s = poll_fd(sock_, POLLOUT, until, &revents); !s.is_ok()) return s;
  if (revents == 0) return util::unavailable("connect: timed out");
  int err = 0;
  socklen_t len = sizeof(err);
  ::getsockopt(sock_, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) return util::unavailable(std::string("connect: ") + std::strerror(err));
  return util::Status::ok();
}

util::Status StreamWriter::exchange_hello(raft::NodeId to, Clock::time_point until,
                                          raft::NodeId* answered_by) {
  const Link link{sock_, ssl_};
  char hello[kStreamHelloBytes];
  std::memcpy(hello, kStreamMagic.data(), kStreamMagic.size());
  put_u64(hello + 8, o_.cluster_id);
  put_u64(hello + 16, o_.local_id);
  put_u64(hello + 24, to);
  if (auto s = write_small(link, hello, sizeof(hello), until); !s.is_ok()) return s;
  char fixed[kAnswerFixedBytes];
  if (auto s = read_exact(link, fixed, sizeof(fixed), until); !s.is_ok()) {
    return util::unavailable("no answer to the hello: " + s.message());
  }
  const std::uint32_t code = get_u32(fixed);
  *answered_by = get_u64(fixed + 4);
  const std::uint32_t reason_bytes = get_u32(fixed + 12);
  if (reason_bytes > kAnswerReasonBytesMax) return util::unavailable("garbled answer");
  std::string reason(reason_bytes, '\0');
  if (auto s = read_exact(link, reason.data(), reason.size(), until); !s.is_ok()) {
    return util::unavailable("no answer to the hello: " + s.message());
  }
  if (code != 0) return {util::Code::kFailedPrecondition, reason};
  if (*answered_by != to) {
    return {util::Code::kFailedPrecondition,
            "the server there is node " + std::to_string(*answered_by)};
  }
  return util::Status::ok();
}

void StreamWriter::seal_frame(std::string* framed) {
  DKV_ASSERT(framed->size() >= kFrameHeaderBytes);
  const std::size_t body = framed->size() - kFrameHeaderBytes;
  DKV_ASSERT(body <= UINT32_MAX);
  put_u32(framed->data(), static_cast<std::uint32_t>(body));
}

util::Status StreamWriter::write_frame(std::string* framed) {
  DKV_ASSERT(sock_ >= 0);
  return write_all(framed->data(), framed->size());
}

util::Status StreamWriter::try_write(std::string_view data, std::size_t* written) {
  DKV_ASSERT(sock_ >= 0);
  *written = 0;
  while (*written < data.size()) {
    const ssize_t n = link_send({sock_, ssl_}, data.data() + *written, data.size() - *written);
    if (n > 0) {
      *written += static_cast<std::size_t>(n);
      last_written_ = Clock::now();
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      // Full: the rest waits. With TLS, part of it may sit in a record
      // OpenSSL holds, which only write_rest() of the same bytes may finish:
      // count it as written so that no ping comes first.
      if (ssl_ != nullptr) last_written_ = Clock::now();
      break;
    }
    return util::unavailable(errno_text("send"));
  }
  return util::Status::ok();
}

util::Status StreamWriter::write_rest(std::string_view data) {
  DKV_ASSERT(sock_ >= 0);
  return write_all(data.data(), data.size());
}

util::Status StreamWriter::check_alive() {
  DKV_ASSERT(sock_ >= 0);
  if (auto s = drain_beats(); !s.is_ok()) return s;
  if (auto s = check_silence(); !s.is_ok()) return s;
  if (Clock::now() - last_written_ >= milliseconds(o_.keepalive_time_ms)) {
    const char ping[kFrameHeaderBytes] = {0, 0, 0, 0};
    return write_all(ping, sizeof(ping));
  }
  return util::Status::ok();
}

util::Status StreamWriter::write_all(const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = link_send({sock_, ssl_}, data, size);
    if (n > 0) {
      data += n;
      size -= static_cast<std::size_t>(n);
      last_written_ = Clock::now();
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      return util::unavailable(errno_text("send"));
    }
    // Full: the peer is slow, stalled or gone. Its beats tell which.
    short revents = 0;
    if (auto s = poll_fd(sock_, POLLOUT | POLLIN, Clock::now() + kWriteCheck, &revents);
        !s.is_ok()) {
      return s;
    }
    if ((revents & POLLIN) != 0) {
      if (auto s = drain_beats(); !s.is_ok()) return s;
    }
    if (auto s = check_silence(); !s.is_ok()) return s;
  }
  return util::Status::ok();
}

util::Status StreamWriter::drain_beats() {
  char buf[512];
  while (true) {
    const ssize_t n = link_recv({sock_, ssl_}, buf, sizeof(buf));
    if (n > 0) {
      last_heard_ = Clock::now();
      continue;
    }
    if (n == 0) return util::unavailable("connection closed by the peer");
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return util::Status::ok();
    return util::unavailable(errno_text("recv"));
  }
}

util::Status StreamWriter::check_silence() const {
  const auto limit = milliseconds(o_.keepalive_time_ms + o_.keepalive_timeout_ms);
  const auto silent = std::chrono::duration_cast<milliseconds>(Clock::now() - last_heard_);
  if (silent <= limit) return util::Status::ok();
  return util::unavailable("no sign of life from the peer for " + std::to_string(silent.count()) +
                           " ms");
}

// ---------------------------------------------------------------------------
// StreamReaders.

struct StreamReaders::Reader {
  Reader(int f, std::string from, SSL* session) : fd(f), source(std::move(from)), ssl(session) {}
  // The thread reads it without the lock; it closes it (under StreamReaders'
  // mu_, then -1) when done, so that stop() never touches a reused fd.
  int fd;
  const std::string source;  // The peer's IP address.
  SSL* const ssl;            // Peer TLS on fd (verified), or null; freed with it.
  std::thread thread;
  bool done = false;  // Under StreamReaders' mu_.
};

StreamReaders::StreamReaders(StreamOptions options, MessagesHandler on_messages)
    : o_(options), on_messages_(std::move(on_messages)) {}

StreamReaders::~StreamReaders() { stop(); }

void StreamReaders::adopt(int fd, std::string source, ssl_st* tls) {
  util::MutexLock lk(mu_);
  if (stopped_) {
    ::SSL_free(tls);
    ::close(fd);
    return;
  }
  reap_finished();
  if (readers_.size() >= kReadersMax) {
    spdlog::warn("transport: refused a message stream: {} are open already", readers_.size());
    ::SSL_free(tls);
    ::close(fd);
    return;
  }
  auto reader = std::make_unique<Reader>(fd, std::move(source), tls);
  Reader* r = reader.get();
  readers_.push_back(std::move(reader));
  r->thread = std::thread([this, r] {
    util::set_thread_name("recv-stream");
    serve(r);
    ::SSL_free(r->ssl);
    util::MutexLock lk(mu_);
    ::close(r->fd);
    r->fd = -1;
    r->done = true;
  });
}

void StreamReaders::stop() {
  std::list<std::unique_ptr<Reader>> readers;
  {
    util::MutexLock lk(mu_);
    stopped_ = true;
    readers.swap(readers_);
    for (auto& r : readers) {
      if (r->fd >= 0) ::shutdown(r->fd, SHUT_RDWR);  // Wakes its poll().
    }
  }
  for (auto& r : readers) r->thread.join();  // Each closes its fd.
}

void StreamReaders::reap_finished() {
  for (auto it = readers_.begin(); it != readers_.end();) {
    if (!(*it)->done) {
      ++it;
      continue;
    }
    (*it)->thread.join();  // Done: returns at once.
    it = readers_.erase(it);
  }
}

namespace {

// One accepted stream after its hello: frames in, beats out.
class FrameReader {
 public:
  FrameReader(const StreamOptions& o, const MessagesHandler& on_messages, Link link,
              raft::NodeId from)
      : o_(o),
        on_messages_(on_messages),
        link_(link),
        fd_(link.fd),
        from_(from),
        buf_(kReadChunkBytes) {}

  // Until the stream ends: EOF (OK), a refused frame or a dead link.
  util::Status run() {
    const auto beat_every = milliseconds(o_.keepalive_time_ms);
    const auto silence_max = milliseconds(2 * o_.keepalive_time_ms + o_.keepalive_timeout_ms);
    auto last_heard = Clock::now();
    auto next_beat = last_heard;
    while (true) {
      if (auto s = deliver_complete_frames(); !s.is_ok()) return s;
      make_room();
      short revents = link_pending(link_) ? POLLIN : 0;
      if (revents == 0) {
        if (auto s = poll_fd(fd_, POLLIN, next_beat, &revents); !s.is_ok()) return s;
      }
      const auto now = Clock::now();
      if (now >= next_beat) {
        const char beat = 0;
        const ssize_t n = link_send(link_, &beat, 1);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
          return util::unavailable(errno_text("send"));
        }
        next_beat = now + beat_every;
      }
      if (revents != 0) {
        const ssize_t n = link_recv(link_, buf_.data() + end_, buf_.size() - end_);
        if (n == 0) return util::Status::ok();  // The sender closed the stream.
        if (n > 0) {
          end_ += static_cast<std::size_t>(n);
          last_heard = now;
        } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
          return util::unavailable(errno_text("recv"));
        }
      }
      if (now - last_heard > silence_max) {
        return util::unavailable("no frame or ping for " + std::to_string(silence_max.count()) +
                                 " ms");
      }
    }
  }

 private:
  // Decodes every whole frame in the buffer and delivers their messages in
  // one call (those before a bad frame too).
  util::Status deliver_complete_frames() {
    const util::Status s = decode_complete_frames();
    if (!decoded_.empty()) {
      on_messages_(std::move(decoded_));
      decoded_.clear();  // Moved-from: valid, unspecified.
    }
    return s;
  }

  util::Status decode_complete_frames() {
    while (end_ - begin_ >= StreamWriter::kFrameHeaderBytes) {
      const std::uint32_t n = get_u32(buf_.data() + begin_);
      if (n > static_cast<std::uint32_t>(kWireMessageBytesMax)) {
        return util::resource_exhausted("frame of " + std::to_string(n) + " bytes exceeds " +
                                        std::to_string(kWireMessageBytesMax));
      }
      if (end_ - begin_ < StreamWriter::kFrameHeaderBytes + n) break;
      if (n > 0) {  // 0: a ping.
        const util::Status s =
            decode_frame(buf_.data() + begin_ + StreamWriter::kFrameHeaderBytes, n);
        if (!s.is_ok()) return s;
      }
      begin_ += StreamWriter::kFrameHeaderBytes + n;
    }
    if (begin_ == end_) begin_ = end_ = 0;
    return util::Status::ok();
  }

  util::Status decode_frame(const char* data, std::uint32_t size) {
    batch_.Clear();
    if (!batch_.ParseFromArray(data, static_cast<int>(size))) {
      return util::invalid_argument("undecodable message batch");
    }
    util::Status s = check_header(o_.cluster_id, o_.local_id, from_, batch_.header());
    if (!s.is_ok()) return s;
    for (raftpb::Message& pm : *batch_.mutable_messages()) {
      raft::Message m;
      s = decode(std::move(pm), &m);
      if (!s.is_ok()) return s;
      s = check_message(o_.local_id, from_, m);
      if (!s.is_ok()) return s;
      decoded_.push_back(std::move(m));
    }
    return util::Status::ok();
  }

  // Leaves room for the rest of the frame being read (or a chunk).
  void make_room() {
    std::size_t want = kReadChunkBytes;
    if (end_ - begin_ >= StreamWriter::kFrameHeaderBytes) {
      const std::size_t frame = StreamWriter::kFrameHeaderBytes + get_u32(buf_.data() + begin_);
      want = std::max(want, frame - (end_ - begin_));
    }
    if (buf_.size() - end_ >= want) return;
    std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
    if (buf_.size() - end_ < want) buf_.resize(end_ + want);
  }

  const StreamOptions& o_;
  const MessagesHandler& on_messages_;
  const Link link_;
  const int fd_;
  const raft::NodeId from_;
  std::vector<char> buf_;
  std::size_t begin_ = 0;  // Invariant: begin_ <= end_ <= buf_.size().
  std::size_t end_ = 0;
  raftpb::MessageBatch batch_;
  std::vector<raft::Message> decoded_;  // Not yet delivered.
};

}  // namespace

namespace {

// Refusals repeat at every reconnect of a misconfigured peer: one line per
// peer and reason every 30 s, with the count of those held back.
util::RateLimiter& refusal_log_limiter() {
  static util::RateLimiter limiter(std::chrono::seconds(30));
  return limiter;
}

std::string remote_address(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "?";
  char host[NI_MAXHOST];
  char port[NI_MAXSERV];
  if (::getnameinfo(reinterpret_cast<sockaddr*>(&addr), len, host, sizeof host, port, sizeof port,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    return "?";
  }
  return std::string(host) + ":" + port;
}

// "node d [00..id] from 127.0.0.1:54321" (the name if it is a member).
std::string describe_peer(const StreamOptions& o, raft::NodeId from, int fd) {
  const std::string name = o.peer_name ? o.peer_name(from) : std::string();
  return "node " + (name.empty() ? std::string() : name + " ") + "[" + hex_id(from) + "] from " +
         remote_address(fd);
}

// Which side is misconfigured, when the hello tells.
std::string diagnose_hello(const StreamOptions& o, std::uint64_t cluster, raft::NodeId from,
                           raft::NodeId to) {
  const bool member = o.peer_name && !o.peer_name(from).empty();
  if (cluster != o.cluster_id) {
    if (member) {
      return "it is a member of this cluster, but its data directory belongs to another one "
             "(bootstrapped from another DKV_CLUSTER, or made for another cluster): its side "
             "differs; stop it, delete its DKV_DB_PATH and start it again to rejoin";
    }
    return "it is not a member of this cluster: its DKV_CLUSTER names this node's address, so "
           "its DKV_CLUSTER (not this node's) differs from this cluster's";
  }
  if (from == o.local_id) {
    return "it uses this node's own DKV_NODE_ID: two processes run with the same DKV_NODE_ID";
  }
  if (to != o.local_id) {
    return "its DKV_CLUSTER gives node [" + hex_id(to) +
           "] this node's address: a mistyped address in its DKV_CLUSTER";
  }
  return "";
}

void log_refusal(spdlog::level::level_enum level, const StreamOptions& o, raft::NodeId from,
                 const std::string& peer, const util::Status& s, const std::string& why) {
  std::uint64_t suppressed = 0;
  const std::string key =
      hex_id(o.local_id) + hex_id(from) + std::string(util::code_name(s.code()));
  if (!refusal_log_limiter().allow(key, std::chrono::steady_clock::now(), &suppressed)) return;
  spdlog::log(level, "transport: refused a message stream from {}: {}{}{}", peer, s.to_string(),
              why.empty() ? "" : "; " + why,
              suppressed == 0 ? ""
                              : " (" + std::to_string(suppressed) +
                                    " more refusals like it in the last 30 s not logged)");
}

}  // namespace

void StreamReaders::serve(Reader* r) {
  const int fd = r->fd;
  const Link link{fd, r->ssl};
  char hello[kStreamHelloBytes];
  if (auto s = read_exact(link, hello, sizeof(hello), Clock::now() + kHelloTimeout); !s.is_ok()) {
    spdlog::debug("transport: message stream without a hello: {}", s.to_string());
    return;
  }
  if (std::string_view(hello, kStreamMagic.size()) != kStreamMagic)
    return;  // The listener checked.
  const std::uint64_t cluster = get_u64(hello + 8);
  const raft::NodeId from = get_u64(hello + 16);
  const raft::NodeId to = get_u64(hello + 24);
  util::Status s = check_cluster(o_.cluster_id, cluster);
  if (s.is_ok()) s = check_addressee(o_.local_id, to);
  if (s.is_ok() && (from == raft::kNoNode || from == o_.local_id)) {
    s = {util::Code::kFailedPrecondition, "bad sender node id " + hex_id(from)};
  }
  // Last: only a hello that is otherwise fine counts as an admission refusal.
  if (s.is_ok() && o_.admit) s = o_.admit(from, r->source, r->ssl != nullptr);
  const std::string answer = encode_answer(s, o_.local_id);
  if (auto w = write_small(link, answer.data(), answer.size(), Clock::now() + kHelloTimeout);
      !w.is_ok() || !s.is_ok()) {
    // Admission refusals are logged, rate-limited, by admit.
    if (!s.is_ok() && s.code() != util::Code::kPermissionDenied) {
      log_refusal(spdlog::level::warn, o_, from, describe_peer(o_, from, fd), s,
                  diagnose_hello(o_, cluster, from, to));
    }
    return;
  }
  std::string name = o_.peer_name ? o_.peer_name(from) : std::string();
  if (name.empty()) name = std::to_string(from);
  util::set_thread_name(("recv-" + name).c_str());
  set_stream_socket_options(fd, o_);
  s = FrameReader(o_, on_messages_, link, from).run();
  if (s.is_ok()) {
    spdlog::debug("transport: node {} closed its message stream", name);
  } else if (s.code() == util::Code::kUnavailable) {
    spdlog::info("transport: message stream from node {} ended: {}", name, s.to_string());
  } else {
    log_refusal(spdlog::level::warn, o_, from, describe_peer(o_, from, fd), s, "");
  }
}

}  // namespace dkv::transport
