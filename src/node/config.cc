#include "node/config.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <limits>
#include <optional>
#include <set>
#include <utility>

#include "wal/failpoints.h"

namespace dkv::node {
namespace {

util::Status bad(const std::string& var, const std::string& problem) {
  return util::invalid_argument(var + ": " + problem);
}

// Parses a whole decimal number in [min, max].
bool parse_uint(const std::string& text, std::uint64_t min, std::uint64_t max, std::uint64_t* out) {
  if (text.empty() || text.size() > 20) return false;
  std::uint64_t v = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size()) return false;
  if (v < min || v > max) return false;
  *out = v;
  return true;
}

bool valid_id(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

util::Status parse_port(const std::string& var, const std::string& text, std::uint16_t* out) {
  std::uint64_t v = 0;
  if (!parse_uint(text, 1, 65535, &v)) return bad(var, "not a port number 1-65535: '" + text + "'");
  *out = static_cast<std::uint16_t>(v);
  return util::Status::ok();
}

util::Status parse_number(const std::string& var, const std::string& text, std::uint64_t min,
                          std::uint64_t max, std::uint64_t* out) {
  if (!parse_uint(text, min, max, out)) {
    return bad(var, "must be a whole number from " + std::to_string(min) + " to " +
                        std::to_string(max) + ", got '" + text + "'");
  }
  return util::Status::ok();
}

const std::string* find(const std::map<std::string, std::string>& vars, const char* name) {
  auto it = vars.find(name);
  return it == vars.end() ? nullptr : &it->second;
}

// The TLS variables: each file non-empty if set, pairs complete, and no
// setting that needs another without it. The files themselves are read at
// start (tls/credentials.h).
util::Status parse_tls(const std::map<std::string, std::string>& vars, TlsConfig* t) {
  const auto file = [&](const char* name, std::string* out) {
    const auto it = vars.find(name);
    if (it == vars.end()) return util::Status::ok();
    if (it->second.empty()) return bad(name, "is empty (unset it instead)");
    *out = it->second;
    return util::Status::ok();
  };
  for (auto [name, out] : {std::pair{"DKV_CERT_FILE", &t->cert_file},
                           {"DKV_KEY_FILE", &t->key_file},
                           {"DKV_TRUSTED_CA_FILE", &t->trusted_ca_file},
                           {"DKV_PEER_CERT_FILE", &t->peer_cert_file},
                           {"DKV_PEER_KEY_FILE", &t->peer_key_file},
                           {"DKV_PEER_TRUSTED_CA_FILE", &t->peer_trusted_ca_file}}) {
    if (auto s = file(name, out); !s.is_ok()) return s;
  }
  if (const auto it = vars.find("DKV_PEER_CERT_ALLOWED_CN"); it != vars.end()) {
    t->peer_cert_allowed_cn = it->second;
  }
  if (const auto it = vars.find("DKV_CLIENT_CERT_AUTH"); it != vars.end()) {
    if (it->second != "true" && it->second != "false") {
      return bad("DKV_CLIENT_CERT_AUTH", "must be true or false, got '" + it->second + "'");
    }
    t->client_cert_auth = it->second == "true";
  }
  if (t->cert_file.empty() != t->key_file.empty()) {
    return t->cert_file.empty() ? bad("DKV_CERT_FILE", "must be set with DKV_KEY_FILE")
                                : bad("DKV_KEY_FILE", "must be set with DKV_CERT_FILE");
  }
  if (t->client_cert_auth && t->trusted_ca_file.empty()) {
    return bad("DKV_CLIENT_CERT_AUTH", "true needs DKV_TRUSTED_CA_FILE");
  }
  if (!t->trusted_ca_file.empty() && t->cert_file.empty()) {
    return bad("DKV_TRUSTED_CA_FILE", "needs DKV_CERT_FILE and DKV_KEY_FILE (client TLS)");
  }
  if (t->peer_cert_file.empty() != t->peer_key_file.empty()) {
    return t->peer_cert_file.empty()
               ? bad("DKV_PEER_CERT_FILE", "must be set with DKV_PEER_KEY_FILE")
               : bad("DKV_PEER_KEY_FILE", "must be set with DKV_PEER_CERT_FILE");
  }
  if (t->peer_tls() && t->peer_trusted_ca_file.empty()) {
    return bad("DKV_PEER_TRUSTED_CA_FILE", "must be set with DKV_PEER_CERT_FILE (mutual TLS)");
  }
  if (!t->peer_tls() && !t->peer_trusted_ca_file.empty()) {
    return bad("DKV_PEER_TRUSTED_CA_FILE", "needs DKV_PEER_CERT_FILE and DKV_PEER_KEY_FILE");
  }
  if (!t->peer_cert_allowed_cn.empty() && !t->peer_tls()) {
    return bad("DKV_PEER_CERT_ALLOWED_CN", "needs DKV_PEER_CERT_FILE (peer TLS)");
  }
  return util::Status::ok();
}

}  // namespace

const std::vector<VariableInfo>& config_variables() {
  static const std::vector<VariableInfo> vars = {
      {"DKV_NODE_ID", "--node-id", "this node's id in DKV_CLUSTER (default a)"},
      {"DKV_CLUSTER", "--cluster",
       "members as id@host:port,... (RPC addresses); first leads first"},
      {"DKV_RPC_PORT", "--rpc-port", "gRPC port (default: this node's port in DKV_CLUSTER)"},
      {"DKV_REST_PORT", "--rest-port", "REST port (default: RPC port + 1)"},
      {"DKV_DB_PATH", "--db-path", "data directory (default <id>.db)"},
      {"DKV_LOG_LEVEL", "--log-level", "trace|debug|info|warn|error (default info)"},
      {"DKV_LISTEN_HOST", "--listen-host", "address to listen on (default 0.0.0.0: all)"},
      {"DKV_HEARTBEAT_MS", "--heartbeat-ms", "leader heartbeat interval (default 100)"},
      {"DKV_ELECTION_MS", "--election-ms", "election timeout base (default 1000)"},
      {"DKV_REQUEST_TIMEOUT_MS", "--request-timeout-ms", "longest a request waits (default 5000)"},
      {"DKV_QUOTA_BYTES", "--quota-bytes", "database size quota (default 2147483648)"},
      {"DKV_SNAPSHOT_ENTRIES", "--snapshot-entries",
       "log entries between snapshots (default 100000)"},
      {"DKV_SNAPSHOT_BYTES", "--snapshot-bytes",
       "log bytes that also trigger a snapshot (default 67108864)"},
      {"DKV_CLUSTER_STATE", "--cluster-state",
       "new|existing: bootstrap a new cluster, or join a running one (default new)"},
      {"DKV_FORCE_NEW_CLUSTER", "--force-new-cluster",
       "true|false: disaster recovery, restart as a cluster of this node alone (default false)"},
      {"DKV_CERT_FILE", "--cert-file", "client TLS: the server certificate (PEM)"},
      {"DKV_KEY_FILE", "--key-file", "client TLS: its private key (PEM)"},
      {"DKV_TRUSTED_CA_FILE", "--trusted-ca-file", "client TLS: CA of client certificates"},
      {"DKV_CLIENT_CERT_AUTH", "--client-cert-auth",
       "true|false: clients must present a certificate of DKV_TRUSTED_CA_FILE (default false)"},
      {"DKV_PEER_CERT_FILE", "--peer-cert-file", "peer TLS: this member's certificate (PEM)"},
      {"DKV_PEER_KEY_FILE", "--peer-key-file", "peer TLS: its private key (PEM)"},
      {"DKV_PEER_TRUSTED_CA_FILE", "--peer-trusted-ca-file",
       "peer TLS: the CA every member's certificate is signed by"},
      {"DKV_PEER_CERT_ALLOWED_CN", "--peer-cert-allowed-cn",
       "peer TLS: members' certificates must carry this common name"},
  };
  return vars;
}

const std::vector<std::string>& test_variables() {
  static const std::vector<std::string> vars = {"DKV_TEST_STALE_READS", "DKV_TEST_FAILPOINTS",
                                                "DKV_TEST_ACK_BEFORE_PERSIST"};
  return vars;
}

bool test_hooks_built() {
#ifdef DKV_TEST_HOOKS
  return true;
#else
  return false;
#endif
}

std::vector<std::string> unknown_variables(const std::map<std::string, std::string>& environ_vars) {
  // Variables of other dkv tools, not of the server.
  static const std::set<std::string> others = {"DKV_ENDPOINTS"};
  std::vector<std::string> unknown;
  for (const auto& [name, value] : environ_vars) {
    if (name.rfind("DKV_", 0) != 0 || others.count(name)) continue;
    const auto& tests = test_variables();
    if (std::find(tests.begin(), tests.end(), name) != tests.end()) continue;
    const auto& known = config_variables();
    if (std::none_of(known.begin(), known.end(),
                     [&](const VariableInfo& v) { return name == v.name; })) {
      unknown.push_back(name);
    }
  }
  return unknown;
}

util::Status parse_cluster(const std::string& text, std::vector<MemberAddress>* out,
                           const std::string& source) {
  const std::string& var = source;
  out->clear();
  std::set<std::string> ids;
  std::set<std::string> addresses;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    const std::string item = text.substr(start, end - start);
    start = end + 1;
    const std::size_t at = item.find('@');
    if (at == std::string::npos) return bad(var, "member '" + item + "' is not id@host:port");
    MemberAddress m;
    m.id = item.substr(0, at);
    const std::string hostport = item.substr(at + 1);
    const std::size_t colon = hostport.rfind(':');
    if (!valid_id(m.id)) return bad(var, "bad member id '" + m.id + "' (letters, digits, -_.)");
    if (colon == std::string::npos || colon == 0) {
      return bad(var, "member '" + item + "' has no host:port address");
    }
    m.host = hostport.substr(0, colon);
    if (m.host.find_first_of(" /@") != std::string::npos) {
      return bad(var, "bad host '" + m.host + "' in member '" + item + "'");
    }
    util::Status s = parse_port(var, hostport.substr(colon + 1), &m.port);
    if (!s.is_ok()) return bad(var, "member '" + item + "': not a port number 1-65535");
    if (!ids.insert(m.id).second) return bad(var, "member id '" + m.id + "' appears twice");
    if (!addresses.insert(m.address()).second) {
      return bad(var, "address " + m.address() + " appears twice");
    }
    out->push_back(std::move(m));
  }
  if (out->empty()) return bad(var, "no members");
  return util::Status::ok();
}

namespace {

using Vars = std::map<std::string, std::string>;

// DKV_NODE_ID, DKV_CLUSTER and the ports, which must agree with each other.
util::Status parse_identity(const Vars& vars, Config* c) {
  c->node_id = "a";
  if (const auto* v = find(vars, "DKV_NODE_ID")) {
    if (!valid_id(*v)) return bad("DKV_NODE_ID", "bad id '" + *v + "' (letters, digits, -_.)");
    c->node_id = *v;
  }
  std::optional<std::uint16_t> rpc_port;
  if (const auto* v = find(vars, "DKV_RPC_PORT")) {
    std::uint16_t p = 0;
    if (auto s = parse_port("DKV_RPC_PORT", *v, &p); !s.is_ok()) return s;
    rpc_port = p;
  }
  if (const auto* v = find(vars, "DKV_CLUSTER")) {
    if (auto s = parse_cluster(*v, &c->cluster); !s.is_ok()) return s;
  } else {
    c->cluster.push_back({c->node_id, "127.0.0.1", rpc_port.value_or(7070)});
  }
  const auto self = std::find_if(c->cluster.begin(), c->cluster.end(),
                                 [&](const MemberAddress& m) { return m.id == c->node_id; });
  if (self == c->cluster.end()) {
    return bad("DKV_NODE_ID", "'" + c->node_id + "' is not a member of DKV_CLUSTER");
  }
  if (rpc_port && *rpc_port != self->port) {
    return bad("DKV_RPC_PORT", std::to_string(*rpc_port) + " differs from this node's port " +
                                   std::to_string(self->port) + " in DKV_CLUSTER");
  }
  c->rpc_port = self->port;
  if (const auto* v = find(vars, "DKV_REST_PORT")) {
    if (auto s = parse_port("DKV_REST_PORT", *v, &c->rest_port); !s.is_ok()) return s;
  } else {
    if (c->rpc_port == 65535) return bad("DKV_REST_PORT", "must be set when DKV_RPC_PORT is 65535");
    c->rest_port = static_cast<std::uint16_t>(c->rpc_port + 1);
  }
  if (c->rest_port == c->rpc_port) return bad("DKV_REST_PORT", "must differ from DKV_RPC_PORT");
  return util::Status::ok();
}

// DKV_DB_PATH, DKV_LOG_LEVEL and DKV_LISTEN_HOST.
util::Status parse_places(const Vars& vars, Config* c) {
  c->db_path = c->node_id + ".db";
  if (const auto* v = find(vars, "DKV_DB_PATH")) {
    if (v->empty()) return bad("DKV_DB_PATH", "is empty");
    c->db_path = *v;
  }
  if (const auto* v = find(vars, "DKV_LOG_LEVEL")) {
    static const std::set<std::string> levels = {"trace", "debug", "info", "warn", "error"};
    std::string level = *v;
    std::transform(level.begin(), level.end(), level.begin(),
                   [](unsigned char ch) { return std::tolower(ch); });
    if (!levels.count(level)) {
      return bad("DKV_LOG_LEVEL", "must be one of trace|debug|info|warn|error, got '" + *v + "'");
    }
    c->log_level = level;
  }
  if (const auto* v = find(vars, "DKV_LISTEN_HOST")) {
    if (v->empty() || v->find_first_of(" /@") != std::string::npos) {
      return bad("DKV_LISTEN_HOST", "not a host address: '" + *v + "'");
    }
    c->listen_host = *v;
  }
  return util::Status::ok();
}

// Sets *out from variable `name` if it is set, within [min, max].
template <typename T>
util::Status parse_optional_number(const Vars& vars, const char* name, std::uint64_t min,
                                   std::uint64_t max, T* out) {
  const auto* v = find(vars, name);
  if (v == nullptr) return util::Status::ok();
  std::uint64_t n = 0;
  if (auto s = parse_number(name, *v, min, max, &n); !s.is_ok()) return s;
  *out = static_cast<T>(n);
  return util::Status::ok();
}

// The timers, the quota and the snapshot thresholds.
util::Status parse_numbers(const Vars& vars, Config* c) {
  util::Status s = parse_optional_number(vars, "DKV_HEARTBEAT_MS", 1, 60'000, &c->heartbeat_ms);
  if (s.is_ok()) s = parse_optional_number(vars, "DKV_ELECTION_MS", 1, 600'000, &c->election_ms);
  if (s.is_ok() && c->election_ms < 3 * c->heartbeat_ms) {
    s = bad("DKV_ELECTION_MS", std::to_string(c->election_ms) +
                                   " must be at least 3x DKV_HEARTBEAT_MS (" +
                                   std::to_string(c->heartbeat_ms) + ")");
  }
  if (s.is_ok()) {
    s = parse_optional_number(vars, "DKV_REQUEST_TIMEOUT_MS", 1, 3'600'000, &c->request_timeout_ms);
  }
  // The quota: at least 1 MiB; at most 64 GiB, far beyond a small machine's needs.
  if (s.is_ok()) {
    s = parse_optional_number(vars, "DKV_QUOTA_BYTES", 1ull << 20, 64ull << 30, &c->quota_bytes);
  }
  if (s.is_ok()) {
    s = parse_optional_number(vars, "DKV_SNAPSHOT_ENTRIES", 1, 100'000'000, &c->snapshot_entries);
  }
  if (s.is_ok()) {
    s = parse_optional_number(vars, "DKV_SNAPSHOT_BYTES", 1ull << 20, 64ull << 30,
                              &c->snapshot_bytes);
  }
  return s;
}

// DKV_CLUSTER_STATE and DKV_FORCE_NEW_CLUSTER.
util::Status parse_cluster_state(const Vars& vars, Config* c) {
  if (const auto* v = find(vars, "DKV_CLUSTER_STATE")) {
    if (*v != "new" && *v != "existing") {
      return bad("DKV_CLUSTER_STATE", "must be new or existing, got '" + *v + "'");
    }
    c->join_existing = *v == "existing";
  }
  if (const auto* v = find(vars, "DKV_FORCE_NEW_CLUSTER")) {
    if (*v != "true" && *v != "false") {
      return bad("DKV_FORCE_NEW_CLUSTER", "must be true or false, got '" + *v + "'");
    }
    c->force_new_cluster = *v == "true";
  }
  return util::Status::ok();
}

// The TLS files' names (node/config.h, TlsConfig); their contents are read
// by cmd/dkv (tls/credentials.h).
util::Status parse_tls_step(const Vars& vars, Config* c) { return parse_tls(vars, &c->tls); }

// The DKV_TEST_* variables: honoured with test hooks, else only listed in
// test_variables_ignored. Touches nothing but the test_* fields.
util::Status parse_test_variables(const Vars& vars, bool test_hooks, Config* c) {
  if (!test_hooks) {
    for (const auto& name : test_variables()) {
      if (find(vars, name.c_str())) c->test_variables_ignored.push_back(name);
    }
    return util::Status::ok();
  }
  for (const char* name : {"DKV_TEST_STALE_READS", "DKV_TEST_ACK_BEFORE_PERSIST"}) {
    if (const auto* v = find(vars, name); v && *v != "0" && *v != "1") {
      return bad(name, "must be 0 or 1, got '" + *v + "'");
    }
  }
  if (const auto* v = find(vars, "DKV_TEST_STALE_READS")) c->test_stale_reads = *v == "1";
  if (const auto* v = find(vars, "DKV_TEST_ACK_BEFORE_PERSIST")) {
    c->test_ack_before_persist = *v == "1";
  }
  if (const auto* v = find(vars, "DKV_TEST_FAILPOINTS"); v && !v->empty()) {
    wal::Failpoints f;
    if (auto s = wal::parse_failpoints(*v, &f); !s.is_ok()) return s;
    c->test_failpoints = *v;
  }
  return util::Status::ok();
}

}  // namespace

util::Status parse_config(const std::map<std::string, std::string>& vars, Config* out) {
  return parse_config(vars, test_hooks_built(), out);
}

util::Status parse_config(const std::map<std::string, std::string>& vars, bool test_hooks,
                          Config* out) {
  Config c;
  // Every step runs the same way in every build; only the last one depends
  // on the test hooks, and it only sets the test_* fields.
  for (auto* step :
       {parse_identity, parse_places, parse_numbers, parse_cluster_state, parse_tls_step}) {
    if (auto s = step(vars, &c); !s.is_ok()) return s;
  }
  if (auto s = parse_test_variables(vars, test_hooks, &c); !s.is_ok()) return s;
  *out = std::move(c);
  return util::Status::ok();
}

}  // namespace dkv::node
