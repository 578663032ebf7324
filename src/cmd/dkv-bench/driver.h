// src/cmd/dkv-bench/driver.h
// A Driver runs a benchmark's clients against dkv (or etcd, --target etcd:
// kv_api.h) over one protocol: gRPC
// (grpc_driver.cc, async callback API, many calls in flight per channel) or
// REST (rest_driver.cc, Beast keep-alive HTTP/1.1, one request in flight per
// connection). It connects, starts the RunControl's clock, keeps `clients`
// requests outstanding until RunControl::claim() says the run is over, and
// returns what the clients saw.
// Bounded: run() returns by the run's deadline plus the request timeout plus
// kHardCapGrace even if the server never answers; then the calls still in
// flight are abandoned and the driver must not be used again (the caller exits).
// Threading: connect() and run() are called from one thread, one at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kv_api.h"
#include "workload.h"

namespace dkv::bench {

inline constexpr auto kHardCapGrace = std::chrono::seconds(5);
// A client pauses this long after a failed request before its next one, so
// a dead endpoint that fails calls at once (gRPC fails fast on a broken
// channel) does not turn the client into a busy loop that starves the
// surviving nodes of CPU. The pause is not in any latency.
inline constexpr auto kErrorPause = std::chrono::milliseconds(10);

struct DriverConfig {
  Target target = Target::kDkv;        // Whose API the requests speak.
  std::vector<std::string> endpoints;  // host:port; connections round-robin.
  int conns = 1;                       // gRPC channels (REST: one per client).
  int clients = 1;                     // Requests in flight, over all conns.
  std::chrono::milliseconds request_timeout{5000};
  int io_threads = 1;  // REST: threads running the Asio event loop.
  // gRPC over TLS when cacert is set (PEM files): the server's CA, and the
  // client's certificate and key for client certificate authentication.
  std::string cacert;
  std::string cert;
  std::string key;
};

struct DriverResult {
  ClientStats stats;
  // Requests in flight when the hard cap stopped waiting (0 normally).
  std::uint64_t abandoned_ops = 0;
};

class Driver {
 public:
  virtual ~Driver() = default;
  // Opens the connections; a message if they cannot be opened by `timeout`.
  virtual std::optional<std::string> connect(std::chrono::milliseconds timeout) = 0;
  // Runs `workload` until `control` says stop; calls control.start() first.
  virtual DriverResult run(const Workload& workload, RunControl& control) = 0;
};

std::unique_ptr<Driver> make_grpc_driver(const DriverConfig& config);
std::unique_ptr<Driver> make_rest_driver(const DriverConfig& config);

}  // namespace dkv::bench
