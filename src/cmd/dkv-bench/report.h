// src/cmd/dkv-bench/report.h
// What dkv-bench prints: the live progress (a bar on a terminal, one plain
// line per second otherwise, both on stderr) and the final summary (text or
// JSON on stdout, so `--json | jq` works).
// Threading: Progress runs its own thread, reading only RunControl's atomic
// counters; the summary functions are called once, from the main thread.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>

#include "workload.h"

namespace dkv::bench {

// The run's parameters, echoed in the summary.
struct RunInfo {
  std::string command;   // put | get | mixed | range | cas
  std::string target;    // dkv | etcd
  std::string protocol;  // grpc | rest
  std::string endpoints;
  int conns = 0;
  int clients = 0;
  Workload workload;
  double rate_ops_per_s = 0;
};

// Final numbers of a run.
struct Summary {
  RunInfo info;
  ClientStats stats;
  double elapsed_s = 0;
  // Calls still outstanding when the hard cap cut the run short.
  std::uint64_t abandoned_ops = 0;
};

std::string format_text(const Summary& s);
std::string format_json(const Summary& s);

// Prints progress until stop(). Bar if `out` is a terminal, else a line per
// interval.
class Progress {
 public:
  Progress(RunControl& control, std::string label, std::FILE* out);
  ~Progress();  // Calls stop().
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  void stop();

 private:
  void loop();
  void print(bool final_line);

  RunControl& control_;  // Outlives this Progress.
  const std::string label_;
  std::FILE* const out_;
  const bool tty_;
  std::atomic<bool> stop_{false};
  std::uint64_t last_completed_ = 0;
  Clock::time_point last_time_;
  std::thread thread_;
};

}  // namespace dkv::bench
