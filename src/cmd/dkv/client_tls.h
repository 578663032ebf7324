// TLS on the node's two ports, wiring tls/terminator.h: client TLS
// (DKV_CERT_FILE, DKV_KEY_FILE, DKV_TRUSTED_CA_FILE, DKV_CLIENT_CERT_AUTH)
// and peer TLS (DKV_PEER_*):
//   - RPC port: the port listener routes connections that start with a TLS
//     handshake to a terminator that relays the decrypted bytes over a
//     socketpair: clients' (ALPN h2) to gRPC's client server; members'
//     (peer side, SNI dkv-peer, a certificate of the peer CA) to gRPC's
//     peer server (ALPN h2). Members' raft streams (ALPN dkv-raft) go to
//     the transport with their TLS session, unrelayed;
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
#include <string_view>

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

// Where the RPC port's terminator hands the other end of each socketpair.
struct RpcBackends {
  std::function<void(int fd)> client_grpc;  // gRPC's client server.
  std::function<void(int fd)> peer_grpc;    // gRPC's peer server (peer TLS).
  // Peer TLS: a raft stream's socket and its verified session (owned by the callee).
  std::function<void(int fd, SSL* ssl, const std::string& source)> raft_stream;
  // A refusal on the peer side (dkv_peer_refused_total's reason).
  std::function<void(std::string_view reason, const std::string& what)> on_refused;
};

// The peer TLS files of the configuration (off without DKV_PEER_CERT_FILE).
tls::PeerTlsFiles peer_tls_files(const node::TlsConfig& tls);

// The RPC port's terminator, with a client side if client TLS is on and a
// peer side if peer TLS is.
util::Status start_rpc_tls(const node::TlsConfig& tls, RpcBackends backends, ClientTls* out);
// Binds the REST port (host:port) for TLS, before the data directory is
// touched (cmd/dkv binds every port first); start_rest_tls serves it.
util::Status open_rest_tls_listener(const std::string& host, std::uint16_t port, ClientTls* out);
// Serves out->rest_listener with TLS, relaying to 127.0.0.1:backend_port.
util::Status start_rest_tls(const node::TlsConfig& tls, std::uint16_t backend_port, ClientTls* out);

}  // namespace dkv::cmd
