#include "tls/terminator.h"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "tls/credentials.h"
#include "util/thread_name.h"

namespace dkv::tls {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::chrono::seconds kRecheckEvery{1};
constexpr std::size_t kRelayBytes = 64 * 1024;

// A file's modification time and size: what tells a replaced file.
std::string file_version(const std::string& path) {
  if (path.empty()) return "";
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "missing";
  return std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) + "/" +
         std::to_string(st.st_size) + "/" + std::to_string(st.st_ino);
}

// ALPN: the terminator's one protocol, if the client offers it.
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned int inlen, void* arg) {
  const auto* want = static_cast<const std::string*>(arg);
  for (unsigned int i = 0; i < inlen;) {
    const unsigned int n = in[i];
    if (i + 1 + n > inlen) break;
    if (n == want->size() && std::memcmp(in + i + 1, want->data(), n) == 0) {
      *out = in + i + 1;
      *outlen = static_cast<unsigned char>(n);
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + n;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

bool set_blocking(int fd, bool blocking) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0) return false;
  return ::fcntl(fd, F_SETFL, blocking ? flags & ~O_NONBLOCK : flags | O_NONBLOCK) == 0;
}

}  // namespace

struct TlsTerminator::Context {
  SSL_CTX* ctx = nullptr;
  std::string versions;  // file_version of each file, joined.
  ~Context() { ::SSL_CTX_free(ctx); }
};

struct TlsTerminator::Connection {
  explicit Connection(int f) : fd(f) {}
  int fd;  // The TLS side; closed by its thread, under mu_, when done.
  std::thread thread;
  bool done = false;  // Under mu_.
};

namespace {

std::string versions_of(const TerminatorOptions& o) {
  return file_version(o.cert_file) + "|" + file_version(o.key_file) + "|" +
         file_version(o.trusted_ca_file);
}

util::Status load_context(const TerminatorOptions& o, const std::string* alpn, SSL_CTX** out) {
  SSL_CTX* ctx = ::SSL_CTX_new(::TLS_server_method());
  if (ctx == nullptr) return util::invalid_argument("TLS: " + openssl_error());
  ::SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  ::SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  util::Status s;
  if (::SSL_CTX_use_certificate_chain_file(ctx, o.cert_file.c_str()) != 1) {
    s = util::invalid_argument("DKV_CERT_FILE: " + openssl_error());
  } else if (::SSL_CTX_use_PrivateKey_file(ctx, o.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
             ::SSL_CTX_check_private_key(ctx) != 1) {
    s = util::invalid_argument("DKV_KEY_FILE: " + openssl_error());
  } else if (!o.trusted_ca_file.empty()) {
    if (::SSL_CTX_load_verify_locations(ctx, o.trusted_ca_file.c_str(), nullptr) != 1) {
      s = util::invalid_argument("DKV_TRUSTED_CA_FILE: " + openssl_error());
    } else {
      ::SSL_CTX_set_client_CA_list(ctx, ::SSL_load_client_CA_file(o.trusted_ca_file.c_str()));
      ::SSL_CTX_set_verify(
          ctx, SSL_VERIFY_PEER | (o.client_cert_auth ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
          nullptr);
    }
  }
  if (!s.is_ok()) {
    ::SSL_CTX_free(ctx);
    return s;
  }
  ::SSL_CTX_set_alpn_select_cb(ctx, select_alpn, const_cast<std::string*>(alpn));
  *out = ctx;
  return util::Status::ok();
}

// Relays between the TLS side (non-blocking) and the plain backend until
// either closes or fails.
void relay(SSL* ssl, int tls_fd, int plain_fd) {
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

}  // namespace

TlsTerminator::TlsTerminator(TerminatorOptions options) : o_(std::move(options)) {}

util::Status TlsTerminator::create(TerminatorOptions options, std::unique_ptr<TlsTerminator>* out) {
  std::unique_ptr<TlsTerminator> t(new TlsTerminator(std::move(options)));
  auto ctx = std::make_shared<Context>();
  ctx->versions = versions_of(t->o_);
  if (auto s = load_context(t->o_, &t->o_.alpn, &ctx->ctx); !s.is_ok()) return s;
  {
    util::MutexLock lk(t->mu_);
    t->context_ = std::move(ctx);
    t->checked_at_ = Clock::now();
  }
  *out = std::move(t);
  return util::Status::ok();
}

TlsTerminator::~TlsTerminator() { stop(); }

std::shared_ptr<TlsTerminator::Context> TlsTerminator::current_context() {
  std::string versions;
  {
    util::MutexLock lk(mu_);
    if (Clock::now() - checked_at_ < kRecheckEvery) return context_;
    checked_at_ = Clock::now();
    versions = versions_of(o_);
    if (versions == context_->versions) return context_;
  }
  auto fresh = std::make_shared<Context>();
  fresh->versions = versions;
  const util::Status s = load_context(o_, &o_.alpn, &fresh->ctx);
  util::MutexLock lk(mu_);
  if (!s.is_ok()) {
    spdlog::warn("TLS ({}): the replaced certificate files do not load, keeping the old: {}",
                 o_.name, s.message());
    context_->versions = versions;  // Do not retry until they change again.
    return context_;
  }
  spdlog::info("TLS ({}): certificate files changed; new connections use them", o_.name);
  context_ = std::move(fresh);
  return context_;
}

void TlsTerminator::adopt(int fd) {
  std::shared_ptr<Context> ctx = current_context();
  util::MutexLock lk(mu_);
  if (stopped_) {
    ::close(fd);
    return;
  }
  reap_finished();
  if (connections_.size() >= o_.connections_max) {
    spdlog::warn("TLS ({}): refused a connection: {} are open already", o_.name,
                 connections_.size());
    ::close(fd);
    return;
  }
  auto conn = std::make_unique<Connection>(fd);
  Connection* c = conn.get();
  connections_.push_back(std::move(conn));
  c->thread = std::thread([this, c, ctx] {
    util::set_thread_name(("tls-" + o_.name).c_str());
    serve(c, ctx);
    util::MutexLock lk(mu_);
    ::close(c->fd);
    c->fd = -1;
    c->done = true;
  });
}

void TlsTerminator::serve(Connection* c, std::shared_ptr<Context> ctx) {
  SSL* ssl = ::SSL_new(ctx->ctx);
  if (ssl == nullptr) return;
  ::SSL_set_fd(ssl, c->fd);
  // The handshake blocks, bounded by the socket's timeouts.
  set_blocking(c->fd, true);
  timeval tv{static_cast<time_t>(o_.handshake_timeout.count() / 1000),
             static_cast<suseconds_t>((o_.handshake_timeout.count() % 1000) * 1000)};
  ::setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  if (::SSL_accept(ssl) != 1) {
    spdlog::debug("TLS ({}): handshake failed: {}", o_.name, openssl_error());
    ::SSL_free(ssl);
    return;
  }
  const int plain = o_.open_backend ? o_.open_backend() : -1;
  if (plain >= 0) {
    set_blocking(c->fd, false);
    set_blocking(plain, false);
    relay(ssl, c->fd, plain);
    ::close(plain);
  }
  ::SSL_free(ssl);
}

void TlsTerminator::stop() {
  std::list<std::unique_ptr<Connection>> connections;
  {
    util::MutexLock lk(mu_);
    stopped_ = true;
    connections.swap(connections_);
    for (auto& c : connections) {
      if (c->fd >= 0) ::shutdown(c->fd, SHUT_RDWR);
    }
  }
  for (auto& c : connections) c->thread.join();
}

void TlsTerminator::reap_finished() {
  for (auto it = connections_.begin(); it != connections_.end();) {
    if (!(*it)->done) {
      ++it;
      continue;
    }
    (*it)->thread.join();
    it = connections_.erase(it);
  }
}

}  // namespace dkv::tls
