// Metrics: counters, gauges and histograms, rendered in the Prometheus text
// exposition format (version 0.0.4) for GET /metrics. Names follow etcd's
// (etcd_server_has_leader -> dkv_server_has_leader, ...), so dashboards and
// alerts written for etcd translate directly. Debian packages no C++
// Prometheus client, hence this small one.
//
// Threading: everything is thread-safe. Updates are lock-free atomics;
// creating a metric (get-or-create by name and labels) takes a mutex, so hot
// paths keep the returned reference (it stays valid for the registry's life).
// The raft core never uses metrics (no globals there); node/ and api/ do.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "util/mutex.h"
#include "util/thread_annotations.h"

namespace dkv::util {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void inc(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

class Gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Cumulative buckets by upper bound (seconds, bytes, ...), plus sum and count.
class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double v);
  // Bucket counts (cumulative, last = +Inf), sum, count: a consistent-enough
  // copy for rendering.
  struct Snapshot {
    std::vector<double> upper_bounds;
    std::vector<std::uint64_t> cumulative;
    double sum = 0;
    std::uint64_t count = 0;
  };
  Snapshot snapshot() const;

 private:
  const std::vector<double> upper_bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // Not cumulative; +1 for +Inf.
  std::atomic<double> sum_{0};
  std::atomic<std::uint64_t> count_{0};
};

// Exponential bucket bounds: start, start*factor, ... (count of them).
std::vector<double> exponential_buckets(double start, double factor, int count);

class MetricsRegistry {
 public:
  Counter& counter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge& gauge(const std::string& name, const std::string& help, const Labels& labels = {});
  Histogram& histogram(const std::string& name, const std::string& help,
                       const std::vector<double>& upper_bounds, const Labels& labels = {});
  // The Prometheus text format of every metric, families sorted by name.
  std::string render() const;

 private:
  enum class Kind { kCounter, kGauge, kHistogram };
  struct Family {
    Kind kind;
    std::string help;
    std::map<Labels, std::unique_ptr<Counter>> counters;
    std::map<Labels, std::unique_ptr<Gauge>> gauges;
    std::map<Labels, std::unique_ptr<Histogram>> histograms;
  };
  Family& family(const std::string& name, const std::string& help, Kind kind) DKV_REQUIRES(mu_);

  mutable Mutex mu_;
  std::map<std::string, Family> families_ DKV_GUARDED_BY(mu_);
};

// The process-wide registry served at /metrics.
MetricsRegistry& metrics();

}  // namespace dkv::util
