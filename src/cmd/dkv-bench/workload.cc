// src/cmd/dkv-bench/workload.cc
// Key choice, run pacing and per-client stats of dkv-bench.
#include "workload.h"

#include <algorithm>
#include <cassert>
#include <cctype>
#include <stdexcept>

namespace dkv::bench {

std::optional<Clock::duration> parse_duration(const std::string& text) {
  std::size_t digits_end = 0;
  double amount = 0;
  try {
    amount = std::stod(text, &digits_end);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (!(amount >= 0)) return std::nullopt;  // Also rejects NaN.
  const std::string unit = text.substr(digits_end);
  double unit_s = 0;
  if (unit == "us") {
    unit_s = 1e-6;
  } else if (unit == "ms") {
    unit_s = 1e-3;
  } else if (unit == "s") {
    unit_s = 1;
  } else if (unit == "m") {
    unit_s = 60;
  } else if (unit == "h") {
    unit_s = 3600;
  } else {
    return std::nullopt;
  }
  return std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(amount * unit_s));
}

std::string base64_encode(const std::string& bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t n = static_cast<std::uint8_t>(bytes[i]) << 16 |
                            static_cast<std::uint8_t>(bytes[i + 1]) << 8 |
                            static_cast<std::uint8_t>(bytes[i + 2]);
    out += kAlphabet[n >> 18 & 63];
    out += kAlphabet[n >> 12 & 63];
    out += kAlphabet[n >> 6 & 63];
    out += kAlphabet[n & 63];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest == 0) return out;
  std::uint32_t n = static_cast<std::uint8_t>(bytes[i]) << 16;
  if (rest == 2) n |= static_cast<std::uint8_t>(bytes[i + 1]) << 8;
  out += kAlphabet[n >> 18 & 63];
  out += kAlphabet[n >> 12 & 63];
  out += rest == 2 ? kAlphabet[n >> 6 & 63] : '=';
  out += '=';
  return out;
}

std::string percent_encode(const std::string& text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

std::optional<std::string> check_key_space(const Workload& w) {
  if (w.key_space == 0) return "--key-space must be at least 1";
  if (w.key_size_bytes == 0) return "--key-size must be at least 1";
  const std::size_t digits = std::to_string(w.key_space - 1).size();
  if (digits > w.key_size_bytes) {
    return "--key-size " + std::to_string(w.key_size_bytes) + " is too small for --key-space " +
           std::to_string(w.key_space) + " (needs " + std::to_string(digits) + " bytes)";
  }
  return std::nullopt;
}

std::string format_key(std::uint64_t index, std::size_t key_size_bytes) {
  std::string digits = std::to_string(index);
  assert(digits.size() <= key_size_bytes);
  return std::string(key_size_bytes - digits.size(), '0') + digits;
}

std::string workload_key(const Workload& w, std::uint64_t index) {
  return w.key_prefix + format_key(index, w.key_size_bytes);
}

std::string prefix_range_end(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xff) end.pop_back();
  if (end.empty()) return std::string(1, '\0');
  end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
  return end;
}

std::string make_value(const Workload& w) {
  std::mt19937_64 rng(w.seed ^ 0x76616c7565ULL);  // "value"
  std::uniform_int_distribution<int> letter('a', 'z');
  std::string value(w.value_size_bytes, 'a');
  for (char& c : value) c = static_cast<char>(letter(rng));
  return value;
}

KeyChooser::KeyChooser(const Workload& w, int client_id)
    : workload_(w), rng_(w.seed * 0x9e3779b97f4a7c15ULL + static_cast<std::uint64_t>(client_id)) {}

OpKind KeyChooser::next_kind() {
  if (workload_.mode == Mode::kRange) return OpKind::kRange;
  if (workload_.mode == Mode::kCas) return OpKind::kCas;
  if (workload_.read_ratio <= 0) return OpKind::kPut;
  if (workload_.read_ratio >= 1) return OpKind::kGet;
  return std::uniform_real_distribution<double>(0, 1)(rng_) < workload_.read_ratio ? OpKind::kGet
                                                                                   : OpKind::kPut;
}

std::uint64_t KeyChooser::next_key_index(std::uint64_t seq) {
  if (workload_.sequential_keys) return seq % workload_.key_space;
  return std::uniform_int_distribution<std::uint64_t>(0, workload_.key_space - 1)(rng_);
}

RunControl::RunControl(std::uint64_t total_ops, Clock::duration duration, double rate_ops_per_s)
    : total_ops_(total_ops), duration_(duration), rate_ops_per_s_(rate_ops_per_s) {}

void RunControl::start() {
  start_ = Clock::now();
  deadline_ = start_ + duration_;
  started_.store(true);
}

std::optional<Slot> RunControl::claim() {
  if (stopped_.load()) return std::nullopt;
  const Clock::time_point now = Clock::now();
  if (now >= deadline_) {
    stop();
    return std::nullopt;
  }
  const std::uint64_t seq = next_seq_.fetch_add(1);
  if (total_ops_ != 0 && seq >= total_ops_) {
    stop();
    return std::nullopt;
  }
  Slot slot{seq, now};
  if (rate_ops_per_s_ > 0) {
    const auto offset = std::chrono::duration<double>(static_cast<double>(seq) / rate_ops_per_s_);
    slot.send_at = start_ + std::chrono::duration_cast<Clock::duration>(offset);
    // An operation scheduled after the deadline is not sent.
    if (slot.send_at >= deadline_) {
      stop();
      return std::nullopt;
    }
  }
  return slot;
}

void ClientStats::merge(const ClientStats& other) {
  latency_ns.merge(other.latency_ns);
  ok_ops += other.ok_ops;
  not_found_ops += other.not_found_ops;
  else_ops += other.else_ops;
  for (const auto& [cause, n] : other.errors) errors[cause] += n;
}

std::uint64_t ClientStats::error_ops() const {
  std::uint64_t n = 0;
  for (const auto& [cause, count] : errors) n += count;
  return n;
}

void LockedStats::record_ok(Clock::time_point sent, bool not_found, RunControl& control,
                            bool else_branch) {
  const auto elapsed = Clock::now() - sent;
  const auto elapsed_ns = std::max<std::int64_t>(
      0, std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count());
  {
    std::lock_guard lock(mu_);
    stats_.latency_ns.record(static_cast<std::uint64_t>(elapsed_ns));
    stats_.ok_ops++;
    if (not_found) stats_.not_found_ops++;
    if (else_branch) stats_.else_ops++;
  }
  control.completed_ops.fetch_add(1, std::memory_order_relaxed);
}

void LockedStats::record_error(const std::string& cause, RunControl& control) {
  {
    std::lock_guard lock(mu_);
    stats_.errors[cause]++;
  }
  control.completed_ops.fetch_add(1, std::memory_order_relaxed);
  control.failed_ops.fetch_add(1, std::memory_order_relaxed);
}

ClientStats LockedStats::snapshot() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace dkv::bench
