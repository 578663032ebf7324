// Config: the node's configuration from DKV_* environment variables (the
// original dkv's interface, kept exactly) and flags of the same names
// (`--node-id` for DKV_NODE_ID, ...), which override the environment.
// Validation is complete and up front: a bad value yields one Status whose
// message names the variable and the problem; cmd/dkv prints it and exits 2.
// config.cc holds one table row per variable (name, flag, parser, bounds,
// help); rules between variables run after all rows.
// Threading: pure functions, safe from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "util/status.h"

namespace dkv::node {

struct MemberAddress {
  std::string id;    // As named in DKV_CLUSTER ("a").
  std::string host;  // "127.0.0.1"
  std::uint16_t port = 0;

  std::string address() const { return host + ":" + std::to_string(port); }
  bool operator==(const MemberAddress&) const = default;
};

// TLS settings, etcd's names (README "Security model"). Empty file: unset.
struct TlsConfig {
  std::string cert_file;             // DKV_CERT_FILE: the server certificate for clients
  std::string key_file;              // DKV_KEY_FILE: its key
  std::string trusted_ca_file;       // DKV_TRUSTED_CA_FILE: CA of client certificates
  bool client_cert_auth = false;     // DKV_CLIENT_CERT_AUTH: clients must present one
  std::string peer_cert_file;        // DKV_PEER_CERT_FILE: this member's certificate
  std::string peer_key_file;         // DKV_PEER_KEY_FILE
  std::string peer_trusted_ca_file;  // DKV_PEER_TRUSTED_CA_FILE: the peer CA
  std::string peer_cert_allowed_cn;  // DKV_PEER_CERT_ALLOWED_CN: peers' CN must be this

  bool client_tls() const { return !cert_file.empty(); }
  bool peer_tls() const { return !peer_cert_file.empty(); }
};

struct Config {
  std::string node_id = "a";                // DKV_NODE_ID
  std::vector<MemberAddress> cluster;       // DKV_CLUSTER, in order; the first leads first.
  std::uint16_t rpc_port = 0;               // DKV_RPC_PORT (0 until parse_config derives it)
  std::uint16_t rest_port = 0;              // DKV_REST_PORT (0 until parse_config derives it)
  std::string db_path;                      // DKV_DB_PATH (empty until parse_config derives it)
  std::string log_level = "info";           // DKV_LOG_LEVEL
  std::string listen_host = "0.0.0.0";      // DKV_LISTEN_HOST
  std::uint32_t heartbeat_ms = 100;         // DKV_HEARTBEAT_MS
  std::uint32_t election_ms = 1000;         // DKV_ELECTION_MS
  std::uint32_t request_timeout_ms = 5000;  // DKV_REQUEST_TIMEOUT_MS
  std::uint64_t quota_bytes = 2ull << 30;   // DKV_QUOTA_BYTES
  std::uint64_t snapshot_entries = 100000;  // DKV_SNAPSHOT_ENTRIES (etcd's default)
  std::uint64_t snapshot_bytes = 64 << 20;  // DKV_SNAPSHOT_BYTES
  std::string etcd_version = "3.4.23";      // DKV_ETCD_VERSION (etcd API's Status, /version)
  // DKV_WATCH_PROGRESS_NOTIFY_MS: etcd's 10 minutes.
  std::uint32_t watch_progress_notify_ms = 600'000;
  // DKV_AUTO_COMPACTION_MODE (periodic|revision) and _RETENTION, etcd's
  // settings (node/auto_compactor.h). Revision mode keeps
  // auto_compaction_revisions revisions; periodic mode the history of the
  // last auto_compaction_period_ms. A retention of 0 turns it off. Unlike
  // etcd (off by default), dkv keeps the last 1,000 revisions by default.
  bool auto_compaction_periodic = false;
  std::string auto_compaction_retention;  // As given; parsed by the checks.
  std::uint64_t auto_compaction_revisions = 1000;
  std::uint64_t auto_compaction_period_ms = 0;
  // TEST ONLY, honoured only if test_hooks_built() (the CMake option
  // DKV_TEST_HOOKS); otherwise they stay off and test_variables_ignored
  // names them, for main to warn about.
  // DKV_TEST_STALE_READS=1: serve linearizable reads from the local replica
  // without ReadIndex, i.e. break linearizability on purpose, so the fault
  // suite can prove it catches stale reads (its canary).
  bool test_stale_reads = false;
  // DKV_TEST_FAILPOINTS: WAL failpoints to arm (syntax in wal/failpoints.h).
  std::string test_failpoints;
  // DKV_TEST_ACK_BEFORE_PERSIST=1: the WAL's sync() lies (lazy sync, see
  // wal/failpoints.h) and the store is rebuilt from the WAL at start, so a
  // kill -9 loses acknowledged writes: the fault suite's canary.
  bool test_ack_before_persist = false;
  // DKV_TEST_FEATURE_LEVEL=n: this node applies and advertises feature
  // level n only (kv/feature_level.h), to play an older dkv in the feature
  // gate's tests. Unset: the binary's level.
  std::optional<std::uint32_t> test_feature_level;
  std::vector<std::string> test_variables_ignored;
  // DKV_CLUSTER_STATE: "new" (default) bootstraps a new data directory from
  // DKV_CLUSTER; "existing" joins the running cluster whose members are
  // listed in DKV_CLUSTER, after `member add` (see the README). Ignored once
  // the data directory exists.
  bool join_existing = false;
  // DKV_FORCE_NEW_CLUSTER=true: disaster recovery; rewrites the persisted
  // membership to this node alone, keeping its log and data.
  bool force_new_cluster = false;
  TlsConfig tls;
};

// The test-only variables (DKV_TEST_*), not listed in --help.
const std::vector<std::string>& test_variables();
// True if this binary was built with DKV_TEST_HOOKS=ON.
bool test_hooks_built();

// Every variable the server reads, with a one-line description and its
// bounds (for --help and for warning about unknown DKV_* variables). One row
// of config.cc's table each.
struct VariableInfo {
  const char* name;
  const char* flag;
  std::string help;
};
const std::vector<VariableInfo>& config_variables();

// Builds and validates a Config from variable values (DKV_* names; flags
// already merged in by the caller). Unset variables take their defaults:
// DKV_NODE_ID "a", DKV_CLUSTER "<id>@127.0.0.1:<rpc port>", DKV_RPC_PORT the
// node's own port in DKV_CLUSTER (else 7070), DKV_REST_PORT rpc port + 1,
// DKV_DB_PATH "<id>.db".
util::Status parse_config(const std::map<std::string, std::string>& vars, Config* out);
// parse_config() as a binary built with (`test_hooks`) or without the test
// hooks would run it: the same in both but for the DKV_TEST_* variables.
util::Status parse_config(const std::map<std::string, std::string>& vars, bool test_hooks,
                          Config* out);

// Names of DKV_* variables in `environ_vars` that the server does not know.
std::vector<std::string> unknown_variables(const std::map<std::string, std::string>& environ_vars);

// Parses a duration as Go's time.ParseDuration does for what etcd's
// retention takes ("1h", "5m", "90s", "1h30m", "1.5h", "500ms") into
// milliseconds; false if malformed or negative (exposed for tests).
bool parse_duration_ms(const std::string& text, std::uint64_t* ms);

// Parses "a@127.0.0.1:7070,b@127.0.0.1:8080" (exposed for tests). Errors
// start with `source`, where the text came from.
util::Status parse_cluster(const std::string& text, std::vector<MemberAddress>* out,
                           const std::string& source = "DKV_CLUSTER");

}  // namespace dkv::node
