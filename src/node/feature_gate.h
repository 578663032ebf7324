// FeatureGate: the leader's half of the mixed-version feature gate
// (kv/feature_level.h, docs/architecture.md "Feature gate"). While this
// node leads, it asks every member (voters and learners) which feature
// level its dkv applies and which level it has applied, and proposes
// Op::kSetFeatureLevel(n) once all of them apply n and n is above the
// committed level. A member that does not answer counts as level 0 (it may
// run an older dkv): it holds the gate shut. It also proposes the committed
// level again (at most once per kCatchUpInterval) when every member applies
// it but one has not recorded it: a member that joined by replaying the log,
// or whose store was rebuilt from the WAL, never saw the level a new
// cluster bootstraps with (it is not an entry), and would refuse etcd writes.
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
// `members` includes the leader. `catch_up_allowed`: a catch-up proposal of
// the committed level may be made now.
std::optional<kv::FeatureLevel> feature_gate_proposal(
    kv::FeatureLevel committed, const std::vector<MemberFeatureLevels>& members,
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
  void propose(kv::FeatureLevel level, bool catch_up);

  Node* const node_;
  const FeatureLevelQuery query_;
  std::chrono::steady_clock::time_point next_round_{};  // tick()'s thread.
  std::atomic<bool> running_{false};
  std::thread thread_;
  // The round thread's (one round at a time).
  std::chrono::steady_clock::time_point last_catch_up_{};
  std::string last_holding_back_;
};

}  // namespace dkv::node
