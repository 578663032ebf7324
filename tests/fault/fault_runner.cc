// `make chaos`: longer fault runs over several seeds, with a progress line and
// a summary table. Exit code 1 if any run fails (its report folder is named).
//   fault_runner [--seconds=N] [--runs=N] [--seed=N] [--report-root=DIR]
// --seconds is each run's fault phase; run i uses seed+i. With no --seed (or
// DKV_FAULT_SEED) the first seed is random; it is printed first.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "run.h"

namespace {

bool flag(const std::string& arg, const std::string& name, std::string* value) {
  const std::string prefix = "--" + name + "=";
  if (arg.rfind(prefix, 0) != 0) return false;
  *value = arg.substr(prefix.size());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace dkv::fault;
  int seconds = 60;
  int runs = 3;
  std::uint64_t seed = seed_from_env();
  std::string report_root = "/tmp";
  for (int i = 1; i < argc; ++i) {
    std::string v;
    const std::string a = argv[i];
    if (flag(a, "seconds", &v)) {
      seconds = std::atoi(v.c_str());
    } else if (flag(a, "runs", &v)) {
      runs = std::atoi(v.c_str());
    } else if (flag(a, "seed", &v)) {
      seed = std::strtoull(v.c_str(), nullptr, 10);
    } else if (flag(a, "report-root", &v)) {
      report_root = v;
    } else {
      std::cerr << "usage: fault_runner [--seconds=N] [--runs=N] [--seed=N] [--report-root=DIR]\n";
      return 2;
    }
  }
  std::cout << "seed=" << seed << " runs=" << runs << " seconds=" << seconds
            << " nodes=3 keys=5 clients=6 (rest+grpc per node)" << std::endl;
  std::vector<RunResult> results;
  for (int i = 0; i < runs; ++i) {
    RunOptions o;
    o.seed = seed + static_cast<std::uint64_t>(i);
    o.nemesis_duration = std::chrono::seconds(seconds);
    o.report_root = report_root;
    o.replay = std::string(argv[0]) + " --seconds=" + std::to_string(seconds) +
               " --runs=1 --seed=" + std::to_string(o.seed);
    o.progress = [](const std::string& line) { std::cout << "  " << line << std::endl; };
    std::cout << "run " << i + 1 << "/" << runs << " seed=" << o.seed << std::endl;
    results.push_back(run_fault(o));
    const RunResult& r = results.back();
    std::cout << "  -> " << (r.passed() ? "PASS" : "FAIL") << " " << to_string(r.verdict)
              << (r.error.empty() ? "" : " (" + r.error + ")")
              << (r.report_dir.empty() ? "" : " report: " + r.report_dir) << std::endl;
  }
  bool all = true;
  std::printf("\n%-12s %8s %8s %8s %8s %7s %7s %8s %-10s %s\n", "seed", "ops", "ok", "failed",
              "unknown", "ops/s", "faults", "check_s", "verdict", "result");
  for (const auto& r : results) {
    all = all && r.passed();
    const double rate = r.seconds > 0 ? static_cast<double>(r.history.size()) / r.seconds : 0;
    const char* verdict = r.verdict == Verdict::kOk          ? "ok"
                          : r.verdict == Verdict::kViolation ? "VIOLATION"
                                                             : "unknown";
    const std::string result = r.passed() ? "PASS" : "FAIL " + r.report_dir;
    std::printf("%-12llu %8zu %8zu %8zu %8zu %7.0f %7d %8.1f %-10s %s\n",
                static_cast<unsigned long long>(r.seed), r.history.size(), r.ok, r.failed,
                r.unknown, rate, r.faults_injected, r.check_seconds, verdict, result.c_str());
  }
  return all ? 0 : 1;
}
