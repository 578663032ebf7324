#include "node/cluster_discovery.h"

#include <gtest/gtest.h>

namespace dkv::node {
namespace {

using namespace std::chrono_literals;

std::vector<MemberAddress> cluster(const std::string& spec) {
  std::vector<MemberAddress> out;
  EXPECT_TRUE(parse_cluster(spec, &out).is_ok()) << spec;
  return out;
}

// A member that answers with `membership` (or is unreachable if empty).
MemberQuery answering(const std::string& membership, int* asked = nullptr) {
  return [membership, asked](const std::string&, const std::string&, std::chrono::milliseconds,
                             std::uint64_t* id, std::string* out) {
    if (asked != nullptr) ++*asked;
    if (membership.empty()) return util::unavailable("connection refused");
    *id = 0xabc;
    *out = membership;
    return util::Status::ok();
  };
}

TEST(DiscoverJoinTest, TakesTheClusterIdAndMembershipFromAMemberThatListsUs) {
  const auto members = cluster("a@127.0.0.1:1,b@127.0.0.1:2,d@127.0.0.1:4");
  const std::string theirs = Membership(members).encode();
  NodeOptions::Join join;
  ASSERT_TRUE(discover_join("d", members, answering(theirs), 1s, &join).is_ok());
  EXPECT_EQ(join.cluster_id, cluster_id_hex(0xabc));
  EXPECT_EQ(join.membership, theirs);
}

TEST(DiscoverJoinTest, RefusesWhenNoMemberListsUsOrListsUsElsewhere) {
  const auto mine = cluster("a@127.0.0.1:1,b@127.0.0.1:2,d@127.0.0.1:4");
  NodeOptions::Join join;
  auto s = discover_join("d", mine,
                         answering(Membership(cluster("a@127.0.0.1:1,b@127.0.0.1:2")).encode()),
                         50ms, &join);
  EXPECT_EQ(s.code(), util::Code::kFailedPrecondition) << s.to_string();
  EXPECT_NE(s.message().find("member add"), std::string::npos) << s.message();

  int asked = 0;
  s = discover_join("d", mine,
                    answering(Membership(cluster("a@127.0.0.1:1,d@127.0.0.1:9")).encode(), &asked),
                    10s, &join);
  EXPECT_EQ(s.code(), util::Code::kFailedPrecondition) << s.to_string();
  EXPECT_NE(s.message().find("127.0.0.1:9"), std::string::npos) << s.message();
  EXPECT_EQ(asked, 1);  // A wrong address is final: no retries.
}

TEST(DiscoverJoinTest, UnavailableWhenNoMemberAnswers) {
  NodeOptions::Join join;
  const auto s =
      discover_join("d", cluster("a@127.0.0.1:1,d@127.0.0.1:4"), answering(""), 50ms, &join);
  EXPECT_EQ(s.code(), util::Code::kUnavailable) << s.to_string();
}

}  // namespace
}  // namespace dkv::node
