#include "node/config.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <functional>
#include <set>
#include <type_traits>
#include <utility>

#include "kv/feature_level.h"
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

// ---------------------------------------------------------------------------
// The table: one row per variable. A row's parser checks the variable's own
// text (format and bounds) and sets its field; rules between variables run
// after every row (the checks further down). Errors name the variable.

using Vars = std::map<std::string, std::string>;
using Parser = std::function<util::Status(const char* name, const std::string& text, Config* c)>;

struct Row {
  VariableInfo info;  // Name, flag and the help line (with bounds) for --help.
  Parser parse;
};

// Field accessors: `field(c)` is the member a row sets.
#define DKV_FIELD(member) \
  [](Config * c) -> auto& { return c->member; }

// A whole number within [min, max].
template <typename Field>
Row number(const char* name, const char* flag, std::uint64_t min, std::uint64_t max, Field field,
           const std::string& help) {
  return {{name, flag, help + "; " + std::to_string(min) + "-" + std::to_string(max)},
          [min, max, field](const char* var, const std::string& text, Config* c) {
            std::uint64_t v = 0;
            if (auto s = parse_number(var, text, min, max, &v); !s.is_ok()) return s;
            auto& out = field(c);
            out = static_cast<std::remove_reference_t<decltype(out)>>(v);
            return util::Status::ok();
          }};
}

// A port, 1-65535.
template <typename Field>
Row port(const char* name, const char* flag, Field field, const std::string& help) {
  return {{name, flag, help}, [field](const char* var, const std::string& text, Config* c) {
            return parse_port(var, text, &field(c));
          }};
}

// One of two words, `yes` setting the field true (true/false, existing/new).
template <typename Field>
Row two_words(const char* name, const char* flag, const char* yes, const char* no, Field field,
              const std::string& help) {
  return {{name, flag, help},
          [yes, no, field](const char* var, const std::string& text, Config* c) {
            if (text != yes && text != no) {
              return bad(var, std::string("must be ") + yes + " or " + no + ", got '" + text + "'");
            }
            field(c) = text == yes;
            return util::Status::ok();
          }};
}

// Text that must not be empty: a path or a file name.
template <typename Field>
Row path(const char* name, const char* flag, const char* empty_problem, Field field,
         const std::string& help) {
  return {{name, flag, help},
          [empty_problem, field](const char* var, const std::string& text, Config* c) {
            if (text.empty()) return bad(var, empty_problem);
            field(c) = text;
            return util::Status::ok();
          }};
}

// Any text, the empty one included.
template <typename Field>
Row text(const char* name, const char* flag, Field field, const std::string& help) {
  return {{name, flag, help}, [field](const char*, const std::string& text, Config* c) {
            field(c) = text;
            return util::Status::ok();
          }};
}

util::Status parse_node_id(const char* var, const std::string& text, Config* c) {
  if (!valid_id(text)) return bad(var, "bad id '" + text + "' (letters, digits, -_.)");
  c->node_id = text;
  return util::Status::ok();
}

util::Status parse_cluster_row(const char* var, const std::string& text, Config* c) {
  return parse_cluster(text, &c->cluster, var);
}

util::Status parse_log_level(const char* var, const std::string& text, Config* c) {
  static const std::set<std::string> levels = {"trace", "debug", "info", "warn", "error"};
  std::string level = text;
  std::transform(level.begin(), level.end(), level.begin(),
                 [](unsigned char ch) { return std::tolower(ch); });
  if (!levels.count(level)) {
    return bad(var, "must be one of trace|debug|info|warn|error, got '" + text + "'");
  }
  c->log_level = level;
  return util::Status::ok();
}

util::Status parse_listen_host(const char* var, const std::string& text, Config* c) {
  if (text.empty() || text.find_first_of(" /@") != std::string::npos) {
    return bad(var, "not a host address: '" + text + "'");
  }
  c->listen_host = text;
  return util::Status::ok();
}

// etcd's version form, N.N.N: clients (Kubernetes, cilium) parse it.
util::Status parse_etcd_version(const char* var, const std::string& text, Config* c) {
  int dots = 0;
  bool digit_before = false;
  for (char ch : text) {
    if (ch == '.' && digit_before) {
      ++dots;
      digit_before = false;
    } else if (ch >= '0' && ch <= '9') {
      digit_before = true;
    } else {
      return bad(var, "want a version as N.N.N (e.g. 3.4.23), got '" + text + "'");
    }
  }
  if (dots != 2 || !digit_before) {
    return bad(var, "want a version as N.N.N (e.g. 3.4.23), got '" + text + "'");
  }
  c->etcd_version = text;
  return util::Status::ok();
}

constexpr const char* kUnsetIt = "is empty (unset it instead)";

// Every variable the server reads, in the order they are checked (the first
// bad one is the error). Defaults are the Config's own, or set by the checks
// below where they depend on other variables.
// Long: one row per variable, a table read top to bottom.
const std::vector<Row>& rows() {
  static const std::vector<Row> table = {
      {{"DKV_NODE_ID", "--node-id", "this node's id in DKV_CLUSTER (default a)"}, parse_node_id},
      port("DKV_RPC_PORT", "--rpc-port", DKV_FIELD(rpc_port),
           "gRPC port (default: this node's port in DKV_CLUSTER)"),
      {{"DKV_CLUSTER", "--cluster",
        "members as id@host:port,... (RPC addresses); first leads first"},
       parse_cluster_row},
      port("DKV_REST_PORT", "--rest-port", DKV_FIELD(rest_port),
           "REST port (default: RPC port + 1)"),
      path("DKV_DB_PATH", "--db-path", "is empty", DKV_FIELD(db_path),
           "data directory (default <id>.db)"),
      {{"DKV_LOG_LEVEL", "--log-level", "trace|debug|info|warn|error (default info)"},
       parse_log_level},
      {{"DKV_LISTEN_HOST", "--listen-host", "address to listen on (default 0.0.0.0: all)"},
       parse_listen_host},
      number("DKV_HEARTBEAT_MS", "--heartbeat-ms", 1, 60'000, DKV_FIELD(heartbeat_ms),
             "leader heartbeat interval (default 100)"),
      number("DKV_ELECTION_MS", "--election-ms", 1, 600'000, DKV_FIELD(election_ms),
             "election timeout base, at least 3x the heartbeat (default 1000)"),
      number("DKV_REQUEST_TIMEOUT_MS", "--request-timeout-ms", 1, 3'600'000,
             DKV_FIELD(request_timeout_ms), "longest a request waits (default 5000)"),
      // At least 1 MiB; at most 64 GiB, far beyond a small machine's needs.
      number("DKV_QUOTA_BYTES", "--quota-bytes", 1ull << 20, 64ull << 30, DKV_FIELD(quota_bytes),
             "database size quota (default 2147483648)"),
      number("DKV_WATCH_PROGRESS_NOTIFY_MS", "--watch-progress-notify-ms", 10, 86'400'000,
             DKV_FIELD(watch_progress_notify_ms),
             "interval of watch progress notifications (default 600000, etcd's)"),
      number("DKV_SNAPSHOT_ENTRIES", "--snapshot-entries", 1, 100'000'000,
             DKV_FIELD(snapshot_entries), "log entries between snapshots (default 100000)"),
      number("DKV_SNAPSHOT_BYTES", "--snapshot-bytes", 1ull << 20, 64ull << 30,
             DKV_FIELD(snapshot_bytes),
             "log bytes that also trigger a snapshot (default 67108864)"),
      {{"DKV_ETCD_VERSION", "--etcd-version",
        "version the etcd API reports (Status, GET /version; default 3.4.23)"},
       parse_etcd_version},
      two_words("DKV_AUTO_COMPACTION_MODE", "--auto-compaction-mode", "periodic", "revision",
                DKV_FIELD(auto_compaction_periodic),
                "periodic|revision: how DKV_AUTO_COMPACTION_RETENTION counts (default revision)"),
      text("DKV_AUTO_COMPACTION_RETENTION", "--auto-compaction-retention",
           DKV_FIELD(auto_compaction_retention),
           "history kept: revision mode a count of revisions (default 1000), periodic mode a "
           "duration like 1h, 5m, 30s or bare hours; 0: no auto-compaction"),
      two_words("DKV_CLUSTER_STATE", "--cluster-state", "existing", "new", DKV_FIELD(join_existing),
                "new|existing: bootstrap a new cluster, or join a running one (default new)"),
      two_words("DKV_FORCE_NEW_CLUSTER", "--force-new-cluster", "true", "false",
                DKV_FIELD(force_new_cluster),
                "true|false: disaster recovery, restart as a cluster of this node alone (default "
                "false)"),
      // TLS: file names only; cmd/dkv reads the files (tls/credentials.h).
      path("DKV_CERT_FILE", "--cert-file", kUnsetIt, DKV_FIELD(tls.cert_file),
           "client TLS: the server certificate (PEM)"),
      path("DKV_KEY_FILE", "--key-file", kUnsetIt, DKV_FIELD(tls.key_file),
           "client TLS: its private key (PEM)"),
      path("DKV_TRUSTED_CA_FILE", "--trusted-ca-file", kUnsetIt, DKV_FIELD(tls.trusted_ca_file),
           "client TLS: CA of client certificates"),
      two_words("DKV_CLIENT_CERT_AUTH", "--client-cert-auth", "true", "false",
                DKV_FIELD(tls.client_cert_auth),
                "true|false: clients must present a certificate of DKV_TRUSTED_CA_FILE (default "
                "false)"),
      path("DKV_PEER_CERT_FILE", "--peer-cert-file", kUnsetIt, DKV_FIELD(tls.peer_cert_file),
           "peer TLS: this member's certificate (PEM)"),
      path("DKV_PEER_KEY_FILE", "--peer-key-file", kUnsetIt, DKV_FIELD(tls.peer_key_file),
           "peer TLS: its private key (PEM)"),
      path("DKV_PEER_TRUSTED_CA_FILE", "--peer-trusted-ca-file", kUnsetIt,
           DKV_FIELD(tls.peer_trusted_ca_file),
           "peer TLS: the CA every member's certificate is signed by"),
      text("DKV_PEER_CERT_ALLOWED_CN", "--peer-cert-allowed-cn",
           DKV_FIELD(tls.peer_cert_allowed_cn),
           "peer TLS: members' certificates must carry this common name"),
  };
  return table;
}

util::Status parse_failpoints_row(const char* var, const std::string& text, Config* c) {
  if (text.empty()) return util::Status::ok();
  wal::Failpoints f;
  if (auto s = wal::parse_failpoints(text, &f); !s.is_ok()) return s;
  c->test_failpoints = text;
  return util::Status::ok();
}

// The DKV_TEST_* variables, honoured only with test hooks; no flags, not in
// --help.
const std::vector<Row>& test_rows() {
  static const std::vector<Row> table = {
      two_words("DKV_TEST_STALE_READS", "", "1", "0", DKV_FIELD(test_stale_reads), ""),
      two_words("DKV_TEST_ACK_BEFORE_PERSIST", "", "1", "0", DKV_FIELD(test_ack_before_persist),
                ""),
      {{"DKV_TEST_FAILPOINTS", "", ""}, parse_failpoints_row},
      number("DKV_TEST_FEATURE_LEVEL", "", 0,
             static_cast<std::uint32_t>(kv::kFeatureLevelSupported), DKV_FIELD(test_feature_level),
             ""),
  };
  return table;
}

#undef DKV_FIELD

// ---------------------------------------------------------------------------
// Rules between variables, after every row has parsed.

// DKV_NODE_ID, DKV_CLUSTER and the ports must agree; the defaults that
// depend on them (a one-member cluster, the ports, the data directory).
util::Status check_identity(const Vars& vars, Config* c) {
  const std::uint16_t rpc_port_set = c->rpc_port;  // 0: unset.
  if (c->cluster.empty())
    c->cluster.push_back(
        {c->node_id, "127.0.0.1", rpc_port_set ? rpc_port_set : std::uint16_t{7070}});
  const auto self = std::find_if(c->cluster.begin(), c->cluster.end(),
                                 [&](const MemberAddress& m) { return m.id == c->node_id; });
  if (self == c->cluster.end()) {
    return bad("DKV_NODE_ID", "'" + c->node_id + "' is not a member of DKV_CLUSTER");
  }
  if (rpc_port_set != 0 && rpc_port_set != self->port) {
    return bad("DKV_RPC_PORT", std::to_string(rpc_port_set) + " differs from this node's port " +
                                   std::to_string(self->port) + " in DKV_CLUSTER");
  }
  c->rpc_port = self->port;
  if (c->rest_port == 0) {
    if (c->rpc_port == 65535) return bad("DKV_REST_PORT", "must be set when DKV_RPC_PORT is 65535");
    c->rest_port = static_cast<std::uint16_t>(c->rpc_port + 1);
  }
  if (c->rest_port == c->rpc_port) return bad("DKV_REST_PORT", "must differ from DKV_RPC_PORT");
  if (c->db_path.empty()) c->db_path = c->node_id + ".db";
  return util::Status::ok();
}

util::Status check_timers(const Vars&, Config* c) {
  if (c->election_ms < 3 * c->heartbeat_ms) {
    return bad("DKV_ELECTION_MS", std::to_string(c->election_ms) +
                                      " must be at least 3x DKV_HEARTBEAT_MS (" +
                                      std::to_string(c->heartbeat_ms) + ")");
  }
  return util::Status::ok();
}

// TLS: pairs complete, and no setting that needs another without it.
util::Status check_tls(const Vars&, Config* c) {
  const TlsConfig& t = c->tls;
  if (t.cert_file.empty() != t.key_file.empty()) {
    return t.cert_file.empty() ? bad("DKV_CERT_FILE", "must be set with DKV_KEY_FILE")
                               : bad("DKV_KEY_FILE", "must be set with DKV_CERT_FILE");
  }
  if (t.client_cert_auth && t.trusted_ca_file.empty()) {
    return bad("DKV_CLIENT_CERT_AUTH", "true needs DKV_TRUSTED_CA_FILE");
  }
  if (!t.trusted_ca_file.empty() && t.cert_file.empty()) {
    return bad("DKV_TRUSTED_CA_FILE", "needs DKV_CERT_FILE and DKV_KEY_FILE (client TLS)");
  }
  if (t.peer_cert_file.empty() != t.peer_key_file.empty()) {
    return t.peer_cert_file.empty()
               ? bad("DKV_PEER_CERT_FILE", "must be set with DKV_PEER_KEY_FILE")
               : bad("DKV_PEER_KEY_FILE", "must be set with DKV_PEER_CERT_FILE");
  }
  if (t.peer_tls() && t.peer_trusted_ca_file.empty()) {
    return bad("DKV_PEER_TRUSTED_CA_FILE", "must be set with DKV_PEER_CERT_FILE (mutual TLS)");
  }
  if (!t.peer_tls() && !t.peer_trusted_ca_file.empty()) {
    return bad("DKV_PEER_TRUSTED_CA_FILE", "needs DKV_PEER_CERT_FILE and DKV_PEER_KEY_FILE");
  }
  if (!t.peer_cert_allowed_cn.empty() && !t.peer_tls()) {
    return bad("DKV_PEER_CERT_ALLOWED_CN", "needs DKV_PEER_CERT_FILE (peer TLS)");
  }
  return util::Status::ok();
}

// DKV_AUTO_COMPACTION_RETENTION as etcd's parseCompactionRetention reads
// it: a bare whole number is revisions (revision mode) or hours (periodic
// mode), anything else a duration (periodic mode only: a count of
// revisions has no unit).
util::Status check_auto_compaction(const Vars&, Config* c) {
  const char* var = "DKV_AUTO_COMPACTION_RETENTION";
  const std::string& text = c->auto_compaction_retention;
  if (text.empty()) {
    if (c->auto_compaction_periodic)
      return bad(var, "must be set with DKV_AUTO_COMPACTION_MODE=periodic");
    return util::Status::ok();
  }
  std::uint64_t n = 0;
  if (parse_uint(text, 0, 1ull << 62, &n)) {
    if (!c->auto_compaction_periodic) {
      c->auto_compaction_revisions = n;
    } else if (n > 1'000'000) {
      return bad(var, "more than 1000000 hours: '" + text + "'");
    } else {
      c->auto_compaction_period_ms = n * 3'600'000;
    }
    return util::Status::ok();
  }
  if (!c->auto_compaction_periodic) {
    return bad(var, "revision mode takes a whole number of revisions, got '" + text + "'");
  }
  if (!parse_duration_ms(text, &c->auto_compaction_period_ms)) {
    return bad(var, "not a duration (like 1h, 5m, 30s) or whole hours: '" + text + "'");
  }
  return util::Status::ok();
}

// Runs the parser of every row whose variable is set, in table order.
util::Status parse_rows(const std::vector<Row>& table, const Vars& vars, Config* c) {
  for (const Row& row : table) {
    const auto it = vars.find(row.info.name);
    if (it == vars.end()) continue;
    if (auto s = row.parse(row.info.name, it->second, c); !s.is_ok()) return s;
  }
  return util::Status::ok();
}

}  // namespace

const std::vector<VariableInfo>& config_variables() {
  static const std::vector<VariableInfo> vars = [] {
    std::vector<VariableInfo> out;
    for (const Row& row : rows()) out.push_back(row.info);
    return out;
  }();
  return vars;
}

const std::vector<std::string>& test_variables() {
  static const std::vector<std::string> vars = [] {
    std::vector<std::string> out;
    for (const Row& row : test_rows()) out.emplace_back(row.info.name);
    return out;
  }();
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

bool parse_duration_ms(const std::string& text, std::uint64_t* ms) {
  // Go's units; a number (with an optional fraction) before each.
  static const std::pair<const char*, double> units[] = {
      {"ns", 1e-6}, {"us", 1e-3}, {"\u00b5s", 1e-3}, {"ms", 1.0},
      {"s", 1e3},   {"m", 60e3},  {"h", 3600e3}};
  if (text.empty() || text.size() > 64) return false;
  if (text == "0") {
    *ms = 0;
    return true;
  }
  double total = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t start = i;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
      ++i;
    if (i == start || text.substr(start, i - start) == ".") return false;
    if (std::count(text.begin() + start, text.begin() + i, '.') > 1) return false;
    const double number = std::stod(text.substr(start, i - start));
    const std::pair<const char*, double>* unit = nullptr;
    for (const auto& u : units) {
      const std::string name = u.first;
      // The longest unit that matches ("ms" before "m").
      if (text.compare(i, name.size(), name) == 0 &&
          (unit == nullptr || name.size() > std::string(unit->first).size()))
        unit = &u;
    }
    if (unit == nullptr) return false;
    i += std::string(unit->first).size();
    total += number * unit->second;
  }
  if (total > 1e15) return false;
  *ms = static_cast<std::uint64_t>(total);
  return true;
}

util::Status parse_config(const std::map<std::string, std::string>& vars, Config* out) {
  return parse_config(vars, test_hooks_built(), out);
}

util::Status parse_config(const std::map<std::string, std::string>& vars, bool test_hooks,
                          Config* out) {
  Config c;
  // Every row and check runs the same way in every build; only the test
  // rows depend on the test hooks, and they only set the test_* fields.
  if (auto s = parse_rows(rows(), vars, &c); !s.is_ok()) return s;
  for (auto* check : {check_identity, check_timers, check_tls, check_auto_compaction}) {
    if (auto s = check(vars, &c); !s.is_ok()) return s;
  }
  if (test_hooks) {
    if (auto s = parse_rows(test_rows(), vars, &c); !s.is_ok()) return s;
  } else {
    for (const Row& row : test_rows()) {
      if (vars.count(row.info.name)) c.test_variables_ignored.push_back(row.info.name);
    }
  }
  *out = std::move(c);
  return util::Status::ok();
}

}  // namespace dkv::node
