#include "node/config.h"

#include <gtest/gtest.h>

#include <tuple>
#include <utility>
#include <vector>

namespace dkv::node {
namespace {

using Vars = std::map<std::string, std::string>;

// The original dkv's README example, node a.
Vars original_node_a() {
  return {{"DKV_LOG_LEVEL", "info"},
          {"DKV_RPC_PORT", "7070"},
          {"DKV_REST_PORT", "7071"},
          {"DKV_DB_PATH", "a.db"},
          {"DKV_NODE_ID", "a"},
          {"DKV_CLUSTER", "a@127.0.0.1:7070,b@127.0.0.1:8080,c@127.0.0.1:9090"}};
}

// Expects parse_config to fail with a message that starts with `variable`.
void expect_rejected(const Vars& vars, const std::string& variable) {
  Config c;
  util::Status s = parse_config(vars, &c);
  ASSERT_FALSE(s.is_ok()) << "accepted a bad " << variable;
  EXPECT_EQ(s.code(), util::Code::kInvalidArgument);
  EXPECT_EQ(s.message().rfind(variable + ":", 0), 0u) << s.message();
  EXPECT_EQ(s.message().find('\n'), std::string::npos) << "one line: " << s.message();
}

TEST(ConfigTest, ParsesTheOriginalExample) {
  Config c;
  ASSERT_TRUE(parse_config(original_node_a(), &c).is_ok());
  EXPECT_EQ(c.node_id, "a");
  ASSERT_EQ(c.cluster.size(), 3u);
  EXPECT_EQ(c.cluster[0], (MemberAddress{"a", "127.0.0.1", 7070}));
  EXPECT_EQ(c.cluster[2].address(), "127.0.0.1:9090");
  EXPECT_EQ(c.rpc_port, 7070);
  EXPECT_EQ(c.rest_port, 7071);
  EXPECT_EQ(c.db_path, "a.db");
  EXPECT_EQ(c.log_level, "info");
  EXPECT_EQ(c.listen_host, "0.0.0.0");
  EXPECT_EQ(c.request_timeout_ms, 5000u);
  EXPECT_EQ(c.quota_bytes, 2ull << 30);
}

TEST(ConfigTest, DefaultsMakeASingleNode) {
  Config c;
  ASSERT_TRUE(parse_config({}, &c).is_ok());
  EXPECT_EQ(c.node_id, "a");
  ASSERT_EQ(c.cluster.size(), 1u);
  EXPECT_EQ(c.cluster[0].address(), "127.0.0.1:7070");
  EXPECT_EQ(c.rpc_port, 7070);
  EXPECT_EQ(c.rest_port, 7071);
  EXPECT_EQ(c.db_path, "a.db");
}

TEST(ConfigTest, RpcPortDefaultsToTheNodesEntry) {
  Vars v = original_node_a();
  v.erase("DKV_RPC_PORT");
  v.erase("DKV_REST_PORT");
  v["DKV_NODE_ID"] = "b";
  Config c;
  ASSERT_TRUE(parse_config(v, &c).is_ok());
  EXPECT_EQ(c.rpc_port, 8080);
  EXPECT_EQ(c.rest_port, 8081);
}

TEST(ConfigTest, RejectsBadValuesNamingTheVariable) {
  auto with = [](const std::string& name, const std::string& value) {
    Vars v = original_node_a();
    v[name] = value;
    return v;
  };
  expect_rejected(with("DKV_RPC_PORT", "abc"), "DKV_RPC_PORT");
  expect_rejected(with("DKV_RPC_PORT", "0"), "DKV_RPC_PORT");
  expect_rejected(with("DKV_RPC_PORT", "65536"), "DKV_RPC_PORT");
  expect_rejected(with("DKV_RPC_PORT", "8080"), "DKV_RPC_PORT");  // Not the node's own entry.
  expect_rejected(with("DKV_REST_PORT", "-1"), "DKV_REST_PORT");
  expect_rejected(with("DKV_REST_PORT", "7070"), "DKV_REST_PORT");  // Same as RPC.
  expect_rejected(with("DKV_NODE_ID", "d"), "DKV_NODE_ID");
  expect_rejected(with("DKV_NODE_ID", ""), "DKV_NODE_ID");
  expect_rejected(with("DKV_LOG_LEVEL", "verbose"), "DKV_LOG_LEVEL");
  expect_rejected(with("DKV_DB_PATH", ""), "DKV_DB_PATH");
  expect_rejected(with("DKV_CLUSTER", ""), "DKV_CLUSTER");
  expect_rejected(with("DKV_CLUSTER", "a@127.0.0.1"), "DKV_CLUSTER");
  expect_rejected(with("DKV_CLUSTER", "a127.0.0.1:7070"), "DKV_CLUSTER");
  expect_rejected(with("DKV_CLUSTER", "a@127.0.0.1:7070,a@127.0.0.1:8080"), "DKV_CLUSTER");
  expect_rejected(with("DKV_CLUSTER", "a@127.0.0.1:7070,b@127.0.0.1:7070"), "DKV_CLUSTER");
  expect_rejected(with("DKV_CLUSTER", "a@127.0.0.1:7070,"), "DKV_CLUSTER");
  expect_rejected(with("DKV_CLUSTER", "a@127.0.0.1:99999"), "DKV_CLUSTER");
  expect_rejected(with("DKV_HEARTBEAT_MS", "0"), "DKV_HEARTBEAT_MS");
  expect_rejected(with("DKV_ELECTION_MS", "10"), "DKV_ELECTION_MS");  // < 3x heartbeat.
  expect_rejected(with("DKV_REQUEST_TIMEOUT_MS", "1s"), "DKV_REQUEST_TIMEOUT_MS");
  expect_rejected(with("DKV_QUOTA_BYTES", "1000"), "DKV_QUOTA_BYTES");
  expect_rejected(with("DKV_SNAPSHOT_ENTRIES", "0"), "DKV_SNAPSHOT_ENTRIES");
  expect_rejected(with("DKV_SNAPSHOT_BYTES", "1000"), "DKV_SNAPSHOT_BYTES");  // < 1 MiB.
  expect_rejected(with("DKV_LISTEN_HOST", ""), "DKV_LISTEN_HOST");
  for (const char* version : {"", "3.4", "v3.4.23", "3.4.23-rc1", "3..4", "3.4.", "1.2.3.4"}) {
    expect_rejected(with("DKV_ETCD_VERSION", version), "DKV_ETCD_VERSION");
  }
  if (test_hooks_built()) {
    expect_rejected(with("DKV_TEST_STALE_READS", "yes"), "DKV_TEST_STALE_READS");
    expect_rejected(with("DKV_TEST_ACK_BEFORE_PERSIST", "2"), "DKV_TEST_ACK_BEFORE_PERSIST");
    expect_rejected(with("DKV_TEST_FAILPOINTS", "wal-fsync-eio:after=x"), "DKV_TEST_FAILPOINTS");
    expect_rejected(with("DKV_TEST_FAILPOINTS", "disk-on-fire"), "DKV_TEST_FAILPOINTS");
  }
}

TEST(ConfigTest, EtcdVersionDefaultsToDebiansEtcdAndIsSettable) {
  Config c;
  ASSERT_TRUE(parse_config(original_node_a(), &c).is_ok());
  EXPECT_EQ(c.etcd_version, "3.4.23");
  Vars v = original_node_a();
  v["DKV_ETCD_VERSION"] = "3.5.17";
  ASSERT_TRUE(parse_config(v, &c).is_ok());
  EXPECT_EQ(c.etcd_version, "3.5.17");
}

TEST(ConfigTest, TestSwitchesAreOffUnlessAskedFor) {
  Config c;
  ASSERT_TRUE(parse_config(original_node_a(), &c).is_ok());
  EXPECT_FALSE(c.test_stale_reads);
  EXPECT_FALSE(c.test_ack_before_persist);
  EXPECT_TRUE(c.test_failpoints.empty());
  EXPECT_TRUE(c.test_variables_ignored.empty());
}

// A DKV_TEST_HOOKS build honours the test switches; a release build ignores
// them (main warns about each one named in test_variables_ignored).
TEST(ConfigTest, TestSwitchesNeedATestHooksBuild) {
  Vars v = original_node_a();
  v["DKV_TEST_STALE_READS"] = "1";
  v["DKV_TEST_ACK_BEFORE_PERSIST"] = "1";
  v["DKV_TEST_FAILPOINTS"] = "wal-fsync-eio:after=3";
  Config c;
  ASSERT_TRUE(parse_config(v, /*test_hooks=*/true, &c).is_ok());
  EXPECT_TRUE(c.test_stale_reads);
  EXPECT_TRUE(c.test_ack_before_persist);
  EXPECT_EQ(c.test_failpoints, "wal-fsync-eio:after=3");
  EXPECT_TRUE(c.test_variables_ignored.empty());

  ASSERT_TRUE(parse_config(v, /*test_hooks=*/false, &c).is_ok());
  EXPECT_FALSE(c.test_stale_reads);
  EXPECT_FALSE(c.test_ack_before_persist);
  EXPECT_TRUE(c.test_failpoints.empty());
  EXPECT_EQ(c.test_variables_ignored.size(), 3u);
}

// Every variable but DKV_TEST_* is read the same way with and without the
// test hooks (issue 14: the installed build, without them, ignored
// DKV_CLUSTER_STATE and DKV_FORCE_NEW_CLUSTER), bad values included.
TEST(ConfigTest, ReleaseBuildReadsEveryVariableButTheTestOnes) {
  const Vars v = {{"DKV_NODE_ID", "b"},
                  {"DKV_CLUSTER", "a@127.0.0.1:7070,b@127.0.0.1:8080"},
                  {"DKV_RPC_PORT", "8080"},
                  {"DKV_REST_PORT", "8090"},
                  {"DKV_DB_PATH", "/tmp/b.db"},
                  {"DKV_LOG_LEVEL", "warn"},
                  {"DKV_LISTEN_HOST", "127.0.0.1"},
                  {"DKV_HEARTBEAT_MS", "50"},
                  {"DKV_ELECTION_MS", "500"},
                  {"DKV_REQUEST_TIMEOUT_MS", "700"},
                  {"DKV_QUOTA_BYTES", "10485760"},
                  {"DKV_SNAPSHOT_ENTRIES", "77"},
                  {"DKV_SNAPSHOT_BYTES", "2097152"},
                  {"DKV_CLUSTER_STATE", "existing"},
                  {"DKV_FORCE_NEW_CLUSTER", "true"}};
  Config release;
  ASSERT_TRUE(parse_config(v, /*test_hooks=*/false, &release).is_ok());
  EXPECT_TRUE(release.join_existing);
  EXPECT_TRUE(release.force_new_cluster);
  EXPECT_EQ(release.snapshot_bytes, 2097152u);
  Config hooks;
  ASSERT_TRUE(parse_config(v, /*test_hooks=*/true, &hooks).is_ok());
  auto visible = [](const Config& c) {
    return std::tuple(c.node_id, c.cluster, c.rpc_port, c.rest_port, c.db_path, c.log_level,
                      c.listen_host, c.heartbeat_ms, c.election_ms, c.request_timeout_ms,
                      c.quota_bytes, c.snapshot_entries, c.snapshot_bytes, c.join_existing,
                      c.force_new_cluster);
  };
  EXPECT_EQ(visible(release), visible(hooks));
  for (const auto& [name, value] : std::vector<std::pair<std::string, std::string>>{
           {"DKV_CLUSTER_STATE", "joining"}, {"DKV_FORCE_NEW_CLUSTER", "yes"}}) {
    Vars bad_value = v;
    bad_value[name] = value;
    Config c;
    const auto s = parse_config(bad_value, /*test_hooks=*/false, &c);
    EXPECT_EQ(s.message().rfind(name + ":", 0), 0u) << s.to_string();
  }
}

TEST(ConfigTest, ClusterStateAndForceNewClusterAreValidated) {
  Config c;
  ASSERT_TRUE(parse_config(original_node_a(), &c).is_ok());
  EXPECT_FALSE(c.join_existing);
  EXPECT_FALSE(c.force_new_cluster);
  Vars v = original_node_a();
  v["DKV_CLUSTER_STATE"] = "existing";
  v["DKV_FORCE_NEW_CLUSTER"] = "true";
  ASSERT_TRUE(parse_config(v, &c).is_ok());
  EXPECT_TRUE(c.join_existing);
  EXPECT_TRUE(c.force_new_cluster);
  v["DKV_CLUSTER_STATE"] = "joining";
  expect_rejected(v, "DKV_CLUSTER_STATE");
  v = original_node_a();
  v["DKV_FORCE_NEW_CLUSTER"] = "1";
  expect_rejected(v, "DKV_FORCE_NEW_CLUSTER");
}

TEST(ConfigTest, LogLevelIsCaseInsensitive) {
  Vars v = original_node_a();
  v["DKV_LOG_LEVEL"] = "DEBUG";
  Config c;
  ASSERT_TRUE(parse_config(v, &c).is_ok());
  EXPECT_EQ(c.log_level, "debug");
}

TEST(ConfigTest, UnknownVariablesAreListed) {
  const Vars env = {{"DKV_NODE_ID", "a"},
                    {"DKV_NODEID", "a"},
                    {"DKV_ENDPOINTS", "x"},
                    {"DKV_TEST_FAILPOINTS", "x"},
                    {"HOME", "/"}};
  EXPECT_EQ(unknown_variables(env), std::vector<std::string>{"DKV_NODEID"});
}

}  // namespace
}  // namespace dkv::node

namespace dkv::node {
namespace {

TEST(ConfigTest, TlsSettingsNeedTheirPartners) {
  auto with = [](std::map<std::string, std::string> more) {
    Vars v = original_node_a();
    for (auto& [k, val] : more) v[k] = val;
    return v;
  };
  Config c;
  ASSERT_TRUE(parse_config(with({{"DKV_CERT_FILE", "s.crt"},
                                 {"DKV_KEY_FILE", "s.key"},
                                 {"DKV_TRUSTED_CA_FILE", "ca.crt"},
                                 {"DKV_CLIENT_CERT_AUTH", "true"},
                                 {"DKV_PEER_CERT_FILE", "p.crt"},
                                 {"DKV_PEER_KEY_FILE", "p.key"},
                                 {"DKV_PEER_TRUSTED_CA_FILE", "pca.crt"},
                                 {"DKV_PEER_CERT_ALLOWED_CN", "member"}}),
                           &c)
                  .is_ok());
  EXPECT_TRUE(c.tls.client_tls());
  EXPECT_TRUE(c.tls.client_cert_auth);
  EXPECT_TRUE(c.tls.peer_tls());
  EXPECT_EQ(c.tls.peer_cert_allowed_cn, "member");
  ASSERT_TRUE(parse_config(original_node_a(), &c).is_ok());
  EXPECT_FALSE(c.tls.client_tls());
  EXPECT_FALSE(c.tls.peer_tls());

  expect_rejected(with({{"DKV_CERT_FILE", "s.crt"}}), "DKV_KEY_FILE");
  expect_rejected(with({{"DKV_KEY_FILE", "s.key"}}), "DKV_CERT_FILE");
  expect_rejected(with({{"DKV_CERT_FILE", ""}, {"DKV_KEY_FILE", "s.key"}}), "DKV_CERT_FILE");
  expect_rejected(with({{"DKV_CERT_FILE", "s.crt"},
                        {"DKV_KEY_FILE", "s.key"},
                        {"DKV_CLIENT_CERT_AUTH", "true"}}),
                  "DKV_CLIENT_CERT_AUTH");
  expect_rejected(with({{"DKV_CLIENT_CERT_AUTH", "yes"}}), "DKV_CLIENT_CERT_AUTH");
  expect_rejected(with({{"DKV_TRUSTED_CA_FILE", "ca.crt"}}), "DKV_TRUSTED_CA_FILE");
  expect_rejected(with({{"DKV_PEER_CERT_FILE", "p.crt"}}), "DKV_PEER_KEY_FILE");
  expect_rejected(with({{"DKV_PEER_CERT_FILE", "p.crt"}, {"DKV_PEER_KEY_FILE", "p.key"}}),
                  "DKV_PEER_TRUSTED_CA_FILE");
  expect_rejected(with({{"DKV_PEER_TRUSTED_CA_FILE", "pca.crt"}}), "DKV_PEER_TRUSTED_CA_FILE");
  expect_rejected(with({{"DKV_PEER_CERT_ALLOWED_CN", "member"}}), "DKV_PEER_CERT_ALLOWED_CN");
}

}  // namespace
}  // namespace dkv::node

namespace dkv::node {
namespace {

Config parsed(const Vars& extra) {
  Vars vars = extra;
  Config c;
  util::Status s = parse_config(vars, &c);
  EXPECT_TRUE(s.is_ok()) << s.to_string();
  return c;
}

TEST(ConfigTest, AutoCompactionDefaultsToTheLast1000Revisions) {
  const Config c = parsed({});
  EXPECT_FALSE(c.auto_compaction_periodic);
  EXPECT_EQ(c.auto_compaction_revisions, 1000u);
}

// etcd's parseCompactionRetention: a bare number is revisions or hours,
// anything else a Go duration (periodic mode).
TEST(ConfigTest, AutoCompactionRetentionReadsAsEtcdDoes) {
  EXPECT_EQ(parsed({{"DKV_AUTO_COMPACTION_RETENTION", "50"}}).auto_compaction_revisions, 50u);
  EXPECT_EQ(
      parsed({{"DKV_AUTO_COMPACTION_MODE", "revision"}, {"DKV_AUTO_COMPACTION_RETENTION", "0"}})
          .auto_compaction_revisions,
      0u);
  const Vars periodic = {{"DKV_AUTO_COMPACTION_MODE", "periodic"}};
  auto period = [&](const std::string& retention) {
    Vars v = periodic;
    v["DKV_AUTO_COMPACTION_RETENTION"] = retention;
    const Config c = parsed(v);
    EXPECT_TRUE(c.auto_compaction_periodic);
    return c.auto_compaction_period_ms;
  };
  EXPECT_EQ(period("1"), 3'600'000u);  // Bare hours.
  EXPECT_EQ(period("1h"), 3'600'000u);
  EXPECT_EQ(period("5m"), 300'000u);
  EXPECT_EQ(period("1h30m"), 5'400'000u);
  EXPECT_EQ(period("1.5h"), 5'400'000u);
  EXPECT_EQ(period("2s500ms"), 2'500u);
  EXPECT_EQ(period("0"), 0u);
}

TEST(ConfigTest, BadAutoCompactionSettingsNameTheVariable) {
  expect_rejected({{"DKV_AUTO_COMPACTION_MODE", "hourly"}}, "DKV_AUTO_COMPACTION_MODE");
  expect_rejected({{"DKV_AUTO_COMPACTION_RETENTION", "1h"}}, "DKV_AUTO_COMPACTION_RETENTION");
  expect_rejected({{"DKV_AUTO_COMPACTION_RETENTION", "-5"}}, "DKV_AUTO_COMPACTION_RETENTION");
  expect_rejected({{"DKV_AUTO_COMPACTION_MODE", "periodic"}}, "DKV_AUTO_COMPACTION_RETENTION");
  for (const char* bad : {"", "h", "5x", "1.2.3h", "5 m", "m5"}) {
    expect_rejected(
        {{"DKV_AUTO_COMPACTION_MODE", "periodic"}, {"DKV_AUTO_COMPACTION_RETENTION", bad}},
        "DKV_AUTO_COMPACTION_RETENTION");
  }
}

}  // namespace
}  // namespace dkv::node
