// The etcd compatibility diff harness: runs one script of etcdctl command
// lines (etcd_compat_script.txt) and a few python3-etcd3 calls
// (etcd_compat_client.py) against a cluster, etcd's or dkv's, into a
// normalized transcript (etcd_compat_transcript.h). Also starts etcd 3.4
// clusters (/usr/bin/etcd) on free loopback ports.
// Threading: one test thread.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "etcd_compat_transcript.h"
#include "harness.h"

namespace dkv::testing {

std::string read_text_file(const std::string& path);

// A cluster of real etcd 3.4 processes on free loopback ports (members
// etcd-0, etcd-1, ...; a fresh data directory each), killed on destruction.
class EtcdCluster {
 public:
  EtcdCluster(const std::string& name, int size);
  ~EtcdCluster();
  // Starts every member and waits until each answers GET /health "true".
  bool start(std::chrono::milliseconds timeout);
  int size() const { return static_cast<int>(client_ports_.size()); }
  std::string endpoint(int i) const;  // 127.0.0.1:port, its client (gRPC) port.
  std::vector<std::string> endpoints() const;
  std::string log(int i) const;
  // kill -9 of member i (a fault test's member death); it stays down.
  void kill(int i);
  // Sends `sig` to member i (SIGSTOP/SIGCONT: a paused member).
  void signal(int i, int sig);

 private:
  std::unique_ptr<TempDir> dir_;
  std::vector<std::uint16_t> client_ports_;
  std::vector<std::uint16_t> peer_ports_;
  std::vector<std::unique_ptr<DkvProcess>> processes_;
};

// One line of the script: etcdctl's arguments (placeholders ${ENDPOINT_i}
// and ${ENDPOINTS} not yet filled in) and its stdin.
struct ScriptLine {
  std::string text;  // As written, for the transcript.
  std::vector<std::string> args;
  std::string stdin_text;
};

// Parses the script: one command a line, '#' comments; arguments split at
// spaces, "double" or 'single' quotes keep spaces; a line ending in "<<EOF"
// takes its stdin from the lines that follow, up to a line "EOF".
// Fails the calling test (and returns what it parsed) on a malformed script.
std::vector<ScriptLine> parse_script(const std::string& text);

// Asks each endpoint for its member's id (etcdctl get -w json: the header)
// and the cluster for names and URLs (etcdctl member list, when served).
ClusterFacts learn_cluster(const std::vector<std::string>& endpoints);

// Which client runs the script lines.
enum class Tool { kEtcdctl, kDkvctl };

// Runs the script lines (with `tool`; kDkvctl runs only is_kv_command()
// lines), each with --endpoints=<endpoint 0> unless it names endpoints
// itself, and returns the normalized transcript.
std::string run_script(const std::vector<ScriptLine>& script, const ClusterFacts& facts, Tool tool);

// Runs etcd_compat_client.py (python3-etcd3, Debian's /usr/bin/python3)
// against endpoint 0; its normalized transcript.
std::string run_python_client(const std::string& script_path, const ClusterFacts& facts);

}  // namespace dkv::testing
