// src/cmd/dkv-bench/options.h
// dkv-bench's command line: `dkv-bench put|get|mixed|range|cas [flags]` parsed (CLI11)
// into Options. Parsing checks each flag on its own (ranges, choices) and
// fills in what depends on others (read ratio from the command, default
// endpoints from --target and --protocol); main.cc checks durations and the
// key space when it plans the run.
// Threading: none; called once from main.
#pragma once

#include <cstdint>
#include <string>
#include <variant>

#include "kv_api.h"
#include "workload.h"

namespace dkv::bench {

struct Options {
  std::string command;  // put | get | mixed | range | cas
  Target target = Target::kDkv;
  std::string protocol = "grpc";  // grpc | rest
  std::string endpoints;          // host:port,...; the target's local default if not given.
  int conns = 1;
  int clients = 1;
  std::uint64_t total_ops = 0;
  std::string duration;
  std::string max_duration = "10m";
  std::string timeout = "5s";
  double rate_ops_per_s = 0;
  bool prefill = false;
  bool json = false;
  int io_threads = 1;
  std::string cacert, cert, key;  // gRPC over TLS (as etcdctl's flags).
  // read_ratio: 0 for put and cas, 1 for get and range, --read-ratio for mixed.
  Workload workload;
};

// The options, or the exit code once CLI11 has printed --help (0) or a
// usage error (non-zero).
std::variant<Options, int> parse_options(int argc, const char* const* argv);

}  // namespace dkv::bench
