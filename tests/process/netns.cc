#include "netns.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sstream>

extern char** environ;

namespace dkv::testing {

namespace {

// One TestNetwork per process at a time: names carry only the pid.
std::atomic<bool> g_alive{false};

std::string find_tool(const std::string& name) {
  for (const char* dir : {"/usr/sbin", "/sbin", "/usr/bin", "/bin"}) {
    const std::string path = std::string(dir) + "/" + name;
    if (::access(path.c_str(), X_OK) == 0) return path;
  }
  return name;
}

// Runs argv (argv[0] a tool name) with `input` on stdin; returns the exit
// code (-1 if it could not run) and fills *output with stdout and stderr.
int run_tool(const std::vector<std::string>& argv, const std::string& input, std::string* output) {
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return -1;
  if (::pipe2(out, O_CLOEXEC) != 0) {
    ::close(in[0]);
    ::close(in[1]);
    return -1;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDERR_FILENO);
  std::vector<std::string> args = argv;
  args[0] = find_tool(argv[0]);
  std::vector<char*> cargs;
  for (auto& a : args) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, cargs[0], &actions, nullptr, cargs.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(in[0]);
  ::close(out[1]);
  if (rc == 0 && !input.empty()) {
    // Small batches (a few KiB) fit the pipe. A tool that died already must
    // not kill us with SIGPIPE: block it in this thread, then discard it.
    sigset_t pipe_only, old_mask;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    ::pthread_sigmask(SIG_BLOCK, &pipe_only, &old_mask);
    const ssize_t n = ::write(in[1], input.data(), input.size());
    if (n < 0 && errno == EPIPE) {
      const timespec zero{0, 0};
      ::sigtimedwait(&pipe_only, nullptr, &zero);
    }
    ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  }
  ::close(in[1]);
  char buf[4096];
  ssize_t n;
  while ((n = ::read(out[0], buf, sizeof buf)) > 0) output->append(buf, static_cast<size_t>(n));
  ::close(out[0]);
  if (rc != 0) {
    *output += "cannot run " + args[0] + ": " + std::strerror(rc);
    return -1;
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string quiet(const std::vector<std::string>& argv) {
  std::string out;
  run_tool(argv, "", &out);
  return out;
}

// The pid in a "dkvt-<pid>-..." name, or 0.
pid_t owner_pid(const std::string& name) {
  if (name.rfind("dkvt-", 0) != 0) return 0;
  const auto dash = name.find('-', 5);
  if (dash == std::string::npos || dash == 5) return 0;
  const std::string digits = name.substr(5, dash - 5);
  if (digits.find_first_not_of("0123456789") != std::string::npos) return 0;
  return static_cast<pid_t>(std::stol(digits));
}

// Left by a run that no longer exists (or by an earlier process that had
// our pid: only one TestNetwork lives in a process at a time).
bool stale(const std::string& name) {
  const pid_t pid = owner_pid(name);
  if (pid <= 0) return false;
  if (pid == ::getpid()) return true;
  return ::kill(pid, 0) != 0 && errno == ESRCH;
}

void remove_stale() {
  std::istringstream netns(quiet({"ip", "netns", "list"}));
  for (std::string line; std::getline(netns, line);) {
    const std::string name = line.substr(0, line.find(' '));
    if (stale(name)) quiet({"ip", "netns", "del", name});
  }
  // "7: dkvt-123-h@if6: <...>": links of the root namespace.
  std::istringstream links(quiet({"ip", "-o", "link", "show"}));
  for (std::string line; std::getline(links, line);) {
    const auto start = line.find(": ");
    if (start == std::string::npos) continue;
    std::string name = line.substr(start + 2);
    name = name.substr(0, name.find_first_of("@:"));
    if (stale(name)) quiet({"ip", "link", "del", name});
  }
}

// A /24 under 10.64.0.0/10 derived from the pid that no address or route of
// this host uses yet; "" if none found.
std::string pick_subnet() {
  const std::string used = quiet({"ip", "-o", "-4", "addr", "show"}) + "\n" +
                           quiet({"ip", "-4", "route", "show", "table", "all"});
  const unsigned base = static_cast<unsigned>(::getpid()) % (64 * 256);
  for (unsigned attempt = 0; attempt < 256; ++attempt) {
    const unsigned idx = (base + attempt * 97) % (64 * 256);
    const std::string net =
        "10." + std::to_string(64 + idx / 256) + "." + std::to_string(idx % 256) + ".";
    if (used.find(" " + net) == std::string::npos && used.find("\n" + net) == std::string::npos &&
        used.rfind(net, 0) != 0) {
      return net;
    }
  }
  return "";
}

}  // namespace

std::string TestNetwork::unavailable() {
  if (::geteuid() != 0) {
    return "network-namespace tests need root (CAP_NET_ADMIN, CAP_SYS_ADMIN): euid is " +
           std::to_string(::geteuid()) + "; run as root (CI does) to cut real links";
  }
  return "";
}

TestNetwork::TestNetwork(int nodes) {
  prefix_ = "dkvt-" + std::to_string(::getpid()) + "-";
  if (const std::string why = unavailable(); !why.empty()) {
    error_ = why;
    return;
  }
  if (g_alive.exchange(true)) {
    error_ = "another TestNetwork is alive in this process";
    return;
  }
  owner_ = true;
  if (!setup(nodes)) {
    const std::string why = error_;
    teardown();
    error_ = why;
    return;
  }
  ready_ = true;
}

TestNetwork::~TestNetwork() {
  if (!owner_) return;
  teardown();
  g_alive = false;
}

bool TestNetwork::setup(int nodes) {
  remove_stale();
  const std::string net = pick_subnet();
  if (net.empty()) {
    error_ = "no free 10.x.y.0/24 subnet for the test network";
    return false;
  }
  switch_ns_ = prefix_ + "sw";
  clients_link_ = prefix_ + "h";
  clients_address_ = net + "1";
  if (!run({"ip", "netns", "add", switch_ns_}) ||
      !run({"ip", "-n", switch_ns_, "link", "add", "br0", "type", "bridge"}) ||
      !run({"ip", "-n", switch_ns_, "link", "set", "br0", "up"})) {
    return false;
  }
  made_clients_link_ = true;
  if (!run({"ip", "link", "add", clients_link_, "type", "veth", "peer", "name", "ph", "netns",
            switch_ns_}) ||
      !run({"ip", "-n", switch_ns_, "link", "set", "ph", "master", "br0", "up"}) ||
      !run({"ip", "addr", "add", clients_address_ + "/24", "dev", clients_link_}) ||
      !run({"ip", "link", "set", clients_link_, "up"})) {
    return false;
  }
  for (int i = 0; i < nodes; ++i) {
    const std::string ns = prefix_ + "n" + std::to_string(i);
    const std::string address = net + std::to_string(10 + i);
    namespaces_.push_back(ns);
    addresses_.push_back(address);
    if (!run({"ip", "netns", "add", ns}) ||
        !run({"ip", "-n", switch_ns_, "link", "add", port(i), "type", "veth", "peer", "name",
              "eth0", "netns", ns}) ||
        !run({"ip", "-n", switch_ns_, "link", "set", port(i), "master", "br0", "up"}) ||
        !run({"ip", "-n", ns, "addr", "add", address + "/24", "dev", "eth0"}) ||
        !run({"ip", "-n", ns, "link", "set", "eth0", "up"}) ||
        !run({"ip", "-n", ns, "link", "set", "lo", "up"})) {
      return false;
    }
  }
  return true;
}

void TestNetwork::teardown() {
  std::string out;
  for (const auto& ns : namespaces_) run_tool({"ip", "netns", "del", ns}, "", &out);
  if (!switch_ns_.empty()) run_tool({"ip", "netns", "del", switch_ns_}, "", &out);
  // Gone with its peer in the switch namespace; make sure.
  if (made_clients_link_ &&
      quiet({"ip", "link", "show", clients_link_}).find(clients_link_ + "@") != std::string::npos) {
    run_tool({"ip", "link", "del", clients_link_}, "", &out);
  }
  namespaces_.clear();
  addresses_.clear();
}

std::string TestNetwork::port(int i) const {
  return i == kClients ? "ph" : "p" + std::to_string(i);
}

const std::string& TestNetwork::address_of(int i) const {
  return i == kClients ? clients_address_ : addresses_[i];
}

bool TestNetwork::run(const std::vector<std::string>& args, const std::string& input) {
  std::string out;
  if (run_tool(args, input, &out) == 0) return true;
  std::string cmd;
  for (const auto& a : args) cmd += (cmd.empty() ? "" : " ") + a;
  error_ = "`" + cmd + "` failed: " + out + (input.empty() ? "" : "\ninput:\n" + input);
  return false;
}

bool TestNetwork::apply(const std::set<std::pair<int, int>>& cuts) {
  if (!ready_) return false;
  std::string batch;
  std::set<int> shaped;
  for (int to = kClients; to < size(); ++to) {
    const std::string dev = " dev " + port(to);
    if (shaped_ports_.count(to) != 0) batch += "qdisc del" + dev + " root\n";
    std::string filters;
    for (const auto& [from, cut_to] : cuts) {
      if (cut_to != to) continue;
      filters += "filter add" + dev + " parent 1: protocol ip prio 1 u32 match ip src " +
                 address_of(from) + "/32 flowid 1:2\n";
    }
    if (filters.empty()) continue;
    // Class 1:1 passes (the default), class 1:2 ends in a queue of 0 packets.
    batch += "qdisc add" + dev + " root handle 1: htb default 1\n";
    batch += "class add" + dev + " parent 1: classid 1:1 htb rate 10gbit quantum 60000\n";
    batch += "class add" + dev + " parent 1: classid 1:2 htb rate 10gbit quantum 60000\n";
    batch += "qdisc add" + dev + " parent 1:2 handle 20: pfifo limit 0\n";
    batch += filters;
    shaped.insert(to);
  }
  if (batch.empty()) return true;
  if (run({"tc", "-n", switch_ns_, "-batch", "-"}, batch)) {
    shaped_ports_ = shaped;
    cuts_ = cuts;
    return true;
  }
  // The ports' state is unknown: remove every qdisc (heal), keep the error.
  std::string ignored;
  for (int to = kClients; to < size(); ++to) {
    run_tool({"tc", "-n", switch_ns_, "qdisc", "del", "dev", port(to), "root"}, "", &ignored);
  }
  shaped_ports_.clear();
  cuts_.clear();
  return false;
}

bool TestNetwork::cut(int from, int to) {
  auto cuts = cuts_;
  if (from != to) cuts.insert({from, to});
  return apply(cuts);
}

bool TestNetwork::isolate(int node) {
  std::vector<int> others;
  for (int i = 0; i < size(); ++i) {
    if (i != node) others.push_back(i);
  }
  return partition({node}, others);
}

bool TestNetwork::partition(const std::vector<int>& a, const std::vector<int>& b) {
  auto cuts = cuts_;
  for (int x : a) {
    for (int y : b) {
      if (x == y) continue;
      cuts.insert({x, y});
      cuts.insert({y, x});
    }
  }
  return apply(cuts);
}

bool TestNetwork::cut_one_way(const std::vector<int>& from, const std::vector<int>& to) {
  auto cuts = cuts_;
  for (int x : from) {
    for (int y : to) {
      if (x != y) cuts.insert({x, y});
    }
  }
  return apply(cuts);
}

bool TestNetwork::bridge(const std::vector<int>& a, int bridge, const std::vector<int>& b) {
  (void)bridge;  // In neither side: nothing of its own is cut.
  return partition(a, b);
}

bool TestNetwork::heal() { return apply({}); }

std::string TestNetwork::describe() const {
  if (cuts_.empty()) return "none";
  std::string out;
  auto name = [](int i) {
    return i == kClients ? std::string("clients") : "n" + std::to_string(i);
  };
  for (const auto& [from, to] : cuts_)
    out += (out.empty() ? "" : " ") + name(from) + "->" + name(to);
  return out;
}

}  // namespace dkv::testing
