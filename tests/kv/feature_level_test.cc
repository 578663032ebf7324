// The feature levels' one list (kv/feature_level.h): which level each log
// entry kind needs before it may be proposed.
#include "kv/feature_level.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace dkv::kv
