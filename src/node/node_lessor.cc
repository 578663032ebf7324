// The raft thread's side of the Lessor (lessor.h): each turn, tell it
// whether this node is the confirmed leader, and propose what it asks for.
#include <spdlog/spdlog.h>

#include "kv/lease.h"
#include "node/entry_codec.h"
#include "node/node.h"
#include "raft/raw_node.h"

namespace dkv::node {

void Node::run_lessor(std::chrono::steady_clock::time_point now) {
  const raft::RaftStatus st = raw_->basic_status();
  const bool leader = st.soft_state.state == raft::StateType::kLeader;
  const std::uint64_t term = st.hard_state.term;
  // Confirmed: an entry of this term (the new leader's own no-op first) is
  // applied here, so a quorum accepted this node as leader of `term`.
  const bool confirmed = leader && applied_term_ == term;
  const NodeCanaries& canaries = options_.test_canaries;
  if (canaries.lessor_after_demotion) lessor_.set_decide_after_demotion(true);
  Lessor::Work work =
      lessor_.on_turn(now, leader, term, confirmed,
                      [this](std::vector<kv::LeaseInfo>* out) { return store_->leases(out); });
  // No waiters: request id 0. A refused proposal (a leadership transfer)
  // is proposed again by a later turn.
  // A follower's proposals (the canary's) are forwarded to the leader.
  const std::uint64_t proposer_term = canaries.revoke_without_term ? 0 : work.term;
  for (std::int64_t id : work.revoke) {
    if (raw_->propose(encode_entry(0, kv::lease_revoke_command(id, proposer_term))).is_ok()) {
      spdlog::debug("lessor: lease {:x} expired; revoke proposed", id);
    }
  }
  if (!work.checkpoint.empty()) {
    (void)raw_->propose(encode_entry(0, kv::lease_checkpoint_command(work.checkpoint)));
  }
}

}  // namespace dkv::node
