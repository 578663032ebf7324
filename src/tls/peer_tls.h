// Peer TLS with OpenSSL (PeerTlsFiles, peer_files.h): the contexts of both
// ends of member-to-member TLS, the reloading of their files, and the
// dialer that runs TLS on a raft stream's TCP connection.
//   - Server end (the terminator's peer side): the peer certificate, TLS 1.2+,
//     a client certificate required and verified against the peer CA, ALPN
//     dkv-raft or h2, no session resumption (every connection shows its
//     certificate).
//   - Client end (PeerDialer): the same certificate as client certificate,
//     the server's verified against the peer CA, SNI kPeerServerName, ALPN
//     dkv-raft. Host names are not checked: a peer certificate is the
//     credential of membership, as in etcd without --peer-cert-allowed-hostname.
// DKV_PEER_CERT_ALLOWED_CN, when set, is checked on the certificates peers
// present to this node (etcd's --peer-cert-allowed-cn).
//
// Threading: ContextCache and PeerDialer are thread-safe; a session is used
// by one thread at a time. No gRPC here.
#pragma once

#include <openssl/ssl.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tls/peer_files.h"
#include "util/mutex.h"
#include "util/status.h"
#include "util/thread_annotations.h"

namespace dkv::tls {

using SslCtxPtr = std::shared_ptr<SSL_CTX>;

// The contexts of either end; INVALID_ARGUMENT "DKV_PEER_...: ..." naming
// the variable whose file does not load.
util::Status load_peer_server_context(const PeerTlsFiles& files, SslCtxPtr* out);
util::Status load_peer_client_context(const PeerTlsFiles& files, SslCtxPtr* out);

// After a handshake: the other end showed a certificate that verified
// (against the context's CA) and, if `allowed_cn` is set, carries that CN.
// "" if so, else why not.
std::string check_peer_certificate(SSL* ssl, const std::string& allowed_cn);

// Holds a context loaded from files and loads it again when they change
// (looked at most once a second, when asked): rotation without a restart.
// A replacement that does not load is logged and the previous one kept.
class ContextCache {
 public:
  using Loader = std::function<util::Status(SslCtxPtr*)>;
  // `name` for logs; `files`: those whose change means a reload.
  ContextCache(std::string name, std::vector<std::string> files, Loader load);
  // Loads the first context; the loader's error if it does not load.
  util::Status init();
  // The context new connections use (null before a successful init()).
  SslCtxPtr current();

 private:
  std::string versions() const;
  const std::string name_;
  const std::vector<std::string> files_;
  const Loader load_;
  util::Mutex mu_;
  SslCtxPtr ctx_ DKV_GUARDED_BY(mu_);
  std::string versions_ DKV_GUARDED_BY(mu_);
  std::chrono::steady_clock::time_point checked_at_ DKV_GUARDED_BY(mu_){};
};

// The client end of outgoing raft streams: handshake() runs peer TLS on a
// connected socket; the stream then reads and writes through the session
// (transport/tcp_stream.h).
class PeerDialer {
 public:
  static util::Status create(const PeerTlsFiles& files, std::unique_ptr<PeerDialer>* out);
  PeerDialer(const PeerDialer&) = delete;
  PeerDialer& operator=(const PeerDialer&) = delete;

  // Handshakes on the connected non-blocking socket `fd` (SNI
  // kPeerServerName, ALPN dkv-raft, the member's certificate verified
  // against the peer CA) by `until`. OK: *ssl is the session, the caller's
  // to SSL_free (it does not close `fd`). Else UNAVAILABLE. Shutting `fd`
  // down interrupts it.
  util::Status handshake(int fd, std::chrono::steady_clock::time_point until, SSL** ssl);

 private:
  explicit PeerDialer(const PeerTlsFiles& files);
  ContextCache contexts_;
};

}  // namespace dkv::tls
