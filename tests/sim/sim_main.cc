// raft_sim: runs the deterministic cluster simulation over seeds.
//   raft_sim --seed=N [--trace] [--canary=NAME]   one seed, replayable
//   raft_sim --start=S --seeds=N [--canary=NAME]  many seeds, progress line
//   --schedule=NAME instead of --canary: the canary's biased schedule with
//   the rule intact (as Canary.BiasedSchedulesPassWithoutTheCanary runs it)
// Prints `seed=` and the derived options first for single runs, and on any
// failure the one-line command that replays it with a trace. Exit code 0
// if every seed passed, 1 otherwise.
#include <unistd.h>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include "sim.h"

namespace {

std::string g_argv0;
std::string g_canary;
bool g_rule_intact = false;  // --schedule: the canary's schedule, no broken rule.
std::uint64_t g_current_seed = 0;
char g_abort_line[512];

std::string replay_command(std::uint64_t seed) {
  std::string cmd = g_argv0 + " --seed=" + std::to_string(seed) + " --trace";
  if (!g_canary.empty()) cmd += (g_rule_intact ? " --schedule=" : " --canary=") + g_canary;
  return cmd;
}

// A DKV_ASSERT in the core aborts: still name the seed and its replay.
void on_abort(int) {
  const std::size_t n = std::strlen(g_abort_line);
  if (n > 0 && write(2, g_abort_line, n) < 0) {
  }
  std::signal(SIGABRT, SIG_DFL);
  std::raise(SIGABRT);
}

void arm_abort_line(std::uint64_t seed) {
  g_current_seed = seed;
  std::snprintf(g_abort_line, sizeof(g_abort_line), "FAIL seed=%llu (assertion)\nreplay: %s\n",
                static_cast<unsigned long long>(seed), replay_command(seed).c_str());
}

bool flag(const char* arg, const char* name, std::string* value) {
  const std::size_t n = std::strlen(name);
  if (std::strncmp(arg, name, n) != 0 || arg[n] != '=') return false;
  *value = arg + n + 1;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  g_argv0 = argv[0];
  std::uint64_t start = 0;
  std::uint64_t count = 1;
  bool single = false;
  bool trace = false;
  for (int i = 1; i < argc; ++i) {
    std::string v;
    if (flag(argv[i], "--seed", &v)) {
      start = std::stoull(v);
      single = true;
    } else if (flag(argv[i], "--start", &v)) {
      start = std::stoull(v);
    } else if (flag(argv[i], "--seeds", &v)) {
      count = std::stoull(v);
    } else if (flag(argv[i], "--canary", &v)) {
      g_canary = v;
    } else if (flag(argv[i], "--schedule", &v)) {
      g_canary = v;
      g_rule_intact = true;
    } else if (std::strcmp(argv[i], "--trace") == 0) {
      trace = true;
    } else {
      std::cerr << "usage: raft_sim [--seed=N [--trace]] [--start=S --seeds=N] "
                   "[--canary=NAME | --schedule=NAME]\n";
      return 2;
    }
  }
  std::signal(SIGABRT, on_abort);
  if (single) count = 1;
  std::uint64_t failed = 0;
  std::uint64_t committed = 0;
  std::uint64_t reads = 0;
  std::uint64_t elections = 0;
  std::uint64_t crashes = 0;
  std::uint64_t snapshots = 0;
  std::uint64_t conf_changes = 0;
  std::uint64_t wipes = 0;
  for (std::uint64_t seed = start; seed < start + count; ++seed) {
    dkv::sim::Options o = dkv::sim::derive_options(seed, g_canary);
    if (g_rule_intact) {
      o.canaries = dkv::raft::TestCanaries{};
      o.model_canary = dkv::sim::ModelCanary::kNone;
    }
    o.trace = trace;
    if (single) {
      dkv::sim::print_options(std::cout, o);
      std::cout << std::endl;
    }
    arm_abort_line(seed);
    const dkv::sim::Result r = dkv::sim::run(o);
    committed += r.committed;
    reads += r.reads_checked;
    elections += r.elections;
    crashes += r.crashes;
    snapshots += r.snapshots_sent;
    conf_changes += r.conf_changes;
    wipes += r.wipes;
    if (!r.ok) {
      ++failed;
      std::cout << "FAIL ";
      dkv::sim::print_options(std::cout, o);
      std::cout << "\n  " << r.failure << "\n  replay: " << replay_command(seed) << std::endl;
    } else if (single) {
      std::cout << "ok: committed=" << r.committed << " reads=" << r.reads_checked
                << " elections=" << r.elections << " crashes=" << r.crashes
                << " snapshots=" << r.snapshots_sent << " conf_changes=" << r.conf_changes
                << " wipes=" << r.wipes << std::endl;
    }
    const std::uint64_t done = seed - start + 1;
    if (!single && (done % 50 == 0 || done == count)) {
      std::cout << "[" << done << "/" << count << "] seeds " << start << ".." << seed
                << " failed=" << failed << " committed=" << committed << " reads=" << reads
                << " elections=" << elections << " crashes=" << crashes
                << " snapshots=" << snapshots << " conf_changes=" << conf_changes
                << " wipes=" << wipes << std::endl;
    }
  }
  return failed == 0 ? 0 : 1;
}
