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

#include "transport/tcp_stream.h"
#include "util/assert.h"
#include "util/thread_name.h"

namespace dkv::transport {
namespace {

using Clock = std::chrono::steady_clock;

struct Pending {
  int fd;
  Clock::time_point deadline;
};

enum class Kind { kUnknownYet, kStream, kOther, kGone };

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
  if (got != kStreamMagic.substr(0, got.size())) return Kind::kOther;
  return got.size() == kStreamMagic.size() ? Kind::kStream : Kind::kUnknownYet;
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
  const std::string port = std::to_string(options.port);
  if (const int rc =
          ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &found);
      rc != 0) {
    return util::unavailable("cannot listen on " + where + ": " + ::gai_strerror(rc));
  }
  const int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  const int one = 1;
  int rc = fd < 0 ? -1 : ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (rc == 0) rc = ::bind(fd, found->ai_addr, static_cast<socklen_t>(found->ai_addrlen));
  if (rc == 0) rc = ::listen(fd, 512);
  const int err = errno;
  ::freeaddrinfo(found);
  if (rc != 0) {
    if (fd >= 0) ::close(fd);
    return util::unavailable("cannot listen on " + where + ": " + std::strerror(err));
  }
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const int bound =
      ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                                       : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  const int wake = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake < 0) {
    ::close(fd);
    return util::unavailable(std::string("eventfd: ") + std::strerror(errno));
  }
  out->reset(new PortListener(options, fd, wake, bound));
  return util::Status::ok();
}

PortListener::PortListener(PortListenerOptions options, int listen_fd, int wake_fd, int port)
    : options_(std::move(options)), listen_fd_(listen_fd), wake_fd_(wake_fd), port_(port) {}

PortListener::~PortListener() {
  stop();
  ::close(listen_fd_);
  ::close(wake_fd_);
}

void PortListener::start(Handler on_stream, Handler on_other) {
  DKV_ASSERT(!thread_.joinable());
  on_stream_ = std::move(on_stream);
  on_other_ = std::move(on_other);
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
  while (true) {
    fds.clear();
    fds.push_back({wake_fd_, POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    auto wake_at = Clock::now() + std::chrono::seconds(60);
    for (const Pending& p : pending) {
      fds.push_back({p.fd, POLLIN, 0});
      wake_at = std::min(wake_at, p.deadline);
    }
    const auto wait_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(wake_at - Clock::now()).count();
    if (::poll(fds.data(), fds.size(), static_cast<int>(std::max<std::int64_t>(wait_ms, 0)) + 1) <
            0 &&
        errno != EINTR) {
      spdlog::error("port listener: poll: {}", std::strerror(errno));
    }
    if (fds[0].revents != 0) break;  // stop().
    // Sniff first (fds covers exactly the pending connections so far).
    const auto now = Clock::now();
    std::vector<Pending> still;
    for (std::size_t i = 0; i < pending.size(); ++i) {
      const Pending& p = pending[i];
      const Kind kind = fds[2 + i].revents != 0 ? sniff(p.fd) : Kind::kUnknownYet;
      if (kind == Kind::kStream) {
        on_stream_(p.fd);
      } else if (kind == Kind::kOther) {
        on_other_(p.fd);
      } else if (kind == Kind::kGone || now >= p.deadline) {
        if (kind != Kind::kGone) {
          spdlog::debug("port listener: closed a connection silent for {} ms",
                        options_.sniff_timeout.count());
        }
        ::close(p.fd);
      } else {
        still.push_back(p);
      }
    }
    pending.swap(still);
    if (fds[1].revents == 0) continue;
    while (true) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED) {
          spdlog::warn("port listener: accept: {}", std::strerror(errno));  // E.g. EMFILE.
        }
        break;
      }
      if (pending.size() >= options_.pending_max) {
        ::close(fd);
        continue;
      }
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      pending.push_back({fd, now + options_.sniff_timeout});
    }
  }
  for (const Pending& p : pending) ::close(p.fd);
}

}  // namespace dkv::transport
