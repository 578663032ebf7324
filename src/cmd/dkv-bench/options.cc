// src/cmd/dkv-bench/options.cc
// dkv-bench's flags (see options.h).
#include "options.h"

#include <CLI/CLI.hpp>

namespace dkv::bench {
namespace {

void add_common(CLI::App& app, Options& o, std::string& target) {
  app.add_option("--target", target, "dkv, or etcd (its v3 KV API over gRPC or its REST gateway)")
      ->check(CLI::IsMember({"dkv", "etcd"}))
      ->capture_default_str();
  app.add_option("--protocol", o.protocol, "grpc or rest")
      ->check(CLI::IsMember({"grpc", "rest"}))
      ->capture_default_str();
  app.add_option("--endpoints", o.endpoints,
                 "host:port,... (gRPC ports for grpc, REST ports for rest; default the local "
                 "3-node cluster's, or etcd's 127.0.0.1:2379)");
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
  app.add_option("--cacert", o.cacert, "gRPC over TLS: the server's CA (PEM)");
  app.add_option("--cert", o.cert, "gRPC over TLS: client certificate (PEM)");
  app.add_option("--key", o.key, "gRPC over TLS: the client certificate's key (PEM)");
  app.add_option("--threads", o.io_threads, "REST: event-loop threads")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
}

}  // namespace

std::variant<Options, int> parse_options(int argc, const char* const* argv) {
  Options o;
  std::string target = "dkv";
  double read_ratio = 0.9;
  CLI::App app{
      "dkv-bench: load generator for dkv or etcd (put, get, mixed over gRPC or REST; range, cas "
      "over etcd's KV API on gRPC)"};
  app.require_subcommand(1);
  CLI::App* put = app.add_subcommand("put", "write random or sequential keys");
  CLI::App* get = app.add_subcommand("get", "read keys (linearizable unless --serializable)");
  CLI::App* mixed = app.add_subcommand("mixed", "reads and writes, --read-ratio of them reads");
  CLI::App* range = app.add_subcommand(
      "range", "Range of every key under a prefix (--key-space keys, default 100, written first)");
  CLI::App* cas = app.add_subcommand(
      "cas", "Txn If(mod_revision(key)==last seen) Then(Put) Else(Range), one key per client");
  for (CLI::App* sub : {put, get, mixed, range, cas}) add_common(*sub, o, target);
  for (CLI::App* sub : {get, mixed, range}) {
    sub->add_flag("--serializable", o.workload.serializable, "local reads, possibly stale");
  }
  for (CLI::App* sub : {get, mixed}) {
    sub->add_flag("--prefill", o.prefill, "write every key of --key-space before measuring");
  }
  mixed->add_option("--read-ratio", read_ratio, "fraction of reads")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (put->parsed()) {
    o.command = "put";
    o.workload.read_ratio = 0;
  } else if (get->parsed()) {
    o.command = "get";
    o.workload.read_ratio = 1;
  } else if (range->parsed()) {
    o.command = "range";
    o.workload.read_ratio = 1;
    o.workload.mode = Mode::kRange;
    o.workload.key_prefix = "bench/range/";
    if (range->count("--key-space") == 0) o.workload.key_space = 100;
    o.prefill = true;  // The range reads keys written before the run.
  } else if (cas->parsed()) {
    o.command = "cas";
    o.workload.read_ratio = 0;
    o.workload.mode = Mode::kCas;
    o.workload.key_prefix = "bench/cas/";
    o.workload.key_space = static_cast<std::uint64_t>(o.clients);  // Client i owns key i.
  } else {
    o.command = "mixed";
    o.workload.read_ratio = read_ratio;
  }
  o.target = *parse_target(target);  // IsMember checked it.
  if (o.endpoints.empty()) o.endpoints = default_endpoints(o.target, o.protocol);
  return o;
}

}  // namespace dkv::bench
