// Server: one dkv node's process, wired from modules: the ports, the data
// directory and the node, the transport and its peers, then gRPC and REST.
// Start and stop read top to bottom in server.cc (start(), ~Server(),
// serve_until_signal()); main() only loads the configuration.
// Threading: start() and serve_until_signal() run on main's thread; the
// parts run their own threads (see their headers).
#pragma once

#include <atomic>
#include <memory>

#include "node/config.h"

namespace dkv::cmd {

// A data directory of another node or cluster, like a bad variable.
inline constexpr int kExitBadConfig = 2;

class Server {
 public:
  explicit Server(const dkv::node::Config& config);
  // Closes the ports and stops the node before the transport goes.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the ports, opens the node, starts the transport and serving.
  // Returns 0, or the exit code after one line saying why.
  int start();
  // Serves until SIGINT or SIGTERM, then shuts down cleanly. After start().
  int serve_until_signal();

 private:
  struct Parts;
  bool ready() const;

  const dkv::node::Config config_;
  std::atomic<bool> shutting_down_{false};
  std::unique_ptr<Parts> p_;
};

}  // namespace dkv::cmd
