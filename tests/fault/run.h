// One fault run: a real dkv cluster (LocalCluster from tests/process), client
// threads recording a history, a nemesis injecting faults on a schedule drawn
// from one seed, healing, convergence and final reads, then the checker. A
// failure leaves a report folder (seed, offending ops, HTML timeline, node
// logs, the fault schedule) whose path is in RunResult::report_dir.
//
// Threading: run_fault() runs on the calling thread (the nemesis) and starts
// and joins its client threads; it may not be called concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "checker.h"

namespace dkv::fault {

// What the nemesis can do. Partitions drop packets silently in a
// TestNetwork (tests/process/netns.h): a run whose faults include one puts
// every node in its own network namespace (needs root); clients are never
// cut. Heal removes every cut.
enum class Fault {
  kKillRandom,           // kill -9 a random node, restart it after the hold.
  kKillLeader,           // kill -9 the leader, restart it after the hold.
  kPauseRandom,          // SIGSTOP a random node, SIGCONT after the hold.
  kPauseLeader,          // SIGSTOP the leader, SIGCONT after the hold.
  kRestartAll,           // kill -9 every node, then start them all.
  kPartitionHalves,      // Random halves (a minority of n/2 nodes | the rest).
  kPartitionLeader,      // The leader isolated from every other node.
  kPartitionAsymmetric,  // The leader (or a random node) deaf or mute to all others.
  kPartitionBridge,      // Two halves that cannot talk; one node talks to both.

  // Disk faults through dkv's test-only WAL failpoints (src/wal/failpoints.h;
  // needs a DKV_TEST_HOOKS build): a random node is killed and restarted with
  // the failpoint armed after a seeded number of syncs/writes. It must stop on
  // its own (the expected exit, noted in the schedule; any other exit fails
  // the run); heal() restarts it without the failpoint.
  kDiskFsyncFail,  // wal-fsync-eio: fdatasync fails; the node must stop.
  kDiskTornWrite,  // wal-torn-write: half a write, then the process dies.

  // Membership changes under load (the REST API of the README's Membership
  // section; loopback clusters only: a run may not mix them with partitions).
  // member-replace removes a random up voter (the leader too) and waits until
  // the removal is committed, kills it and wipes its data directory; heal()
  // adds it back as a learner under the same id and address (force: the name
  // was removed), starts it with DKV_CLUSTER_STATE=existing, waits until it
  // has caught up and promotes it. A refused removal (FAILED_PRECONDITION,
  // e.g. no quorum left after it) is retried within the hold, then skipped;
  // a rejoin that fails is an error of the run.
  kMemberReplace,
  kMemberMoveLeader,  // POST /v0/leader to a random other voter that is up.
  // The README's "Data directory" recovery in place: kill -9 a random up
  // follower, delete its DKV_DB_PATH, start it again at once with the same
  // variables (same name, no membership change). It rejoins (no votes until
  // a leader caught it up). Only while every other node is up and no other
  // wiped node is still rejoining (the README's precondition); else skipped.
  kMemberWipe,
  // Disaster recovery (README, Membership): every node but the leader is
  // killed (kill -9) and its data wiped, the leader is killed too and
  // restarted alone with DKV_FORCE_NEW_CLUSTER=true (it holds every
  // acknowledged write: Leader Completeness), and serves alone for the hold;
  // heal() adds the others back as member-replace does (same names: force).
  kMemberDisasterRecovery,
};
const char* to_string(Fault f);
// A fault that needs the nodes in network namespaces.
bool is_partition(Fault f);
// A membership change (needs a loopback cluster).
bool is_membership(Fault f);

// What the clients do.
enum class Workload {
  // get/put/delete of keys k0..k<keys-1> through /v0 (REST and gRPC).
  kRegisters,
  // "Increment a counter with Txn" through etcd's KV service: each client
  // reads k0 and its mod_revision r, then Txn If(mod_revision(k0) == r)
  // Then(Put n+1) Else(Range k0) (counter_check.h). Needs the etcd API.
  kCasCounter,
  // etcd's Watch (etcd_workloads.h): writers and watchers that resume on
  // another member from the last delivered revision + 1; watch_check.h.
  kWatch,
  // etcd's Lease: grant, put with the lease, renew, revoke or let expire,
  // observing the key; lease_check.h with `lease_kept_slack`.
  kLease,
};
const char* to_string(Workload w);

struct RunOptions {
  std::uint64_t seed = 1;
  Workload workload = Workload::kRegisters;
  int cas_clients_per_node = 3;  // kCasCounter: etcd clients per node.
  // kLease: a lease is never kept past TTL + this after its last renewal
  // (the bound with a stable leader), each fault window (injection to end of
  // healing) that began before that bound extending it to the window's end
  // + 2 x DKV_ELECTION_MS (an election, then the new leader's extension by
  // an election timeout) + TTL + this, chained (lease_check.h,
  // tests/fault/README.md).
  std::chrono::milliseconds lease_kept_slack{3000};
  int nodes = 3;
  int keys = 5;
  int rest_clients_per_node = 1;
  int grpc_clients_per_node = 1;
  std::chrono::milliseconds nemesis_duration{20000};  // Faults happen during this.
  std::chrono::milliseconds quiet_after_heal{2000};   // Clients keep going healed.
  // Bound on each wait after healing: every node ready, a leader, the final
  // reads, convergence (a canary that breaks the cluster may lower it).
  std::chrono::milliseconds recovery_timeout{30000};
  std::chrono::milliseconds fault_gap_min{300}, fault_gap_max{1500};
  std::chrono::milliseconds fault_hold_min{300}, fault_hold_max{2500};
  // Each step applies 1..faults_at_once_max faults together (e.g. 2 on five
  // nodes: kill one node while the leader is paused), then heals them all.
  int faults_at_once_max = 1;
  std::vector<Fault> faults = {Fault::kKillRandom,   Fault::kKillLeader, Fault::kPauseRandom,
                               Fault::kPauseLeader,  Fault::kRestartAll, Fault::kDiskFsyncFail,
                               Fault::kDiskTornWrite};
  // The first steps take these faults, in order, before random draws from
  // `faults` (a short run that must include a given fault).
  std::vector<Fault> first_faults;
  std::map<std::string, std::string> env = {{"DKV_REQUEST_TIMEOUT_MS", "1000"}};
  // Peer mutual TLS between the nodes (DKV_PEER_*): a peer CA and one member
  // certificate made for the run with `openssl`. Clients stay plain.
  bool peer_tls = false;
  std::chrono::milliseconds client_timeout{3000};
  // The canary: workers' gets ask for serializable (local, maybe stale)
  // reads but are checked as linearizable ones. Final reads stay linearizable.
  bool serializable_reads = false;
  std::string report_root;     // Reports go to <report_root>/dkv-fault-seed-<seed>.
  bool report_always = false;  // Also write the report folder of a run that passed.
  std::string replay;          // The command line that replays this seed.
  // Called about every `progress_every` during the run (nemesis thread).
  std::function<void(const std::string& line)> progress;
  std::chrono::milliseconds progress_every{5000};
};

struct RunResult {
  std::uint64_t seed = 0;
  Verdict verdict = Verdict::kUnknown;
  std::vector<Op> history;
  std::size_t ok = 0, failed = 0, unknown = 0;
  int faults_injected = 0;
  int failpoint_stops = 0;   // Nodes that stopped on their armed failpoint, as expected.
  int member_replaces = 0;   // member-replace cycles completed (removed, re-added, promoted).
  int member_wipes = 0;      // member-wipe restarts done (killed, data wiped, restarted).
  double seconds = 0;        // Clients' running time.
  double check_seconds = 0;  // The checker's time.
  bool converged = false;    // Every node applied the same and serves the same data.
  bool live = false;         // After healing, final reads succeeded on every node.
  std::string error;         // Why the run failed, if it did ("" on success).
  std::string report_dir;    // Non-empty if a report was written.
  std::string schedule;      // The faults injected, one per line.
  // [injected, healed] of each fault step, ns since the clients' epoch.
  std::vector<std::pair<std::int64_t, std::int64_t>> fault_windows_ns;
  // kCasCounter: the counter's final value, the acknowledged successful
  // txns and those of unknown outcome (counter_check.h).
  std::int64_t counter_final = -1, cas_acknowledged = 0, cas_uncertain = 0;
  // kWatch, kLease: what the checker saw ("3984 events, 2 resumes, ...")
  // and the recorded history as text (workload-history.txt of a report).
  std::string workload_summary;
  std::string workload_history;
  bool passed() const { return error.empty() && verdict == Verdict::kOk && converged && live; }
};

RunResult run_fault(const RunOptions& options);

// The seed from DKV_FAULT_SEED, else a fresh random one.
std::uint64_t seed_from_env();

}  // namespace dkv::fault
