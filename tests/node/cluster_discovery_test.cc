#include "node/cluster_discovery.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <memory>

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

// Members that answer with `membership` and `commit_index` (unreachable if
// the membership is empty).
MemberAnswerQuery answering_with_commit(const std::string& membership, std::uint64_t commit_index) {
  return
      [=](const std::string&, const std::string&, std::chrono::milliseconds, MemberAnswer* answer) {
        if (membership.empty()) return util::unavailable("connection refused");
        answer->cluster_id = 0xabc;
        answer->membership = membership;
        answer->commit_index = commit_index;
        return util::Status::ok();
      };
}

TEST(DiscoverRejoinTest, RejoinsWhenAMemberHasCommittedAndListsUs) {
  const auto members = cluster("a@127.0.0.1:1,b@127.0.0.1:2,c@127.0.0.1:3");
  const std::string theirs = Membership(members).encode();
  NodeOptions::Join join;
  ASSERT_TRUE(discover_rejoin("c", members, answering_with_commit(theirs, 42), 1s, &join));
  EXPECT_EQ(join.cluster_id, cluster_id_hex(0xabc));
  EXPECT_EQ(join.membership, theirs);
}

TEST(DiscoverRejoinTest, BootstrapsAtAFirstStartOrWhenNotListed) {
  const auto members = cluster("a@127.0.0.1:1,b@127.0.0.1:2,c@127.0.0.1:3");
  NodeOptions::Join join;
  // Nobody answers (the others are not up yet).
  EXPECT_FALSE(discover_rejoin("c", members, answering_with_commit("", 0), 50ms, &join));
  // They answer but are fresh too: the cluster's very first start.
  EXPECT_FALSE(discover_rejoin("c", members, answering_with_commit(Membership(members).encode(), 0),
                               50ms, &join));
  // Their cluster does not list us.
  const std::string without_c = Membership(cluster("a@127.0.0.1:1,b@127.0.0.1:2")).encode();
  EXPECT_FALSE(discover_rejoin("c", members, answering_with_commit(without_c, 42), 50ms, &join));
}

TEST(DiscoverJoinTest, UnavailableWhenNoMemberAnswers) {
  NodeOptions::Join join;
  const auto s =
      discover_join("d", cluster("a@127.0.0.1:1,d@127.0.0.1:4"), answering(""), 50ms, &join);
  EXPECT_EQ(s.code(), util::Code::kUnavailable) << s.to_string();
}

// Issue 14: a DKV_CLUSTER of this node alone left it asking nobody for 30 s.
TEST(DiscoverJoinTest, NoOtherMemberIsAConfigurationErrorAtOnce) {
  int asked = 0;
  NodeOptions::Join join;
  const auto s = discover_join("d", cluster("d@127.0.0.1:4"), answering("", &asked), 2s, &join);
  EXPECT_EQ(s.code(), util::Code::kFailedPrecondition) << s.to_string();
  EXPECT_NE(s.message().find("DKV_CLUSTER"), std::string::npos) << s.message();
  EXPECT_EQ(asked, 0);
}

// Progress: one line per member when first asked (then at most one every
// few seconds), however many tries a round of refusals makes.
TEST(DiscoverJoinTest, SaysWhomItAsksWithoutALinePerTry) {
  auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(1000);
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
  int asked = 0;
  NodeOptions::Join join;
  const auto s = discover_join("d", cluster("a@127.0.0.1:1,b@127.0.0.1:2,d@127.0.0.1:4"),
                               answering("", &asked), 1500ms, &join);
  spdlog::set_default_logger(previous);
  EXPECT_EQ(s.code(), util::Code::kUnavailable) << s.to_string();
  int lines_a = 0;
  int lines_b = 0;
  for (const auto& line : sink->last_formatted()) {
    lines_a += line.find("asking a at 127.0.0.1:1") != std::string::npos;
    lines_b += line.find("asking b at 127.0.0.1:2") != std::string::npos;
  }
  EXPECT_GE(asked, 4) << "several rounds of tries";
  EXPECT_EQ(lines_a, 1);
  EXPECT_EQ(lines_b, 1);
}

}  // namespace
}  // namespace dkv::node
