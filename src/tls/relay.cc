#include "tls/relay.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>
#include <vector>

namespace dkv::tls {
namespace {

constexpr std::size_t kRelayBytes = 64 * 1024;

}  // namespace

bool set_blocking(int fd, bool blocking) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0) return false;
  return ::fcntl(fd, F_SETFL, blocking ? flags & ~O_NONBLOCK : flags | O_NONBLOCK) == 0;
}

std::string file_version(const std::string& path) {
  if (path.empty()) return "";
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "missing";
  return std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) + "/" +
         std::to_string(st.st_size) + "/" + std::to_string(st.st_ino);
}

void relay(SSL* ssl, int tls_fd, int plain_fd) {
  set_blocking(tls_fd, false);
  set_blocking(plain_fd, false);
  std::vector<char> buf(kRelayBytes);
  std::string to_plain, to_tls;
  bool tls_wants_write = false;
  while (true) {
    // TLS -> plain: whatever OpenSSL has, decrypted.
    while (to_plain.size() < kRelayBytes) {
      const int n = ::SSL_read(ssl, buf.data(), static_cast<int>(buf.size()));
      if (n > 0) {
        to_plain.append(buf.data(), static_cast<std::size_t>(n));
        continue;
      }
      const int err = ::SSL_get_error(ssl, n);
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) break;
      return;  // Closed or failed.
    }
    if (!to_plain.empty()) {
      const ssize_t n = ::send(plain_fd, to_plain.data(), to_plain.size(), MSG_NOSIGNAL);
      if (n > 0) {
        to_plain.erase(0, static_cast<std::size_t>(n));
      } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        return;
      }
    }
    // Plain -> TLS.
    if (to_tls.empty()) {
      const ssize_t n = ::recv(plain_fd, buf.data(), buf.size(), MSG_DONTWAIT);
      if (n == 0) {
        ::SSL_shutdown(ssl);
        return;
      }
      if (n > 0) to_tls.assign(buf.data(), static_cast<std::size_t>(n));
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return;
    }
    tls_wants_write = false;
    while (!to_tls.empty()) {
      const int n = ::SSL_write(ssl, to_tls.data(), static_cast<int>(to_tls.size()));
      if (n > 0) {
        to_tls.erase(0, static_cast<std::size_t>(n));
        continue;
      }
      const int err = ::SSL_get_error(ssl, n);
      if (err == SSL_ERROR_WANT_WRITE) tls_wants_write = true;
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) break;
      return;
    }
    if (::SSL_pending(ssl) > 0 && to_plain.size() < kRelayBytes) continue;
    pollfd fds[2] = {
        {tls_fd,
         static_cast<short>((to_plain.size() < kRelayBytes ? POLLIN : 0) |
                            (tls_wants_write ? POLLOUT : 0)),
         0},
        {plain_fd,
         static_cast<short>((to_tls.empty() ? POLLIN : 0) | (to_plain.empty() ? 0 : POLLOUT)), 0}};
    if (::poll(fds, 2, 1000) < 0 && errno != EINTR) return;
    if ((fds[0].revents | fds[1].revents) & POLLNVAL) return;
  }
}

}  // namespace dkv::tls
