// Deterministic whole-cluster simulation of raft::RawNode (DESIGN.md,
// testing layer 2). One thread, one seed: the seed derives every option
// (cluster size, fault rates, ...) and drives every random choice, so a
// failing seed replays exactly. The simulated world has a network with
// loss, duplication, delay and reordering; symmetric, asymmetric and
// leader-isolating partitions; crashes that lose whatever was not persisted
// through a Ready (the fsync is asynchronous and may be cut short);
// restarts from the persisted state, or from an empty disk under the same
// id (a wiped data directory, rejoining as the node does); clients that write and do ReadIndex
// reads; membership changes; snapshots and compaction. The state machine is
// etcd's data model (etcd_model.h; clients send /v0 puts and deletes, etcd
// Puts, prefix DeleteRanges and CAS Txns); dkv's real kv::Store applies the
// committed log beside a reference model and must agree with it entry by
// entry (store_oracle.h), and every node's keys and revisions must equal the
// reference's at every index.
// Invariants are checked after every step; liveness after healing.
// Test code: may print, and uses no wall clock.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include "etcd_model.h"
#include "raft/raft.h"

namespace dkv::sim {

struct Options {
  std::uint64_t seed = 0;
  int nodes = 3;                            // Initial voters: 1, 3 or 5.
  int ticks = 300;                          // Ticks of the faulty phase.
  int substeps_per_tick = 8;                // Network/disk granularity within a tick.
  int max_delay_substeps = 12;              // Message delay is 1..max (reordering).
  bool ordered_links = false;               // Per-link FIFO, like the transport streams.
  int max_fsync_substeps = 6;               // Persisting a Ready takes 0..max.
  std::uint64_t max_msg_bytes = 256;        // Raft Config: entries per MsgApp.
  std::size_t max_inflight = 4;             // Raft Config: in-flight MsgApp window.
  std::uint64_t max_inflight_bytes = 0;     // Raft Config (0 = unlimited).
  std::uint64_t max_uncommitted_bytes = 0;  // Raft Config (0 = unlimited).
  int drop_pct = 5;                         // Message loss, percent.
  int dup_pct = 3;                          // Message duplication, percent.
  int crash_permille = 4;                   // Per node per tick.
  int restart_permille = 60;                // Per down node per tick.
  int wipe_pct = 0;                         // Percent of restarts that lose the disk first.
  int partition_permille = 8;               // Per tick: start a partition.
  int heal_permille = 40;                   // Per tick: heal the partitions.
  int write_permille = 300;                 // Per tick: a client write.
  int read_permille = 200;                  // Per tick: a client ReadIndex read.
  int etcd_write_pct = 30;      // Writes that are etcd requests (Put, DeleteRange, Txn), not /v0.
  int snapshot_permille = 20;   // Per tick: snapshot + compact one node.
  int transfer_permille = 0;    // Per tick: the leader hands leadership over.
  int membership_permille = 0;  // Per tick: try a membership change (nodes >= 3).
  int leader_crash_bias = 0;    // Extra per-mille crash chance for leaders.
  int leader_read_bias = 0;     // Percent of reads sent to a (believed) leader.
  bool pre_vote = true;
  bool check_quorum = true;
  int max_read_rounds_in_flight = 0;              // raft::Config's; 1 coalesces ReadIndex rounds.
  bool read_rounds_to_quorum = true;              // raft::Config's; rounds to a quorum only.
  bool count_read_requester = true;               // raft::Config's; a forwarded read is an ack.
  bool leader_persists_async = false;             // raft::Config's; leaders sync off the loop.
  raft::TestCanaries canaries;                    // Test only: break one rule.
  ModelCanary model_canary = ModelCanary::kNone;  // Test only: break a revision rule.
  bool trace = false;                             // Print every event to stderr.
};

// Derives all options from the seed (fault mix varies per seed). `canary`
// names a canary to switch on ("" for none) and biases the schedule toward
// the faults that expose it.
Options derive_options(std::uint64_t seed, const std::string& canary = "");
void print_options(std::ostream& out, const Options& o);

struct Result {
  bool ok = true;
  std::string failure;  // First violated invariant, if any.
  std::uint64_t committed = 0;
  std::uint64_t reads_checked = 0;
  std::uint64_t elections = 0;
  std::uint64_t crashes = 0;
  std::uint64_t snapshots_sent = 0;
  std::uint64_t conf_changes = 0;
  std::uint64_t wipes = 0;  // Restarts from an empty disk under the same id.
};

Result run(const Options& options);

}  // namespace dkv::sim
