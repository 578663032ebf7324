#include "util/metrics.h"

#include <gtest/gtest.h>

#include <thread>

namespace dkv::util {
namespace {

TEST(MetricsTest, RendersCountersGaugesAndHistogramsInPrometheusFormat) {
  MetricsRegistry r;
  r.counter("dkv_requests_total", "Requests.", {{"method", "Put"}, {"code", "OK"}}).inc(3);
  r.gauge("dkv_server_has_leader", "1 if a leader is known.").set(1);
  auto& h = r.histogram("dkv_latency_seconds", "Latency.", {0.001, 0.01});
  h.observe(0.0005);
  h.observe(0.005);
  h.observe(5);
  const std::string text = r.render();
  EXPECT_NE(text.find("# TYPE dkv_requests_total counter\n"), std::string::npos) << text;
  EXPECT_NE(text.find("dkv_requests_total{method=\"Put\",code=\"OK\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE dkv_server_has_leader gauge\ndkv_server_has_leader 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("dkv_latency_seconds_bucket{le=\"0.001\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("dkv_latency_seconds_bucket{le=\"0.01\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("dkv_latency_seconds_bucket{le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("dkv_latency_seconds_count 3\n"), std::string::npos);
}

TEST(MetricsTest, SameNameAndLabelsIsTheSameMetric) {
  MetricsRegistry r;
  Counter& a = r.counter("c", "h", {{"k", "v"}});
  Counter& b = r.counter("c", "h", {{"k", "v"}});
  EXPECT_EQ(&a, &b);
  EXPECT_NE(&a, &r.counter("c", "h", {{"k", "w"}}));
}

TEST(MetricsTest, ConcurrentUpdatesAreNotLost) {
  MetricsRegistry r;
  Counter& c = r.counter("c", "h");
  Histogram& h = r.histogram("h", "h", {1.0});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.inc();
        h.observe(0.5);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.value(), 40000u);
  EXPECT_EQ(h.snapshot().count, 40000u);
  EXPECT_DOUBLE_EQ(h.snapshot().sum, 20000.0);
}

}  // namespace
}  // namespace dkv::util
