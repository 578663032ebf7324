// The MVCC engine's leases (kv/lease.h): grant, put with a lease, revoke in
// one revision, the proposer-term check, checkpoints, images.
#include <gtest/gtest.h>

#include "image_stream.h"
#include "kv/lease.h"
#include "mvcc_fixture.h"

namespace dkv::kv {
namespace {

class LeaseTest : public MvccFixture {
 protected:
  EtcdResult grant(std::int64_t id, std::int64_t ttl) {
    etcdserverpb::LeaseGrantRequest r;
    r.set_id(id);
    r.set_ttl(ttl);
    return apply(lease_grant_command(r));
  }
  EtcdResult revoke(std::int64_t id, std::uint64_t proposer_term = 0,
                    std::uint64_t entry_term = 0) {
    Command c = lease_revoke_command(id, proposer_term);
    c.term = entry_term;
    return apply(c);
  }
  EtcdResult put_leased(const std::string& key, std::int64_t lease) {
    etcdserverpb::PutRequest r;
    r.set_key(key);
    r.set_value("v");
    r.set_lease(lease);
    return apply(etcd_command(r));
  }
  std::vector<std::string> keys_of(std::int64_t id) {
    LeaseInfo info;
    std::vector<std::string> keys;
    util::Status s = store_->lease(id, &info, &keys);
    EXPECT_TRUE(s.is_ok()) << s.to_string();
    return keys;
  }
  std::vector<LeaseChange> changes() {
    std::vector<LeaseChange> out;
    store_->take_lease_changes(&out);
    return out;
  }
  bool has(const std::string& key) {
    std::string v;
    return store_->get(key, &v).is_ok();
  }
};

TEST_F(LeaseTest, PutWithALeaseAttachesAndRevokeDeletesInOneRevision) {
  ASSERT_TRUE(grant(7, 10).status.is_ok());
  EXPECT_EQ(changes(), (std::vector<LeaseChange>{{LeaseChange::Kind::kGranted, {7, 10, 0}}}));
  ASSERT_TRUE(put_leased("a", 7).status.is_ok());
  ASSERT_TRUE(put_leased("b", 7).status.is_ok());
  ASSERT_TRUE(put("c", "x").status.is_ok());
  EXPECT_TRUE(changes().empty());
  EXPECT_EQ(keys_of(7), (std::vector<std::string>{"a", "b"}));
  const std::int64_t before = store_->current_revision();
  EtcdResult r = revoke(7);
  ASSERT_TRUE(r.status.is_ok()) << r.status.to_string();
  EXPECT_EQ(store_->current_revision(), before + 1);  // One revision for both deletes.
  EXPECT_FALSE(has("a"));
  EXPECT_FALSE(has("b"));
  EXPECT_TRUE(has("c"));
  LeaseInfo info;
  EXPECT_EQ(store_->lease(7, &info, nullptr).code(), util::Code::kNotFound);
  EXPECT_EQ(changes(), (std::vector<LeaseChange>{{LeaseChange::Kind::kRevoked, {7, 0, 0}}}));
  // The deletes are in history like any other: a range at the revision before sees them.
  etcdserverpb::RangeResponse resp;
  ASSERT_TRUE(store_->range(req("a", "", before), &resp).is_ok());
  EXPECT_EQ(resp.kvs_size(), 1);
  EXPECT_EQ(resp.kvs(0).lease(), 7);
}

TEST_F(LeaseTest, PutWithAnUnknownLeaseIsRefusedAndWritesNothing) {
  const std::int64_t before = store_->current_revision();
  EtcdResult r = put_leased("a", 99);
  EXPECT_EQ(r.status.code(), util::Code::kNotFound);
  EXPECT_EQ(r.status.message(), etcd_error::kLeaseNotFound);
  EXPECT_EQ(store_->current_revision(), before);
  EXPECT_FALSE(has("a"));
}

TEST_F(LeaseTest, OverwriteDeleteAndAnotherLeaseMoveTheKey) {
  ASSERT_TRUE(grant(1, 10).status.is_ok());
  ASSERT_TRUE(grant(2, 10).status.is_ok());
  ASSERT_TRUE(put_leased("k", 1).status.is_ok());
  ASSERT_TRUE(put_leased("k", 2).status.is_ok());
  EXPECT_TRUE(keys_of(1).empty());
  EXPECT_EQ(keys_of(2), std::vector<std::string>{"k"});
  ASSERT_TRUE(put("k", "plain").status.is_ok());  // No lease: detached.
  EXPECT_TRUE(keys_of(2).empty());
  ASSERT_TRUE(put_leased("j", 2).status.is_ok());
  ASSERT_TRUE(del("j").status.is_ok());
  EXPECT_TRUE(keys_of(2).empty());
  ASSERT_TRUE(revoke(2).status.is_ok());  // Deletes nothing: "k" is not its key.
  EXPECT_TRUE(has("k"));
}

TEST_F(LeaseTest, IgnoreLeaseKeepsTheKeysLease) {
  ASSERT_TRUE(grant(3, 10).status.is_ok());
  ASSERT_TRUE(put_leased("k", 3).status.is_ok());
  etcdserverpb::PutRequest r;
  r.set_key("k");
  r.set_value("w");
  r.set_ignore_lease(true);
  ASSERT_TRUE(apply(etcd_command(r)).status.is_ok());
  EXPECT_EQ(keys_of(3), std::vector<std::string>{"k"});
}

TEST_F(LeaseTest, RevokeFromAnotherTermIsIgnored) {
  ASSERT_TRUE(grant(5, 10).status.is_ok());
  ASSERT_TRUE(put_leased("k", 5).status.is_ok());
  (void)changes();
  EtcdResult r = revoke(5, /*proposer_term=*/3, /*entry_term=*/4);
  EXPECT_EQ(r.status.code(), util::Code::kFailedPrecondition);
  EXPECT_TRUE(has("k"));
  EXPECT_TRUE(changes().empty());
  EXPECT_TRUE(revoke(5, 4, 4).status.is_ok());
  EXPECT_FALSE(has("k"));
}

TEST_F(LeaseTest, GrantRefusesAnExistingIdAndRevokeAnUnknownOne) {
  ASSERT_TRUE(grant(5, 10).status.is_ok());
  EtcdResult r = grant(5, 20);
  EXPECT_EQ(r.status.message(), etcd_error::kLeaseExists);
  EXPECT_EQ(revoke(6).status.message(), etcd_error::kLeaseNotFound);
  LeaseInfo info;
  ASSERT_TRUE(store_->lease(5, &info, nullptr).is_ok());
  EXPECT_EQ(info.ttl, 10);
}

TEST_F(LeaseTest, CheckpointsAreStoredAndClearedByZeroOrAFullTtl) {
  ASSERT_TRUE(grant(5, 60).status.is_ok());
  ASSERT_TRUE(apply(lease_checkpoint_command({{5, 42}, {6, 1}})).status.is_ok());
  LeaseInfo info;
  ASSERT_TRUE(store_->lease(5, &info, nullptr).is_ok());
  EXPECT_EQ(info.remaining_ttl, 42);
  ASSERT_TRUE(apply(lease_checkpoint_command({{5, 0}})).status.is_ok());
  ASSERT_TRUE(store_->lease(5, &info, nullptr).is_ok());
  EXPECT_EQ(info.remaining_ttl, 0);
  ASSERT_TRUE(apply(lease_checkpoint_command({{5, 60}})).status.is_ok());
  ASSERT_TRUE(store_->lease(5, &info, nullptr).is_ok());
  EXPECT_EQ(info.remaining_ttl, 0);
}

TEST_F(LeaseTest, ImagesCarryLeasesAndTheirKeys) {
  ASSERT_TRUE(grant(8, 30).status.is_ok());
  ASSERT_TRUE(grant(9, 40).status.is_ok());
  ASSERT_TRUE(put_leased("x", 8).status.is_ok());
  ASSERT_TRUE(apply(lease_checkpoint_command({{9, 11}})).status.is_ok());
  std::string image;
  std::uint64_t index = 0;
  std::string membership;
  ASSERT_TRUE(store_->dump(&image, &index, &membership).is_ok());
  ASSERT_TRUE(revoke(8).status.is_ok());
  ASSERT_TRUE(store_->restore(image).is_ok());
  std::vector<LeaseInfo> all;
  ASSERT_TRUE(store_->leases(&all).is_ok());
  EXPECT_EQ(all, (std::vector<LeaseInfo>{{8, 30, 0}, {9, 40, 11}}));
  EXPECT_EQ(keys_of(8), std::vector<std::string>{"x"});
  // The streamed form (backups) is the same image.
  EXPECT_EQ(streamed_image(*store_, 7), image);
}

TEST(LeaseGrantTest, TheProposerClampsTheTtlAndPicksAnId) {
  std::mt19937_64 rng(1);
  etcdserverpb::LeaseGrantRequest r;
  r.set_ttl(1);
  ASSERT_TRUE(prepare_grant(&r, min_lease_ttl_seconds(1000), rng).is_ok());
  EXPECT_EQ(r.ttl(), 2);  // 1.5 s rounded up.
  EXPECT_GT(r.id(), 0);
  r.set_ttl(kLeaseTtlMax + 1);
  EXPECT_EQ(prepare_grant(&r, 2, rng).code(), util::Code::kOutOfRange);
  EXPECT_EQ(min_lease_ttl_seconds(100), 1);
  EXPECT_EQ(min_lease_ttl_seconds(4000), 6);
}

}  // namespace
}  // namespace dkv::kv
