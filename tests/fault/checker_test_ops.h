// Builders shared by the checker's unit tests (checker_*_test.cc): an Op
// with its client, outcome and times, the times given in ms for
// readability (the checker only compares them). Test-only; no state.
#pragma once

#include <cstdint>

#include "checker.h"

namespace dkv::fault::test_ops {

constexpr std::int64_t kMs = 1'000'000;  // Nanoseconds per millisecond.

// An op of `client` invoked at from_ms and completed at to_ms; the caller
// fills in its kind and data.
inline Op timed(int client, std::int64_t from_ms, std::int64_t to_ms, Outcome outcome) {
  Op op;
  op.client = client;
  op.outcome = outcome;
  op.invoke_ns = from_ms * kMs;
  op.complete_ns = to_ms * kMs;
  return op;
}

}  // namespace dkv::fault::test_ops
