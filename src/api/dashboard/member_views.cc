#include "api/dashboard/member_views.h"

#include <cstdint>
#include <optional>

namespace dkv::api::dashboard {

namespace {
// The probe shown as leader, if any: the highest term among those that
// answered "leader" (the first of them on a tie, which Raft rules out).
std::optional<size_t> leader_of(const std::vector<MemberProbe>& probes) {
  std::optional<size_t> leader;
  for (size_t i = 0; i < probes.size(); ++i) {
    const MemberProbe& p = probes[i];
    if (!p.answered || p.status.role() != "leader") continue;
    if (!leader || p.status.term() > probes[*leader].status.term()) leader = i;
  }
  return leader;
}
}  // namespace

std::vector<std::string> shown_roles(const std::vector<MemberProbe>& probes) {
  const std::optional<size_t> leader = leader_of(probes);
  std::vector<std::string> roles;
  roles.reserve(probes.size());
  for (size_t i = 0; i < probes.size(); ++i) {
    const MemberProbe& p = probes[i];
    if (!p.answered) {
      roles.push_back("unreachable");
    } else if (leader && *leader == i) {
      roles.push_back("leader");
    } else if (p.is_learner || p.status.role() == "learner") {
      roles.push_back("learner");
    } else {
      roles.push_back("follower");
    }
  }
  return roles;
}

void fill_member_views(const std::vector<MemberProbe>& probes,
                       google::protobuf::RepeatedPtrField<dkv::dashboard::v0::MemberView>* out) {
  const std::vector<std::string> roles = shown_roles(probes);
  const std::optional<size_t> leader = leader_of(probes);
  for (size_t i = 0; i < probes.size(); ++i) {
    const MemberProbe& p = probes[i];
    auto* v = out->Add();
    v->set_name(p.name);
    v->set_address(p.address);
    v->set_role(roles[i]);
    v->set_is_self(p.is_self);
    v->set_answer_ms(p.answer_ms);
    if (!p.answered) {
      v->set_error(p.error);
      continue;
    }
    const v0::StatusResponse& s = p.status;
    v->set_raft_role(s.rejoining() ? s.role() + ", rejoining" : s.role());
    v->set_term(s.term());
    v->set_commit_index(s.commit_index());
    v->set_applied_index(s.applied_index());
    v->set_db_size_bytes(s.db_size_bytes());
    v->set_version(s.version());
    v->set_leader_id(s.leader_id());
    if (leader) {
      const std::uint64_t leader_commit = probes[*leader].status.commit_index();
      v->set_lag(leader_commit > s.applied_index() ? leader_commit - s.applied_index() : 0);
      v->set_lag_known(true);
    }
  }
}

}  // namespace dkv::api::dashboard
