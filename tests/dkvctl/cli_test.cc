#include "cli.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <sstream>

namespace dkv::ctl {
namespace {

struct Parsed {
  int rc = 0;
  Invocation inv;
  std::string out;
  std::string err;
};

Parsed parse(std::vector<std::string> args) {
  args.insert(args.begin(), "dkvctl");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  Parsed p;
  std::ostringstream out;
  std::ostringstream err;
  p.rc = parse_args(static_cast<int>(argv.size()), argv.data(), &p.inv, out, err);
  p.out = out.str();
  p.err = err.str();
  return p;
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override { unsetenv("DKV_ENDPOINTS"); }
  void TearDown() override { unsetenv("DKV_ENDPOINTS"); }
};

TEST_F(CliTest, PutGetDelWithDefaults) {
  auto p = parse({"put", "hello", "world"});
  ASSERT_EQ(p.rc, -1) << p.err;
  EXPECT_EQ(p.inv.command, Command::kPut);
  EXPECT_EQ(p.inv.kv.key, "hello");
  EXPECT_EQ(p.inv.kv.value, "world");
  EXPECT_EQ(p.inv.global.endpoints, std::vector<std::string>{"127.0.0.1:7070"});
  EXPECT_EQ(p.inv.global.format, Format::kSimple);
  EXPECT_EQ(p.inv.global.command_timeout, std::chrono::seconds(5));

  p = parse({"get", "hello", "--serializable"});
  ASSERT_EQ(p.rc, -1) << p.err;
  EXPECT_EQ(p.inv.command, Command::kGet);
  EXPECT_TRUE(p.inv.kv.serializable);

  p = parse({"del", "hello"});
  ASSERT_EQ(p.rc, -1) << p.err;
  EXPECT_EQ(p.inv.command, Command::kDel);
  EXPECT_FALSE(p.inv.kv.serializable);
}

TEST_F(CliTest, GlobalFlagsBeforeOrAfterTheCommand) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--endpoints", "h1:1,h2:2", "-w", "json", "member", "list"},
           {"member", "list", "-w", "json", "--endpoints", "h1:1,h2:2"},
           {"member", "list", "--endpoints=h1:1,h2:2", "--write-out=json"},
           {"-w", "json", "member", "list", "--endpoints", "h1:1", "--endpoints", "h2:2"}}) {
    auto p = parse(args);
    ASSERT_EQ(p.rc, -1) << p.err;
    EXPECT_EQ(p.inv.command, Command::kMemberList);
    EXPECT_EQ(p.inv.global.format, Format::kJson);
    EXPECT_EQ(p.inv.global.endpoints, (std::vector<std::string>{"h1:1", "h2:2"}));
  }
  auto p = parse({"get", "k", "--command-timeout", "750ms", "--dial-timeout=3s"});
  ASSERT_EQ(p.rc, -1) << p.err;
  EXPECT_EQ(p.inv.global.command_timeout, std::chrono::milliseconds(750));
  EXPECT_EQ(p.inv.global.dial_timeout, std::chrono::seconds(3));
}

TEST_F(CliTest, EndpointsFromTheEnvironmentUnlessGiven) {
  setenv("DKV_ENDPOINTS", "e1:1,e2:2", 1);
  auto p = parse({"endpoint", "status"});
  ASSERT_EQ(p.rc, -1) << p.err;
  EXPECT_EQ(p.inv.command, Command::kEndpointStatus);
  EXPECT_EQ(p.inv.global.endpoints, (std::vector<std::string>{"e1:1", "e2:2"}));
  p = parse({"endpoint", "health", "--endpoints", "f:3"});
  ASSERT_EQ(p.rc, -1) << p.err;
  EXPECT_EQ(p.inv.command, Command::kEndpointHealth);
  EXPECT_EQ(p.inv.global.endpoints, std::vector<std::string>{"f:3"});
}

TEST_F(CliTest, MemberAndLeaderCommands) {
  auto p = parse({"member", "add", "d", "127.0.0.1:10070", "--voter"});
  ASSERT_EQ(p.rc, -1) << p.err;
  EXPECT_EQ(p.inv.command, Command::kMemberAdd);
  EXPECT_EQ(p.inv.name, "d");
  EXPECT_EQ(p.inv.address, "127.0.0.1:10070");
  EXPECT_TRUE(p.inv.voter);
  EXPECT_FALSE(p.inv.force);

  p = parse({"member", "promote", "d"});
  ASSERT_EQ(p.rc, -1) << p.err;
  EXPECT_EQ(p.inv.command, Command::kMemberPromote);
  EXPECT_EQ(p.inv.name, "d");

  p = parse({"member", "remove", "b", "--force"});
  ASSERT_EQ(p.rc, -1) << p.err;
  EXPECT_EQ(p.inv.command, Command::kMemberRemove);
  EXPECT_TRUE(p.inv.force);

  p = parse({"move-leader", "c", "-w", "table"});
  ASSERT_EQ(p.rc, -1) << p.err;
  EXPECT_EQ(p.inv.command, Command::kMoveLeader);
  EXPECT_EQ(p.inv.name, "c");
  EXPECT_EQ(p.inv.global.format, Format::kTable);
}

TEST_F(CliTest, SnapshotCommands) {
  auto p = parse({"snapshot", "save", "backup.db"});
  ASSERT_EQ(p.rc, -1) << p.err;
  EXPECT_EQ(p.inv.command, Command::kSnapshotSave);
  EXPECT_EQ(p.inv.file, "backup.db");

  p = parse({"snapshot", "restore", "backup.db", "--data-dir", "a.db", "--name", "a",
             "--initial-cluster", "a@127.0.0.1:7070,b@127.0.0.1:8080"});
  ASSERT_EQ(p.rc, -1) << p.err;
  EXPECT_EQ(p.inv.command, Command::kSnapshotRestore);
  EXPECT_EQ(p.inv.data_dir, "a.db");
  EXPECT_EQ(p.inv.node_name, "a");
  EXPECT_EQ(p.inv.initial_cluster, "a@127.0.0.1:7070,b@127.0.0.1:8080");

  p = parse({"snapshot", "status", "backup.db", "-w", "json"});
  ASSERT_EQ(p.rc, -1) << p.err;
  EXPECT_EQ(p.inv.command, Command::kSnapshotStatus);
}

TEST_F(CliTest, Base64ArgumentsAreDecoded) {
  auto p = parse({"put", "--base64", "aGVsbG8=", "AAEC"});
  ASSERT_EQ(p.rc, -1) << p.err;
  EXPECT_EQ(p.inv.kv.key, "hello");
  EXPECT_EQ(p.inv.kv.value, std::string("\0\1\2", 3));
  p = parse({"put", "--base64", "a!b", "AAEC"});
  EXPECT_EQ(p.rc, kExitUsage);
  EXPECT_NE(p.err.find("Error: KEY is not valid base64"), std::string::npos) << p.err;
}

TEST_F(CliTest, UnknownCommandIsNamed) {
  auto p = parse({"frobnicate", "x"});
  EXPECT_EQ(p.rc, kExitUsage);
  EXPECT_EQ(p.err, "Error: unknown command \"frobnicate\" (see dkvctl --help)\n");
  p = parse({"--endpoints", "h:1", "-w", "json", "lease", "renew", "1"});
  EXPECT_EQ(p.err, "Error: unknown command \"lease renew\" (see dkvctl --help)\n");
  p = parse({"member", "rename", "a", "b"});
  EXPECT_EQ(p.rc, kExitUsage);
  EXPECT_EQ(p.err, "Error: unknown command \"member rename\" (see dkvctl --help)\n");
  // Other mistakes keep CLI11's own words.
  p = parse({"member", "add", "d"});
  EXPECT_EQ(p.err.find("unknown command"), std::string::npos) << p.err;
}

TEST_F(CliTest, BadUsageExitsTwoWithOneErrorLine) {
  for (const auto& args :
       std::vector<std::vector<std::string>>{{},
                                             {"frobnicate"},
                                             {"put", "only-key"},
                                             {"get"},
                                             {"member"},
                                             {"member", "add", "d"},
                                             {"get", "k", "-w", "yaml"},
                                             {"get", "k", "--command-timeout", "soon"},
                                             {"get", "k", "--no-such-flag"},
                                             {"snapshot", "restore", "f", "--name", "a"}}) {
    auto p = parse(args);
    EXPECT_EQ(p.rc, kExitUsage) << ::testing::PrintToString(args);
    EXPECT_EQ(p.err.rfind("Error: ", 0), 0u) << p.err;
    EXPECT_EQ(std::count(p.err.begin(), p.err.end(), '\n'), 1) << p.err;
    EXPECT_EQ(p.out, "");
  }
}

TEST_F(CliTest, HelpAndVersionExitZero) {
  auto p = parse({"--help"});
  EXPECT_EQ(p.rc, kExitOk);
  EXPECT_NE(p.out.find("member"), std::string::npos);
  p = parse({"member", "--help"});
  EXPECT_EQ(p.rc, kExitOk);
  EXPECT_NE(p.out.find("promote"), std::string::npos);
  p = parse({"--version"});
  EXPECT_EQ(p.rc, kExitOk);
  EXPECT_NE(p.out.find("dkvctl "), std::string::npos);
}

TEST(DurationTest, ParsesUnits) {
  std::chrono::milliseconds d;
  ASSERT_TRUE(parse_duration("5s", &d));
  EXPECT_EQ(d.count(), 5000);
  ASSERT_TRUE(parse_duration("250ms", &d));
  EXPECT_EQ(d.count(), 250);
  ASSERT_TRUE(parse_duration("1.5", &d));
  EXPECT_EQ(d.count(), 1500);
  ASSERT_TRUE(parse_duration("2m", &d));
  EXPECT_EQ(d.count(), 120000);
  EXPECT_FALSE(parse_duration("0s", &d));
  EXPECT_FALSE(parse_duration("-1s", &d));
  EXPECT_FALSE(parse_duration("5x", &d));
  EXPECT_FALSE(parse_duration("", &d));
}

TEST(Base64Test, RoundTripsAndAcceptsUrlSafeUnpadded) {
  for (const std::string& s : {std::string(""), std::string("a"), std::string("ab"),
                               std::string("abc"), std::string("\xff\xfe\0x", 4)}) {
    std::string back;
    ASSERT_TRUE(decode_base64(encode_base64(s), &back));
    EXPECT_EQ(back, s);
  }
  std::string out;
  ASSERT_TRUE(decode_base64("__8", &out));
  EXPECT_EQ(out, "\xff\xff");
  EXPECT_FALSE(decode_base64("a", &out));
  EXPECT_FALSE(decode_base64("ab$d", &out));
}

}  // namespace
}  // namespace dkv::ctl
