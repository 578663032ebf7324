// node_sim: runs the node simulation (node_sim.h) over seeds.
//   node_sim --seed=N [--trace] [--canary=NAME]   one seed, replayable
//   node_sim --start=S --seeds=N [--canary=NAME]  many seeds, progress line
// With a canary, it stops at the first failing seed (the one that caught
// the broken rule). --expect-failure (ctest): exit 0 iff a seed failed.
// --mix-only: the canary's fault mix with the rule kept: the control run,
// which must pass where the canary fails.
//   --tmp=DIR: where the LMDB directories go (default /dev/shm, tmpfs).
// Prints `seed=` and the derived options first for single runs, and on any
// failure the seed and the one-line command that replays it with a trace.
// Exit code 0 if every seed passed (or, with --expect-failure, if one
// failed), 1 otherwise, 2 on bad usage.
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <string>

#include "node_sim.h"

namespace {

std::string g_argv0;
std::string g_canary;
char g_abort_line[512];

std::string replay_command(std::uint64_t seed) {
  std::string cmd = g_argv0 + " --seed=" + std::to_string(seed) + " --trace";
  if (!g_canary.empty()) cmd += " --canary=" + g_canary;
  return cmd;
}

void write_abort_line() {
  const std::size_t n = std::strlen(g_abort_line);
  if (n > 0 && write(2, g_abort_line, n) < 0) {
  }
}

// A DKV_ASSERT aborts: still name the seed and its replay.
void on_abort(int) {
  write_abort_line();
  std::signal(SIGABRT, SIG_DFL);
  std::raise(SIGABRT);
}

void arm_abort_line(std::uint64_t seed) {
  std::snprintf(g_abort_line, sizeof(g_abort_line), "FAIL seed=%llu (node stopped)\nreplay: %s\n",
                static_cast<unsigned long long>(seed), replay_command(seed).c_str());
}

// The node's log: with --trace, every line; otherwise only what stops a
// node (Node::fatal exits the process), followed by the seed to replay.
class SeedSink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    std::cerr << "  node log: " << std::string(msg.payload.data(), msg.payload.size()) << "\n";
    if (msg.level >= spdlog::level::critical) write_abort_line();
  }
  void flush_() override { std::cerr.flush(); }
};

bool flag(const char* arg, const char* name, std::string* value) {
  const std::size_t n = std::strlen(name);
  if (std::strncmp(arg, name, n) != 0 || arg[n] != '=') return false;
  *value = arg + n + 1;
  return true;
}

struct Args {
  std::uint64_t start = 0;
  std::uint64_t count = 1;
  bool single = false;
  bool trace = false;
  bool expect_failure = false;
  bool mix_only = false;
  std::string tmp = std::filesystem::exists("/dev/shm") ? "/dev/shm" : "/tmp";
};

// False on a bad flag.
bool parse_args(int argc, char** argv, Args* a) {
  for (int i = 1; i < argc; ++i) {
    std::string v;
    if (flag(argv[i], "--seed", &v)) {
      a->start = std::stoull(v);
      a->single = true;
    } else if (flag(argv[i], "--start", &v)) {
      a->start = std::stoull(v);
    } else if (flag(argv[i], "--seeds", &v)) {
      a->count = std::stoull(v);
    } else if (flag(argv[i], "--canary", &v) && dkv::node_sim::known_canary(v)) {
      g_canary = v;
    } else if (flag(argv[i], "--tmp", &v)) {
      a->tmp = v;
    } else if (std::strcmp(argv[i], "--trace") == 0) {
      a->trace = true;
    } else if (std::strcmp(argv[i], "--mix-only") == 0) {
      a->mix_only = true;
    } else if (std::strcmp(argv[i], "--expect-failure") == 0) {
      a->expect_failure = true;
    } else {
      return false;
    }
  }
  if (a->single) a->count = 1;
  return true;
}

void add(dkv::node_sim::Result* total, const dkv::node_sim::Result& r) {
  total->puts_ok += r.puts_ok;
  total->reads_ok += r.reads_ok;
  total->crashes += r.crashes;
  total->snapshots_sent += r.snapshots_sent;
  total->conf_changes += r.conf_changes;
  total->transfers += r.transfers;
  total->wipes += r.wipes;
  total->lease_grants += r.lease_grants;
  total->keepalives += r.keepalives;
  total->leases_expired += r.leases_expired;
}

void print_counts(const dkv::node_sim::Result& r) {
  std::cout << " puts=" << r.puts_ok << " reads=" << r.reads_ok << " crashes=" << r.crashes
            << " snapshots_sent=" << r.snapshots_sent << " removals=" << r.conf_changes
            << " transfers=" << r.transfers << " wipes=" << r.wipes
            << " lease_grants=" << r.lease_grants << " keepalives=" << r.keepalives
            << " expired=" << r.leases_expired << std::endl;
}

}  // namespace

int main(int argc, char** argv) {
  g_argv0 = argv[0];
  Args a;
  if (!parse_args(argc, argv, &a)) {
    std::cerr << "usage: node_sim [--seed=N [--trace]] [--start=S --seeds=N] "
                 "[--canary=waiter-before-apply|read-before-applied|snapshot-before-fsync|"
                 "old-leader-revoke "
                 "[--expect-failure|--mix-only]] [--tmp=DIR]\n";
    return 2;
  }
  std::signal(SIGABRT, on_abort);
  auto logger = std::make_shared<spdlog::logger>("node_sim", std::make_shared<SeedSink>());
  logger->set_level(a.trace ? spdlog::level::info : spdlog::level::critical);
  spdlog::set_default_logger(logger);
  const std::string tmp_root = a.tmp + "/dkv-node-sim-" + std::to_string(::getpid());
  std::uint64_t failed = 0;
  dkv::node_sim::Result total;
  for (std::uint64_t seed = a.start; seed < a.start + a.count; ++seed) {
    dkv::node_sim::Options o = dkv::node_sim::derive_options(seed, g_canary);
    o.trace = a.trace;
    o.canary_mix_only = a.mix_only;
    if (a.single) {
      dkv::node_sim::print_options(std::cout, o);
      std::cout << std::endl;
    }
    arm_abort_line(seed);
    const dkv::node_sim::Result r = dkv::node_sim::run(o, tmp_root);
    add(&total, r);
    if (!r.ok) {
      ++failed;
      std::cout << "FAIL ";
      dkv::node_sim::print_options(std::cout, o);
      std::cout << "\n  " << r.failure << "\n  replay: " << replay_command(seed) << std::endl;
      if (!g_canary.empty()) {
        std::cout << "canary " << g_canary << " caught at seed " << seed << std::endl;
        break;
      }
    } else if (a.single) {
      std::cout << "ok:";
      print_counts(r);
    }
    const std::uint64_t done = seed - a.start + 1;
    if (!a.single && (done % 50 == 0 || done == a.count)) {
      std::cout << "[" << done << "/" << a.count << "] seeds " << a.start << ".." << seed
                << " failed=" << failed;
      print_counts(total);
    }
  }
  std::error_code ec;
  std::filesystem::remove_all(tmp_root, ec);
  if (a.expect_failure) {
    if (failed == 0)
      std::cout << "canary " << g_canary << " NOT caught in " << a.count << " seeds\n";
    return failed > 0 ? 0 : 1;
  }
  return failed == 0 ? 0 : 1;
}
