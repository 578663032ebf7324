#include "tls/peer_tls.h"

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include "tls/credentials.h"
#include "tls/relay.h"

namespace dkv::tls {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::chrono::seconds kRecheckEvery{1};

// ALPN, server side: dkv-raft or h2, whichever the client offers first.
int select_peer_alpn(SSL*, const unsigned char** out, unsigned char* outlen,
                     const unsigned char* in, unsigned int inlen, void*) {
  for (unsigned int i = 0; i < inlen;) {
    const unsigned int n = in[i];
    if (i + 1 + n > inlen) break;
    const std::string_view offered(reinterpret_cast<const char*>(in + i + 1), n);
    if (offered == kRaftAlpn || offered == kGrpcAlpn) {
      *out = in + i + 1;
      *outlen = static_cast<unsigned char>(n);
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + n;
  }
  return SSL_TLSEXT_ERR_ALERT_FATAL;  // A peer speaks one of the two.
}

util::Status bad(const char* var, const std::string& problem) {
  return util::invalid_argument(std::string(var) + ": " + problem);
}

// What both ends share: TLS 1.2+, the member's certificate and key, the
// peer CA, verification required, no session resumption.
util::Status load_common(SSL_CTX* ctx, const PeerTlsFiles& f) {
  ::SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  ::SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  ::SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  ::SSL_CTX_set_num_tickets(ctx, 0);
  ::SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  if (::SSL_CTX_use_certificate_chain_file(ctx, f.cert_file.c_str()) != 1) {
    return bad("DKV_PEER_CERT_FILE", openssl_error());
  }
  if (::SSL_CTX_use_PrivateKey_file(ctx, f.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
      ::SSL_CTX_check_private_key(ctx) != 1) {
    return bad("DKV_PEER_KEY_FILE", openssl_error());
  }
  if (::SSL_CTX_load_verify_locations(ctx, f.trusted_ca_file.c_str(), nullptr) != 1) {
    return bad("DKV_PEER_TRUSTED_CA_FILE", openssl_error());
  }
  return util::Status::ok();
}

SslCtxPtr wrap(SSL_CTX* ctx) { return SslCtxPtr(ctx, ::SSL_CTX_free); }

// Runs SSL_connect on the non-blocking socket until done or `until`.
util::Status connect_by(SSL* ssl, int fd, Clock::time_point until) {
  while (true) {
    const int rc = ::SSL_connect(ssl);
    if (rc == 1) return util::Status::ok();
    const int err = ::SSL_get_error(ssl, rc);
    if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
      return util::unavailable("peer TLS handshake: " + openssl_error());
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
    if (left <= 0) return util::unavailable("peer TLS handshake: timed out");
    pollfd p{fd, static_cast<short>(err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT), 0};
    if (::poll(&p, 1, static_cast<int>(std::min<std::int64_t>(left, 60'000))) < 0 &&
        errno != EINTR) {
      return util::unavailable(std::string("poll: ") + std::strerror(errno));
    }
  }
}

}  // namespace

util::Status load_peer_server_context(const PeerTlsFiles& files, SslCtxPtr* out) {
  SslCtxPtr ctx = wrap(::SSL_CTX_new(::TLS_server_method()));
  if (!ctx) return bad("DKV_PEER_CERT_FILE", "OpenSSL: " + openssl_error());
  if (auto s = load_common(ctx.get(), files); !s.is_ok()) return s;
  ::SSL_CTX_set_client_CA_list(ctx.get(), ::SSL_load_client_CA_file(files.trusted_ca_file.c_str()));
  ::SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  ::SSL_CTX_set_alpn_select_cb(ctx.get(), select_peer_alpn, nullptr);
  *out = std::move(ctx);
  return util::Status::ok();
}

util::Status load_peer_client_context(const PeerTlsFiles& files, SslCtxPtr* out) {
  SslCtxPtr ctx = wrap(::SSL_CTX_new(::TLS_client_method()));
  if (!ctx) return bad("DKV_PEER_CERT_FILE", "OpenSSL: " + openssl_error());
  if (auto s = load_common(ctx.get(), files); !s.is_ok()) return s;
  ::SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  static constexpr unsigned char kAlpn[] = {8, 'd', 'k', 'v', '-', 'r', 'a', 'f', 't'};
  static_assert(sizeof(kAlpn) == 1 + kRaftAlpn.size());
  if (::SSL_CTX_set_alpn_protos(ctx.get(), kAlpn, sizeof(kAlpn)) != 0) {
    return bad("DKV_PEER_CERT_FILE", "ALPN: " + openssl_error());
  }
  *out = std::move(ctx);
  return util::Status::ok();
}

std::string check_peer_certificate(SSL* ssl, const std::string& allowed_cn) {
  if (::SSL_session_reused(ssl)) return "a resumed session";  // Never offered; never taken.
  X509* cert = ::SSL_get0_peer_certificate(ssl);
  if (cert == nullptr) return "no certificate";
  if (const long v = ::SSL_get_verify_result(ssl); v != X509_V_OK) {
    return std::string("certificate not verified: ") + ::X509_verify_cert_error_string(v);
  }
  if (allowed_cn.empty()) return "";
  X509_NAME* subject = ::X509_get_subject_name(cert);
  const int at = ::X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (at < 0) return "certificate without a common name (DKV_PEER_CERT_ALLOWED_CN)";
  const ASN1_STRING* cn = ::X509_NAME_ENTRY_get_data(::X509_NAME_get_entry(subject, at));
  const std::string_view got(reinterpret_cast<const char*>(::ASN1_STRING_get0_data(cn)),
                             static_cast<std::size_t>(::ASN1_STRING_length(cn)));
  if (got != allowed_cn) {
    return "certificate CN \"" + std::string(got) + "\" is not DKV_PEER_CERT_ALLOWED_CN";
  }
  return "";
}

// ---------------------------------------------------------------------------
// ContextCache.

ContextCache::ContextCache(std::string name, std::vector<std::string> files, Loader load)
    : name_(std::move(name)), files_(std::move(files)), load_(std::move(load)) {}

std::string ContextCache::versions() const {
  std::string out;
  for (const auto& f : files_) out += file_version(f) + "|";
  return out;
}

util::Status ContextCache::init() {
  const std::string v = versions();
  SslCtxPtr ctx;
  if (auto s = load_(&ctx); !s.is_ok()) return s;
  util::MutexLock lk(mu_);
  ctx_ = std::move(ctx);
  versions_ = v;
  checked_at_ = Clock::now();
  return util::Status::ok();
}

SslCtxPtr ContextCache::current() {
  std::string v;
  {
    util::MutexLock lk(mu_);
    if (Clock::now() - checked_at_ < kRecheckEvery) return ctx_;
    checked_at_ = Clock::now();
    v = versions();
    if (v == versions_) return ctx_;
  }
  SslCtxPtr fresh;
  const util::Status s = load_(&fresh);
  util::MutexLock lk(mu_);
  versions_ = v;  // A bad replacement is not retried until it changes again.
  if (!s.is_ok()) {
    spdlog::warn("TLS ({}): the replaced certificate files do not load, keeping the old: {}", name_,
                 s.message());
    return ctx_;
  }
  spdlog::info("TLS ({}): certificate files changed; new connections use them", name_);
  ctx_ = std::move(fresh);
  return ctx_;
}

// ---------------------------------------------------------------------------
// PeerDialer.

PeerDialer::PeerDialer(const PeerTlsFiles& files)
    : contexts_("peer dial", {files.cert_file, files.key_file, files.trusted_ca_file},
                [files](SslCtxPtr* out) { return load_peer_client_context(files, out); }) {}

util::Status PeerDialer::create(const PeerTlsFiles& files, std::unique_ptr<PeerDialer>* out) {
  std::unique_ptr<PeerDialer> d(new PeerDialer(files));
  if (auto s = d->contexts_.init(); !s.is_ok()) return s;
  *out = std::move(d);
  return util::Status::ok();
}

util::Status PeerDialer::handshake(int fd, Clock::time_point until, SSL** out) {
  SslCtxPtr ctx = contexts_.current();
  SSL* ssl = ::SSL_new(ctx.get());
  if (ssl == nullptr) return util::unavailable("peer TLS: " + openssl_error());
  ::SSL_set_fd(ssl, fd);
  ::SSL_set_tlsext_host_name(ssl, std::string(kPeerServerName).c_str());
  util::Status s = connect_by(ssl, fd, until);
  if (s.is_ok()) {
    const unsigned char* alpn = nullptr;
    unsigned int alpn_len = 0;
    ::SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
    if (std::string_view(reinterpret_cast<const char*>(alpn), alpn_len) != kRaftAlpn) {
      s = util::unavailable("peer TLS: the member did not take ALPN dkv-raft");
    } else if (const std::string why = check_peer_certificate(ssl, ""); !why.empty()) {
      s = util::unavailable("peer TLS: the member's " + why);
    }
  }
  if (!s.is_ok()) {
    ::SSL_free(ssl);  // Does not close fd.
    return s;
  }
  *out = ssl;
  return util::Status::ok();
}

}  // namespace dkv::tls
