// etcd's HashKV over the MVCC engine (kv/mvcc_hash.h): the bytes etcd
// hashes, the revision bounds, and a hash that physical compaction's
// progress does not change (so members agree).
#include <gtest/gtest.h>

#include "etcd/mvcc/mvccpb/kv.pb.h"
#include "mvcc_fixture.h"
#include "util/crc32c.h"

namespace dkv::kv {
namespace {

using Mvcc = MvccFixture;

std::uint32_t hash_at(const Store& store, std::int64_t rev) {
  std::uint32_t hash = 0;
  std::int64_t current = 0, compact = 0;
  util::Status s = store.hash_kv(rev, &hash, &current, &compact);
  EXPECT_TRUE(s.is_ok()) << s.to_string();
  return hash;
}

std::string etcd_rev(std::int64_t main, std::int64_t sub, bool tombstone) {
  std::string out;
  for (std::int64_t v : {main, sub}) {
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
    if (out.size() == 8) out.push_back('_');
  }
  if (tombstone) out.push_back('t');
  return out;
}

TEST_F(Mvcc, HashKvIsEtcdsCrcOverRevisionKeysAndKeyValues) {
  put("a", "1");  // Revision 2.
  del("a");       // 3.
  mvccpb::KeyValue kv;
  kv.set_key("a");
  kv.set_create_revision(2);
  kv.set_mod_revision(2);
  kv.set_version(1);
  kv.set_value("1");
  mvccpb::KeyValue tomb;
  tomb.set_key("a");
  const std::string at2 = "key" + etcd_rev(2, 0, false) + kv.SerializeAsString();
  EXPECT_EQ(hash_at(*store_, 2), util::crc32c::value(at2));
  EXPECT_EQ(hash_at(*store_, 0),
            util::crc32c::value(at2 + etcd_rev(3, 0, true) + tomb.SerializeAsString()));
  EXPECT_EQ(hash_at(*store_, 0), hash_at(*store_, 3));
  EXPECT_NE(hash_at(*store_, 2), hash_at(*store_, 3));
}

TEST_F(Mvcc, HashKvRefusesCompactedAndFutureRevisions) {
  put("a", "1");
  put("a", "2");
  compact(2);
  std::uint32_t hash = 0;
  std::int64_t current = 0, compact_rev = 0;
  util::Status s = store_->hash_kv(2, &hash, &current, &compact_rev);
  EXPECT_EQ(s.code(), util::Code::kOutOfRange);
  EXPECT_EQ(s.message(), "etcdserver: mvcc: required revision has been compacted");
  s = store_->hash_kv(4, &hash, &current, &compact_rev);
  EXPECT_EQ(s.code(), util::Code::kOutOfRange);
  EXPECT_EQ(s.message(), "etcdserver: mvcc: required revision is a future revision");
  ASSERT_TRUE(store_->hash_kv(0, &hash, &current, &compact_rev).is_ok());
  EXPECT_EQ(current, 3);
  EXPECT_EQ(compact_rev, 2);
}

// A member that compacted its history physically and one that has not yet
// hash alike: records at or below the compacted revision count only if a
// compaction at the hashed revision keeps them.
TEST_F(Mvcc, HashKvDoesNotDependOnPhysicalCompaction) {
  for (int i = 0; i < 30; ++i) put("k" + std::to_string(i % 7), "v" + std::to_string(i));
  del("k3");
  del("k4");
  put("k3", "again");
  const std::int64_t at = store_->current_revision();
  put("k1", "later");  // Supersedes a record at or below the compaction.
  compact(at);
  const std::uint32_t logical = hash_at(*store_, 0);
  const std::uint32_t logical_older = hash_at(*store_, at + 1);
  for (bool more = true; more;) ASSERT_TRUE(store_->compact_step(&more).is_ok());
  EXPECT_EQ(hash_at(*store_, 0), logical);
  EXPECT_EQ(hash_at(*store_, at + 1), logical_older);
  put("k9", "new");
  EXPECT_NE(hash_at(*store_, 0), logical);
}

}  // namespace
}  // namespace dkv::kv
