// src/cmd/dkv-bench/workload.h
// The parts of a dkv-bench run that need no network: what each operation is
// (Workload, KeyChooser), when the run stops and how fast it may go
// (RunControl), and what each client saw (ClientStats). The drivers
// (grpc_driver, rest_driver) only move bytes; everything they decide comes
// from here.
// Threading: Workload is immutable once the run starts. RunControl is shared
// by every client and thread-safe. A KeyChooser and a ClientStats belong to
// one client, which has at most one request outstanding, so they need no
// lock; the drivers lock ClientStats only so the hard-cap path can read them.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>

#include "histogram.h"

namespace dkv::bench {

using Clock = std::chrono::steady_clock;

enum class OpKind { kPut, kGet, kRange, kCas };

// What a run's operations are: puts and gets (by read_ratio), a Range of the
// whole key space under key_prefix, or a CAS txn on the client's own key.
enum class Mode { kReadWrite, kRange, kCas };

struct Workload {
  Mode mode = Mode::kReadWrite;
  // Put before every key (range and cas keep their keys apart this way).
  std::string key_prefix;
  // The fraction of operations that are gets: 0 for `put`, 1 for `get`.
  double read_ratio = 0;
  // Gets read the local replica (may be stale) instead of a ReadIndex read.
  bool serializable = false;
  std::size_t key_size_bytes = 8;
  std::size_t value_size_bytes = 256;
  // Keys are the integers [0, key_space), each written as zero-padded
  // decimal of exactly key_size_bytes bytes.
  std::uint64_t key_space = 10000;
  // Sequential: operation n (over all clients) uses key n % key_space.
  // Otherwise each client draws keys uniformly from its own seeded RNG.
  bool sequential_keys = false;
  std::uint64_t seed = 1;
};

// "10s", "250ms", "2m", "1.5s", "500us"; nothing if malformed or negative.
std::optional<Clock::duration> parse_duration(const std::string& text);

// Standard base64 with padding (RFC 4648 §4), as the REST gateway expects.
std::string base64_encode(const std::string& bytes);

// Escapes every byte but unreserved ones (RFC 3986 §2.3) as %XX, for a path
// segment: base64's '/', '+' and '=' must not reach the router raw.
std::string percent_encode(const std::string& text);

// Whether key_space fits in key_size_bytes decimal digits; if not, a message.
std::optional<std::string> check_key_space(const Workload& w);

// The key for index `index`: zero-padded decimal, key_size_bytes long.
std::string format_key(std::uint64_t index, std::size_t key_size_bytes);

// The key a workload sends for `index`: key_prefix, then format_key.
std::string workload_key(const Workload& w, std::uint64_t index);

// etcd's range_end for every key starting with `prefix` (the prefix with its
// last byte below 0xff incremented, the rest dropped; "\0" for all keys).
std::string prefix_range_end(const std::string& prefix);

// The value every put writes: value_size_bytes printable bytes from the seed.
std::string make_value(const Workload& w);

// Decides the kind and key of each operation of one client.
class KeyChooser {
 public:
  KeyChooser(const Workload& w, int client_id);
  // `seq` is the run-wide operation number from RunControl::claim().
  OpKind next_kind();
  std::uint64_t next_key_index(std::uint64_t seq);

 private:
  const Workload& workload_;
  std::mt19937_64 rng_;
};

// One claimed operation.
struct Slot {
  std::uint64_t seq = 0;
  // When the operation should be sent: now without --rate, else the start
  // plus seq / rate. Latency is measured from here, so a client that falls
  // behind the schedule sees the queueing delay (no coordinated omission).
  Clock::time_point send_at;
};

// Run-wide stop condition and pacing, shared by every client.
class RunControl {
 public:
  // total_ops 0: no op limit. rate_ops_per_s 0: as fast as possible.
  RunControl(std::uint64_t total_ops, Clock::duration duration, double rate_ops_per_s);
  RunControl(const RunControl&) = delete;
  RunControl& operator=(const RunControl&) = delete;

  // Starts the clock (the driver calls it once connected); claim() must
  // not be called before.
  void start();
  bool started() const { return started_.load(); }
  // The next operation, or nothing once the run is over: total reached,
  // deadline passed, or stop() called.
  std::optional<Slot> claim();
  void stop() { stopped_.store(true); }
  bool stopped() const { return stopped_.load(); }

  Clock::time_point start_time() const { return start_; }
  Clock::time_point deadline() const { return deadline_; }
  std::uint64_t total_ops() const { return total_ops_; }

  // Live counters for the progress line.
  std::atomic<std::uint64_t> completed_ops{0};
  std::atomic<std::uint64_t> failed_ops{0};

 private:
  const std::uint64_t total_ops_;
  const Clock::duration duration_;
  const double rate_ops_per_s_;
  Clock::time_point start_;
  Clock::time_point deadline_;
  std::atomic<std::uint64_t> next_seq_{0};
  std::atomic<bool> stopped_{false};
  std::atomic<bool> started_{false};  // Set after start_ and deadline_.
};

// What one client saw.
struct ClientStats {
  LatencyHistogram latency_ns;  // Successful operations only.
  std::uint64_t ok_ops = 0;
  // Gets of a key nobody wrote, or ranges that found fewer keys than the key
  // space holds: counted as successes, reported apart.
  std::uint64_t not_found_ops = 0;
  // CAS txns whose compare failed (the Else branch ran): successes too.
  std::uint64_t else_ops = 0;
  // Failed operations by cause: a gRPC code name, "HTTP 503", "connect: ...".
  std::map<std::string, std::uint64_t> errors;

  void merge(const ClientStats& other);
  std::uint64_t error_ops() const;
};

// ClientStats behind a mutex, written by one client's callbacks and read by
// the main thread at the end (or at the hard cap, while calls may still run).
class LockedStats {
 public:
  void record_ok(Clock::time_point sent, bool not_found, RunControl& control,
                 bool else_branch = false);
  void record_error(const std::string& cause, RunControl& control);
  ClientStats snapshot() const;

 private:
  mutable std::mutex mu_;
  ClientStats stats_;  // Guarded by mu_.
};

}  // namespace dkv::bench
