// dkvctl's etcd KV commands without a server: etcdctl's flags turned into
// requests (kv_args.h), the txn syntax (txn_input.h) and etcdctl's output
// (etcd_output.h). The expected strings are what etcdctl 3.4 prints for the
// same responses (tests/process/etcd_compat_test.cc checks that against a
// real etcd).
#include <gtest/gtest.h>

#include <sstream>

#include "cli.h"
#include "etcd_output.h"
#include "kv_args.h"
#include "txn_input.h"

namespace dkv::ctl {
namespace {

using etcdserverpb::Compare;
using etcdserverpb::RangeRequest;

Invocation parsed(std::vector<std::string> args, int* rc = nullptr, std::string* err = nullptr) {
  args.insert(args.begin(), "dkvctl");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  Invocation inv;
  std::ostringstream out;
  std::ostringstream errs;
  const int r = parse_args(static_cast<int>(argv.size()), argv.data(), &inv, out, errs);
  if (rc != nullptr) *rc = r;
  if (err != nullptr) *err = errs.str();
  return inv;
}

RangeRequest range_of(const std::vector<std::string>& args) {
  int rc = 0;
  std::string err;
  const Invocation inv = parsed(args, &rc, &err);
  EXPECT_EQ(rc, -1) << err;
  RangeRequest req;
  EXPECT_TRUE(make_range(inv.kv, &req).is_ok());
  return req;
}

TEST(EtcdArgsTest, GetRangesAsClientv3FormsThem) {
  auto r = range_of({"get", "foo"});
  EXPECT_EQ(r.key(), "foo");
  EXPECT_EQ(r.range_end(), "");
  r = range_of({"get", "a", "c"});
  EXPECT_EQ(r.range_end(), "c");
  r = range_of({"get", "fo", "--prefix", "--limit", "2", "--rev", "7", "--keys-only"});
  EXPECT_EQ(r.range_end(), "fp");
  EXPECT_EQ(r.limit(), 2);
  EXPECT_EQ(r.revision(), 7);
  EXPECT_TRUE(r.keys_only());
  r = range_of({"get", "", "--prefix"});  // Every key.
  EXPECT_EQ(r.key(), std::string(1, '\0'));
  EXPECT_EQ(r.range_end(), std::string(1, '\0'));
  r = range_of({"get", "b", "--from-key"});
  EXPECT_EQ(r.key(), "b");
  EXPECT_EQ(r.range_end(), std::string(1, '\0'));
  r = range_of({"get", "k", "--consistency", "s"});
  EXPECT_TRUE(r.serializable());
  // By key ascending is the server's order: clientv3 asks for no sort.
  r = range_of({"get", "k", "--prefix", "--order", "ascend"});
  EXPECT_EQ(r.sort_order(), RangeRequest::NONE);
  r = range_of({"get", "k", "--prefix", "--sort-by", "modify", "--order", "DESCEND"});
  EXPECT_EQ(r.sort_target(), RangeRequest::MOD);
  EXPECT_EQ(r.sort_order(), RangeRequest::DESCEND);
  EXPECT_EQ(prefix_range_end("a\xff"), "b");
  EXPECT_EQ(prefix_range_end("\xff\xff"), std::string(1, '\0'));
}

TEST(EtcdArgsTest, DelPutAndCompactionFlags) {
  Invocation inv = parsed({"del", "k", "--prefix", "--prev-kv"});
  etcdserverpb::DeleteRangeRequest del;
  ASSERT_TRUE(make_delete(inv.kv, &del).is_ok());
  EXPECT_EQ(del.range_end(), "l");
  EXPECT_TRUE(del.prev_kv());
  inv = parsed({"put", "k", "", "--prev-kv", "--lease", "1a"});
  etcdserverpb::PutRequest put;
  ASSERT_TRUE(make_put(inv.kv, &put).is_ok());
  EXPECT_EQ(put.value(), "");
  EXPECT_EQ(put.lease(), 26);
  EXPECT_TRUE(put.prev_kv());
  inv = parsed({"compaction", "12", "--physical"});
  EXPECT_EQ(inv.command, Command::kCompaction);
  EXPECT_EQ(inv.revision, 12);
  EXPECT_TRUE(inv.physical);
  inv = parsed({"txn", "-i"});
  EXPECT_EQ(inv.command, Command::kTxn);
  EXPECT_TRUE(inv.interactive);
}

TEST(EtcdArgsTest, BadCombinationsAreUsageErrorsWithEtcdctlsWords) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"get", "k", "--prefix", "--from-key"},
       "Error: `--prefix` and `--from-key` cannot be set at the same time, choose one\n"},
      {{"del", "a", "b", "--prefix"},
       "Error: too many arguments, only accept one argument when `--prefix` or `--from-key` is "
       "set\n"},
      {{"get", "k", "--order", "sideways"}, "Error: bad sort order sideways\n"},
      {{"get", "k", "--sort-by", "size"}, "Error: bad sort target size\n"},
      {{"get", "k", "--consistency", "x"}, "Error: unknown consistency flag \"x\"\n"},
      {{"put", "k", "v", "--lease", "xyz"}, "Error: bad lease ID (xyz), expecting ID in Hex\n"},
  };
  for (const auto& [args, message] : cases) {
    int rc = 0;
    std::string err;
    parsed(args, &rc, &err);
    EXPECT_EQ(rc, kExitUsage) << ::testing::PrintToString(args);
    EXPECT_EQ(err, message);
  }
  int rc = 0;
  parsed({"compaction"}, &rc);
  EXPECT_EQ(rc, kExitUsage);
  parsed({"compaction", "many"}, &rc);
  EXPECT_EQ(rc, kExitUsage);
}

TEST(TxnInputTest, ComparesInEtcdctlsSyntax) {
  Compare c;
  ASSERT_TRUE(parse_compare(R"(val("k") = "v 1")", &c).is_ok());
  EXPECT_EQ(c.target(), Compare::VALUE);
  EXPECT_EQ(c.result(), Compare::EQUAL);
  EXPECT_EQ(c.key(), "k");
  EXPECT_EQ(c.value(), "v 1");
  ASSERT_TRUE(parse_compare(R"(mod("k\x00") > "0")", &c).is_ok());
  EXPECT_EQ(c.target(), Compare::MOD);
  EXPECT_EQ(c.result(), Compare::GREATER);
  EXPECT_EQ(c.key(), std::string("k\0", 2));
  EXPECT_EQ(c.mod_revision(), 0);
  ASSERT_TRUE(parse_compare(R"(c("k") != "4")", &c).is_ok());
  EXPECT_EQ(c.target(), Compare::CREATE);
  EXPECT_EQ(c.result(), Compare::NOT_EQUAL);
  EXPECT_EQ(c.create_revision(), 4);
  ASSERT_TRUE(parse_compare(R"(version("k") < "3")", &c).is_ok());
  EXPECT_EQ(c.target(), Compare::VERSION);
  EXPECT_EQ(c.result(), Compare::LESS);
  EXPECT_EQ(c.version(), 3);
  ASSERT_TRUE(parse_compare(R"(lease("k") = "1f")", &c).is_ok());
  EXPECT_EQ(c.target(), Compare::LEASE);
  EXPECT_EQ(c.lease(), 31);
  for (const char* bad : {R"(val"k" = "v")", R"(val("k") = v)", R"(size("k") = "1")",
                          R"(ver("k") = "one")", R"(ver("k") =< "1")", R"(val("k) = "v")"}) {
    EXPECT_FALSE(parse_compare(bad, &c).is_ok()) << bad;
  }
}

TEST(TxnInputTest, ReadsThreeSectionsAndTheirRequests) {
  std::istringstream in(
      "val(\"a\") = \"1\"\nmod(\"b\") > \"2\"\n\nput a \"x y\" --prev-kv\nget a --prefix\n\n"
      "del b\n\n");
  std::ostringstream prompts;
  etcdserverpb::TxnRequest txn;
  ASSERT_TRUE(read_txn(in, &prompts, &txn).is_ok());
  EXPECT_EQ(prompts.str(),
            "compares:\nsuccess requests (get, put, del):\nfailure requests (get, put, del):\n");
  ASSERT_EQ(txn.compare_size(), 2);
  ASSERT_EQ(txn.success_size(), 2);
  EXPECT_EQ(txn.success(0).request_put().value(), "x y");
  EXPECT_TRUE(txn.success(0).request_put().prev_kv());
  EXPECT_EQ(txn.success(1).request_range().range_end(), "b");
  ASSERT_EQ(txn.failure_size(), 1);
  EXPECT_EQ(txn.failure(0).request_delete_range().key(), "b");

  // End of input at the start of a section: that section and the rest empty.
  std::istringstream short_in("\nput k v\n\n");
  txn.Clear();
  ASSERT_TRUE(read_txn(short_in, nullptr, &txn).is_ok());
  EXPECT_EQ(txn.compare_size(), 0);
  EXPECT_EQ(txn.success_size(), 1);
  EXPECT_EQ(txn.failure_size(), 0);
}

TEST(TxnInputTest, CutOrMalformedInputCommitsNothing) {
  for (const char* text :
       {"val(\"a\") = \"1\"\n\nput a 1\nput b 2", "\nput a 1\n", "\nfrobnicate a\n\n",
        "\nput a\n\n", "\nget a b --prefix\n\n", "nonsense\n\n"}) {
    std::istringstream in(text);
    etcdserverpb::TxnRequest txn;
    EXPECT_FALSE(read_txn(in, nullptr, &txn).is_ok()) << text;
  }
}

TEST(TxnInputTest, SplitsArgumentsAsEtcdctl) {
  std::vector<std::string> args;
  ASSERT_TRUE(split_args(R"(put "a b" 'c d' e\n "\u00e9")", &args));
  EXPECT_EQ(args, (std::vector<std::string>{"put", "a b", "c d", "e\\n", "\xc3\xa9"}));
  EXPECT_FALSE(split_args(R"(put "a)", &args));
}

etcdserverpb::ResponseHeader header(std::int64_t revision) {
  etcdserverpb::ResponseHeader h;
  h.set_cluster_id(15118495548433857066u);
  h.set_member_id(13668033151171901709u);
  h.set_revision(revision);
  h.set_raft_term(2);
  return h;
}

void add_kv(mvccpb::KeyValue* kv, const std::string& key, const std::string& value,
            std::int64_t rev) {
  kv->set_key(key);
  kv->set_value(value);
  kv->set_create_revision(rev);
  kv->set_mod_revision(rev);
  kv->set_version(1);
}

// The JSON lines below are etcdctl 3.4's output for the same responses.
TEST(EtcdOutputTest, JsonIsGoEncodingOfEtcdsStructs) {
  etcdserverpb::RangeResponse get;
  *get.mutable_header() = header(3);
  add_kv(get.add_kvs(), "foo", "bar", 2);
  get.set_count(1);
  EXPECT_EQ(format_etcd_get(Format::kJson, get, {}),
            R"({"header":{"cluster_id":15118495548433857066,"member_id":13668033151171901709,)"
            R"("revision":3,"raft_term":2},"kvs":[{"key":"Zm9v","create_revision":2,)"
            R"("mod_revision":2,"version":1,"value":"YmFy"}],"count":1})"
            "\n");
  etcdserverpb::RangeResponse none;
  *none.mutable_header() = header(3);
  EXPECT_EQ(format_etcd_get(Format::kJson, none, {}),
            R"({"header":{"cluster_id":15118495548433857066,"member_id":13668033151171901709,)"
            R"("revision":3,"raft_term":2}})"
            "\n");
  EXPECT_EQ(format_etcd_get(Format::kSimple, none, {}), "");

  etcdserverpb::TxnResponse txn;
  *txn.mutable_header() = header(7);
  txn.add_responses()->mutable_response_delete_range()->mutable_header()->set_revision(7);
  EXPECT_EQ(format_etcd_txn(Format::kJson, txn, {}),
            R"({"header":{"cluster_id":15118495548433857066,"member_id":13668033151171901709,)"
            R"("revision":7,"raft_term":2},"responses":[{"Response":{"ResponseDeleteRange":)"
            R"({"header":{"revision":7}}}}]})"
            "\n");
  EXPECT_EQ(format_etcd_txn(Format::kSimple, txn, {}), "FAILURE\n\n0\n");
  EXPECT_EQ(go_json(etcdserverpb::Member()), "{}");
  etcdserverpb::Member m;
  m.set_name("<a&b>\n\xff");
  EXPECT_EQ(go_json(m), R"({"name":"\u003ca\u0026b\u003e\n\ufffd"})");
}

TEST(EtcdOutputTest, SimpleLinesAsEtcdctl) {
  etcdserverpb::PutResponse put;
  EXPECT_EQ(format_etcd_put(Format::kSimple, put, {}), "OK\n");
  add_kv(put.mutable_prev_kv(), "k", "old", 2);
  EXPECT_EQ(format_etcd_put(Format::kSimple, put, {}), "OK\nk\nold\n");
  etcdserverpb::DeleteRangeResponse del;
  del.set_deleted(2);
  add_kv(del.add_prev_kvs(), "a", "1", 2);
  add_kv(del.add_prev_kvs(), "b", "", 3);
  EXPECT_EQ(format_etcd_del(Format::kSimple, del, {}), "2\na\n1\nb\n\n");
  etcdserverpb::RangeResponse get;
  add_kv(get.add_kvs(), "a", "1", 2);
  add_kv(get.add_kvs(), "b", "2", 3);
  EXPECT_EQ(format_etcd_get(Format::kSimple, get, {false, true}), "1\n2\n");
  EXPECT_EQ(format_etcd_get(Format::kSimple, get, {true, false}), "YQ==\nMQ==\nYg==\nMg==\n");
  etcdserverpb::TxnResponse txn;
  txn.set_succeeded(true);
  txn.add_responses()->mutable_response_put();
  *txn.add_responses()->mutable_response_range() = get;
  EXPECT_EQ(format_etcd_txn(Format::kSimple, txn, {}), "SUCCESS\n\nOK\n\na\n1\nb\n2\n");
  EXPECT_EQ(format_etcd_compaction(5), "compacted revision 5\n");
}

}  // namespace
}  // namespace dkv::ctl
