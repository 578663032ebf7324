// Deterministic simulation of whole dkv nodes (issue 16, FoundationDB's way
// applied to the server): 3 or 5 real node::Node stacks (Applier, ReadPath,
// Snapshotter, ReadyDriver, recover(), the WAL, LMDB) run in one thread
// with simulated time, driven through the seams of node/background.h:
//   - the raft thread's turns are Node::step(now) calls the simulator makes;
//   - the read thread's batches and the snapshot thread's jobs are tasks it
//     runs after a seeded delay (so writes and snapshots interleave);
//   - the network is simulated: messages dropped, delayed and reordered per
//     seed, and one machine at a time may be cut off (a partition); a
//     kSnap goes file to file through the node's own snapshot
//     source and sink (node/snapshot_transfer.h), as the transport does;
//   - the WAL and the snapshot files live on wal::MemFileSystem.
// The store is the real LMDB engine (kv::Store) in a temporary directory
// under /dev/shm (tmpfs), not a model: the store is where apply, reads,
// snapshots and recovery meet, and a model would test the model. A
// process crash keeps LMDB's files (the page cache survives it); a machine
// crash also drops what the WAL and snapshot files did not fsync
// (MemFileSystem::crash), and changes the node's boot id, so that LMDB
// commits never synced make the store rebuild itself from the snapshot
// file and the WAL at restart (kv/store.h, the unsynced marker), exactly as
// after a real power loss. Restarts go through the real recover().
// Faults and operations at seeded times: process and machine crashes, a
// machine that loses its whole disk and rejoins under its name
// (NodeOptions::rejoining), partitions, leader moves, membership changes
// (a spare machine added as a learner, promoted, another voter removed),
// snapshots every few entries and their transfers to lagging followers.
// Lease clients grant, attach keys, keep alive and revoke; expiry is the
// real Lessor's on the simulated leader's clock, checked by
// node_sim_leases.h (never early, keys gone in one revision).
// Clients put, delete and read (linearizable ReadIndex reads) through Node::write
// and Node::read; the history, with invoke and complete times in simulated
// time, goes to the fault suite's linearizability checker
// (tests/fault/checker.h, used as a library). After the faulty phase the
// cluster heals and must converge: every node applies the same state.
// One seed derives every option and every choice; a failure prints the
// seed and the command that replays it.
// Test code: may print; no wall clock.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

namespace dkv::node_sim {

struct Options {
  std::uint64_t seed = 0;
  int nodes = 3;               // Voters: 3 or 5.
  int faulty_ms = 8000;        // Simulated time of the faulty phase.
  int heal_ms = 8000;          // Then no faults: the cluster must converge.
  int clients = 3;             // Each has one op in flight at a time.
  int keys = 3;                // Registers the clients share.
  int op_permille = 150;       // Per client per ms of idle time: start an op.
  int put_pct = 50;            // Of the ops: puts (the rest are reads).
  int drop_pct = 2;            // Message loss.
  int delay_ms_max = 20;       // Delivery delay is 0..max (reordering).
  int task_delay_ms_max = 5;   // A read batch / snapshot job runs 0..max later.
  int crash_permille = 0;      // Per node per 100 ms: crash.
  int machine_crash_pct = 50;  // Of the crashes: the machine's (loses unsynced).
  int restart_permille = 100;  // Per down node per 100 ms: restart.
  // Per 100 ms: a step of the membership script (add a spare machine as a
  // learner, start it, promote it, remove another voter); 0: none.
  int partition_permille = 0;  // Per 100 ms: cut one machine off from the others.
  int heal_permille = 100;     // Per 100 ms: reconnect it.
  int wipe_pct = 0;            // Of the crashes: the disk is lost too (rejoins empty).
  int transfer_permille = 0;   // Per 100 ms: the leader hands leadership over.
  int membership_permille = 0;
  // Lease clients (node_sim_leases.h) and, per client per ms of idle time,
  // the chance to start a lease operation; 0 clients: no leases.
  int lease_clients = 0;
  int lease_op_permille = 50;
  std::uint64_t snapshot_entries = 100'000;  // NodeOptions::snapshot_entries.
  std::uint64_t catchup_entries = 5'000;     // NodeOptions::snapshot_catchup_entries.
  std::string canary;
  bool canary_mix_only = false;  // The canary's fault mix, the rule kept (controls). // "" or a
                                 // NodeCanaries field's name.
  bool trace = false;            // Events to stderr.
};

// Derives every option from the seed; `canary` switches one on and biases
// the mix toward what exposes it.
Options derive_options(std::uint64_t seed, const std::string& canary = "");
void print_options(std::ostream& out, const Options& o);
// The canaries' names (background.h, NodeCanaries), for --canary.
bool known_canary(const std::string& name);

struct Result {
  bool ok = true;
  std::string failure;
  std::uint64_t puts_ok = 0;
  std::uint64_t reads_ok = 0;
  std::uint64_t crashes = 0;
  std::uint64_t snapshots_sent = 0;
  std::uint64_t wipes = 0;
  std::uint64_t transfers = 0;     // Leader moves that completed.
  std::uint64_t conf_changes = 0;  // Removals applied (the script's last step).
  std::uint64_t lease_grants = 0;
  std::uint64_t keepalives = 0;      // Acknowledged.
  std::uint64_t leases_expired = 0;  // Revoked by a leader's clock.
};

// Runs one seed. `tmp_root`: where the LMDB directories go (removed after).
Result run(const Options& options, const std::string& tmp_root);

}  // namespace dkv::node_sim
