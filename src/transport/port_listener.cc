#include "transport/port_listener.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <vector>

#include "transport/admission.h"
#include "transport/tcp_stream.h"
#include "util/assert.h"
#include "util/thread_name.h"

namespace dkv::transport {
namespace {

enum class Kind { kUnknownYet, kStream, kTls, kOther, kGone };

// A TLS record of type handshake (a ClientHello) starts with this byte; the
// raft magic starts with 'D' and the HTTP/2 preface with 'P'.
constexpr char kTlsHandshake = 0x16;

// What the connection's first bytes say, without consuming them.
Kind sniff(int fd) {
  char head[kStreamMagic.size()];
  const ssize_t n = ::recv(fd, head, sizeof(head), MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return Kind::kGone;
  if (n < 0) {
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? Kind::kUnknownYet
                                                                     : Kind::kGone;
  }
  const std::string_view got(head, static_cast<std::size_t>(n));
  if (got.front() == kTlsHandshake) return Kind::kTls;
  if (got != kStreamMagic.substr(0, got.size())) return Kind::kOther;
  return got.size() == kStreamMagic.size() ? Kind::kStream : Kind::kUnknownYet;
}

// Binds and listens on `ai` (port 0: the kernel's choice, unless *port is
// set already by an earlier address). -1 and errno on failure.
int listen_on(const addrinfo* ai, int* port) {
  sockaddr_storage addr{};
  std::memcpy(&addr, ai->ai_addr, ai->ai_addrlen);
  auto* port_field = addr.ss_family == AF_INET6 ? &reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                                                : &reinterpret_cast<sockaddr_in*>(&addr)->sin_port;
  if (*port != 0) *port_field = htons(static_cast<std::uint16_t>(*port));
  const int fd = ::socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  const int one = 1;
  int rc = ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  // A v6 socket takes only v6: "::" and "0.0.0.0" are separate addresses.
  if (rc == 0 && ai->ai_family == AF_INET6) {
    rc = ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  }
  if (rc == 0) rc = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), ai->ai_addrlen);
  if (rc == 0) rc = ::listen(fd, 512);
  socklen_t len = sizeof(addr);
  if (rc == 0) rc = ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  if (rc != 0) {
    const int err = errno;
    ::close(fd);
    errno = err;
    return -1;
  }
  *port = ntohs(*port_field);
  return fd;
}

}  // namespace

util::Status PortListener::open(const PortListenerOptions& options,
                                std::unique_ptr<PortListener>* out) {
  const std::string where = options.host + ":" + std::to_string(options.port);
  std::string host = options.host;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  if (const int rc =
          ::getaddrinfo(host.c_str(), std::to_string(options.port).c_str(), &hints, &found);
      rc != 0) {
    return util::unavailable("cannot listen on " + where + ": " + ::gai_strerror(rc));
  }
  std::vector<int> fds;
  int port = options.port;
  int err = 0;
  for (const addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    const int fd = listen_on(ai, &port);
    if (fd >= 0) {
      fds.push_back(fd);
    } else if (errno != EADDRNOTAVAIL && errno != EAFNOSUPPORT) {
      err = errno;  // E.g. EADDRINUSE: the port is someone else's.
      break;
    }
  }
  ::freeaddrinfo(found);
  const int wake = err != 0 || fds.empty() ? -1 : ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake < 0) {
    if (err == 0) err = fds.empty() ? EADDRNOTAVAIL : errno;
    for (int fd : fds) ::close(fd);
    return util::unavailable("cannot listen on " + where + ": " + std::strerror(err));
  }
  out->reset(new PortListener(options, std::move(fds), wake, port));
  return util::Status::ok();
}

PortListener::PortListener(PortListenerOptions options, std::vector<int> listen_fds, int wake_fd,
                           int port)
    : options_(std::move(options)),
      listen_fds_(std::move(listen_fds)),
      wake_fd_(wake_fd),
      port_(port) {}

PortListener::~PortListener() {
  stop();
  for (int fd : listen_fds_) ::close(fd);
  ::close(wake_fd_);
}

void PortListener::start(Handler on_stream, Handler on_other, Handler on_tls) {
  DKV_ASSERT(!thread_.joinable());
  on_stream_ = std::move(on_stream);
  on_other_ = std::move(on_other);
  on_tls_ = std::move(on_tls);
  thread_ = std::thread([this] {
    util::set_thread_name("port-listener");
    run();
  });
}

void PortListener::stop() {
  const std::uint64_t one = 1;
  if (::write(wake_fd_, &one, sizeof(one)) < 0) {
    DKV_ASSERT(errno == EAGAIN);  // The counter is full: woken already.
  }
  if (thread_.joinable()) thread_.join();
}

void PortListener::run() {
  std::vector<Pending> pending;
  std::vector<pollfd> fds;
  const std::size_t first_pending = 1 + listen_fds_.size();
  while (true) {
    fds.clear();
    fds.push_back({wake_fd_, POLLIN, 0});
    for (int fd : listen_fds_) fds.push_back({fd, POLLIN, 0});
    auto wake_at = Clock::now() + std::chrono::seconds(60);
    for (const Pending& p : pending) {
      fds.push_back({p.fd, POLLIN, 0});
      wake_at = std::min(wake_at, p.deadline);
    }
    const auto wait_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(wake_at - Clock::now()).count();
    const int timeout_ms = static_cast<int>(std::max<std::int64_t>(wait_ms, 0)) + 1;
    if (::poll(fds.data(), fds.size(), timeout_ms) < 0 && errno != EINTR) {
      spdlog::error("port listener: poll: {}", std::strerror(errno));
    }
    if (fds[0].revents != 0) break;  // stop().
    // Sniff first: fds covers exactly the connections pending so far.
    const auto now = Clock::now();
    std::vector<Pending> still;
    for (std::size_t i = 0; i < pending.size(); ++i) {
      if (!route(pending[i], fds[first_pending + i].revents != 0, now)) still.push_back(pending[i]);
    }
    pending.swap(still);
    for (std::size_t i = 0; i < listen_fds_.size(); ++i) {
      if (fds[1 + i].revents != 0) accept_all(listen_fds_[i], now, &pending);
    }
  }
  for (const Pending& p : pending) ::close(p.fd);
}

bool PortListener::route(const Pending& p, bool readable, Clock::time_point now) {
  const Kind kind = readable ? sniff(p.fd) : Kind::kUnknownYet;
  if (kind == Kind::kStream) {
    on_stream_(p.fd, p.source);
  } else if (kind == Kind::kTls && on_tls_) {
    on_tls_(p.fd, p.source);
  } else if (kind == Kind::kOther || kind == Kind::kTls) {
    on_other_(p.fd, p.source);
  } else if (kind == Kind::kGone || now >= p.deadline) {
    if (kind != Kind::kGone) {
      spdlog::debug("port listener: closed a connection silent for {} ms",
                    options_.sniff_timeout.count());
    }
    ::close(p.fd);
  } else {
    return false;  // Undecided yet.
  }
  return true;
}

void PortListener::accept_all(int listen_fd, Clock::time_point now, std::vector<Pending>* pending) {
  while (true) {
    sockaddr_storage from{};
    socklen_t from_len = sizeof(from);
    const int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&from), &from_len,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED) {
        spdlog::warn("port listener: accept: {}", std::strerror(errno));  // E.g. EMFILE.
      }
      return;
    }
    if (pending->size() >= options_.pending_max) {
      ::close(fd);
      continue;
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    pending->push_back(
        {fd, now + options_.sniff_timeout, canonical_ip(reinterpret_cast<sockaddr*>(&from))});
  }
}

}  // namespace dkv::transport
