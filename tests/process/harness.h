// Test harness for process-level tests: starts real ./build/dkv processes on
// free loopback ports, waits for them to become ready (condition, not sleep),
// and talks to them over REST (a small Beast client) and gRPC (stubs).
// Used by the process tests here and, later, by the cluster and fault suites.
//
// Threading: a DkvProcess is driven by one test thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace dkv::testing {

// A loopback port nobody listens on now, below the kernel's ephemeral range
// and never handed out twice in this process.
std::uint16_t free_port();

// A fresh directory under the test temp dir, removed by the destructor.
class TempDir {
 public:
  explicit TempDir(const std::string& name);
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct HttpResponse {
  int status = 0;  // 0: no response (connection failed).
  std::string body;
  std::map<std::string, std::string> headers;  // Lower-case names.
};

// One HTTP/1.1 request on a new connection to 127.0.0.1:port.
HttpResponse http(const std::string& method, std::uint16_t port, const std::string& target,
                  const std::string& body = "",
                  const std::string& content_type = "application/x-www-form-urlencoded");
// The same to host:port (an IPv4 address, e.g. a node in a TestNetwork);
// `timeout` bounds the whole request (status 0 when it passes).
HttpResponse http_at(const std::string& host, const std::string& method, std::uint16_t port,
                     const std::string& target, const std::string& body = "",
                     std::chrono::milliseconds timeout = std::chrono::seconds(30),
                     const std::string& content_type = "application/x-www-form-urlencoded");

class DkvProcess {
 public:
  // `env` holds DKV_* variables; the process inherits nothing else of ours.
  DkvProcess(std::string binary, std::map<std::string, std::string> env, std::string log_path);
  ~DkvProcess();  // SIGKILLs the process if still running.

  // Later start()s run dkv inside the named network namespace
  // (/run/netns/<name>, see netns.h): the child joins it (setns) and then
  // execs dkv, so pid() is dkv's own and signals reach it. "" = ours.
  void set_netns(std::string name) { netns_ = std::move(name); }
  // Starts the process; returns false if fork/exec failed.
  bool start();
  // Polls GET /readyz on 127.0.0.1 (or `host`) until 200 or `timeout`;
  // false on timeout or exit.
  bool wait_ready(std::uint16_t rest_port, std::chrono::milliseconds timeout);
  bool wait_ready(const std::string& host, std::uint16_t rest_port,
                  std::chrono::milliseconds timeout);
  void signal(int sig);
  // Waits for exit; returns the exit code, 128+signal if killed, -1 on timeout.
  int wait_exit(std::chrono::milliseconds timeout);
  bool running();
  pid_t pid() const { return pid_; }
  std::string log() const;

 private:
  std::string binary_;
  std::map<std::string, std::string> env_;
  std::string log_path_;
  std::string netns_;
  pid_t pid_ = -1;
  int exit_code_ = -1;
};

// Path of the dkv binary under test (set by CMake).
std::string dkv_binary();

// Standard base64 (with padding), as the REST API writes bytes.
std::string base64(const std::string& bytes);

// The value of a top-level scalar field of a flat JSON object such as
// /v0/status ("leaderId", "term", ...): a string unquoted, a number or
// bool as written; "" if absent.
std::string json_field(const std::string& body, const std::string& field);

// Polls `leader_id()` (a node's view of the leader's name, "" if none)
// until it names one of `ids`; returns its index, or -1 after `timeout`.
int await_leader_among(const std::vector<std::string>& ids,
                       const std::function<std::string()>& leader_id,
                       std::chrono::milliseconds timeout);

}  // namespace dkv::testing

namespace dkv::testing {

class TestNetwork;

// A local cluster of real dkv processes on free loopback ports, configured
// like the original README's example (ids a, b, c, ...). With a `network`
// (netns.h, at least `size` nodes), node i runs in network->ns(i) on
// network->address(i) instead, DKV_CLUSTER naming those addresses, so that
// the test can cut links; `network` must outlive the cluster.
class LocalCluster {
 public:
  LocalCluster(const std::string& name, int size, std::map<std::string, std::string> extra_env = {},
               const TestNetwork* network = nullptr);
  ~LocalCluster();

  int size() const { return static_cast<int>(ids_.size()); }
  const std::string& id(int i) const { return ids_[i]; }
  // Where node i listens: 127.0.0.1, or its address in the network.
  const std::string& host(int i) const { return hosts_[i]; }
  std::uint16_t rest_port(int i) const { return rest_ports_[i]; }
  std::uint16_t rpc_port(int i) const { return rpc_ports_[i]; }
  DkvProcess& process(int i) { return *processes_[i]; }
  // Node i's DKV_DB_PATH.
  std::string db_path(int i) const { return dir_->path() + "/" + ids_[i] + ".db"; }

  // Starts node i (again), with `more_env` on top of the cluster's
  // variables for this start only (e.g. a failpoint); does not wait. Its
  // DKV_CLUSTER lists every node the cluster has so far (add_node() included).
  bool start(int i, const std::map<std::string, std::string>& more_env = {});
  // A new node (the next id, fresh ports), not started; returns its index.
  // A non-zero `rpc_port` reuses that port (e.g. a removed node's address).
  int add_node(std::uint16_t rpc_port = 0);
  // A variable for node i only (overrides the cluster's extra_env).
  void set_env(int i, const std::string& name, const std::string& value);
  void unset_env(int i, const std::string& name);
  // Starts every node, then waits until each one is ready.
  bool start_all(std::chrono::milliseconds timeout);
  // Waits until node i answers /readyz 200.
  bool wait_ready(int i, std::chrono::milliseconds timeout);
  // The index of the node that every node in `among` agrees leads (other
  // than `not_this`, e.g. a leader just killed), or -1 if they do not agree
  // by `timeout`.
  int wait_for_leader(const std::vector<int>& among, std::chrono::milliseconds timeout,
                      int not_this = -1);
  // A field of node i's /v0/status ("leaderId", "term", "appliedIndex", ...).
  std::string status_field(int i, const std::string& field);

 private:
  std::unique_ptr<TempDir> dir_;
  std::vector<std::string> ids_;
  std::vector<std::string> hosts_;
  std::vector<std::string> namespaces_;  // "" in loopback mode.
  std::vector<std::uint16_t> rpc_ports_;
  std::vector<std::uint16_t> rest_ports_;
  std::map<std::string, std::string> extra_env_;
  std::map<int, std::map<std::string, std::string>> node_env_;
  std::vector<std::unique_ptr<DkvProcess>> processes_;
};

}  // namespace dkv::testing
