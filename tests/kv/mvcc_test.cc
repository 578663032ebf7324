// The MVCC engine's revisions, ranges and transactions against etcd's rules.
#include <gtest/gtest.h>

#include "kv/mvcc_request.h"
#include "mvcc_fixture.h"

namespace dkv::kv {
namespace {

using Mvcc = MvccFixture;
using R = etcdserverpb::RangeRequest;
using C = etcdserverpb::Compare;

TEST_F(Mvcc, RevisionsFollowEtcdRules) {
  EXPECT_EQ(store_->current_revision(), 1);  // etcd starts at 1.
  EtcdResult r = put("a", "1");
  ASSERT_TRUE(r.status.is_ok());
  EXPECT_EQ(r.revision, 2);
  EXPECT_EQ(r.response.response_put().header().revision(), 2);
  r = put("a", "2");
  EXPECT_EQ(r.revision, 3);
  auto got = range(req("a"));
  ASSERT_EQ(got.kvs_size(), 1);
  EXPECT_EQ(got.kvs(0).create_revision(), 2);
  EXPECT_EQ(got.kvs(0).mod_revision(), 3);
  EXPECT_EQ(got.kvs(0).version(), 2);
  EXPECT_EQ(got.kvs(0).lease(), 0);
  EXPECT_EQ(got.header().revision(), 3);

  // Deleting nothing creates no revision.
  r = del("zz");
  EXPECT_EQ(r.response.response_delete_range().deleted(), 0);
  EXPECT_EQ(r.revision, 3);
  EXPECT_EQ(store_->current_revision(), 3);
  r = del("a");
  EXPECT_EQ(r.response.response_delete_range().deleted(), 1);
  EXPECT_EQ(r.revision, 4);
  // A new generation: create and version start again.
  put("a", "3");
  got = range(req("a"));
  EXPECT_EQ(got.kvs(0).create_revision(), 5);
  EXPECT_EQ(got.kvs(0).version(), 1);
}

TEST_F(Mvcc, V0CommandsBumpRevisionsAndABatchNumbersThemInOrder) {
  auto results = apply_batch({{Op::kPut, "x", "1"},
                              {Op::kDelete, "nope", ""},
                              {Op::kPut, "y", "2"},
                              {Op::kDelete, "x", ""}});
  EXPECT_EQ(results[1].deleted, 0);
  EXPECT_EQ(results[3].deleted, 1);
  EXPECT_EQ(store_->current_revision(), 4);  // 2: x, (no-op), 3: y, 4: delete x.
  std::string value;
  ASSERT_TRUE(store_->get("y", &value).is_ok());
  EXPECT_EQ(value, "2");
  EXPECT_EQ(range(req("y")).kvs(0).mod_revision(), 3);
  EXPECT_EQ(values(range(req("x", "", 2))), "1");
  reopen();
  EXPECT_EQ(store_->current_revision(), 4);
}

TEST_F(Mvcc, FailedRequestsWriteNothingAndKeepTheRevision) {
  put("a", "1");
  etcdserverpb::PutRequest with_lease;
  with_lease.set_key("b");
  with_lease.set_lease(7);
  EtcdResult r = apply(etcd_command(with_lease));
  EXPECT_EQ(r.status.code(), util::Code::kNotFound);
  EXPECT_EQ(r.status.message(), "etcdserver: requested lease not found");
  etcdserverpb::PutRequest ignore;
  ignore.set_key("missing");
  ignore.set_ignore_value(true);
  r = apply(etcd_command(ignore));
  EXPECT_EQ(r.status.message(), "etcdserver: key not found");
  EXPECT_EQ(r.revision, 2);
  EXPECT_EQ(store_->current_revision(), 2);
  EXPECT_EQ(range(req("b")).count(), 0);
  // A malformed payload is refused the same way.
  r = apply(Command{Op::kEtcd, "", std::string("\x03\xff", 2)});
  EXPECT_EQ(r.status.code(), util::Code::kInvalidArgument);
}

TEST_F(Mvcc, PutIgnoreValueAndLeaseAndPrevKv) {
  put("k", "v1");
  etcdserverpb::PutRequest p;
  p.set_key("k");
  p.set_ignore_value(true);
  p.set_prev_kv(true);
  EtcdResult r = apply(etcd_command(p));
  ASSERT_TRUE(r.status.is_ok()) << r.status.to_string();
  EXPECT_EQ(r.response.response_put().prev_kv().value(), "v1");
  EXPECT_EQ(r.response.response_put().prev_kv().mod_revision(), 2);
  auto got = range(req("k"));
  EXPECT_EQ(got.kvs(0).value(), "v1");
  EXPECT_EQ(got.kvs(0).version(), 2);
  r = put("new", "x", /*prev_kv=*/true);
  EXPECT_FALSE(r.response.response_put().has_prev_kv());
}

TEST_F(Mvcc, DeleteRangeWithPrevKvDeletesInOneRevision) {
  for (const char* k : {"p/a", "p/b", "p/c", "q"}) put(k, std::string("v") + k);
  EtcdResult r = del("p/", "p0", /*prev_kv=*/true);
  const auto& d = r.response.response_delete_range();
  EXPECT_EQ(d.deleted(), 3);
  ASSERT_EQ(d.prev_kvs_size(), 3);
  EXPECT_EQ(d.prev_kvs(1).key(), "p/b");
  EXPECT_EQ(d.prev_kvs(1).value(), "vp/b");
  EXPECT_EQ(r.revision, 6);
  EXPECT_EQ(keys(range(req(kNul, kNul))), "q");
  // From-key delete: everything >= "a".
  EXPECT_EQ(del("a", std::string(1, '\0')).response.response_delete_range().deleted(), 1);
}

TEST_F(Mvcc, RangeFormsLimitMoreAndCount) {
  for (const char* k : {"a", "b/1", "b/2", "b/3", "c"}) put(k, k);
  EXPECT_EQ(keys(range(req("b/1"))), "b/1");
  EXPECT_EQ(keys(range(req("b/", "b0"))), "b/1,b/2,b/3");                 // Prefix.
  EXPECT_EQ(keys(range(req("b/2", std::string(1, '\0')))), "b/2,b/3,c");  // From key.
  EXPECT_EQ(keys(range(req(std::string(1, '\0'), std::string(1, '\0')))), "a,b/1,b/2,b/3,c");
  EXPECT_EQ(range(req("c", "a")).kvs_size(), 0);  // end <= key: empty.

  R r = req("a", "z");
  r.set_limit(2);
  auto got = range(r);
  EXPECT_EQ(keys(got), "a,b/1");
  EXPECT_TRUE(got.more());
  EXPECT_EQ(got.count(), 5);  // The total in range, not the page.
  // The next page starts at last key + "\0": a seek.
  r.set_key(std::string("b/1") + '\0');
  got = range(r);
  EXPECT_EQ(keys(got), "b/2,b/3");
  EXPECT_TRUE(got.more());
  EXPECT_EQ(got.count(), 3);
  r.set_limit(3);
  EXPECT_FALSE(range(r).more());

  R counting = req("b/", "b0");
  counting.set_count_only(true);
  got = range(counting);
  EXPECT_EQ(got.count(), 3);
  EXPECT_EQ(got.kvs_size(), 0);
  R keys_only = req("b/", "b0");
  keys_only.set_keys_only(true);
  got = range(keys_only);
  EXPECT_EQ(keys(got), "b/1,b/2,b/3");
  EXPECT_EQ(got.kvs(0).value(), "");
  EXPECT_EQ(got.kvs(0).mod_revision(), 3);
}

TEST_F(Mvcc, RangeSortsAndFiltersAsEtcd) {
  put("k1", "z");  // rev 2
  put("k2", "y");  // rev 3
  put("k3", "x");  // rev 4
  put("k1", "w");  // rev 5: k1 mod 5, create 2
  R r = req("k", "l");
  r.set_sort_order(R::DESCEND);
  EXPECT_EQ(keys(range(r)), "k3,k2,k1");
  r.set_sort_target(R::MOD);
  EXPECT_EQ(keys(range(r)), "k1,k3,k2");
  r.set_sort_order(R::NONE);  // A target other than KEY sorts ascending.
  EXPECT_EQ(keys(range(r)), "k2,k3,k1");
  r.set_sort_target(R::VALUE);
  EXPECT_EQ(keys(range(r)), "k1,k3,k2");
  r.set_keys_only(true);  // Still sorted by the values it does not return.
  EXPECT_EQ(keys(range(r)), "k1,k3,k2");
  EXPECT_EQ(range(r).kvs(0).value(), "");
  r.set_keys_only(false);
  r.set_sort_target(R::VERSION);
  r.set_sort_order(R::DESCEND);
  EXPECT_EQ(keys(range(r)).substr(0, 2), "k1");

  // etcdctl lock's query: the waiter ahead of revision 4, newest first.
  R lock = req("k", "l");
  lock.set_max_create_revision(3);
  lock.set_sort_target(R::CREATE);
  lock.set_sort_order(R::DESCEND);
  lock.set_limit(1);
  auto got = range(lock);
  EXPECT_EQ(keys(got), "k2");
  EXPECT_TRUE(got.more());
  EXPECT_EQ(got.count(), 3);  // Before the filters, as etcd.

  R mods = req("k", "l");
  mods.set_min_mod_revision(4);
  EXPECT_EQ(keys(range(mods)), "k1,k3");
  mods.set_max_mod_revision(4);
  EXPECT_EQ(keys(range(mods)), "k3");
  R creates = req("k", "l");
  creates.set_min_create_revision(3);
  EXPECT_EQ(keys(range(creates)), "k2,k3");
}

TEST_F(Mvcc, ReadsAtAnOldRevisionWalkHistory) {
  put("a", "a1");  // 2
  put("b", "b1");  // 3
  put("a", "a2");  // 4
  del("b");        // 5
  put("c", "c1");  // 6
  put("b", "b2");  // 7
  EXPECT_EQ(values(range(req(kNul, kNul, 2))), "a1");
  EXPECT_EQ(values(range(req(kNul, kNul, 3))), "a1,b1");
  EXPECT_EQ(values(range(req(kNul, kNul, 4))), "a2,b1");
  EXPECT_EQ(values(range(req(kNul, kNul, 5))), "a2");
  EXPECT_EQ(values(range(req(kNul, kNul, 6))), "a2,c1");
  EXPECT_EQ(values(range(req(kNul, kNul, 7))), "a2,b2,c1");
  auto got = range(req("b", "", 3));
  EXPECT_EQ(got.kvs(0).create_revision(), 3);
  EXPECT_EQ(got.header().revision(), 7);  // The header is the current revision.
  R r = req(kNul, kNul, 6);
  r.set_limit(1);
  got = range(r);
  EXPECT_EQ(keys(got), "a");
  EXPECT_EQ(got.count(), 2);
  EXPECT_TRUE(got.more());

  util::Status s = range_status(req("a", "", 8));
  EXPECT_EQ(s.code(), util::Code::kOutOfRange);
  EXPECT_EQ(s.message(), "etcdserver: mvcc: required revision is a future revision");
}

TEST_F(Mvcc, TxnComparesEveryTargetAndResult) {
  put("k", "v");  // create 2, mod 2, version 1
  struct Case {
    C::CompareTarget target;
    C::CompareResult result;
    std::int64_t operand;
    std::string value;
    bool holds;
  };
  const std::vector<Case> cases = {
      {C::VERSION, C::EQUAL, 1, "", true},  {C::VERSION, C::GREATER, 1, "", false},
      {C::CREATE, C::EQUAL, 2, "", true},   {C::CREATE, C::LESS, 3, "", true},
      {C::MOD, C::NOT_EQUAL, 2, "", false}, {C::MOD, C::GREATER, 1, "", true},
      {C::LEASE, C::EQUAL, 0, "", true},    {C::VALUE, C::EQUAL, 0, "v", true},
      {C::VALUE, C::LESS, 0, "w", true},    {C::VALUE, C::GREATER, 0, "w", false},
  };
  for (const Case& c : cases) {
    etcdserverpb::TxnRequest t;
    auto* cmp = t.add_compare();
    cmp->set_key("k");
    cmp->set_target(c.target);
    cmp->set_result(c.result);
    switch (c.target) {
      case C::VERSION:
        cmp->set_version(c.operand);
        break;
      case C::CREATE:
        cmp->set_create_revision(c.operand);
        break;
      case C::MOD:
        cmp->set_mod_revision(c.operand);
        break;
      case C::LEASE:
        cmp->set_lease(c.operand);
        break;
      default:
        cmp->set_value(c.value);
        break;
    }
    EtcdResult r = apply(etcd_command(t));
    ASSERT_TRUE(r.status.is_ok());
    EXPECT_EQ(r.response.response_txn().succeeded(), c.holds)
        << C::CompareTarget_Name(c.target) << " " << C::CompareResult_Name(c.result);
    EXPECT_EQ(r.revision, 2);  // A txn that writes nothing keeps the revision.
  }
}

TEST_F(Mvcc, TxnCreateIfAbsentAndCasAsLocksAndKineDo) {
  // If(create_revision(k) == 0) Then(Put) Else(Range): clientv3's Mutex.
  auto lock_txn = [&](const std::string& value) {
    etcdserverpb::TxnRequest t;
    auto* cmp = t.add_compare();
    cmp->set_key("lock/1");
    cmp->set_target(C::CREATE);
    cmp->set_result(C::EQUAL);
    cmp->set_create_revision(0);
    auto* p = t.add_success()->mutable_request_put();
    p->set_key("lock/1");
    p->set_value(value);
    t.add_failure()->mutable_request_range()->set_key("lock/1");
    return apply(etcd_command(t));
  };
  EtcdResult first = lock_txn("me");
  EXPECT_TRUE(first.response.response_txn().succeeded());
  EXPECT_EQ(first.revision, 2);  // The revision it created: the lock's position.
  EXPECT_EQ(first.response.response_txn().header().revision(), 2);
  EtcdResult second = lock_txn("other");
  EXPECT_FALSE(second.response.response_txn().succeeded());
  EXPECT_EQ(second.revision, 2);
  EXPECT_EQ(second.response.response_txn().responses(0).response_range().kvs(0).value(), "me");

  // A compare over a range: every key must hold; an absent key compares
  // as zeros, and a VALUE compare on no key fails.
  put("r/a", "1");
  put("r/b", "1");
  etcdserverpb::TxnRequest t;
  auto* cmp = t.add_compare();
  cmp->set_key("r/");
  cmp->set_range_end("r0");
  cmp->set_target(C::VALUE);
  cmp->set_result(C::EQUAL);
  cmp->set_value("1");
  EXPECT_TRUE(apply(etcd_command(t)).response.response_txn().succeeded());
  put("r/c", "2");
  EXPECT_FALSE(apply(etcd_command(t)).response.response_txn().succeeded());
  cmp->set_key("none/");
  cmp->set_range_end("none0");
  EXPECT_FALSE(apply(etcd_command(t)).response.response_txn().succeeded());
}

TEST_F(Mvcc, TxnRangesSeeEarlierWritesAndNestedTxnsRun) {
  put("x", "old");  // 2
  etcdserverpb::TxnRequest t;
  auto* p = t.add_success()->mutable_request_put();
  p->set_key("x");
  p->set_value("new");
  p->set_prev_kv(true);
  t.add_success()->mutable_request_range()->set_key("x");
  auto* nested = t.add_success()->mutable_request_txn();
  auto* cmp = nested->add_compare();  // Against the state before the txn.
  cmp->set_key("x");
  cmp->set_target(C::VALUE);
  cmp->set_result(C::EQUAL);
  cmp->set_value("old");
  auto* np = nested->add_success()->mutable_request_put();
  np->set_key("y");
  np->set_value("from-nested");
  t.add_success()->mutable_request_delete_range()->set_key("gone");
  EtcdResult r = apply(etcd_command(t));
  ASSERT_TRUE(r.status.is_ok()) << r.status.to_string();
  const auto& txn = r.response.response_txn();
  EXPECT_TRUE(txn.succeeded());
  EXPECT_EQ(txn.responses(0).response_put().prev_kv().value(), "old");
  EXPECT_EQ(txn.responses(1).response_range().kvs(0).value(), "new");
  EXPECT_EQ(txn.responses(1).response_range().kvs(0).mod_revision(), 3);
  EXPECT_TRUE(txn.responses(2).response_txn().succeeded());
  EXPECT_EQ(r.revision, 3);  // One revision for the whole txn.
  auto y = range(req("y"));
  EXPECT_EQ(y.kvs(0).mod_revision(), 3);
  EXPECT_EQ(store_->current_revision(), 3);
}

TEST_F(Mvcc, ReadOnlyTxnRunsInAReadTransaction) {
  put("a", "1");
  etcdserverpb::TxnRequest t;
  auto* cmp = t.add_compare();
  cmp->set_key("a");
  cmp->set_target(C::VERSION);
  cmp->set_result(C::EQUAL);
  cmp->set_version(1);
  t.add_success()->mutable_request_range()->set_key("a");
  ASSERT_TRUE(is_read_only(t));
  etcdserverpb::TxnResponse resp;
  ASSERT_TRUE(store_->read_only_txn(t, &resp).is_ok());
  EXPECT_TRUE(resp.succeeded());
  EXPECT_EQ(resp.responses(0).response_range().kvs(0).value(), "1");
  EXPECT_EQ(resp.header().revision(), 2);
  t.add_failure()->mutable_request_put()->set_key("b");
  EXPECT_FALSE(is_read_only(t));
}

TEST_F(Mvcc, TxnValidationUsesEtcdsLimitsAndMessages) {
  etcdserverpb::TxnRequest t;
  for (int i = 0; i < kTxnOpsMax; ++i) t.add_success()->mutable_request_range()->set_key("k");
  EXPECT_TRUE(check_txn(t).is_ok());
  t.add_success()->mutable_request_range()->set_key("k");
  EXPECT_EQ(check_txn(t).message(), "etcdserver: too many operations in txn request");
  // Refused at apply too (a proposer that skipped the check).
  EtcdResult r = apply(etcd_command(t));
  EXPECT_EQ(r.status.code(), util::Code::kInvalidArgument);

  etcdserverpb::TxnRequest dup;
  dup.add_success()->mutable_request_put()->set_key("a");
  dup.add_success()->mutable_request_put()->set_key("a");
  EXPECT_EQ(check_txn(dup).message(), "etcdserver: duplicate key given in txn request");
  etcdserverpb::TxnRequest in_delete;
  auto* d = in_delete.add_success()->mutable_request_delete_range();
  d->set_key("a");
  d->set_range_end("c");
  in_delete.add_success()->mutable_request_put()->set_key("b");
  EXPECT_EQ(check_txn(in_delete).message(), "etcdserver: duplicate key given in txn request");
  // The same key in a nested txn's two branches: only one runs.
  etcdserverpb::TxnRequest branches;
  auto* nested = branches.add_success()->mutable_request_txn();
  nested->add_success()->mutable_request_put()->set_key("a");
  nested->add_failure()->mutable_request_put()->set_key("a");
  EXPECT_TRUE(check_txn(branches).is_ok());
  branches.add_success()->mutable_request_put()->set_key("a");
  EXPECT_FALSE(check_txn(branches).is_ok());
  // The two top-level branches are separate.
  etcdserverpb::TxnRequest apart;
  apart.add_success()->mutable_request_put()->set_key("a");
  apart.add_failure()->mutable_request_put()->set_key("a");
  EXPECT_TRUE(check_txn(apart).is_ok());

  etcdserverpb::PutRequest long_key;
  long_key.set_key(std::string(512, 'k'));
  EXPECT_EQ(check_put(long_key).message(), "etcdserver: request is too large");
  etcdserverpb::PutRequest empty_key;
  EXPECT_EQ(check_put(empty_key).message(), "etcdserver: key is not provided");
}

}  // namespace
}  // namespace dkv::kv
