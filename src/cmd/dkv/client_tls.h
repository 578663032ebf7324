// Client TLS on the node's two ports (DKV_CERT_FILE, DKV_KEY_FILE,
// DKV_TRUSTED_CA_FILE, DKV_CLIENT_CERT_AUTH), wiring tls/terminator.h:
//   - RPC port: the port listener routes connections that start with a TLS
//     handshake to a terminator (ALPN h2) that relays the decrypted bytes
//     over a socketpair to gRPC's client server;
//   - REST port: a listener of its own hands every connection to a
//     terminator (ALPN http/1.1) that relays to the REST gateway, which then
//     listens on 127.0.0.1 only (an ephemeral port).
// Threading: built and stopped by main; the terminators' threads relay.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "node/config.h"
#include "tls/terminator.h"
#include "transport/port_listener.h"
#include "util/status.h"

namespace dkv::cmd {

// The local ports of the REST terminator's connections to the gateway,
// each admitted once: the gateway serves those and nobody else on the host
// (GatewayOptions::admit). A port is recorded after bind and before
// connect, so the gateway never sees a connection before its port.
// Threading: thread-safe.
class BackendPorts {
 public:
  void add(std::uint16_t port);
  // True (and forgotten) if `port` was added and not taken yet.
  bool take(std::uint16_t port);

 private:
  std::mutex mu_;
  std::set<std::uint16_t> ports_;
};

struct ClientTls {
  std::unique_ptr<tls::TlsTerminator> rpc;
  std::unique_ptr<tls::TlsTerminator> rest;
  std::unique_ptr<transport::PortListener> rest_listener;
  // Made by open_rest_tls_listener, for the gateway's admit.
  std::shared_ptr<BackendPorts> rest_backend_ports;

  // Stops accepting and ends every TLS connection (after the servers behind
  // them drained).
  void stop();
};

// The RPC port's terminator: each handshake's plain side is one end of a
// socketpair; `adopt_plain` gets the other (gRPC's client server).
util::Status start_rpc_tls(const node::TlsConfig& tls, std::function<void(int fd)> adopt_plain,
                           ClientTls* out);
// Binds the REST port (host:port) for TLS, before the data directory is
// touched (cmd/dkv binds every port first); start_rest_tls serves it.
util::Status open_rest_tls_listener(const std::string& host, std::uint16_t port, ClientTls* out);
// Serves out->rest_listener with TLS, relaying to 127.0.0.1:backend_port.
util::Status start_rest_tls(const node::TlsConfig& tls, std::uint16_t backend_port, ClientTls* out);

}  // namespace dkv::cmd
