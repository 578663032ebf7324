// dkvctl's watch and lease commands without a server: etcdctl's arguments
// and usage errors (watch_lease_args.h) and its output (watch_lease_output.h).
// The expected strings are what etcdctl 3.4 printed for the same responses
// (tests/process/etcd_compat_test.cc compares the real binaries on etcd).
#include <gtest/gtest.h>

#include <sstream>

#include "cli.h"
#include "watch_lease_args.h"
#include "watch_lease_output.h"

namespace dkv::ctl {
namespace {

Invocation parsed(std::vector<std::string> args, int* rc, std::string* err) {
  args.insert(args.begin(), "dkvctl");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  Invocation inv;
  std::ostringstream out;
  std::ostringstream errs;
  *rc = parse_args(static_cast<int>(argv.size()), argv.data(), &inv, out, errs);
  *err = errs.str();
  return inv;
}

etcdserverpb::ResponseHeader header(std::int64_t revision) {
  etcdserverpb::ResponseHeader h;
  h.set_cluster_id(651720656998640443u);
  h.set_member_id(3439074565106275192u);
  h.set_revision(revision);
  h.set_raft_term(2);
  return h;
}

constexpr char kHeader[] =
    R"("cluster_id":651720656998640443,"member_id":3439074565106275192,"revision":7,"raft_term":2)";

TEST(WatchLeaseArgsTest, WatchRangesAndFlags) {
  int rc = 0;
  std::string err;
  Invocation inv = parsed({"watch", "lk", "--prefix", "--rev", "3", "--prev-kv", "--max-events",
                           "2", "--stop-after", "5s"},
                          &rc, &err);
  ASSERT_EQ(rc, -1) << err;
  EXPECT_EQ(inv.command, Command::kWatch);
  etcdserverpb::WatchCreateRequest req;
  ASSERT_TRUE(make_watch(inv.watch, &req).is_ok());
  EXPECT_EQ(req.key(), "lk");
  EXPECT_EQ(req.range_end(), "ll");
  EXPECT_EQ(req.start_revision(), 3);
  EXPECT_TRUE(req.prev_kv());
  EXPECT_EQ(inv.watch.max_events, 2);
  EXPECT_EQ(inv.watch.stop_after.count(), 5000);
  inv = parsed({"watch", "a", "c"}, &rc, &err);
  ASSERT_TRUE(make_watch(inv.watch, &req).is_ok());
  EXPECT_EQ(req.range_end(), "c");
  inv = parsed({"watch", "", "--prefix"}, &rc, &err);
  ASSERT_TRUE(make_watch(inv.watch, &req).is_ok());
  EXPECT_EQ(req.key(), std::string(1, '\0'));
  EXPECT_EQ(req.range_end(), std::string(1, '\0'));
}

TEST(WatchLeaseArgsTest, LeaseCommandsAndEtcdctlsUsageErrors) {
  int rc = 0;
  std::string err;
  Invocation inv = parsed({"lease", "keep-alive", "--once", "1a"}, &rc, &err);
  EXPECT_EQ(inv.command, Command::kLeaseKeepAlive);
  EXPECT_TRUE(inv.lease.once);
  inv = parsed({"lease", "timetolive", "--keys", "1a"}, &rc, &err);
  EXPECT_EQ(inv.command, Command::kLeaseTimeToLive);
  EXPECT_TRUE(inv.lease.keys);
  parsed({"lease", "list"}, &rc, &err);
  EXPECT_EQ(rc, -1);
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"lease", "revoke", "zz"},
       "Error: bad lease ID arg (strconv.ParseInt: parsing \"zz\": invalid syntax), expecting ID "
       "in Hex\n"},
      {{"lease", "revoke", "7fffffffffffffffff"},
       "Error: bad lease ID arg (strconv.ParseInt: parsing \"7fffffffffffffffff\": value out of "
       "range), expecting ID in Hex\n"},
      {{"lease", "grant", "x"},
       "Error: bad TTL (strconv.ParseInt: parsing \"x\": invalid syntax)\n"},
      {{"watch", "a", "b", "--prefix"},
       "Error: `range_end` and `--prefix` are mutually exclusive\n"},
  };
  for (const auto& [args, message] : cases) {
    parsed(args, &rc, &err);
    EXPECT_EQ(rc, kExitUsage) << ::testing::PrintToString(args);
    EXPECT_EQ(err, message);
  }
  parsed({"watch", "k", "--stop-after", "soon"}, &rc, &err);
  EXPECT_EQ(rc, kExitUsage);
}

TEST(WatchLeaseOutputTest, WatchAsEtcdctl) {
  etcdserverpb::WatchResponse r;
  *r.mutable_header() = header(7);
  auto* put = r.add_events();
  put->mutable_kv()->set_key("a");
  put->mutable_kv()->set_value("2");
  put->mutable_kv()->set_create_revision(2);
  put->mutable_kv()->set_mod_revision(6);
  put->mutable_kv()->set_version(2);
  put->mutable_prev_kv()->set_key("a");
  put->mutable_prev_kv()->set_value("1");
  auto* del = r.add_events();
  del->set_type(mvccpb::Event::DELETE);
  del->mutable_kv()->set_key("a");
  del->mutable_kv()->set_mod_revision(7);
  EXPECT_EQ(format_watch_response(Format::kSimple, r), "PUT\na\n1\na\n2\nDELETE\na\n\n");
  r.mutable_events(0)->clear_prev_kv();
  EXPECT_EQ(format_watch_response(Format::kJson, r),
            std::string(R"({"Header":{)") + kHeader +
                R"(},"Events":[{"kv":{"key":"YQ==","create_revision":2,"mod_revision":6,)"
                R"("version":2,"value":"Mg=="}},{"type":1,"kv":{"key":"YQ==","mod_revision":7}}],)"
                R"("CompactRevision":0,"Canceled":false,"Created":false})"
                "\n");
  etcdserverpb::WatchResponse compacted;
  *compacted.mutable_header() = header(0);
  compacted.set_canceled(true);
  compacted.set_compact_revision(6);
  EXPECT_EQ(format_watch_response(Format::kSimple, compacted), "");
  EXPECT_EQ(format_watch_response(Format::kJson, compacted),
            R"({"Header":{"cluster_id":651720656998640443,"member_id":3439074565106275192,)"
            R"("raft_term":2},"Events":[],"CompactRevision":6,"Canceled":true,"Created":false})"
            "\n");
  EXPECT_EQ(watch_canceled_line(compacted),
            "watch was canceled (etcdserver: mvcc: required revision has been compacted)\n");
  etcdserverpb::WatchResponse progress;
  *progress.mutable_header() = header(9);
  EXPECT_EQ(format_watch_response(Format::kSimple, progress), "progress notify: 9\n");
}

TEST(WatchLeaseOutputTest, LeasesAsEtcdctl) {
  etcdserverpb::LeaseGrantResponse grant;
  *grant.mutable_header() = header(7);
  grant.set_id(1403049687813295368);
  grant.set_ttl(100);
  EXPECT_EQ(format_lease_grant(Format::kSimple, grant),
            "lease 1378a241e4558d08 granted with TTL(100s)\n");
  EXPECT_EQ(
      format_lease_grant(Format::kJson, grant),
      std::string("{") + kHeader + R"(,"ID":1403049687813295368,"TTL":100,"Error":""})" + "\n");
  etcdserverpb::LeaseKeepAliveResponse keep;
  *keep.mutable_header() = header(7);
  keep.set_id(1403049687813295366);
  keep.set_ttl(100);
  EXPECT_EQ(format_lease_keepalive(Format::kSimple, keep),
            "lease 1378a241e4558d06 keepalived with TTL(100)\n");
  EXPECT_EQ(format_lease_keepalive(Format::kJson, keep),
            std::string("{") + kHeader + R"(,"ID":1403049687813295366,"TTL":100})" + "\n");
  EXPECT_EQ(format_lease_keepalive_ended(Format::kSimple, 0x1378a241e4558d06),
            "lease 1378a241e4558d06 expired or revoked.\n");
  etcdserverpb::LeaseTimeToLiveResponse ttl;
  *ttl.mutable_header() = header(7);
  ttl.set_id(0x1378a241e4558d06);
  ttl.set_ttl(94);
  ttl.set_grantedttl(100);
  ttl.add_keys("k1");
  ttl.add_keys("k2");
  EXPECT_EQ(format_lease_timetolive(Format::kSimple, ttl, true),
            "lease 1378a241e4558d06 granted with TTL(100s), remaining(94s), attached keys([k1 "
            "k2])\n");
  EXPECT_EQ(format_lease_timetolive(Format::kJson, ttl, true),
            std::string("{") + kHeader +
                R"(,"id":1403049687813295366,"ttl":94,"granted-ttl":100,"keys":["azE=","azI="]})" +
                "\n");
  ttl.clear_keys();
  EXPECT_EQ(format_lease_timetolive(Format::kSimple, ttl, false),
            "lease 1378a241e4558d06 granted with TTL(100s), remaining(94s)\n");
  EXPECT_NE(format_lease_timetolive(Format::kJson, ttl, false).find(R"("keys":null})"),
            std::string::npos);
  ttl.set_ttl(-1);
  ttl.set_grantedttl(0);
  EXPECT_EQ(format_lease_timetolive(Format::kSimple, ttl, true),
            "lease 1378a241e4558d06 already expired\n");
  etcdserverpb::LeaseLeasesResponse list;
  *list.mutable_header() = header(7);
  EXPECT_EQ(format_lease_list(Format::kSimple, list), "found 0 leases\n");
  EXPECT_EQ(format_lease_list(Format::kJson, list),
            std::string("{") + kHeader + R"(,"leases":[]})" + "\n");
  list.add_leases()->set_id(0x1378a241e4558d06);
  list.add_leases()->set_id(0x1378a241e4558d08);
  EXPECT_EQ(format_lease_list(Format::kSimple, list),
            "found 2 leases\n1378a241e4558d06\n1378a241e4558d08\n");
  etcdserverpb::LeaseRevokeResponse revoke;
  *revoke.mutable_header() = header(7);
  EXPECT_EQ(format_lease_revoke(Format::kSimple, 0x1378a241e4558d06, revoke),
            "lease 1378a241e4558d06 revoked\n");
  EXPECT_EQ(format_lease_revoke(Format::kJson, 0x1378a241e4558d06, revoke),
            std::string(R"({"header":{)") + kHeader + "}}\n");
}

}  // namespace
}  // namespace dkv::ctl
