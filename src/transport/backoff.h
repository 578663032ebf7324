// Backoff: the delay before a peer's sender reconnects after failures: a
// random value in [d/2, d] where d = min(initial * 2^(failures-1), max)
// (TransportOptions::backoff_*). Jittered so that peers that lost each other
// at the same moment do not reconnect in lockstep.
// Owns: its random generator. Threading: not thread-safe; one owner (the
// peer's sender thread, message_stream_lane.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace dkv::transport {

class Backoff {
 public:
  // initial_ms > 0, max_ms >= initial_ms (Transport checks its options).
  Backoff(int initial_ms, int max_ms, std::uint64_t seed);

  // The delay before the `failures`-th reconnect (failures >= 1).
  std::chrono::milliseconds delay(int failures);

 private:
  const int initial_ms_;
  const int max_ms_;
  std::mt19937_64 rng_;
};

}  // namespace dkv::transport
