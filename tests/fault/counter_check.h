// The count rule of the fault suite's CAS workload ("increment a counter with
// Txn"): every client reads the counter and its mod_revision r, then sends
// Txn If(mod_revision == r) Then(Put n+1) Else(Range). Values are
// "<n>/<writer>" (unique per write, for the checker); absent is 0. After the
// run, the counter's final value must lie between the acknowledged
// successful txns (none lost) and those plus the txns of unknown outcome
// (none applied twice). The linearizability checker covers the rest.
// Pure functions; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "checker.h"

namespace dkv::fault {

// n of "<n>/<writer>", 0 for "" (absent), -1 if malformed.
std::int64_t counter_value(const std::string& value);
// "<n>/<writer>".
std::string counter_text(std::int64_t n, const std::string& writer);

struct CounterCheck {
  bool ok = false;
  std::int64_t final_value = -1;  // The last successful read's; -1 if none.
  std::int64_t acknowledged = 0;  // kCas ops with kOk that succeeded.
  std::int64_t uncertain = 0;     // kCas ops with kUnknown.
  std::string why;                // When !ok.
};

// Over the ops on `key`; the final value is that of the read invoked last
// (the run's final reads, after every client stopped).
CounterCheck check_counter(const std::vector<Op>& history, const std::string& key);

}  // namespace dkv::fault
