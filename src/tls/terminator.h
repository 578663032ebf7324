// TlsTerminator: ends TLS for connections the node accepted (the RPC
// port's, routed here by their first byte, or the REST port's) and relays
// the decrypted bytes to a plain backend connection: one end of a
// socketpair whose other end gRPC (or the transport) adopts, or a loopback
// connection to the REST gateway. gRPC C++ takes only insecure credentials
// for adopted fds, hence TLS is ended here, with OpenSSL.
//
// Two sides behind one port, chosen from the ClientHello: a connection
// whose server name (SNI) is kPeerServerName (peer_files.h) is a member's
// and gets the peer side (peer_tls.h: the peer certificate, mutual TLS
// against the peer CA, ALPN dkv-raft or h2, DKV_PEER_CERT_ALLOWED_CN);
// every other connection gets the client side below. A client certificate
// never makes a peer: the peer side verifies against the peer CA only, and
// the client side never routes to peers. Without peer files there is no
// peer side (those connections fail); without client files no client side.
//
// TLS 1.2 or later only. ALPN: the terminator selects its one protocol
// ("h2" for gRPC, "http/1.1" for REST) when the client offers it. With a
// trusted CA, client certificates are verified against it; with
// client_cert_auth a client without a valid one fails the handshake. The
// certificate files are read again when they change (checked at most once
// a second, at a new connection), so rotation needs no restart; a bad
// replacement is logged and the previous credentials kept.
//
// Threading: adopt() and stop() are thread-safe; each connection runs on a
// thread of its own (handshake, then relay) until either side closes.
// No gRPC here.
#pragma once

#include <openssl/ssl.h>

#include <chrono>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "tls/peer_files.h"
#include "util/mutex.h"
#include "util/status.h"
#include "util/thread_annotations.h"

namespace dkv::tls {

class ContextCache;

// Where a handshaken connection goes.
struct Route {
  bool peer = false;   // Came through the peer side (a verified member).
  bool raft = false;   // Peer side, ALPN dkv-raft: a raft message stream.
  std::string source;  // The address adopt() was told.
};

struct TerminatorOptions {
  // The client side; empty cert_file: none.
  std::string cert_file;
  std::string key_file;
  std::string trusted_ca_file;  // Empty: client certificates are not asked for.
  bool client_cert_auth = false;
  std::string alpn;  // "h2" or "http/1.1".
  std::string name;  // For logs and thread names ("rpc", "rest").
  // The peer side; off: none.
  PeerTlsFiles peer;
  // Opens the plain side for one connection: an fd the terminator owns and
  // relays to (-1: none, the connection is closed).
  std::function<int(const Route&)> open_backend;
  // Optional: takes a raft stream of the peer side instead (no relay): its
  // socket (non-blocking) and TLS session, both owned by the callee.
  std::function<void(int fd, SSL* ssl, const Route&)> take_raft;
  // Optional: a connection refused on the peer side (failed handshake,
  // certificate not allowed): `reason` a dkv_peer_refused_total label.
  std::function<void(std::string_view reason, const std::string& what)> on_refused;
  std::chrono::milliseconds handshake_timeout{10000};
  // Connections served at once (a thread each); more are closed at once.
  std::size_t connections_max = 4096;
};

class TlsTerminator {
 public:
  // Loads the credentials; INVALID_ARGUMENT if they do not load.
  static util::Status create(TerminatorOptions options, std::unique_ptr<TlsTerminator>* out);
  ~TlsTerminator();  // stop().
  TlsTerminator(const TlsTerminator&) = delete;
  TlsTerminator& operator=(const TlsTerminator&) = delete;

  // Serves the accepted connection `fd` (owned from now on) from `source`,
  // whose first bytes are a TLS ClientHello. Closes it at once after stop().
  void adopt(int fd, std::string source = "");
  // Ends every connection, waits for their threads, refuses new ones.
  void stop();

 private:
  struct Connection;

 public:
  struct Handshake;  // For the ClientHello callback.

 private:
  explicit TlsTerminator(TerminatorOptions options);
  void serve(Connection* c, Handshake* h);
  // After the handshake: where the connection goes, or "" (why not in *why).
  bool route_of(Handshake* h, SSL* ssl, Route* route, std::string* why);
  void reap_finished() DKV_REQUIRES(mu_);

  const TerminatorOptions o_;
  std::unique_ptr<ContextCache> client_;  // Null: no client side.
  std::unique_ptr<ContextCache> peer_;    // Null: no peer side.
  util::Mutex mu_;
  bool stopped_ DKV_GUARDED_BY(mu_) = false;
  std::list<std::unique_ptr<Connection>> connections_ DKV_GUARDED_BY(mu_);
};

}  // namespace dkv::tls
