// The feature levels' one list (kv/feature_level.h): which level each log
// entry kind needs before it may be proposed; the proposal check; the
// leader's decision to raise the level; the SetFeatureLevel command.
#include "kv/feature_level.h"

#include <gtest/gtest.h>

#include <vector>

#include "kv/lease.h"
#include "kv/mvcc_request.h"

namespace dkv::kv {
namespace {

TEST(FeatureLevelTest, V0EntriesNeedNoLevelAndEtcdRequestsNeedMvcc) {
  EXPECT_EQ(required_level(Command{Op::kPut, "k", "v"}), FeatureLevel::kNone);
  EXPECT_EQ(required_level(Command{Op::kDelete, "k", ""}), FeatureLevel::kNone);
  etcdserverpb::PutRequest put;
  put.set_key("k");
  EXPECT_EQ(required_level(etcd_command(put)), FeatureLevel::kMvccRequests);
  EXPECT_EQ(required_level(etcd_command(etcdserverpb::TxnRequest())), FeatureLevel::kMvccRequests);
  EXPECT_EQ(required_level(etcd_command(etcdserverpb::CompactionRequest())),
            FeatureLevel::kMvccRequests);
  EXPECT_EQ(required_level(etcd_command(etcdserverpb::AlarmRequest())),
            FeatureLevel::kMvccRequests);
  EXPECT_LE(static_cast<std::uint32_t>(required_level(etcd_command(put))),
            static_cast<std::uint32_t>(kFeatureLevelSupported));
}

TEST(FeatureLevelTest, LeaseEntriesNeedTheLeasesLevel) {
  EXPECT_EQ(required_level(lease_grant_command(etcdserverpb::LeaseGrantRequest())),
            FeatureLevel::kLeases);
  EXPECT_EQ(required_level(lease_revoke_command(7, 3)), FeatureLevel::kLeases);
  EXPECT_EQ(kFeatureLevelSupported, FeatureLevel::kLeases);
}

// What this binary cannot apply is never proposable, whatever the level.
TEST(FeatureLevelTest, UnknownKindsNeedALevelAboveTheSupportedOne) {
  const auto above = static_cast<std::uint32_t>(kFeatureLevelSupported) + 1;
  EXPECT_EQ(static_cast<std::uint32_t>(required_level(Command{Op::kEtcd, "", ""})), above);
  EXPECT_EQ(static_cast<std::uint32_t>(required_level(Command{Op::kEtcd, "", "\x7f"})), above);
  EXPECT_EQ(static_cast<std::uint32_t>(required_level(Command{static_cast<Op>(9), "", ""})), above);
}

TEST(FeatureLevelTest, ProposalsAreCheckedAgainstTheCommittedLevel) {
  etcdserverpb::PutRequest put;
  put.set_key("k");
  const Command etcd_put = etcd_command(put);
  const Command grant = lease_grant_command(etcdserverpb::LeaseGrantRequest());
  const Command v0_put{Op::kPut, "k", "v"};
  const Command v0_delete{Op::kDelete, "k", ""};
  // /v0 writes are never refused.
  EXPECT_TRUE(check_proposal(v0_put, FeatureLevel::kNone).is_ok());
  EXPECT_TRUE(check_proposal(v0_delete, FeatureLevel::kNone).is_ok());
  // etcd's error, UNAVAILABLE, below the level each needs.
  const util::Status refused = check_proposal(etcd_put, FeatureLevel::kNone);
  EXPECT_EQ(refused.code(), util::Code::kUnavailable);
  EXPECT_EQ(refused.message(), "etcdserver: not capable");
  EXPECT_TRUE(check_proposal(etcd_put, FeatureLevel::kMvccRequests).is_ok());
  EXPECT_EQ(check_proposal(grant, FeatureLevel::kMvccRequests).code(), util::Code::kUnavailable);
  EXPECT_TRUE(check_proposal(grant, FeatureLevel::kLeases).is_ok());
  // A malformed etcd payload is never proposable.
  EXPECT_FALSE(check_proposal(Command{Op::kEtcd, "", "\x7f"}, FeatureLevel::kLeases).is_ok());
  // The gate's own proposal is not held to the committed level.
  EXPECT_TRUE(check_proposal(set_feature_level_command(FeatureLevel::kLeases), FeatureLevel::kNone)
                  .is_ok());
}

TEST(FeatureLevelTest, SetFeatureLevelEncodesAndDecodes) {
  for (FeatureLevel level : {FeatureLevel::kNone, FeatureLevel::kMvccRequests,
                             FeatureLevel::kLeases, static_cast<FeatureLevel>(300)}) {
    const Command c = set_feature_level_command(level);
    Command decoded;
    ASSERT_TRUE(decode_command(encode_command(c), &decoded).is_ok());
    EXPECT_EQ(decoded, c);
    FeatureLevel out = FeatureLevel::kNone;
    ASSERT_TRUE(decode_feature_level(decoded, &out).is_ok());
    EXPECT_EQ(out, level);
  }
  EXPECT_EQ(required_level(set_feature_level_command(FeatureLevel::kMvccRequests)),
            FeatureLevel::kMvccRequests);
  // Malformed: no level, bytes after it, a key.
  Command out;
  EXPECT_FALSE(decode_command(std::string("\x04\x00", 2), &out).is_ok());
  EXPECT_FALSE(decode_command(std::string("\x04\x00\x02\x02", 4), &out).is_ok());
  EXPECT_FALSE(decode_command(std::string("\x04\x01k\x02", 4), &out).is_ok());
  FeatureLevel level = FeatureLevel::kNone;
  EXPECT_FALSE(decode_feature_level(Command{Op::kPut, "k", "\x02"}, &level).is_ok());
}

TEST(FeatureLevelTest, TheLeaderProposesTheLowestAdvertisedLevelAboveTheCommittedOne) {
  using L = FeatureLevel;
  const auto decide = [](L committed, std::vector<L> advertised) {
    return decide_feature_level(committed, advertised);
  };
  // Every member at the binary's level: propose it.
  EXPECT_EQ(decide(L::kNone, {L::kLeases, L::kLeases, L::kLeases}), L::kLeases);
  // One member (old, or one that did not answer) at 0 holds the gate shut.
  EXPECT_EQ(decide(L::kNone, {L::kLeases, L::kNone, L::kLeases}), L::kNone);
  // The lowest member decides.
  EXPECT_EQ(decide(L::kNone, {L::kLeases, L::kMvccRequests}), L::kMvccRequests);
  // Already committed: nothing more to propose.
  EXPECT_EQ(decide(L::kLeases, {L::kLeases, L::kLeases}), L::kLeases);
  // Never down, even if a member now advertises less (a downgrade).
  EXPECT_EQ(decide(L::kLeases, {L::kLeases, L::kNone}), L::kLeases);
  // Never above what this binary applies, whatever the others say.
  EXPECT_EQ(decide(L::kNone, {static_cast<L>(9), static_cast<L>(9)}), kFeatureLevelSupported);
  // No member known: nothing.
  EXPECT_EQ(decide(L::kMvccRequests, {}), L::kMvccRequests);
}

TEST(FeatureLevelTest, LevelsHaveNames) {
  EXPECT_EQ(feature_level_name(FeatureLevel::kNone), "none");
  EXPECT_EQ(feature_level_name(FeatureLevel::kMvccRequests), "mvcc-requests");
  EXPECT_EQ(feature_level_name(FeatureLevel::kLeases), "leases");
  EXPECT_EQ(feature_level_name(static_cast<FeatureLevel>(7)), "level 7");
}

}  // namespace
}  // namespace dkv::kv
