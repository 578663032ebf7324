#include "api/dashboard/member_views.h"

#include <gtest/gtest.h>

namespace dkv::api::dashboard {
namespace {

MemberProbe answered(const std::string& name, const std::string& role, uint64_t term,
                     uint64_t commit, uint64_t applied) {
  MemberProbe p;
  p.name = name;
  p.address = "127.0.0.1:1";
  p.answered = true;
  p.status.set_role(role);
  p.status.set_term(term);
  p.status.set_commit_index(commit);
  p.status.set_applied_index(applied);
  return p;
}

MemberProbe silent(const std::string& name) {
  MemberProbe p;
  p.name = name;
  p.error = "UNAVAILABLE: connection refused";
  return p;
}

using Roles = std::vector<std::string>;

TEST(MemberViews, ShowsLeaderFollowersAndUnreachable) {
  EXPECT_EQ(shown_roles({answered("a", "leader", 3, 10, 10), answered("b", "follower", 3, 10, 9),
                         silent("c")}),
            (Roles{"leader", "follower", "unreachable"}));
}

TEST(MemberViews, CandidatesAndPreCandidatesShowAsFollowers) {
  EXPECT_EQ(shown_roles({answered("a", "candidate", 4, 10, 10),
                         answered("b", "pre-candidate", 3, 10, 10), silent("c")}),
            (Roles{"follower", "follower", "unreachable"}));
}

TEST(MemberViews, LearnersShowAsLearners) {
  MemberProbe d = answered("d", "follower", 3, 10, 2);
  d.is_learner = true;  // Added as a learner; it may still call itself a follower.
  EXPECT_EQ(shown_roles({answered("a", "leader", 3, 10, 10), d, answered("e", "learner", 3, 1, 1)}),
            (Roles{"leader", "learner", "learner"}));
}

// A deposed leader cut off from the others still says "leader" in its old
// term: only the leader of the highest term is shown as leader.
TEST(MemberViews, OnlyTheHighestTermLeaderShowsAsLeader) {
  EXPECT_EQ(shown_roles({answered("a", "leader", 3, 10, 10), answered("b", "leader", 5, 12, 12),
                         answered("c", "follower", 5, 12, 12)}),
            (Roles{"follower", "leader", "follower"}));
}

TEST(MemberViews, LagIsBehindTheLeadersCommitAndUnknownWithoutLeader) {
  google::protobuf::RepeatedPtrField<dkv::dashboard::v0::MemberView> views;
  fill_member_views(
      {answered("a", "leader", 3, 100, 100), answered("b", "follower", 3, 90, 80), silent("c")},
      &views);
  ASSERT_EQ(views.size(), 3);
  EXPECT_TRUE(views[0].lag_known());
  EXPECT_EQ(views[0].lag(), 0u);
  EXPECT_EQ(views[1].lag(), 20u);
  EXPECT_EQ(views[1].commit_index(), 90u);
  EXPECT_FALSE(views[2].lag_known());
  EXPECT_EQ(views[2].role(), "unreachable");
  EXPECT_EQ(views[2].error(), "UNAVAILABLE: connection refused");

  views.Clear();
  fill_member_views({answered("a", "follower", 3, 100, 100), silent("b")}, &views);
  EXPECT_FALSE(views[0].lag_known());
  EXPECT_EQ(views[0].raft_role(), "follower");
}

}  // namespace
}  // namespace dkv::api::dashboard
