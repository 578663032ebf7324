#include "http_probe.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace dkv::ctl {
namespace {

using Clock = std::chrono::steady_clock;

int ms_left(Clock::time_point until) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

bool wait_fd(int fd, short events, Clock::time_point until) {
  pollfd p{fd, events, 0};
  int n = 0;
  do {
    n = ::poll(&p, 1, ms_left(until));
  } while (n < 0 && errno == EINTR);
  return n == 1 && (p.revents & events) != 0;
}

// A non-blocking socket connected to host:port by `until`, or -1.
int connect_to(const std::string& endpoint, Clock::time_point until) {
  const auto colon = endpoint.rfind(':');
  if (colon == std::string::npos) return -1;
  std::string host = endpoint.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), endpoint.substr(colon + 1).c_str(), &hints, &found) != 0) {
    return -1;
  }
  int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  bool ok = fd >= 0;
  if (ok && ::connect(fd, found->ai_addr, found->ai_addrlen) != 0) {
    int err = 0;
    socklen_t len = sizeof err;
    ok = errno == EINPROGRESS && wait_fd(fd, POLLOUT, until) &&
         ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
  }
  ::freeaddrinfo(found);
  if (!ok && fd >= 0) {
    ::close(fd);
    fd = -1;
  }
  return fd;
}

}  // namespace

bool answers_http1(const std::string& endpoint, std::chrono::milliseconds timeout) {
  const auto until = Clock::now() + timeout;
  const int fd = connect_to(endpoint, until);
  if (fd < 0) return false;
  static const char kRequest[] = "GET /livez HTTP/1.1\r\nHost: dkvctl\r\nConnection: close\r\n\r\n";
  bool http1 = ::send(fd, kRequest, sizeof kRequest - 1, MSG_NOSIGNAL) ==
               static_cast<ssize_t>(sizeof kRequest - 1);
  std::string answer;
  while (http1 && answer.size() < 7 && wait_fd(fd, POLLIN, until)) {
    char buf[16];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    answer.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return http1 && answer.rfind("HTTP/1.", 0) == 0;
}

}  // namespace dkv::ctl
