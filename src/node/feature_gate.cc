#include "node/feature_gate.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>
#include <memory>

#include "node/node.h"

namespace dkv::node {

std::optional<kv::FeatureLevel> feature_gate_proposal(
    kv::FeatureLevel committed, const std::vector<MemberFeatureLevels>& members, bool new_term,
    bool catch_up_allowed) {
  std::vector<kv::FeatureLevel> advertised;
  for (const auto& m : members) {
    advertised.push_back(m.answered ? m.supported : kv::FeatureLevel::kNone);
  }
  const kv::FeatureLevel target = kv::decide_feature_level(committed, advertised);
  if (target > committed) return target;
  if (committed == kv::FeatureLevel::kNone || members.empty()) return std::nullopt;
  const bool all_apply = std::all_of(members.begin(), members.end(), [&](const auto& m) {
    return m.answered && m.supported >= committed;
  });
  if (!all_apply) return std::nullopt;
  if (new_term) return committed;
  const bool one_lags = std::any_of(members.begin(), members.end(),
                                    [&](const auto& m) { return m.committed < committed; });
  if (catch_up_allowed && one_lags) return committed;
  return std::nullopt;
}

FeatureGate::~FeatureGate() {
  if (thread_.joinable()) thread_.join();
}

void FeatureGate::tick() {
  const auto now = std::chrono::steady_clock::now();
  if (now < next_round_ || running_.load()) return;
  const bool below = node_->feature_level() < node_->feature_level_supported();
  const bool leads = !node_->removed() && node_->status().role == "leader";
  // Not leading: look again soon, so that a new leader's first round is prompt.
  next_round_ = now + (below || !leads ? kRoundInterval : kIdleRoundInterval);
  if (!leads) return;
  if (thread_.joinable()) thread_.join();
  running_ = true;
  thread_ = std::thread([this] {
    round();
    running_ = false;
  });
}

void FeatureGate::round() {
  std::string holding_back;
  const std::vector<MemberFeatureLevels> members = ask_members(&holding_back);
  const kv::FeatureLevel committed = node_->feature_level();
  const auto now = std::chrono::steady_clock::now();
  const std::uint64_t term = node_->term();
  const bool catch_up_allowed = now - last_catch_up_ >= kCatchUpInterval;
  const auto level =
      feature_gate_proposal(committed, members, term != affirmed_term_, catch_up_allowed);
  if (level.has_value()) {
    if (propose(*level, *level == committed)) affirmed_term_ = term;
    return;
  }
  if (committed < node_->feature_level_supported() && holding_back != last_holding_back_) {
    spdlog::info("feature gate: level {} ({}) stays until every member applies more; {}",
                 static_cast<std::uint32_t>(committed), kv::feature_level_name(committed),
                 holding_back);
  }
  last_holding_back_ = holding_back;
}

// Every member's answer, the leader's own without a call. *holding_back
// names those below this node's level (for the log).
std::vector<MemberFeatureLevels> FeatureGate::ask_members(std::string* holding_back) {
  std::vector<MemberFeatureLevels> out;
  const raft::NodeId self = node_->raft_id();
  for (const auto& m : node_->membership().all()) {
    MemberFeatureLevels levels;
    if (node_id_of(m.id) == self) {
      levels = {true, node_->feature_level_supported(), node_->feature_level()};
    } else if (auto s = query_(m.address(), kAskTimeout, &levels); !s.is_ok()) {
      levels = MemberFeatureLevels{};
      *holding_back += m.id + " did not answer (" + s.message() + "); ";
    }
    if (levels.answered && levels.supported < node_->feature_level_supported()) {
      *holding_back += m.id + " applies level " +
                       std::to_string(static_cast<std::uint32_t>(levels.supported)) + "; ";
    }
    out.push_back(levels);
  }
  return out;
}

bool FeatureGate::propose(kv::FeatureLevel level, bool again) {
  if (again) {
    last_catch_up_ = std::chrono::steady_clock::now();
    spdlog::debug("feature gate: proposing the committed level {} again",
                  static_cast<std::uint32_t>(level));
  } else {
    spdlog::info("feature gate: every member applies level {} ({}); proposing it",
                 static_cast<std::uint32_t>(level), kv::feature_level_name(level));
  }
  auto result = std::make_shared<std::promise<util::Status>>();
  std::future<util::Status> done = result->get_future();
  node_->write(kv::set_feature_level_command(level),
               std::chrono::steady_clock::now() + kProposeTimeout,
               [result](util::Status s, kv::ApplyResult) { result->set_value(std::move(s)); });
  // write() answers by its deadline (applied, refused or expired); the
  // wait is bounded all the same, so that a stopping node never holds us.
  if (done.wait_for(kProposeTimeout + std::chrono::seconds(1)) != std::future_status::ready) {
    spdlog::warn("feature gate: no answer to the proposal of level {}",
                 static_cast<std::uint32_t>(level));
    return false;
  }
  if (const util::Status s = done.get(); !s.is_ok()) {
    spdlog::warn("feature gate: proposing level {} failed: {}", static_cast<std::uint32_t>(level),
                 s.to_string());
    return false;
  }
  return true;
}

}  // namespace dkv::node
