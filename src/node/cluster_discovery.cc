#include "node/cluster_discovery.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

namespace dkv::node {

namespace {

// Says, at most once per kProgressEvery per member, whom a joining node asks
// and what it last heard: progress without a line per try.
class JoinProgress {
 public:
  void asking(const MemberAddress& m) {
    const auto now = std::chrono::steady_clock::now();
    auto [it, first] = said_at_.try_emplace(m.id, now);
    if (!first && now - it->second < kProgressEvery) return;
    it->second = now;
    const auto last = last_answer_.find(m.id);
    if (last == last_answer_.end()) {
      spdlog::info("DKV_CLUSTER_STATE=existing: asking {} at {} for the cluster to join", m.id,
                   m.address());
    } else {
      spdlog::info("DKV_CLUSTER_STATE=existing: asking {} at {} again (last answer: {})", m.id,
                   m.address(), last->second);
    }
  }
  void answered(const MemberAddress& m, const std::string& answer) { last_answer_[m.id] = answer; }

 private:
  static constexpr std::chrono::seconds kProgressEvery{5};
  std::map<std::string, std::chrono::steady_clock::time_point> said_at_;
  std::map<std::string, std::string> last_answer_;
};

}  // namespace

util::Status discover_join(const std::string& node_id, const std::vector<MemberAddress>& cluster,
                           const MemberQuery& query, std::chrono::milliseconds give_up_after,
                           NodeOptions::Join* join) {
  const auto give_up = std::chrono::steady_clock::now() + give_up_after;
  const auto mine = std::find_if(cluster.begin(), cluster.end(),
                                 [&](const MemberAddress& c) { return c.id == node_id; });
  if (std::all_of(cluster.begin(), cluster.end(),
                  [&](const MemberAddress& c) { return c.id == node_id; })) {
    // Nobody to ask: a configuration error, final at once.
    return {util::Code::kFailedPrecondition,
            "DKV_CLUSTER names no other member to ask; list the running members and this node"};
  }
  JoinProgress progress;
  std::string last_error;
  bool reached = false;
  while (std::chrono::steady_clock::now() < give_up) {
    for (const auto& m : cluster) {
      if (m.id == node_id) continue;
      progress.asking(m);
      std::uint64_t cluster_id = 0;
      std::string encoded;
      if (auto s =
              query(m.address(), node_id, std::chrono::milliseconds(1000), &cluster_id, &encoded);
          !s.is_ok()) {
        last_error = s.message();
        progress.answered(m, last_error);
        continue;
      }
      reached = true;
      Membership members;
      const MemberAddress* self = nullptr;
      if (Membership::decode(encoded, &members).is_ok()) self = members.find(node_id_of(node_id));
      if (self == nullptr) {
        last_error =
            "member " + m.id + " does not list '" + node_id + "' (its members: " + encoded + ")";
        progress.answered(m, "it does not list '" + node_id + "' yet");
        continue;
      }
      if (mine != cluster.end() && self->address() != mine->address()) {
        return {util::Code::kFailedPrecondition, "the cluster knows '" + node_id + "' at " +
                                                     self->address() + ", DKV_CLUSTER says " +
                                                     mine->address()};
      }
      join->cluster_id = cluster_id_hex(cluster_id);
      join->membership = encoded;
      spdlog::info("joining cluster {} as told by {}: members {}", join->cluster_id, m.id, encoded);
      return util::Status::ok();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // Retry pacing, not sync.
  }
  if (reached) {
    return {util::Code::kFailedPrecondition, last_error + "; run `member add` for this node first"};
  }
  return util::unavailable(last_error);
}

bool discover_rejoin(const std::string& node_id, const std::vector<MemberAddress>& cluster,
                     const MemberAnswerQuery& query, std::chrono::milliseconds per_member,
                     NodeOptions::Join* join) {
  for (const auto& m : cluster) {
    if (m.id == node_id) continue;
    MemberAnswer answer;
    if (!query(m.address(), node_id, per_member, &answer).is_ok()) continue;
    if (answer.commit_index == 0) continue;  // Fresh too: a first start.
    Membership members;
    if (!Membership::decode(answer.membership, &members).is_ok()) continue;
    if (members.find(node_id_of(node_id)) == nullptr) {
      spdlog::warn("member {} has committed entries but does not list '{}': bootstrapping", m.id,
                   node_id);
      continue;
    }
    join->cluster_id = cluster_id_hex(answer.cluster_id);
    join->membership = answer.membership;
    spdlog::warn(
        "new data directory, but member {} has committed up to {} and lists this node: its data "
        "was lost; rejoining cluster {} (no votes until a leader caught it up), members {}",
        m.id, answer.commit_index, join->cluster_id, answer.membership);
    return true;
  }
  return false;
}

RemovalProbe::~RemovalProbe() {
  if (thread_.joinable()) thread_.join();
}

void RemovalProbe::tick() {
  const auto now = std::chrono::steady_clock::now();
  if (node_->ready() || node_->removed()) {
    unready_since_ = now;
    return;
  }
  if (now - unready_since_ < kAfter || running_.load()) return;
  unready_since_ = now;  // At most one round per kAfter.
  if (thread_.joinable()) thread_.join();
  running_ = true;
  thread_ = std::thread([this] { ask_members(); });
}

void RemovalProbe::ask_members() {
  const auto self = node_->raft_id();
  for (const auto& m : node_->membership().all()) {
    if (node_id_of(m.id) == self) continue;
    std::uint64_t cluster_id = 0;
    std::string encoded;
    Membership theirs;
    if (!query_(m.address(), "", std::chrono::milliseconds(1000), &cluster_id, &encoded).is_ok() ||
        !Membership::decode(encoded, &theirs).is_ok()) {
      continue;
    }
    if (theirs.was_removed(self) && theirs.find(self) == nullptr) {
      node_->mark_removed("member " + m.id + " lists it as removed");
      break;
    }
  }
  running_ = false;
}

}  // namespace dkv::node
