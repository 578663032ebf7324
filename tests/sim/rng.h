// The simulators' one source of randomness: splitmix64, seeded per run so
// that a seed replays its schedule exactly. Small, fast, and good enough
// for schedules; not for anything secret.
// Threading: one owner (the simulation's thread).
#pragma once

#include <cstdint>

namespace dkv::sim {

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform enough in [0, n); 0 when n is 0.
  std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : next() % n; }
  bool permille(int p) { return static_cast<int>(below(1000)) < p; }
  bool percent(int p) { return static_cast<int>(below(100)) < p; }

 private:
  std::uint64_t state_;
};

}  // namespace dkv::sim
