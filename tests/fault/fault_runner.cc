// `make chaos`: longer fault runs over several seeds, with a progress line and
// a summary table. Exit code 1 if any run fails (its report folder is named).
//   fault_runner [--seconds=N] [--runs=N] [--seed=N] [--nodes=N]
//                [--faults=kill-leader,pause-leader,...] [--at-once=N]
//                [--report-root=DIR] [--report-always] [--peer-tls]
//                [--workload=registers|cas-counter|watch|lease]
// --seconds is each run's fault phase; run i uses seed+i. With no --seed (or
// DKV_FAULT_SEED) the first seed is random; it is printed first. --faults
// picks from kill-random, kill-leader, pause-random, pause-leader,
// restart-all, disk-fsync-fail, disk-torn-write (default: all of them),
// partition-* (root) and member-replace, member-move-leader (not together
// with partitions); "membership" and "partitions" stand for the mixes of
// tests/fault/README.md (each with kill -9 and pause of the leader);
// --at-once=N applies up to N of them
// together at each step (default 1).
//   fault_runner [--report-root=DIR] --check=history.txt
// re-checks a saved history (e.g. a report's) and reports a violation.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
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

bool parse_faults(const std::string& list, std::vector<dkv::fault::Fault>* out) {
  using dkv::fault::Fault;
  out->clear();
  std::size_t at = 0;
  while (at <= list.size()) {
    const std::size_t end = std::min(list.find(',', at), list.size());
    const std::string name = list.substr(at, end - at);
    // Shorthands: the membership and partition mixes the watch and lease
    // runs use (tests/fault/README.md), each with kill -9 and pause.
    if (name == "membership" || name == "partitions") {
      const std::vector<Fault> mix =
          name == "membership"
              ? std::vector<Fault>{Fault::kMemberReplace, Fault::kMemberMoveLeader,
                                   Fault::kKillLeader, Fault::kPauseLeader, Fault::kKillRandom}
              : std::vector<Fault>{Fault::kPartitionHalves,     Fault::kPartitionLeader,
                                   Fault::kPartitionAsymmetric, Fault::kPartitionBridge,
                                   Fault::kKillLeader,          Fault::kPauseLeader};
      out->insert(out->end(), mix.begin(), mix.end());
      at = end + 1;
      continue;
    }
    bool known = false;
    for (Fault f : {Fault::kKillRandom, Fault::kKillLeader, Fault::kPauseRandom,
                    Fault::kPauseLeader, Fault::kRestartAll, Fault::kPartitionHalves,
                    Fault::kPartitionLeader, Fault::kPartitionAsymmetric, Fault::kPartitionBridge,
                    Fault::kDiskFsyncFail, Fault::kDiskTornWrite, Fault::kMemberReplace,
                    Fault::kMemberMoveLeader, Fault::kMemberWipe, Fault::kMemberDisasterRecovery}) {
      if (name == dkv::fault::to_string(f)) {
        out->push_back(f);
        known = true;
      }
    }
    if (!known) return false;
    at = end + 1;
  }
  return !out->empty();
}

// --check=FILE: runs the checker over a saved history (a report's
// history.txt) and writes a report next to it if it finds a violation.
int check_file(const std::string& path, const std::string& report_root) {
  using namespace dkv::fault;
  std::ifstream in(path);
  if (!in) {
    std::cerr << "cannot read " << path << "\n";
    return 2;
  }
  std::vector<Op> history;
  std::size_t line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    Op op;
    if (!parse_op(line, &op)) {
      std::cerr << path << ":" << line_no << ": not an op: " << line << "\n";
      return 2;
    }
    history.push_back(op);
  }
  const CheckResult r = check(history);
  std::cout << path << ": " << history.size() << " ops: " << to_string(r.verdict) << std::endl;
  for (const auto& k : r.keys) {
    std::cout << "  " << k.key << ": " << to_string(k.verdict) << ", " << k.ops << " ops, "
              << k.steps << " steps" << std::endl;
  }
  if (r.verdict != Verdict::kViolation) return r.verdict == Verdict::kOk ? 0 : 1;
  const std::string dir = report_root + "/dkv-fault-check";
  write_report(dir, 0, "fault_runner --check=" + path, history, r);
  std::cout << "report in " << dir << std::endl;
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace dkv::fault;
  int seconds = 60;
  int runs = 3;
  std::uint64_t seed = seed_from_env();
  std::string report_root = "/tmp";
  int nodes = 3;
  int at_once = 1;
  bool report_always = false;
  bool peer_tls = false;
  std::vector<Fault> faults = RunOptions().faults;
  std::string faults_arg;
  Workload workload = Workload::kRegisters;
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
    } else if (flag(a, "check", &v)) {
      return check_file(v, report_root);
    } else if (a == "--report-always") {
      report_always = true;
    } else if (a == "--peer-tls") {
      peer_tls = true;
    } else if (flag(a, "workload", &v) &&
               (v == "registers" || v == "cas-counter" || v == "watch" || v == "lease")) {
      workload = v == "cas-counter" ? Workload::kCasCounter
                 : v == "watch"     ? Workload::kWatch
                 : v == "lease"     ? Workload::kLease
                                    : Workload::kRegisters;
    } else if (flag(a, "at-once", &v)) {
      at_once = std::atoi(v.c_str());
    } else if (flag(a, "nodes", &v)) {
      nodes = std::atoi(v.c_str());
    } else if (flag(a, "faults", &v)) {
      faults_arg = v;
      if (!parse_faults(v, &faults)) {
        std::cerr << "bad --faults: " << v << "\n";
        return 2;
      }
    } else {
      std::cerr << "usage: fault_runner [--seconds=N] [--runs=N] [--seed=N] [--nodes=N] "
                   "[--faults=a,b,...] [--at-once=N] [--report-root=DIR] [--report-always] "
                   "[--peer-tls] [--workload=registers|cas-counter|watch|lease] | "
                   "[--report-root=DIR] "
                   "--check=FILE\n";
      return 2;
    }
  }
  if (std::any_of(faults.begin(), faults.end(), is_partition) &&
      std::any_of(faults.begin(), faults.end(), is_membership)) {
    std::cerr << "--faults: membership faults (member-*) run on loopback clusters, partitions in "
                 "network namespaces: run them separately\n";
    return 2;
  }
  // Cluster settings from our environment, e.g. faster elections or frequent
  // snapshots: DKV_ELECTION_MS=300 DKV_SNAPSHOT_ENTRIES=200 fault_runner ...
  std::map<std::string, std::string> env = RunOptions().env;
  for (const char* name :
       {"DKV_ELECTION_MS", "DKV_HEARTBEAT_MS", "DKV_REQUEST_TIMEOUT_MS", "DKV_SNAPSHOT_ENTRIES",
        "DKV_LOG_LEVEL", "DKV_TEST_STALE_READS", "DKV_TEST_ACK_BEFORE_PERSIST"}) {
    if (const char* v = std::getenv(name); v != nullptr && *v != '\0') env[name] = v;
  }
  std::string env_line;
  for (const auto& [k, v] : env) env_line += " " + k + "=" + v;
  std::string fault_names;
  for (Fault f : faults) fault_names += std::string(fault_names.empty() ? "" : ",") + to_string(f);
  const bool cas = workload == Workload::kCasCounter;
  const int cas_clients = RunOptions().cas_clients_per_node;
  std::cout << "seed=" << seed << " runs=" << runs << " seconds=" << seconds << " nodes=" << nodes
            << " workload=" << to_string(workload)
            << (cas ? " counter=k0 clients=" + std::to_string(cas_clients * nodes) + " (" +
                          std::to_string(cas_clients) + " etcd per node)"
                : workload == Workload::kWatch
                    ? std::string(" prefix=w writers=2 watchers=3 (etcd Watch, resuming)")
                : workload == Workload::kLease
                    ? std::string(" lease clients=3 (etcd Lease: grant, keepalive, expiry)")
                    : " keys=5 clients=" + std::to_string(2 * nodes) +
                          " (1 rest + 1 grpc per node)")
            << " faults=" << fault_names << " at-once=" << at_once << (peer_tls ? " peer-tls" : "")
            << "\ncluster env:" << env_line << std::endl;
  std::vector<RunResult> results;
  for (int i = 0; i < runs; ++i) {
    RunOptions o;
    o.seed = seed + static_cast<std::uint64_t>(i);
    o.nemesis_duration = std::chrono::seconds(seconds);
    o.nodes = nodes;
    o.faults_at_once_max = at_once;
    o.report_always = report_always;
    o.env = env;
    o.peer_tls = peer_tls;
    o.faults = faults;
    o.workload = workload;
    o.report_root = report_root;
    o.replay =
        env_line.substr(1) + " " + std::string(argv[0]) + " --seconds=" + std::to_string(seconds) +
        " --runs=1 --seed=" + std::to_string(o.seed) + " --nodes=" + std::to_string(nodes) +
        " --at-once=" + std::to_string(at_once) +
        (faults_arg.empty() ? "" : " --faults=" + faults_arg) + (peer_tls ? " --peer-tls" : "") +
        (workload == Workload::kRegisters ? "" : " --workload=" + std::string(to_string(workload)));
    o.progress = [](const std::string& line) { std::cout << "  " << line << std::endl; };
    std::cout << "run " << i + 1 << "/" << runs << " seed=" << o.seed << std::endl;
    results.push_back(run_fault(o));
    const RunResult& r = results.back();
    std::cout << "  -> " << (r.passed() ? "PASS" : "FAIL") << " " << to_string(r.verdict)
              << (r.error.empty() ? "" : " (" + r.error + ")")
              << (r.report_dir.empty() ? "" : " report: " + r.report_dir) << std::endl;
    if (cas) {
      std::cout << "  counter: final " << r.counter_final << ", " << r.cas_acknowledged
                << " acknowledged increments, " << r.cas_uncertain << " of unknown outcome"
                << std::endl;
    }
    if (!r.workload_summary.empty()) std::cout << "  " << r.workload_summary << std::endl;
    if (!r.passed()) std::cout << "  replay: " << o.replay << std::endl;
  }
  bool all = true;
  std::printf("\n%-12s %8s %8s %8s %8s %7s %7s %8s %8s %-10s %s\n", "seed", "ops", "ok", "failed",
              "unknown", "ops/s", "faults", "replaced", "check_s", "verdict", "result");
  for (const auto& r : results) {
    all = all && r.passed();
    const double rate = r.seconds > 0 ? static_cast<double>(r.history.size()) / r.seconds : 0;
    const char* verdict = r.verdict == Verdict::kOk          ? "ok"
                          : r.verdict == Verdict::kViolation ? "VIOLATION"
                                                             : "unknown";
    const std::string result = r.passed() ? "PASS" : "FAIL " + r.report_dir;
    std::printf("%-12llu %8zu %8zu %8zu %8zu %7.0f %7d %8d %8.1f %-10s %s\n",
                static_cast<unsigned long long>(r.seed), r.history.size(), r.ok, r.failed,
                r.unknown, rate, r.faults_injected, r.member_replaces, r.check_seconds, verdict,
                result.c_str());
  }
  return all ? 0 : 1;
}
