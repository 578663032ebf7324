// src/cmd/dkv-bench/main.cc
// dkv-bench: load generator for dkv, in the manner of etcd's `benchmark`.
//   dkv-bench put   [--clients 16 --conns 4 --total 10000 | --duration 10s]
//   dkv-bench get   [--serializable] [--prefill]
//   dkv-bench mixed --read-ratio 0.9 [--prefill]
// over --protocol grpc (default) or rest. Prints the options and seed first
// (stderr), progress while running (stderr), a summary at the end (stdout;
// --json for JSON). Always bounded: stops at --total or --duration, and at
// most --max-duration; exits 0 if the run completed (errors included in the
// summary), 1 on bad usage or if no endpoint answers, 3 at the hard cap.
// Wires workload, driver and report together; holds no logic of its own.
#include <fmt/format.h>
#include <unistd.h>
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <sstream>

#include "driver.h"
#include "report.h"
#include "workload.h"

namespace dkv::bench {
namespace {

// Set by SIGINT/SIGTERM; stops the run and still prints the summary.
volatile std::sig_atomic_t g_interrupted = 0;
RunControl* g_control = nullptr;

void on_signal(int) {
  g_interrupted = 1;
  if (g_control != nullptr) g_control->stop();  // An atomic store.
}

// No run, prefill included, lasts longer than this (plus the request timeout).
constexpr auto kMaxDurationLimit = std::chrono::hours(1);

struct Options {
  std::string command;
  std::string protocol = "grpc";
  std::string endpoints;
  int conns = 1;
  int clients = 1;
  std::uint64_t total_ops = 0;
  std::string duration = "";
  std::string max_duration = "10m";
  std::string timeout = "5s";
  double rate_ops_per_s = 0;
  bool prefill = false;
  bool json = false;
  int io_threads = 1;
  Workload workload;
};

std::vector<std::string> split_endpoints(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// Runs one phase (the measured run, or the prefill) to the end.
Summary run_phase(Driver& driver, const Options& o, const Workload& w, std::uint64_t total_ops,
                  Clock::duration duration, double rate_ops_per_s, const std::string& label,
                  int conns, int clients) {
  RunControl control(total_ops, duration, rate_ops_per_s);
  g_control = &control;
  Progress progress(control, label, stderr);
  DriverResult result = driver.run(w, control);
  const double elapsed_s =
      std::chrono::duration<double>(Clock::now() - control.start_time()).count();
  progress.stop();
  g_control = nullptr;
  Summary s;
  s.info = RunInfo{o.command, o.protocol, o.endpoints, conns, clients, w, rate_ops_per_s};
  s.stats = std::move(result.stats);
  s.elapsed_s = elapsed_s;
  s.abandoned_ops = result.abandoned_ops;
  return s;
}

int run(Options& o) {
  if (o.endpoints.empty()) {
    o.endpoints = o.protocol == "grpc" ? "127.0.0.1:7070,127.0.0.1:8080,127.0.0.1:9090"
                                       : "127.0.0.1:7071,127.0.0.1:8081,127.0.0.1:9091";
  }
  if (auto bad = check_key_space(o.workload)) {
    fmt::print(stderr, "dkv-bench: {}\n", *bad);
    return 1;
  }
  const auto max_duration = parse_duration(o.max_duration);
  const auto timeout = parse_duration(o.timeout);
  auto duration =
      o.duration.empty() ? std::optional<Clock::duration>() : parse_duration(o.duration);
  if (!max_duration || !timeout || (!o.duration.empty() && !duration)) {
    fmt::print(stderr, "dkv-bench: durations look like 10s, 500ms, 2m\n");
    return 1;
  }
  if (*max_duration > kMaxDurationLimit) {
    fmt::print(stderr, "dkv-bench: --max-duration is at most 1h\n");
    return 1;
  }
  // Neither --total nor --duration: 10 s. Never longer than --max-duration.
  if (!duration) duration = o.total_ops == 0 ? std::chrono::seconds(10) : *max_duration;
  duration = std::min(*duration, *max_duration);
  // HTTP/1.1 has one request in flight per connection.
  const int conns = o.protocol == "rest" ? o.clients : o.conns;

  DriverConfig config;
  config.endpoints = split_endpoints(o.endpoints);
  config.conns = conns;
  config.clients = o.clients;
  config.request_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(*timeout);
  config.io_threads = o.io_threads;
  fmt::print(stderr,
             "dkv-bench {} protocol={} endpoints={} conns={} clients={} total={} duration={:.1f}s "
             "key-size={} val-size={} key-space={} keys={} seed={} read-ratio={} serializable={} "
             "rate={} prefill={}\n",
             o.command, o.protocol, o.endpoints, conns, o.clients, o.total_ops,
             std::chrono::duration<double>(*duration).count(), o.workload.key_size_bytes,
             o.workload.value_size_bytes, o.workload.key_space,
             o.workload.sequential_keys ? "sequential" : "random", o.workload.seed,
             o.workload.read_ratio, o.workload.serializable, o.rate_ops_per_s, o.prefill);
  auto driver = o.protocol == "grpc" ? make_grpc_driver(config) : make_rest_driver(config);
  if (auto bad = driver->connect(std::chrono::seconds(5))) {
    fmt::print(stderr, "dkv-bench: {}\n", *bad);
    return 1;
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  if (o.prefill) {
    // Every key once, in order, so reads find them; not measured.
    Workload fill = o.workload;
    fill.read_ratio = 0;
    fill.sequential_keys = true;
    // As fast as it goes, whatever --rate says.
    Summary s = run_phase(*driver, o, fill, fill.key_space, *max_duration, /*rate_ops_per_s=*/0,
                          "prefill", conns, o.clients);
    fmt::print(stderr, "prefill: {} keys written in {:.2f} s, {} errors\n", s.stats.ok_ops,
               s.elapsed_s, s.stats.error_ops());
    if (s.abandoned_ops > 0 || g_interrupted) {
      std::fputs(format_text(s).c_str(), stdout);
      std::fflush(stdout);
      std::_Exit(3);
    }
  }
  Summary s = run_phase(*driver, o, o.workload, o.total_ops, *duration, o.rate_ops_per_s, o.command,
                        conns, o.clients);
  std::fputs((o.json ? format_json(s) : format_text(s)).c_str(), stdout);
  std::fflush(stdout);
  if (s.abandoned_ops > 0) std::_Exit(3);  // Calls in flight still use the driver.
  return 0;
}

void add_common(CLI::App& app, Options& o) {
  app.add_option("--protocol", o.protocol, "grpc or rest")
      ->check(CLI::IsMember({"grpc", "rest"}))
      ->capture_default_str();
  app.add_option("--endpoints", o.endpoints,
                 "host:port,... (gRPC ports for grpc, REST ports for rest; default the local "
                 "3-node cluster's)");
  app.add_option("--conns", o.conns, "gRPC channels (TCP connections); REST uses one per client")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app.add_option("--clients", o.clients, "requests in flight, over all connections")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  app.add_option("--total", o.total_ops, "stop after this many requests (0: by --duration)")
      ->capture_default_str();
  app.add_option("--duration", o.duration,
                 "stop after this long, e.g. 10s (default 10s without --total)");
  app.add_option("--max-duration", o.max_duration, "hard cap on the run's length (at most 1h)")
      ->capture_default_str();
  app.add_option("--timeout", o.timeout, "per-request deadline")->capture_default_str();
  app.add_option("--rate", o.rate_ops_per_s, "requests per second over all clients (0: unlimited)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--key-size", o.workload.key_size_bytes, "key length in bytes")
      ->check(CLI::Range(1, 511))
      ->capture_default_str();
  app.add_option("--val-size", o.workload.value_size_bytes, "value length in bytes")
      ->check(CLI::Range(0, 1 << 20))
      ->capture_default_str();
  app.add_option("--key-space", o.workload.key_space, "number of distinct keys")
      ->capture_default_str();
  app.add_flag("--sequential-keys", o.workload.sequential_keys,
               "key n%key-space for request n (default: random keys)");
  app.add_option("--seed", o.workload.seed, "seed of the key and value choice")
      ->capture_default_str();
  app.add_flag("--json", o.json, "print the summary as JSON");
  app.add_option("--threads", o.io_threads, "REST: event-loop threads")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
}

}  // namespace
}  // namespace dkv::bench

int main(int argc, char** argv) {
  using dkv::bench::Options;
  Options o;
  CLI::App app{"dkv-bench: load generator for dkv (put, get, mixed over gRPC or REST)"};
  app.require_subcommand(1);
  CLI::App* put = app.add_subcommand("put", "write random or sequential keys");
  CLI::App* get = app.add_subcommand("get", "read keys (linearizable unless --serializable)");
  CLI::App* mixed = app.add_subcommand("mixed", "reads and writes, --read-ratio of them reads");
  for (CLI::App* sub : {put, get, mixed}) dkv::bench::add_common(*sub, o);
  for (CLI::App* sub : {get, mixed}) {
    sub->add_flag("--serializable", o.workload.serializable, "local reads, possibly stale");
    sub->add_flag("--prefill", o.prefill, "write every key of --key-space before measuring");
  }
  double read_ratio = 0.9;
  mixed->add_option("--read-ratio", read_ratio, "fraction of reads")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (put->parsed()) {
    o.command = "put";
    o.workload.read_ratio = 0;
  } else if (get->parsed()) {
    o.command = "get";
    o.workload.read_ratio = 1;
  } else {
    o.command = "mixed";
    o.workload.read_ratio = read_ratio;
  }
  return dkv::bench::run(o);
}
