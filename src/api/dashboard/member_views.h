// member_views: turns what each member answered to dkv.v0.Cluster/Status
// (or that it did not answer) into the dashboard's rows: the role to show
// (leader, follower, learner, unreachable) and the lag behind the leader.
// Pure: no I/O, no clock.
// Threading: stateless, callable from any thread.
#pragma once

#include <string>
#include <vector>

#include "dkv/dashboard/v0/dashboard.pb.h"
#include "dkv/v0/cluster.pb.h"

namespace dkv::api::dashboard {

// One member and what became of the question put to it.
struct MemberProbe {
  std::string name;
  std::string address;
  bool is_learner = false;  // In the membership of the node that asked.
  bool is_self = false;
  bool answered = false;
  v0::StatusResponse status;  // When answered.
  std::string error;          // When not.
  double answer_ms = 0;
};

// The role shown for a member: "unreachable" if it did not answer; of
// those that say they lead, "leader" only for the one with the highest
// term (a deposed leader cut off from the others may not know yet);
// "learner" for a learner; "follower" for the rest (candidates and
// pre-candidates too).
std::vector<std::string> shown_roles(const std::vector<MemberProbe>& probes);

// One MemberView per probe, in order, with roles and lag filled in.
void fill_member_views(const std::vector<MemberProbe>& probes,
                       google::protobuf::RepeatedPtrField<dkv::dashboard::v0::MemberView>* out);

}  // namespace dkv::api::dashboard
