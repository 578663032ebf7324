// PortListener: the node's RPC port, shared by the raft message streams
// (tcp_stream.h) and gRPC. It binds and accepts, then sniffs each
// connection's first bytes (recv MSG_PEEK, never consumed): kStreamMagic
// goes to on_stream, anything else (the HTTP/2 preface of gRPC clients and
// peers' snapshot and Join calls) to on_other, e.g. the gRPC server's
// AddInsecureChannelFromFd. A connection that sends nothing recognisable
// within sniff_timeout is closed. Each handler is told the connection's
// source address (admission.h's canonical text), read at accept time, so
// that peer admission can tell members from strangers.
//
// One thread ("port-listener") polls the listening socket and every pending
// connection, so a silent client never holds up accepting others. Handed-on
// connections are non-blocking, with TCP_NODELAY.
//
// Threading: the handlers run on the listener's thread and must be quick;
// they own the fd given to them. stop() and the destructor are safe from
// any other thread and return once the thread is gone: after that, no
// handler runs. No gRPC here (api/ and main wire it).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "util/status.h"

namespace dkv::transport {

struct PortListenerOptions {
  std::string host = "0.0.0.0";
  std::uint16_t port = 0;  // 0: the kernel picks one (port() tells).
  std::chrono::milliseconds sniff_timeout{10000};
  // Connections accepted but not yet sniffed; more are closed at once.
  std::size_t pending_max = 1024;
};

class PortListener {
 public:
  // `source`: the peer's IP address in canonical text ("" if not IP).
  using Handler = std::function<void(int fd, const std::string& source)>;

  // Binds and listens on every address `host` resolves to ("localhost":
  // 127.0.0.1 and ::1), as gRPC did (not SO_REUSEPORT: a second node on the
  // port fails here). UNAVAILABLE if the address cannot be bound.
  static util::Status open(const PortListenerOptions& options, std::unique_ptr<PortListener>* out);
  ~PortListener();
  PortListener(const PortListener&) = delete;
  PortListener& operator=(const PortListener&) = delete;

  int port() const { return port_; }

  // Starts accepting; call once. With on_tls, connections that begin with a
  // TLS handshake record go there instead of on_other.
  void start(Handler on_stream, Handler on_other, Handler on_tls = nullptr);
  // Stops accepting and closes the connections not handed on yet.
  void stop();

 private:
  PortListener(PortListenerOptions options, std::vector<int> listen_fds, int wake_fd, int port);
  using Clock = std::chrono::steady_clock;
  // An accepted connection whose first bytes are not known yet.
  struct Pending {
    int fd;
    Clock::time_point deadline;
    std::string source;
  };
  void run();
  // Hands `p` on or closes it; false while it is undecided.
  bool route(const Pending& p, bool readable, Clock::time_point now);
  void accept_all(int listen_fd, Clock::time_point now, std::vector<Pending>* pending);

  const PortListenerOptions options_;
  const std::vector<int> listen_fds_;
  const int wake_fd_;  // An eventfd: stop() wakes the thread.
  const int port_;
  Handler on_stream_;
  Handler on_other_;
  Handler on_tls_;
  std::thread thread_;
};

}  // namespace dkv::transport
