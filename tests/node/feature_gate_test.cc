// The leader's feature-gate decision (node/feature_gate.h): which level it
// proposes after asking every member, when it proposes the committed level
// again for a member that never recorded it; and DKV_TEST_FEATURE_LEVEL,
// honoured only in a DKV_TEST_HOOKS build.
#include "node/feature_gate.h"

#include <gtest/gtest.h>

#include "node/config.h"

namespace dkv::node {
namespace {

using L = kv::FeatureLevel;

MemberFeatureLevels at(L supported, L committed) { return {true, supported, committed}; }
MemberFeatureLevels silent() { return {}; }

// Within a term whose committed level was proposed again already.
std::optional<L> proposal(L committed, const std::vector<MemberFeatureLevels>& members,
                          bool catch_up_allowed) {
  return feature_gate_proposal(committed, members, /*new_term=*/false, catch_up_allowed);
}

TEST(FeatureGateDecisionTest, ProposesOnceEveryMemberAppliesTheLevel) {
  EXPECT_EQ(proposal(L::kNone, {at(L::kLeases, L::kNone), at(L::kLeases, L::kNone)}, true),
            L::kLeases);
  // An older member (0, or a dkv before the gate) holds it shut.
  EXPECT_EQ(proposal(L::kNone, {at(L::kLeases, L::kNone), at(L::kNone, L::kNone)}, true),
            std::nullopt);
  // So does a member that does not answer: it may be an older one.
  EXPECT_EQ(proposal(L::kNone, {at(L::kLeases, L::kNone), silent()}, true), std::nullopt);
  // The lowest member decides.
  EXPECT_EQ(proposal(L::kNone, {at(L::kLeases, L::kNone), at(L::kMvccRequests, L::kNone)}, true),
            L::kMvccRequests);
  // Nothing once committed.
  EXPECT_EQ(proposal(L::kLeases, {at(L::kLeases, L::kLeases), at(L::kLeases, L::kLeases)}, true),
            std::nullopt);
}

TEST(FeatureGateDecisionTest, ProposesTheCommittedLevelAgainForAMemberThatNeverRecordedIt) {
  const std::vector<MemberFeatureLevels> joiner = {at(L::kLeases, L::kLeases),
                                                   at(L::kLeases, L::kNone)};
  EXPECT_EQ(proposal(L::kLeases, joiner, true), L::kLeases);
  EXPECT_EQ(proposal(L::kLeases, joiner, /*catch_up_allowed=*/false), std::nullopt);
  // Not while a member cannot apply it (a downgraded one) or is silent.
  EXPECT_EQ(
      proposal(L::kLeases, {at(L::kLeases, L::kLeases), at(L::kMvccRequests, L::kNone)}, true),
      std::nullopt);
  EXPECT_EQ(
      proposal(L::kLeases, {at(L::kLeases, L::kLeases), at(L::kLeases, L::kNone), silent()}, true),
      std::nullopt);
  // Once per term when every member applies it, so that the log holds it.
  const std::vector<MemberFeatureLevels> all = {at(L::kLeases, L::kLeases),
                                                at(L::kLeases, L::kLeases)};
  EXPECT_EQ(feature_gate_proposal(L::kLeases, all, /*new_term=*/true, false), L::kLeases);
  EXPECT_EQ(feature_gate_proposal(L::kLeases, all, /*new_term=*/false, true), std::nullopt);
  EXPECT_EQ(feature_gate_proposal(L::kLeases, {all[0], silent()}, /*new_term=*/true, true),
            std::nullopt);
  // At level 0 there is nothing to catch up on.
  EXPECT_EQ(proposal(L::kNone, {at(L::kNone, L::kNone)}, true), std::nullopt);
}

TEST(FeatureGateDecisionTest, TestFeatureLevelVariableOnlyWithTestHooks) {
  std::map<std::string, std::string> v = {{"DKV_TEST_FEATURE_LEVEL", "1"}};
  Config c;
  ASSERT_TRUE(parse_config(v, /*test_hooks=*/true, &c).is_ok());
  ASSERT_TRUE(c.test_feature_level.has_value());
  EXPECT_EQ(*c.test_feature_level, 1u);
  Config off;
  ASSERT_TRUE(parse_config(v, /*test_hooks=*/false, &off).is_ok());
  EXPECT_FALSE(off.test_feature_level.has_value());
  EXPECT_EQ(off.test_variables_ignored, std::vector<std::string>{"DKV_TEST_FEATURE_LEVEL"});
  v["DKV_TEST_FEATURE_LEVEL"] = "3";  // Above what this dkv applies.
  const util::Status s = parse_config(v, /*test_hooks=*/true, &c);
  EXPECT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("DKV_TEST_FEATURE_LEVEL"), std::string::npos) << s.to_string();
}

}  // namespace
}  // namespace dkv::node
