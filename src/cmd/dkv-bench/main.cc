// src/cmd/dkv-bench/main.cc
// dkv-bench: load generator for dkv, in the manner of etcd's `benchmark`.
//   dkv-bench put   [--clients 16 --conns 4 --total 10000 | --duration 10s]
//   dkv-bench get   [--serializable] [--prefill]
//   dkv-bench mixed --read-ratio 0.9 [--prefill]
//   dkv-bench range [--key-space 100]   (a Range of every key under a prefix)
//   dkv-bench cas                       (a CAS Txn per op, on the client's own key)
// over --protocol grpc (default) or rest, against dkv or (--target etcd) an
// etcd v3 cluster, with the same workload and measurement. Prints the options and seed first
// (stderr), progress while running (stderr), a summary at the end (stdout;
// --json for JSON). Always bounded: stops at --total or --duration, and at
// most --max-duration; exits 0 if the run completed (errors included in the
// summary), 1 on bad usage or if no endpoint answers, 3 at the hard cap.
// Wires workload, driver and report together; holds no logic of its own.
#include <fmt/format.h>
#include <unistd.h>
#include <csignal>
#include <cstdio>
#include <sstream>

#include "driver.h"
#include "options.h"
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
  s.info = RunInfo{o.command, target_name(o.target), o.protocol, o.endpoints, conns, clients,
                   w,         rate_ops_per_s};
  s.stats = std::move(result.stats);
  s.elapsed_s = elapsed_s;
  s.abandoned_ops = result.abandoned_ops;
  return s;
}

// The run's length from --duration, --max-duration and --total, or a
// message for a bad one. Neither --total nor --duration: 10 s; never longer
// than --max-duration.
std::optional<std::string> run_duration(const Options& o, Clock::duration* out) {
  const auto max_duration = parse_duration(o.max_duration);
  if (!max_duration || !parse_duration(o.timeout)) return "durations look like 10s, 500ms, 2m";
  if (*max_duration > kMaxDurationLimit) return "--max-duration is at most 1h";
  Clock::duration wanted =
      o.total_ops == 0 ? Clock::duration(std::chrono::seconds(10)) : *max_duration;
  if (!o.duration.empty()) {
    const auto given = parse_duration(o.duration);
    if (!given) return "durations look like 10s, 500ms, 2m";
    wanted = *given;
  }
  *out = std::min(wanted, *max_duration);
  return std::nullopt;
}

DriverConfig driver_config(const Options& o, int conns) {
  DriverConfig config;
  config.target = o.target;
  config.endpoints = split_endpoints(o.endpoints);
  config.conns = conns;
  config.clients = o.clients;
  config.request_timeout =
      std::chrono::duration_cast<std::chrono::milliseconds>(*parse_duration(o.timeout));
  config.io_threads = o.io_threads;
  config.cacert = o.cacert;
  config.cert = o.cert;
  config.key = o.key;
  return config;
}

void print_settings(const Options& o, int conns, Clock::duration duration) {
  fmt::print(stderr,
             "dkv-bench {} target={} protocol={} endpoints={} conns={} clients={} total={} "
             "duration={:.1f}s "
             "key-size={} val-size={} key-space={} keys={} seed={} read-ratio={} serializable={} "
             "rate={} prefill={}{}\n",
             o.command, target_name(o.target), o.protocol, o.endpoints, conns, o.clients,
             o.total_ops, std::chrono::duration<double>(duration).count(),
             o.workload.key_size_bytes, o.workload.value_size_bytes, o.workload.key_space,
             o.workload.sequential_keys ? "sequential" : "random", o.workload.seed,
             o.workload.read_ratio, o.workload.serializable, o.rate_ops_per_s, o.prefill,
             o.workload.key_prefix.empty() ? "" : " key-prefix=" + o.workload.key_prefix);
}

// Every key once, in order, so reads find them; not measured. Exits if it
// was interrupted or left calls behind.
void prefill(Driver& driver, const Options& o, int conns) {
  Workload fill = o.workload;
  fill.mode = Mode::kReadWrite;
  fill.read_ratio = 0;
  fill.sequential_keys = true;
  // As fast as it goes, whatever --rate says.
  Summary s = run_phase(driver, o, fill, fill.key_space, *parse_duration(o.max_duration),
                        /*rate_ops_per_s=*/0, "prefill", conns, o.clients);
  fmt::print(stderr, "prefill: {} keys written in {:.2f} s, {} errors\n", s.stats.ok_ops,
             s.elapsed_s, s.stats.error_ops());
  if (s.abandoned_ops > 0 || g_interrupted) {
    std::fputs(format_text(s).c_str(), stdout);
    std::fflush(stdout);
    std::_Exit(3);
  }
}

// A cas run's keys are its own (bench/cas/<run>/<client>): a key left by an
// earlier run would send each client's first txn to the else branch, so the
// else share counts only txns that lost to another writer.
std::string cas_run_prefix() {
  const auto now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  return fmt::format("{:x}-{}/", now_ns, ::getpid());
}

int run(Options& o) {
  if (o.workload.mode != Mode::kReadWrite && o.protocol != "grpc") {
    fmt::print(stderr, "dkv-bench: {} runs over gRPC only (etcd's KV API)\n", o.command);
    return 1;
  }
  if (o.workload.mode == Mode::kCas) o.workload.key_prefix += cas_run_prefix();
  if (auto bad = check_key_space(o.workload)) {
    fmt::print(stderr, "dkv-bench: {}\n", *bad);
    return 1;
  }
  Clock::duration duration{};
  if (auto bad = run_duration(o, &duration)) {
    fmt::print(stderr, "dkv-bench: {}\n", *bad);
    return 1;
  }
  // HTTP/1.1 has one request in flight per connection.
  const int conns = o.protocol == "rest" ? o.clients : o.conns;
  print_settings(o, conns, duration);
  const DriverConfig config = driver_config(o, conns);
  auto driver = o.protocol == "grpc" ? make_grpc_driver(config) : make_rest_driver(config);
  if (auto bad = driver->connect(std::chrono::seconds(5))) {
    fmt::print(stderr, "dkv-bench: {}\n", *bad);
    return 1;
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  if (o.prefill) prefill(*driver, o, conns);
  Summary s = run_phase(*driver, o, o.workload, o.total_ops, duration, o.rate_ops_per_s, o.command,
                        conns, o.clients);
  std::fputs((o.json ? format_json(s) : format_text(s)).c_str(), stdout);
  std::fflush(stdout);
  if (s.abandoned_ops > 0) std::_Exit(3);  // Calls in flight still use the driver.
  return 0;
}

}  // namespace
}  // namespace dkv::bench

int main(int argc, char** argv) {
  auto parsed = dkv::bench::parse_options(argc, argv);
  if (auto* code = std::get_if<int>(&parsed)) return *code;
  return dkv::bench::run(std::get<dkv::bench::Options>(parsed));
}
