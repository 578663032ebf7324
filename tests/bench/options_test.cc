// tests/bench/options_test.cc
// dkv-bench's command line: each subcommand sets its read ratio, flags land
// in the Options, defaults follow --target and --protocol, and bad values
// are refused with a non-zero exit code.
#include "options.h"

#include <gtest/gtest.h>

#include <vector>

namespace dkv::bench {
namespace {

std::variant<Options, int> parse(std::vector<const char*> args) {
  args.insert(args.begin(), "dkv-bench");
  return parse_options(static_cast<int>(args.size()), args.data());
}

Options parsed(std::vector<const char*> args) {
  auto r = parse(std::move(args));
  EXPECT_TRUE(std::holds_alternative<Options>(r));
  return std::holds_alternative<Options>(r) ? std::get<Options>(r) : Options{};
}

int exit_code(std::vector<const char*> args) {
  auto r = parse(std::move(args));
  EXPECT_TRUE(std::holds_alternative<int>(r));
  return std::holds_alternative<int>(r) ? std::get<int>(r) : 0;
}

TEST(Options, PutTakesEveryWorkloadFlag) {
  const Options o = parsed({"put",
                            "--clients",
                            "64",
                            "--conns",
                            "4",
                            "--total",
                            "1000",
                            "--duration",
                            "3s",
                            "--key-size",
                            "12",
                            "--val-size",
                            "256",
                            "--key-space",
                            "5000",
                            "--sequential-keys",
                            "--seed",
                            "7",
                            "--json",
                            "--protocol",
                            "rest",
                            "--endpoints",
                            "127.0.0.1:1,127.0.0.1:2"});
  EXPECT_EQ(o.command, "put");
  EXPECT_EQ(o.workload.read_ratio, 0);
  EXPECT_EQ(o.clients, 64);
  EXPECT_EQ(o.conns, 4);
  EXPECT_EQ(o.total_ops, 1000u);
  EXPECT_EQ(o.duration, "3s");
  EXPECT_EQ(o.workload.key_size_bytes, 12u);
  EXPECT_EQ(o.workload.value_size_bytes, 256u);
  EXPECT_EQ(o.workload.key_space, 5000u);
  EXPECT_TRUE(o.workload.sequential_keys);
  EXPECT_EQ(o.workload.seed, 7u);
  EXPECT_TRUE(o.json);
  EXPECT_EQ(o.protocol, "rest");
  EXPECT_EQ(o.endpoints, "127.0.0.1:1,127.0.0.1:2");
  EXPECT_EQ(o.target, Target::kDkv);
}

TEST(Options, GetReadsOnlyAndMayBeSerializable) {
  const Options linear = parsed({"get", "--prefill"});
  EXPECT_EQ(linear.command, "get");
  EXPECT_EQ(linear.workload.read_ratio, 1);
  EXPECT_FALSE(linear.workload.serializable);
  EXPECT_TRUE(linear.prefill);
  EXPECT_TRUE(parsed({"get", "--serializable"}).workload.serializable);
}

TEST(Options, MixedUsesReadRatio) {
  EXPECT_EQ(parsed({"mixed"}).workload.read_ratio, 0.9);
  EXPECT_EQ(parsed({"mixed", "--read-ratio", "0.25"}).workload.read_ratio, 0.25);
  EXPECT_NE(exit_code({"mixed", "--read-ratio", "1.5"}), 0);
}

TEST(Options, RangeReadsAPrefilledPrefix) {
  const Options o = parsed({"range", "--target", "etcd"});
  EXPECT_EQ(o.command, "range");
  EXPECT_EQ(o.workload.mode, Mode::kRange);
  EXPECT_EQ(o.workload.key_space, 100u);  // The 100-key prefix by default.
  EXPECT_EQ(o.workload.key_prefix, "bench/range/");
  EXPECT_TRUE(o.prefill);
  EXPECT_FALSE(o.workload.serializable);
  EXPECT_EQ(parsed({"range", "--key-space", "10"}).workload.key_space, 10u);
  EXPECT_TRUE(parsed({"range", "--serializable"}).workload.serializable);
}

TEST(Options, CasGivesEachClientAKey) {
  const Options o = parsed({"cas", "--clients", "64"});
  EXPECT_EQ(o.command, "cas");
  EXPECT_EQ(o.workload.mode, Mode::kCas);
  EXPECT_EQ(o.workload.key_space, 64u);
  EXPECT_EQ(o.workload.key_prefix, "bench/cas/");
  EXPECT_FALSE(o.prefill);
  EXPECT_EQ(parsed({"put"}).workload.key_prefix, "");  // Other commands unchanged.
  EXPECT_EQ(parsed({"put"}).workload.mode, Mode::kReadWrite);
}

TEST(Options, DefaultEndpointsFollowTargetAndProtocol) {
  EXPECT_EQ(parsed({"put"}).endpoints, "127.0.0.1:7070,127.0.0.1:8080,127.0.0.1:9090");
  EXPECT_EQ(parsed({"put", "--protocol", "rest"}).endpoints,
            "127.0.0.1:7071,127.0.0.1:8081,127.0.0.1:9091");
  const Options etcd = parsed({"put", "--target", "etcd", "--protocol", "rest"});
  EXPECT_EQ(etcd.target, Target::kEtcd);
  EXPECT_EQ(etcd.endpoints, "127.0.0.1:2379");
}

TEST(Options, BadUsageIsRefused) {
  EXPECT_NE(exit_code({}), 0);                              // No subcommand.
  EXPECT_NE(exit_code({"scan"}), 0);                        // Unknown subcommand.
  EXPECT_NE(exit_code({"put", "--target", "redis"}), 0);    // Unknown target.
  EXPECT_NE(exit_code({"put", "--protocol", "udp"}), 0);    // Unknown protocol.
  EXPECT_NE(exit_code({"put", "--clients", "0"}), 0);       // Out of range.
  EXPECT_NE(exit_code({"put", "--clients", "many"}), 0);    // Not a number.
  EXPECT_NE(exit_code({"put", "--serializable"}), 0);       // Gets only.
  EXPECT_NE(exit_code({"put", "--read-ratio", "0.5"}), 0);  // Mixed only.
  EXPECT_EQ(exit_code({"put", "--help"}), 0);
}

}  // namespace
}  // namespace dkv::bench
