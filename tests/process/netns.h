// TestNetwork: a private network for process and fault tests, in which the
// test cuts links the way a real network fails: packets silently dropped
// (no RST, no ICMP, no error to the sender), never a refused connection.
//
// Layout (all names start with "dkvt-<pid>-", so concurrent test processes
// never meet and a crashed run's leftovers can be told apart):
//   - one network namespace per node, "dkvt-<pid>-n<i>", holding "lo" and
//     "eth0" = 10.A.B.(10+i)/24;
//   - a switch namespace, "dkvt-<pid>-sw", with a bridge and one veth port
//     per node ("p<i>") and one for the test process ("ph");
//   - the test process (the root namespace) joins through the veth
//     "dkvt-<pid>-h" = 10.A.B.1/24, so it reaches every node (its clients can
//     observe a cut-off leader) unless a test cuts that link too.
// 10.A.B.0/24 is derived from the pid and checked against the addresses
// already on the host, so concurrent runs get different subnets.
//
// A cut "from -> to" drops, inside the switch, every IPv4 packet from `from`
// on the port toward `to`: an htb root qdisc on that port whose class 1:2
// ends in a pfifo holding 0 packets, and a u32 filter per dropped source.
// (This kernel has no act_gact, sch_prio or netem; htb, pfifo and u32 are
// everywhere.) The sender's kernel never learns of the drop. Blackhole
// routes would not do: a local sender gets EINVAL at once. ARP still flows,
// as it would across a switch whose uplink drops IP.
//
// Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) and iproute2 (`ip`, `tc`).
// unavailable() says why a test must skip; a root run whose setup fails is
// a failure (ok() false, error() says why), never a skip.
//
// Threading: a TestNetwork is driven by one thread. Lifetime: processes
// started in its namespaces must be gone before the destructor runs (it
// deletes the namespaces; a process still inside keeps its namespace alive).
#pragma once

#include <set>
#include <string>
#include <utility>
#include <vector>

namespace dkv::testing {

class TestNetwork {
 public:
  // The test process's end of the network, usable wherever a node index is
  // (e.g. cut(kClients, 2) stops node 2 from hearing clients).
  static constexpr int kClients = -1;

  // "" if a TestNetwork can be built here, else why not (not root).
  static std::string unavailable();

  // Builds a network of `nodes` namespaces (first removing what crashed
  // runs left: dkvt-<pid>-* of pids that no longer exist). Check ok().
  explicit TestNetwork(int nodes);
  ~TestNetwork();  // Deletes every namespace and link it made.
  TestNetwork(const TestNetwork&) = delete;
  TestNetwork& operator=(const TestNetwork&) = delete;

  // Setup succeeded (faults may still fail: their calls return false).
  bool ok() const { return ready_; }
  // Why setup or the last change failed ("" if none).
  const std::string& error() const { return error_; }

  int size() const { return static_cast<int>(namespaces_.size()); }
  // Node i's namespace name and address; the test process's address.
  const std::string& ns(int i) const { return namespaces_[i]; }
  const std::string& address(int i) const { return addresses_[i]; }
  const std::string& clients_address() const { return clients_address_; }

  // Faults. Each adds to the cuts in force; heal() removes them all. Each
  // returns false (and sets error()) if tc failed. Indexes are nodes or
  // kClients. Clients are never cut unless named.
  // Drops packets from `from` to `to` only (one direction).
  bool cut(int from, int to);
  // Drops everything between `node` and every other node (both ways).
  bool isolate(int node);
  // Symmetric partition: no packet crosses between `a` and `b`.
  bool partition(const std::vector<int>& a, const std::vector<int>& b);
  // Asymmetric: packets from any of `from` to any of `to` are dropped; the
  // other way works.
  bool cut_one_way(const std::vector<int>& from, const std::vector<int>& to);
  // A bridge: `a` and `b` cannot talk to each other; `bridge` (in neither)
  // talks to both.
  bool bridge(const std::vector<int>& a, int bridge, const std::vector<int>& b);
  bool heal();

  // The cuts in force, e.g. "n0->n1 n1->n0" ("none" if healed).
  std::string describe() const;

 private:
  bool setup(int nodes);
  void teardown();
  // Sets the switch's filters to `cuts` (replaces what was there).
  bool apply(const std::set<std::pair<int, int>>& cuts);
  // Switch port toward `i` (a node or kClients).
  std::string port(int i) const;
  const std::string& address_of(int i) const;
  // Runs `ip`/`tc` with `args`; on failure sets error_ and returns false.
  bool run(const std::vector<std::string>& args, const std::string& input = "");

  std::string prefix_;  // "dkvt-<pid>-"
  std::string switch_ns_;
  std::string clients_link_;  // In the root namespace.
  std::string clients_address_;
  std::vector<std::string> namespaces_;
  std::vector<std::string> addresses_;
  std::set<std::pair<int, int>> cuts_;  // (from, to): packets dropped.
  std::set<int> shaped_ports_;          // Nodes whose switch port has the htb qdisc.
  bool made_clients_link_ = false;
  bool owner_ = false;  // This instance holds the one-per-process slot.
  bool ready_ = false;
  std::string error_;
};

}  // namespace dkv::testing
