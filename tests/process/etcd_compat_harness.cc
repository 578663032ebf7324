#include "etcd_compat_harness.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

namespace dkv::testing {
namespace {

constexpr char kEtcd[] = "/usr/bin/etcd";
constexpr char kEtcdctl[] = "/usr/bin/etcdctl";
constexpr char kPython[] = "/usr/bin/python3";  // Debian's, which has python3-etcd3.

std::map<std::string, std::string> etcdctl_env() { return {{"ETCDCTL_API", "3"}}; }

// The endpoint list a script line asks for, filled in.
std::vector<std::string> fill_placeholders(const std::vector<std::string>& args,
                                           const ClusterFacts& facts, bool* names_endpoints) {
  *names_endpoints = false;
  std::vector<std::string> out;
  const std::string all = join_on(facts.endpoints, ",");
  for (std::string a : args) {
    if (a.find("--endpoints") != std::string::npos) *names_endpoints = true;
    a = replace_all(a, "${ENDPOINTS}", all);
    for (std::size_t i = 0; i < facts.endpoints.size(); ++i) {
      a = replace_all(a, "${ENDPOINT_" + std::to_string(i) + "}", facts.endpoints[i]);
    }
    for (std::size_t i = 0; i < facts.leases.size(); ++i) {
      a = replace_all(a, "${LEASE_" + std::to_string(i) + "}", facts.leases[i]);
    }
    out.push_back(a);
  }
  return out;
}

// Splits a script line into arguments: spaces separate; "double quotes"
// (with \" and \\) and 'single quotes' keep spaces. False if a quote is open.
bool split_script_args(const std::string& line, std::vector<std::string>* out) {
  out->clear();
  std::string arg;
  bool in_arg = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (c == ' ' || c == '\t') {
      if (in_arg) out->push_back(arg);
      arg.clear();
      in_arg = false;
      continue;
    }
    in_arg = true;
    if (c != '"' && c != '\'') {
      arg += c;
      continue;
    }
    for (++i; i < line.size() && line[i] != c; ++i) {
      if (c == '"' && line[i] == '\\' && i + 1 < line.size()) ++i;
      arg += line[i];
    }
    if (i >= line.size()) return false;
  }
  if (in_arg) out->push_back(arg);
  return true;
}

}  // namespace

EtcdCluster::EtcdCluster(const std::string& name, int size)
    : dir_(std::make_unique<TempDir>("etcd_" + name)) {
  std::string initial_cluster;
  for (int i = 0; i < size; ++i) {
    client_ports_.push_back(free_port());
    peer_ports_.push_back(free_port());
    if (i > 0) initial_cluster += ",";
    initial_cluster +=
        "etcd-" + std::to_string(i) + "=http://127.0.0.1:" + std::to_string(peer_ports_[i]);
  }
  for (int i = 0; i < size; ++i) {
    const std::string client = "http://127.0.0.1:" + std::to_string(client_ports_[i]);
    const std::string peer = "http://127.0.0.1:" + std::to_string(peer_ports_[i]);
    std::map<std::string, std::string> env = {
        {"ETCD_NAME", "etcd-" + std::to_string(i)},
        {"ETCD_DATA_DIR", dir_->path() + "/etcd-" + std::to_string(i)},
        {"ETCD_LISTEN_CLIENT_URLS", client},
        {"ETCD_ADVERTISE_CLIENT_URLS", client},
        {"ETCD_LISTEN_PEER_URLS", peer},
        {"ETCD_INITIAL_ADVERTISE_PEER_URLS", peer},
        {"ETCD_INITIAL_CLUSTER", initial_cluster},
        {"ETCD_INITIAL_CLUSTER_STATE", "new"},
        {"ETCD_INITIAL_CLUSTER_TOKEN", "etcd-compat-" + name},
        // A loaded 2-core machine: no spurious elections mid-script.
        {"ETCD_HEARTBEAT_INTERVAL", "200"},
        {"ETCD_ELECTION_TIMEOUT", "4000"},
        {"ETCD_LOGGER", "zap"},
        {"ETCD_LOG_LEVEL", "warn"},
    };
    processes_.push_back(std::make_unique<DkvProcess>(
        kEtcd, env, dir_->path() + "/etcd-" + std::to_string(i) + ".log"));
  }
}

EtcdCluster::~EtcdCluster() = default;  // DkvProcess kills its process.

bool EtcdCluster::start(std::chrono::milliseconds timeout) {
  for (auto& p : processes_) {
    if (!p->start()) return false;
  }
  const auto until = std::chrono::steady_clock::now() + timeout;
  for (int i = 0; i < size(); ++i) {
    for (;;) {
      const HttpResponse r = http("GET", client_ports_[i], "/health");
      if (r.status == 200 && r.body.find("\"true\"") != std::string::npos) break;
      if (std::chrono::steady_clock::now() >= until || !processes_[i]->running()) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // Poll interval.
    }
  }
  return true;
}

std::string EtcdCluster::endpoint(int i) const {
  return "127.0.0.1:" + std::to_string(client_ports_[i]);
}

std::vector<std::string> EtcdCluster::endpoints() const {
  std::vector<std::string> out;
  for (int i = 0; i < size(); ++i) out.push_back(endpoint(i));
  return out;
}

std::string EtcdCluster::log(int i) const { return processes_[i]->log(); }

void EtcdCluster::kill(int i) { processes_[i]->signal(SIGKILL); }

void EtcdCluster::signal(int i, int sig) { processes_[i]->signal(sig); }

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<ScriptLine> parse_script(const std::string& text) {
  std::vector<ScriptLine> script;
  const std::vector<std::string> lines = split_lines(text);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    if (line.empty() || line[0] == '#') continue;
    ScriptLine s;
    s.text = line;
    if (!split_script_args(line, &s.args) || s.args.empty()) {
      ADD_FAILURE() << "script line " << i + 1 << " is malformed: " << line;
      continue;
    }
    if (s.args.back() == "<<EOF") {
      s.args.pop_back();
      for (++i; i < lines.size() && lines[i] != "EOF"; ++i) s.stdin_text += lines[i] + "\n";
      if (i >= lines.size()) ADD_FAILURE() << "script: <<EOF of \"" << line << "\" never ends";
    }
    script.push_back(std::move(s));
  }
  return script;
}

ClusterFacts learn_cluster(const std::vector<std::string>& endpoints) {
  ClusterFacts facts;
  facts.endpoints = endpoints;
  facts.member_ids.assign(endpoints.size(), "");
  facts.names.assign(endpoints.size(), "");
  facts.peer_urls.assign(endpoints.size(), "");
  facts.client_urls.assign(endpoints.size(), "");
  for (std::size_t i = 0; i < endpoints.size(); ++i) {
    const CommandResult r = run_program(
        kEtcdctl, {"--endpoints=" + endpoints[i], "get", "etcd-compat-probe", "-w", "json"},
        etcdctl_env(), "");
    facts.member_ids[i] = first_match(r.out, R"("member_id":(\d+))");
    if (facts.cluster_id.empty()) facts.cluster_id = first_match(r.out, R"("cluster_id":(\d+))");
  }
  const CommandResult list =
      run_program(kEtcdctl, {"--endpoints=" + endpoints[0], "member", "list"}, etcdctl_env(), "");
  for (const auto& row : split_lines(list.out)) {
    const std::vector<std::string> cols = split_on(row, ", ");
    if (cols.size() < 6) continue;
    for (std::size_t i = 0; i < endpoints.size(); ++i) {
      if (facts.member_ids[i].empty() || to_hex(facts.member_ids[i]) != cols[0]) continue;
      facts.names[i] = cols[2];
      facts.peer_urls[i] = cols[3];
      facts.client_urls[i] = cols[4];
    }
  }
  return facts;
}

std::string run_script(const std::vector<ScriptLine>& script, const ClusterFacts& cluster,
                       Tool tool) {
  // A watch or keep-alive runs until stopped: once it printed something
  // and then nothing for kQuietFor (a replay comes in one burst), or after
  // kStreamFor (a watch that prints nothing).
  constexpr std::chrono::milliseconds kStreamFor{3000};
  constexpr std::chrono::milliseconds kQuietFor{400};
  ClusterFacts facts = cluster;
  std::string transcript;
  for (const auto& line : script) {
    if (tool == Tool::kDkvctl && !is_kv_command(line.text)) continue;
    bool names_endpoints = false;
    std::vector<std::string> args = fill_placeholders(line.args, facts, &names_endpoints);
    if (!names_endpoints) args.insert(args.begin(), "--endpoints=" + facts.endpoints[0]);
    const bool streaming = is_streaming_command(line.text);
    const auto timeout = streaming ? kStreamFor : std::chrono::milliseconds(60000);
    const auto quiet = streaming ? kQuietFor : std::chrono::milliseconds(0);
    CommandResult r =
        tool == Tool::kEtcdctl
            ? run_program(kEtcdctl, args, etcdctl_env(), line.stdin_text, timeout, quiet)
            : run_program(dkvctl_binary(), args, {}, line.stdin_text, timeout, quiet);
    if (streaming && r.exit_code == -1) {
      r.exit_code = 0;
      r.out += "(stopped)\n";
    }
    if (const std::string lease = granted_lease(r.out); !lease.empty()) {
      facts.leases.push_back(lease);
    }
    transcript += transcript_block(line.text, r, facts);
  }
  return transcript;
}

std::string run_python_client(const std::string& script_path, const ClusterFacts& facts) {
  const std::string& e = facts.endpoints[0];
  const std::size_t colon = e.rfind(':');
  const CommandResult r =
      run_program(kPython, {script_path, e.substr(0, colon), e.substr(colon + 1)},
                  {{"PYTHONDONTWRITEBYTECODE", "1"}}, "");
  return transcript_block("python3 etcd_compat_client.py", r, facts);
}

}  // namespace dkv::testing
