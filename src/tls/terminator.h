// TlsTerminator: ends client TLS for connections the node accepted (the RPC
// port's, routed here by their first byte, or the REST port's) and relays
// the decrypted bytes to a plain backend connection: one end of a
// socketpair whose other end gRPC adopts, or a loopback connection to the
// REST gateway. gRPC C++ takes only insecure credentials for adopted fds,
// hence TLS is ended here, with OpenSSL.
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

#include <chrono>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "util/mutex.h"
#include "util/status.h"
#include "util/thread_annotations.h"

namespace dkv::tls {

struct TerminatorOptions {
  std::string cert_file;
  std::string key_file;
  std::string trusted_ca_file;  // Empty: client certificates are not asked for.
  bool client_cert_auth = false;
  std::string alpn;  // "h2" or "http/1.1".
  std::string name;  // For logs and thread names ("rpc", "rest").
  // Opens the plain side for one connection: an fd the terminator owns and
  // relays to (-1: none, the connection is closed).
  std::function<int()> open_backend;
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

  // Serves the accepted connection `fd` (owned from now on), whose first
  // bytes are a TLS ClientHello. Closes it at once after stop().
  void adopt(int fd);
  // Ends every connection, waits for their threads, refuses new ones.
  void stop();

 private:
  struct Context;
  struct Connection;
  explicit TlsTerminator(TerminatorOptions options);
  std::shared_ptr<Context> current_context();
  void serve(Connection* c, std::shared_ptr<Context> ctx);
  void reap_finished() DKV_REQUIRES(mu_);

  const TerminatorOptions o_;
  util::Mutex mu_;
  bool stopped_ DKV_GUARDED_BY(mu_) = false;
  std::list<std::unique_ptr<Connection>> connections_ DKV_GUARDED_BY(mu_);
  std::shared_ptr<Context> context_ DKV_GUARDED_BY(mu_);
  std::chrono::steady_clock::time_point checked_at_ DKV_GUARDED_BY(mu_){};
};

}  // namespace dkv::tls
