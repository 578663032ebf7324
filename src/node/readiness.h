// Readiness: what /readyz and gRPC health report for a node, as a small
// state machine fed by the raft thread (no I/O, no clock: time is ticks).
//
// A node is ready when
//   1. it knows a leader;
//   2. a readiness round (a ReadIndex of its own, re-issued every election
//      timeout) was answered under that leader within the last
//      kStaleRounds election timeouts: a quorum still confirms the leader;
//   3. it has caught up once under that leader: applied >= the index the
//      first answered round returned (everything a linearizable read would
//      have waited for then);
//   4. it is not falling behind: applied >= the index returned by the round
//      before the latest one, i.e. it has applied what was committed one
//      re-check period (an election timeout) ago.
// New commits alone never make a ready node unready: a write loop keeps the
// latest round's index ahead of applied, which (4) deliberately tolerates.
// A node that fails (4) must satisfy (3) again against the latest round.
// Threading: not thread-safe; the raft thread only.
#pragma once

#include <cstdint>

#include "raft/types.h"

namespace dkv::node {

class Readiness {
 public:
  // Election timeouts without an answered round before a node is unready.
  static constexpr int kStaleRounds = 3;

  explicit Readiness(int election_ticks = 10) : election_ticks_(election_ticks) {}

  // The leader changed (or was lost): confirm again under the new one.
  void on_leader_change();
  // A readiness round was answered with `index` at tick `now_tick`.
  void on_answer(raft::Index index, std::uint64_t now_tick);
  // Whether the node is ready now; updates the caught-up state.
  bool evaluate(bool leader_known, raft::Index applied, std::uint64_t now_tick);
  // True while no round has been answered under the current leader: the
  // caller then asks at every tick instead of every election timeout.
  bool unconfirmed() const { return latest_index_ == 0; }

 private:
  int election_ticks_;
  raft::Index latest_index_ = 0;    // 0: no answer under this leader yet.
  raft::Index previous_index_ = 0;  // The answer before the latest one.
  std::uint64_t answered_tick_ = 0;
  bool caught_up_ = false;
};

}  // namespace dkv::node
