#include "counter_check.h"

#include <cstdlib>
#include <limits>

namespace dkv::fault {

std::int64_t counter_value(const std::string& value) {
  if (value.empty()) return 0;
  const auto slash = value.find('/');
  if (slash == 0 || slash == std::string::npos) return -1;
  std::int64_t n = 0;
  for (std::size_t i = 0; i < slash; ++i) {
    if (value[i] < '0' || value[i] > '9') return -1;
    n = n * 10 + (value[i] - '0');
  }
  return n;
}

std::string counter_text(std::int64_t n, const std::string& writer) {
  return std::to_string(n) + "/" + writer;
}

CounterCheck check_counter(const std::vector<Op>& history, const std::string& key) {
  CounterCheck c;
  std::int64_t last_read_at = std::numeric_limits<std::int64_t>::min();
  for (const Op& op : history) {
    if (op.key != key) continue;
    if (op.kind == OpKind::kCas) {
      c.acknowledged += op.outcome == Outcome::kOk && op.succeeded;
      c.uncertain += op.outcome == Outcome::kUnknown;
    }
    const bool read =
        op.kind == OpKind::kGet || (op.kind == OpKind::kRange && op.range_end.empty());
    if (!read || op.outcome != Outcome::kOk || op.invoke_ns < last_read_at) continue;
    last_read_at = op.invoke_ns;
    if (op.kind == OpKind::kGet) {
      c.final_value = counter_value(op.found ? op.value : "");
    } else {
      c.final_value = counter_value(op.kvs.empty() ? "" : op.kvs.front().value);
    }
  }
  const std::string counts = "final value " + std::to_string(c.final_value) + ", " +
                             std::to_string(c.acknowledged) + " acknowledged increments, " +
                             std::to_string(c.uncertain) + " of unknown outcome";
  if (c.final_value < 0) {
    c.why = "no final read of " + key + " (or a malformed value): " + counts;
  } else if (c.final_value < c.acknowledged) {
    c.why = "acknowledged increments lost: " + counts;
  } else if (c.final_value > c.acknowledged + c.uncertain) {
    c.why = "increments applied twice (or from nowhere): " + counts;
  }
  c.ok = c.why.empty();
  return c;
}

}  // namespace dkv::fault
