// Background: where a Node runs the work that leaves its raft thread, and
// NodeCanaries: rules a test build can break on purpose.
//
// A Node made with NodeOptions::background == nullptr (production) runs
// three threads of its own: the raft thread (Node::run, on the steady
// clock), the read thread (ReadServer) and a snapshot thread (Snapshotter).
// With a Background, it starts none: its owner calls Node::step() for each
// turn of the raft thread, with the time it chooses, and run() receives the
// read thread's batches and the snapshot thread's jobs, to run them later in
// an order it chooses. That is the node simulator's seam (tests/sim/
// node_sim.h): several real nodes in one thread, one seed, simulated time.
//
// Threading: run() is called on the raft thread (inside Node::step); the
// tasks it receives must run on the owner's one thread, never inside run().
// Lifetime: the Background must outlive the Node; tasks borrow the Node's
// parts, so the owner runs or drops them before destroying the Node (a
// read batch holds waiters that must complete: run it, see ReadServer).
#pragma once

#include <functional>

namespace dkv::node {

class Background {
 public:
  enum class Kind { kReads, kSnapshot };
  virtual ~Background() = default;
  virtual void run(Kind kind, std::function<void()> task) = 0;
};

// TEST ONLY, honoured only in a DKV_TEST_HOOKS build (Node::open clears them
// otherwise): each breaks one rule of the node, so that the simulator shows
// it catches the break (tests/sim/node_sim_canary_test.cc).
struct NodeCanaries {
  // A write's waiter completes OK once proposed, before it is applied.
  bool waiter_before_apply = false;
  // A read is served once its read index is known, before it is applied.
  bool read_before_applied = false;
  // A received snapshot file is renamed into place and installed without
  // its fdatasync.
  bool snapshot_before_fsync = false;
  // The lessor keeps its deadlines after it stops leading and goes on
  // proposing revokes for them, tagged with the term it led (a stalled
  // ex-leader's clock deciding): harmless while apply ignores revokes of
  // another term (kv/lease.h).
  bool lessor_after_demotion = false;
  // The lessor's revokes carry proposer term 0, a client's: apply can no
  // longer tell an old leader's revoke from a client's.
  bool revoke_without_term = false;
};

}  // namespace dkv::node
