#include "node/readiness.h"

#include <algorithm>

namespace dkv::node {

void Readiness::on_leader_change() {
  latest_index_ = 0;
  previous_index_ = 0;
  caught_up_ = false;
}

void Readiness::on_answer(raft::Index index, std::uint64_t now_tick) {
  index = std::max<raft::Index>(index, 1);  // 0 means "no answer".
  previous_index_ = latest_index_ == 0 ? index : latest_index_;
  latest_index_ = std::max(latest_index_, index);
  answered_tick_ = now_tick;
}

bool Readiness::evaluate(bool leader_known, raft::Index applied, std::uint64_t now_tick) {
  if (!leader_known || latest_index_ == 0) return false;
  const std::uint64_t stale_ticks = static_cast<std::uint64_t>(kStaleRounds) * election_ticks_;
  if (now_tick - answered_tick_ > stale_ticks) return false;
  if (!caught_up_) caught_up_ = applied >= latest_index_;
  if (caught_up_ && applied < previous_index_) caught_up_ = false;  // Falling behind.
  return caught_up_;
}

}  // namespace dkv::node
