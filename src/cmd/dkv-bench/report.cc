// src/cmd/dkv-bench/report.cc
// Summary text/JSON and the progress printer of dkv-bench.
#include "report.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

namespace dkv::bench {
namespace {

constexpr double kPercentiles[] = {50, 90, 99, 99.9};

std::string format_latency_ns(std::uint64_t ns) {
  if (ns < 1'000'000) return fmt::format("{:.1f}us", static_cast<double>(ns) / 1e3);
  if (ns < 1'000'000'000) return fmt::format("{:.2f}ms", static_cast<double>(ns) / 1e6);
  return fmt::format("{:.3f}s", static_cast<double>(ns) / 1e9);
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
    } else {
      out += c;
    }
  }
  return out;
}

double throughput_ops_per_s(const Summary& s) {
  return s.elapsed_s > 0 ? static_cast<double>(s.stats.ok_ops) / s.elapsed_s : 0;
}

std::string keys_mode(const Workload& w) {
  return w.sequential_keys ? "sequential" : fmt::format("random(seed={})", w.seed);
}

}  // namespace

std::string format_text(const Summary& s) {
  const auto& h = s.stats.latency_ns;
  std::string out = fmt::format(
      "dkv-bench {} target={} protocol={} endpoints={} conns={} clients={} key-size={} val-size={} "
      "key-space={} keys={}{}{}\n",
      s.info.command, s.info.target, s.info.protocol, s.info.endpoints, s.info.conns,
      s.info.clients, s.info.workload.key_size_bytes, s.info.workload.value_size_bytes,
      s.info.workload.key_space, keys_mode(s.info.workload),
      s.info.workload.serializable ? " serializable" : "",
      s.info.rate_ops_per_s > 0 ? fmt::format(" rate={}/s", s.info.rate_ops_per_s) : "");
  out += "Summary:\n";
  out += fmt::format("  Total:       {:.2f} s\n", s.elapsed_s);
  out += fmt::format("  Ops:         {} ok, {} errors", s.stats.ok_ops, s.stats.error_ops());
  if (s.stats.not_found_ops > 0)
    out += fmt::format(" ({} ok were NOT_FOUND)", s.stats.not_found_ops);
  out += "\n";
  if (s.info.workload.mode == Mode::kCas) {
    const double share = s.stats.ok_ops > 0 ? static_cast<double>(s.stats.else_ops) /
                                                  static_cast<double>(s.stats.ok_ops)
                                            : 0;
    out += fmt::format("  CAS else:    {} ok took the else branch ({:.2f}%)\n", s.stats.else_ops,
                       share * 100);
  }
  out += fmt::format("  Requests/s:  {:.1f}\n", throughput_ops_per_s(s));
  if (h.count() > 0) {
    out += fmt::format("  Latency:     min {}  mean {}", format_latency_ns(h.min()),
                       format_latency_ns(static_cast<std::uint64_t>(h.mean())));
    for (double p : kPercentiles)
      out += fmt::format("  p{} {}", p, format_latency_ns(h.percentile(p)));
    out += fmt::format("  max {}\n", format_latency_ns(h.max()));
  }
  if (!s.stats.errors.empty()) {
    out += "Errors:\n";
    for (const auto& [cause, n] : s.stats.errors) out += fmt::format("  {:>8}  {}\n", n, cause);
  }
  if (s.abandoned_ops > 0) {
    out += fmt::format("Hard cap reached: {} requests still outstanding were abandoned\n",
                       s.abandoned_ops);
  }
  return out;
}

std::string format_json(const Summary& s) {
  const auto& h = s.stats.latency_ns;
  const auto us = [](std::uint64_t ns) { return static_cast<double>(ns) / 1e3; };
  std::string errors;
  for (const auto& [cause, n] : s.stats.errors) {
    errors += fmt::format("{}\"{}\":{}", errors.empty() ? "" : ",", json_escape(cause), n);
  }
  const Workload& w = s.info.workload;
  return fmt::format(
      "{{\"command\":\"{}\",\"target\":\"{}\",\"protocol\":\"{}\",\"endpoints\":\"{}\",\"conns\":{}"
      ",\"clients\":{},"
      "\"key_size_bytes\":{},\"value_size_bytes\":{},\"key_space\":{},\"sequential_keys\":{},"
      "\"key_prefix\":\"{}\",\"seed\":{},\"serializable\":{},\"read_ratio\":{},\"rate_ops_per_s\":{"
      "},"
      "\"elapsed_s\":{:.3f},\"ok_ops\":{},\"not_found_ops\":{},\"else_ops\":{},\"error_ops\":{},"
      "\"errors\":{{{}}},\"abandoned_ops\":{},\"throughput_ops_per_s\":{:.1f},"
      "\"latency_us\":{{\"min\":{:.1f},\"mean\":{:.1f},\"p50\":{:.1f},\"p90\":{:.1f},"
      "\"p99\":{:.1f},\"p99_9\":{:.1f},\"max\":{:.1f}}}}}\n",
      s.info.command, s.info.target, s.info.protocol, json_escape(s.info.endpoints), s.info.conns,
      s.info.clients, w.key_size_bytes, w.value_size_bytes, w.key_space, w.sequential_keys,
      json_escape(w.key_prefix), w.seed, w.serializable, w.read_ratio, s.info.rate_ops_per_s,
      s.elapsed_s, s.stats.ok_ops, s.stats.not_found_ops, s.stats.else_ops, s.stats.error_ops(),
      errors, s.abandoned_ops, throughput_ops_per_s(s), us(h.min()), h.mean() / 1e3,
      us(h.percentile(50)), us(h.percentile(90)), us(h.percentile(99)), us(h.percentile(99.9)),
      us(h.max()));
}

Progress::Progress(RunControl& control, std::string label, std::FILE* out)
    : control_(control),
      label_(std::move(label)),
      out_(out),
      tty_(isatty(fileno(out)) == 1),
      last_time_(Clock::now()),
      thread_([this] { loop(); }) {}

Progress::~Progress() { stop(); }

void Progress::stop() {
  if (stop_.exchange(true)) return;
  thread_.join();
  print(/*final_line=*/true);
}

void Progress::loop() {
  // A bar redraws 5 times a second; plain lines (logs, CI) once a second.
  const auto interval = tty_ ? std::chrono::milliseconds(200) : std::chrono::milliseconds(1000);
  auto next = Clock::now() + interval;
  while (!stop_.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (Clock::now() < next) continue;
    next += interval;
    print(/*final_line=*/false);
  }
}

void Progress::print(bool final_line) {
  if (!control_.started()) return;  // Still connecting: no clock yet.
  const Clock::time_point now = Clock::now();
  const std::uint64_t done = control_.completed_ops.load();
  const std::uint64_t failed = control_.failed_ops.load();
  const double interval_s = std::chrono::duration<double>(now - last_time_).count();
  const double rate = interval_s > 0 ? static_cast<double>(done - last_completed_) / interval_s : 0;
  last_completed_ = done;
  last_time_ = now;
  const double elapsed_s = std::chrono::duration<double>(now - control_.start_time()).count();
  // Progress is the larger of the op and time fractions.
  double fraction =
      elapsed_s /
      std::chrono::duration<double>(control_.deadline() - control_.start_time()).count();
  if (control_.total_ops() > 0) {
    fraction =
        std::max(fraction, static_cast<double>(done) / static_cast<double>(control_.total_ops()));
  }
  fraction = std::clamp(fraction, 0.0, 1.0);
  if (final_line) fraction = 1.0;
  if (!tty_) {
    if (final_line) return;  // The summary follows.
    fmt::print(out_, "{} {:5.1f}s {} ops ({} errors) {:.0f} ops/s\n", label_, elapsed_s, done,
               failed, rate);
    std::fflush(out_);
    return;
  }
  constexpr int kBarWidth = 30;
  const int filled = static_cast<int>(fraction * kBarWidth);
  fmt::print(out_, "\r{} [{}{}] {:3.0f}% {:5.1f}s {} ops ({} errors) {:.0f} ops/s\x1b[K{}", label_,
             std::string(filled, '#'), std::string(kBarWidth - filled, ' '), fraction * 100,
             elapsed_s, done, failed, rate, final_line ? "\n" : "");
  std::fflush(out_);
}

}  // namespace dkv::bench
