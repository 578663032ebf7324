#include "cmd/dkv/client_tls.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/assert.h"

namespace dkv::cmd {
namespace {

tls::TerminatorOptions terminator_options(const node::TlsConfig& t, std::string alpn,
                                          std::string name) {
  tls::TerminatorOptions o;
  o.cert_file = t.cert_file;
  o.key_file = t.key_file;
  o.trusted_ca_file = t.trusted_ca_file;
  o.client_cert_auth = t.client_cert_auth;
  o.alpn = std::move(alpn);
  o.name = std::move(name);
  return o;
}

// A blocking connect to 127.0.0.1:port from a port recorded in `ports`
// first; -1 on failure.
int connect_loopback(std::uint16_t port, BackendPorts& ports) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in from{};
  from.sin_family = AF_INET;
  from.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t from_len = sizeof(from);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof(from)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&from), &from_len) != 0) {
    ::close(fd);
    return -1;
  }
  const std::uint16_t from_port = ntohs(from.sin_port);
  ports.add(from_port);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 0) {
    ports.take(from_port);
    ::close(fd);
    return -1;
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

}  // namespace

void BackendPorts::add(std::uint16_t port) {
  std::lock_guard lock(mu_);
  ports_.insert(port);
}

bool BackendPorts::take(std::uint16_t port) {
  std::lock_guard lock(mu_);
  return ports_.erase(port) > 0;
}

void ClientTls::stop() {
  if (rest_listener) rest_listener->stop();
  if (rest) rest->stop();
  if (rpc) rpc->stop();
}

tls::PeerTlsFiles peer_tls_files(const node::TlsConfig& t) {
  if (!t.peer_tls()) return {};
  return {t.peer_cert_file, t.peer_key_file, t.peer_trusted_ca_file, t.peer_cert_allowed_cn};
}

util::Status start_rpc_tls(const node::TlsConfig& tls, RpcBackends backends, ClientTls* out) {
  auto o = terminator_options(tls, "h2", "rpc");
  if (!tls.client_tls()) o.cert_file = o.key_file = o.trusted_ca_file = "";
  o.peer = peer_tls_files(tls);
  o.on_refused = backends.on_refused;
  o.take_raft = [raft = backends.raft_stream](int fd, SSL* ssl, const tls::Route& route) {
    raft(fd, ssl, route.source);
  };
  o.open_backend = [b = std::move(backends)](const tls::Route& route) -> int {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return -1;
    ::fcntl(sv[0], F_SETFL, ::fcntl(sv[0], F_GETFL) | O_NONBLOCK);
    // sv[0] is owned by gRPC from now on (raft streams go to take_raft).
    if (route.peer) {
      b.peer_grpc(sv[0]);
    } else {
      b.client_grpc(sv[0]);
    }
    return sv[1];
  };
  return tls::TlsTerminator::create(std::move(o), &out->rpc);
}

util::Status open_rest_tls_listener(const std::string& host, std::uint16_t port, ClientTls* out) {
  transport::PortListenerOptions lo;
  lo.host = host;
  lo.port = port;
  out->rest_backend_ports = std::make_shared<BackendPorts>();
  return transport::PortListener::open(lo, &out->rest_listener);
}

util::Status start_rest_tls(const node::TlsConfig& tls, std::uint16_t backend_port,
                            ClientTls* out) {
  DKV_ASSERT(out->rest_listener != nullptr);
  auto o = terminator_options(tls, "http/1.1", "rest");
  o.open_backend = [backend_port, ports = out->rest_backend_ports](const tls::Route&) {
    return connect_loopback(backend_port, *ports);
  };
  if (auto s = tls::TlsTerminator::create(std::move(o), &out->rest); !s.is_ok()) return s;
  tls::TlsTerminator* rest = out->rest.get();
  // Only TLS is served here: a plain request is closed unanswered.
  auto refuse_plain = [](int fd, const std::string&) { ::close(fd); };
  out->rest_listener->start(refuse_plain, refuse_plain,
                            [rest](int fd, const std::string& source) { rest->adopt(fd, source); });
  return util::Status::ok();
}

}  // namespace dkv::cmd
