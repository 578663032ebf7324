// FeatureGate: the leader's half of the mixed-version feature gate
// (kv/feature_level.h, docs/architecture.md "Feature gate"). While this
// node leads, it asks every member (voters and learners) which feature
// level its dkv applies and which level it has applied, and proposes
// Op::kSetFeatureLevel(n) once all of them apply n and n is above the
// committed level. A member that does not answer counts as level 0 (it may
// run an older dkv): it holds the gate shut. It also proposes the committed
// level again, when every member applies it: once per term (so that the
// log holds it from the first leader's term on: a member that joins by
// replaying the log from index 1, or whose store is rebuilt from the WAL,
// never sees the level a new cluster bootstraps with, which is not an
// entry), and at most once per kCatchUpInterval while a member reports
// that it has not recorded it (e.g. one restored from an older image).
// Proposals go through Node::write, i.e. the log; nothing else is written.
//
// Threading: tick() from one thread (cmd/dkv's serve loop, every 100 ms);
// a round runs on the gate's own thread, one at a time, and blocks on the
// query (at most kAskTimeout per member) and on its proposal.
// Lifetime: `node` must outlive the FeatureGate (its destructor joins).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "kv/feature_level.h"
#include "util/status.h"

namespace dkv::node {

class Node;

// What one member says of the gate (dkv.v0.Cluster/Status).
struct MemberFeatureLevels {
  bool answered = false;
  kv::FeatureLevel supported = kv::FeatureLevel::kNone;  // What its dkv applies.
  kv::FeatureLevel committed = kv::FeatureLevel::kNone;  // What it has applied.
};

// Asks the member at RPC address `address`, within `timeout`.
using FeatureLevelQuery = std::function<util::Status(
    const std::string& address, std::chrono::milliseconds timeout, MemberFeatureLevels* out)>;

// The leader's decision after a round (pure): the level to propose, or none.
// `members` includes the leader. `new_term`: the committed level was not
// proposed again in this term yet. `catch_up_allowed`: a catch-up proposal
// of the committed level, for a member that reports it has not recorded
// it, may be made now.
std::optional<kv::FeatureLevel> feature_gate_proposal(
    kv::FeatureLevel committed, const std::vector<MemberFeatureLevels>& members, bool new_term,
    bool catch_up_allowed);

class FeatureGate {
 public:
  static constexpr std::chrono::milliseconds kRoundInterval{1000};      // Below our level.
  static constexpr std::chrono::milliseconds kIdleRoundInterval{5000};  // At it.
  static constexpr std::chrono::milliseconds kCatchUpInterval{10000};
  static constexpr std::chrono::milliseconds kAskTimeout{1000};
  static constexpr std::chrono::milliseconds kProposeTimeout{5000};

  FeatureGate(Node* node, FeatureLevelQuery query) : node_(node), query_(std::move(query)) {}
  ~FeatureGate();
  FeatureGate(const FeatureGate&) = delete;
  FeatureGate& operator=(const FeatureGate&) = delete;

  // Starts a round when one is due and none is running.
  void tick();

 private:
  void round();
  std::vector<MemberFeatureLevels> ask_members(std::string* holding_back);
  // True once applied here. `again`: the committed level, proposed again.
  bool propose(kv::FeatureLevel level, bool again);

  Node* const node_;
  const FeatureLevelQuery query_;
  std::chrono::steady_clock::time_point next_round_{};  // tick()'s thread.
  std::atomic<bool> running_{false};
  std::thread thread_;
  // The round thread's (one round at a time).
  std::chrono::steady_clock::time_point last_catch_up_{};
  std::uint64_t affirmed_term_ = 0;  // The committed level was proposed again in it.
  std::string last_holding_back_;
};

}  // namespace dkv::node
