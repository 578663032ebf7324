#include "tls/terminator.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/tls1.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "tls/credentials.h"
#include "tls/peer_tls.h"
#include "tls/relay.h"
#include "util/thread_name.h"

namespace dkv::tls {

// One connection's view of the two sides, for the ClientHello callback
// (the SSL's app data).
struct TlsTerminator::Handshake {
  SslCtxPtr client;        // Null: no client side.
  SslCtxPtr peer;          // Null: no peer side.
  bool peer_side = false;  // The ClientHello asked for the peer side.
};

struct TlsTerminator::Connection {
  Connection(int f, std::string s) : fd(f), source(std::move(s)) {}
  int fd;  // The TLS side; closed by its thread, under mu_, when done.
  const std::string source;
  std::thread thread;
  bool done = false;  // Under mu_.
};

namespace {

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

// The host name of the ClientHello's server_name extension ("" if none).
std::string client_hello_server_name(SSL* ssl) {
  const unsigned char* p = nullptr;
  std::size_t len = 0;
  if (::SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &len) != 1) return "";
  // u16 list length, then entries: u8 type (0: host_name), u16 length, name.
  if (len < 5 || p[2] != TLSEXT_NAMETYPE_host_name) return "";
  const std::size_t n = (std::size_t{p[3]} << 8) | p[4];
  if (5 + n > len) return "";
  return std::string(reinterpret_cast<const char*>(p + 5), n);
}

// Picks the side from the ClientHello: the peer side (its certificate,
// store, ALPN and mandatory client certificate) for kPeerServerName, else
// the client side.
int choose_side(SSL* ssl, int* alert, void*) {
  auto* h = static_cast<TlsTerminator::Handshake*>(SSL_get_app_data(ssl));
  if (h == nullptr) return SSL_CLIENT_HELLO_ERROR;
  if (client_hello_server_name(ssl) == kPeerServerName) {
    if (!h->peer) {
      *alert = SSL_AD_UNRECOGNIZED_NAME;
      return SSL_CLIENT_HELLO_ERROR;
    }
    if (::SSL_get_SSL_CTX(ssl) != h->peer.get()) ::SSL_set_SSL_CTX(ssl, h->peer.get());
    // SSL_set_SSL_CTX keeps the SSL's verify mode: set the peer side's.
    ::SSL_set_verify(ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    h->peer_side = true;
    return SSL_CLIENT_HELLO_SUCCESS;
  }
  if (!h->client) {
    *alert = SSL_AD_UNRECOGNIZED_NAME;
    return SSL_CLIENT_HELLO_ERROR;
  }
  return SSL_CLIENT_HELLO_SUCCESS;
}

// The client side. With a peer side beside it, no session tickets: a
// session is resumed by the first context's keys whatever the side, and
// the peer side must see every certificate.
util::Status load_client_context(const TerminatorOptions& o, SslCtxPtr* out) {
  SslCtxPtr ctx(::SSL_CTX_new(::TLS_server_method()), ::SSL_CTX_free);
  if (!ctx) return util::invalid_argument("TLS: " + openssl_error());
  SSL_CTX* c = ctx.get();
  ::SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
  ::SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (o.peer.on()) {
    ::SSL_CTX_set_options(c, SSL_OP_NO_TICKET);
    ::SSL_CTX_set_num_tickets(c, 0);
    ::SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
  }
  if (::SSL_CTX_use_certificate_chain_file(c, o.cert_file.c_str()) != 1) {
    return util::invalid_argument("DKV_CERT_FILE: " + openssl_error());
  }
  if (::SSL_CTX_use_PrivateKey_file(c, o.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
      ::SSL_CTX_check_private_key(c) != 1) {
    return util::invalid_argument("DKV_KEY_FILE: " + openssl_error());
  }
  if (!o.trusted_ca_file.empty()) {
    if (::SSL_CTX_load_verify_locations(c, o.trusted_ca_file.c_str(), nullptr) != 1) {
      return util::invalid_argument("DKV_TRUSTED_CA_FILE: " + openssl_error());
    }
    ::SSL_CTX_set_client_CA_list(c, ::SSL_load_client_CA_file(o.trusted_ca_file.c_str()));
    ::SSL_CTX_set_verify(
        c, SSL_VERIFY_PEER | (o.client_cert_auth ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), nullptr);
  }
  ::SSL_CTX_set_alpn_select_cb(c, select_alpn, const_cast<std::string*>(&o.alpn));
  ::SSL_CTX_set_client_hello_cb(c, choose_side, nullptr);
  *out = std::move(ctx);
  return util::Status::ok();
}

util::Status load_peer_side(const PeerTlsFiles& files, SslCtxPtr* out) {
  if (auto s = load_peer_server_context(files, out); !s.is_ok()) return s;
  ::SSL_CTX_set_client_hello_cb(out->get(), choose_side, nullptr);
  return util::Status::ok();
}

}  // namespace

TlsTerminator::TlsTerminator(TerminatorOptions options) : o_(std::move(options)) {
  if (!o_.cert_file.empty()) {
    client_ = std::make_unique<ContextCache>(
        o_.name, std::vector<std::string>{o_.cert_file, o_.key_file, o_.trusted_ca_file},
        [this](SslCtxPtr* out) { return load_client_context(o_, out); });
  }
  if (o_.peer.on()) {
    peer_ = std::make_unique<ContextCache>(
        o_.name + " peer",
        std::vector<std::string>{o_.peer.cert_file, o_.peer.key_file, o_.peer.trusted_ca_file},
        [this](SslCtxPtr* out) { return load_peer_side(o_.peer, out); });
  }
}

util::Status TlsTerminator::create(TerminatorOptions options, std::unique_ptr<TlsTerminator>* out) {
  std::unique_ptr<TlsTerminator> t(new TlsTerminator(std::move(options)));
  if (!t->client_ && !t->peer_) return util::invalid_argument("TLS: no certificate to serve");
  if (t->client_) {
    if (auto s = t->client_->init(); !s.is_ok()) return s;
  }
  if (t->peer_) {
    if (auto s = t->peer_->init(); !s.is_ok()) return s;
  }
  *out = std::move(t);
  return util::Status::ok();
}

TlsTerminator::~TlsTerminator() { stop(); }

void TlsTerminator::adopt(int fd, std::string source) {
  auto h = std::make_shared<Handshake>();
  if (client_) h->client = client_->current();
  if (peer_) h->peer = peer_->current();
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
  auto conn = std::make_unique<Connection>(fd, std::move(source));
  Connection* c = conn.get();
  connections_.push_back(std::move(conn));
  c->thread = std::thread([this, c, h] {
    util::set_thread_name(("tls-" + o_.name).c_str());
    serve(c, h.get());
    util::MutexLock lk(mu_);
    if (c->fd >= 0) ::close(c->fd);
    c->fd = -1;
    c->done = true;
  });
}

bool TlsTerminator::route_of(Handshake* h, SSL* ssl, Route* route, std::string* why) {
  route->peer = h->peer_side;
  if (!h->peer_side) return true;
  *why = check_peer_certificate(ssl, o_.peer.allowed_cn);
  if (!why->empty()) return false;
  const unsigned char* alpn = nullptr;
  unsigned int alpn_len = 0;
  ::SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
  const std::string_view selected(reinterpret_cast<const char*>(alpn), alpn_len);
  route->raft = selected == kRaftAlpn;
  if (route->raft || selected == kGrpcAlpn) return true;
  *why = "no ALPN protocol of peers";
  return false;
}

void TlsTerminator::serve(Connection* c, Handshake* h) {
  SSL* ssl = ::SSL_new(h->client ? h->client.get() : h->peer.get());
  if (ssl == nullptr) return;
  SSL_set_app_data(ssl, h);
  ::SSL_set_fd(ssl, c->fd);
  // The handshake blocks, bounded by the socket's timeouts.
  set_blocking(c->fd, true);
  timeval tv{static_cast<time_t>(o_.handshake_timeout.count() / 1000),
             static_cast<suseconds_t>((o_.handshake_timeout.count() % 1000) * 1000)};
  ::setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  Route route;
  route.source = c->source;
  std::string why;
  if (::SSL_accept(ssl) != 1) {
    why = "TLS handshake failed: " + openssl_error();
    spdlog::debug("TLS ({}): {}", o_.name, why);
    if (!h->peer_side) {
      ::SSL_free(ssl);
      return;
    }
  } else if (route_of(h, ssl, &route, &why)) {
    if (route.raft && o_.take_raft) {
      // The stream reads its session itself: no relay, no socketpair.
      int fd = -1;
      {
        util::MutexLock lk(mu_);
        std::swap(fd, c->fd);  // This thread closes nothing now.
      }
      set_blocking(fd, false);
      o_.take_raft(fd, ssl, route);
      return;
    }
    const int plain = o_.open_backend ? o_.open_backend(route) : -1;
    if (plain >= 0) {
      relay(ssl, c->fd, plain);
      ::close(plain);
    }
    ::SSL_free(ssl);
    return;
  }
  if (o_.on_refused) {
    o_.on_refused(why.rfind("TLS handshake", 0) == 0 ? "peer_tls_handshake" : "peer_cert",
                  "a peer TLS connection from " + c->source + ": " + why);
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
