// The fault suite's watch and lease workloads over etcd's own gRPC API
// (etcdserverpb.KV, Watch and Lease: the generated stubs), so that they run
// against dkv and against etcd itself. Each records a history for its
// checker (watch_check.h, lease_check.h); the runner (run.cc) drives the
// faults.
//   WatchWorkload: writers put, delete and txn-put two keys at once under
//     the prefix "w" on rotating members, recording each write with the
//     revision etcd reported (unknown outcomes too). Watchers each watch
//     the prefix from revision 1 with progress notifications, asking for
//     progress every 500 ms; when their stream breaks (the member died) or
//     stalls (no answer for `stall_timeout`: a paused member), they resume
//     on the next member from the last delivered revision + 1.
//   LeaseWorkload: clients grant a lease, put a key with it, renew it a few
//     times (KeepAlive, one renewal a stream) while reading the key, then
//     either revoke it or let it expire and read the key until it is gone,
//     recording every call and observation with client-side times.
// Threading: each workload owns its threads; start in the constructor,
// stop() once (it joins them), then read the history.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lease_check.h"
#include "watch_check.h"

namespace dkv::fault {

struct EtcdWorkloadOptions {
  std::vector<std::string> endpoints;  // host:port of each member's etcd API.
  std::vector<std::string> members;    // Their names, for the reports.
  std::uint64_t seed = 1;
  std::chrono::milliseconds client_timeout{3000};  // Each unary call's deadline.
  // Watch.
  int writers = 2;
  int watchers = 3;
  int keys = 4;                                   // w0..w<keys-1>.
  std::chrono::milliseconds stall_timeout{3000};  // No answer this long: resume elsewhere.
  // Lease.
  int lease_clients = 3;
  std::int64_t lease_ttl_s = 3;  // Requested; the checker uses what etcd granted.
  // How long a client waits for an expiry beyond TTL before giving up.
  std::chrono::milliseconds expiry_wait_extra{8000};
};

// Why the server at `endpoint` does not serve etcd's `service` ("watch" or
// "lease"): it answered UNIMPLEMENTED; "" otherwise (any other answer).
std::string etcd_service_missing(const std::string& endpoint, const std::string& service);

class WatchWorkload {
 public:
  WatchWorkload(const EtcdWorkloadOptions& options, std::chrono::steady_clock::time_point epoch);
  ~WatchWorkload();
  WatchWorkload(const WatchWorkload&) = delete;
  WatchWorkload& operator=(const WatchWorkload&) = delete;

  // Stops the writers, lets the watchers catch up with the last
  // acknowledged revision (at most `catch_up`), then stops them.
  void stop(std::chrono::milliseconds catch_up);
  std::uint64_t ops() const;
  // After stop().
  std::vector<Watcher> watchers() const;
  std::vector<WriteRecord> writes() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

class LeaseWorkload {
 public:
  LeaseWorkload(const EtcdWorkloadOptions& options, std::chrono::steady_clock::time_point epoch);
  ~LeaseWorkload();
  LeaseWorkload(const LeaseWorkload&) = delete;
  LeaseWorkload& operator=(const LeaseWorkload&) = delete;

  // Lets each client finish its current lease (observing its end), at
  // most `finish` longer, then stops them.
  void stop(std::chrono::milliseconds finish);
  std::uint64_t ops() const;
  std::vector<LeaseRecord> leases() const;  // After stop().

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace dkv::fault
